"""embcompat.metrics."""
