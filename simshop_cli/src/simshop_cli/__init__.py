"""The simshop command line (Click + rich)."""

__version__ = "0.2.0"
