"""The package version (a leaf module, read by the results' metadata and the CLI)."""

__version__ = "0.1.0"
