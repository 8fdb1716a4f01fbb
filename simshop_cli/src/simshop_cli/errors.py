"""Turning bad input into one line on stderr: the single place where errors meet the user.

Commands raise what they naturally raise (``CatalogError``, ``UnknownNameError``,
``PluginError``, ``ValueError``, ``OSError``, click's ``BadParameter``); `SimshopGroup` in
`simshop_cli.main` funnels everything through `to_click_exception` so that no command needs a
``try`` of its own. ``SIMSHOP_DEBUG=1`` lets the original exception through, with its traceback.
"""

from __future__ import annotations

import os
from typing import IO, Any

import click

DEBUG_ENV = "SIMSHOP_DEBUG"
INTERRUPTED_EXIT_CODE = 130  # the shell's code for "stopped by SIGINT"


class OneLineUsageError(click.UsageError):
    """A usage error shown as one line (click's default adds the usage and a hint line)."""

    def show(self, file: IO[Any] | None = None) -> None:
        hint = ""
        if self.ctx is not None:
            hint = f" (see '{self.ctx.command_path} --help')"
        click.echo(f"Error: {self.format_message()}{hint}", file=file, err=True)


def one_line_usage_error(exc: click.UsageError) -> click.UsageError:
    """The same usage error (exit code 2), shown on one line."""
    if isinstance(exc, OneLineUsageError | click.exceptions.NoArgsIsHelpError):
        return exc  # already one line, or deliberately the help page
    converted = OneLineUsageError(first_line(exc.format_message()), exc.ctx)
    converted.exit_code = exc.exit_code
    return converted


def to_click_exception(exc: Exception) -> click.ClickException | None:
    """A `ClickException` (exit 1) for an error the user can fix; None for a bug."""
    if debugging():
        return None
    if isinstance(exc, BrokenPipeError):
        return None  # click's own main handles a closed pipe quietly
    if isinstance(exc, OSError):
        return click.ClickException(_describe_os_error(exc))
    if isinstance(exc, ValueError) or _is_plugin_error(exc):
        return click.ClickException(first_line(str(exc)) or type(exc).__name__)
    return None


def debugging() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def first_line(text: str) -> str:
    """The first non-blank line: some libraries' messages (pyarrow, pandas) run over many."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _is_plugin_error(exc: Exception) -> bool:
    # Imported here, not at the top: `simshop --help` should not pay for simshop_core.
    from simshop_core.plugins import PluginError

    return isinstance(exc, PluginError)


def _describe_os_error(exc: OSError) -> str:
    reason = exc.strerror or first_line(str(exc)) or type(exc).__name__
    return f"{exc.filename}: {reason}" if exc.filename else reason
