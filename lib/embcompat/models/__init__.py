"""embcompat.models."""
