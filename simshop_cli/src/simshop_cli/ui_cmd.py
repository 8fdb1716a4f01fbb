"""``simshop ui``: start the Streamlit app (simshop-ui) and print its address.

Streamlit runs as a child process (``python -m streamlit run``) so that its own options stay
its own; Ctrl+C reaches both processes, and a SIGTERM to this one is passed on.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

DEFAULT_PORT = 8501
DEFAULT_HOST = "127.0.0.1"


def app_path() -> Path:
    try:
        from simshop_ui import APP_PATH
    except ImportError:
        raise click.ClickException(
            "the app is in the simshop-ui package, which is not installed (pip install simshop-ui)"
        ) from None
    return APP_PATH


def streamlit_command(app: Path, host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.headless",
        "true",
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",  # no "Deploy" button: this is a local tool
    ]


def address(host: str, port: int) -> str:
    """The URL to open: a wildcard address is reachable as localhost."""
    shown = "localhost" if host in ("", "0.0.0.0", "::") else host
    if ":" in shown:  # an IPv6 literal
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


@click.command("ui")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to serve the app on.",
)
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    help="Address to listen on (0.0.0.0 for every network interface).",
)
def ui(port: int, host: str) -> None:
    """Start the SimShop web app (Streamlit) and print its address.

    The dropdowns list every installed shopper and recommender. Saved models are looked for
    under ./models and ./runs, and training runs under ./runs, relative to where you start it.
    """
    app = app_path()
    click.echo(f"SimShop UI: {address(host, port)}  (Ctrl+C to stop)")
    sys.stdout.flush()
    process = subprocess.Popen(streamlit_command(app, host, port))

    def forward(signum: int, frame: Any) -> None:
        process.terminate()

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        code = process.wait()
    except KeyboardInterrupt:
        # The terminal sent SIGINT to Streamlit too: let it shut down on its own first.
        try:
            code = process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if code not in (0, -signal.SIGINT, -signal.SIGTERM):
        raise click.ClickException(f"streamlit exited with status {code}")
