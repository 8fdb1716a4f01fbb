"""The simshop command line (Click + rich)."""

__version__ = "0.1.0"
