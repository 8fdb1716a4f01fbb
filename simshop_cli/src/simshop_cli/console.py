"""Rich consoles for stdout and stderr, and the one-line yellow warning.

Consoles are made per call: rich then writes to whatever ``sys.stdout`` is at that moment,
which is what click's ``CliRunner`` swaps in tests. Markup is off everywhere because plugin
descriptions and error messages are arbitrary text (``[...]`` must print as it is).
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.text import Text


def stdout() -> Console:
    # Piped or captured output has no terminal width to fit: let tables keep whole names.
    width = None if sys.stdout.isatty() else 160
    return Console(highlight=False, markup=False, emoji=False, width=width)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, markup=False, emoji=False)


def warn(message: str) -> None:
    """Print one yellow ``Warning: …`` line on stderr (never wrapped into several lines)."""
    stderr().print(Text(f"Warning: {message}", style="yellow"), soft_wrap=True)
