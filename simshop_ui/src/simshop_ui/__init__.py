"""The SimShop Streamlit app: ``simshop ui``, or ``streamlit run`` on `APP_PATH`."""

from pathlib import Path

__version__ = "0.3.0"

#: The Streamlit script (run it, don't import it).
APP_PATH = Path(__file__).with_name("app.py")

__all__ = ["APP_PATH", "__version__"]
