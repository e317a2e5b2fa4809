"""The package version, in a module of its own so that any layer can read it without the root."""

__all__ = ["__version__"]

#: The one place the version is written; pyproject.toml reads it from here when building.
__version__ = "0.1.0"
