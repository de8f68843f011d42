"""embcompat: a research workbook on embedding model compatibility."""

__version__ = "0.1.0"
