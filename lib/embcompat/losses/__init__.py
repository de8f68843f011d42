"""embcompat.losses."""
