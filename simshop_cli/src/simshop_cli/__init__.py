"""The simshop command line (Click + rich)."""

__version__ = "0.3.0"
