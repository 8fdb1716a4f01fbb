"""The SimShop Streamlit app."""

__version__ = "0.1.0"
