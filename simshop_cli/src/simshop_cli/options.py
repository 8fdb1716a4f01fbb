"""Options and checks several commands share, declared once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

FILE = click.Path(dir_okay=False, path_type=Path)


def suffix_check(*suffixes: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A click callback that accepts a path (or None) only with one of ``suffixes``."""

    def check(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
        if value is not None and value.suffix.lower() not in suffixes:
            raise click.BadParameter(
                f"{str(value)!r} has unsupported suffix {value.suffix or '(none)'!r}; "
                f"use {' or '.join(suffixes)}",
                ctx=ctx,
                param=param,
            )
        return value

    return check


def users_option(help: str) -> Callable[[Any], Any]:
    return click.option("--users", "-u", default="all", show_default=True, help=help)


def seed_option(help: str = "Random seed.") -> Callable[[Any], Any]:
    return click.option("--seed", type=int, default=0, show_default=True, help=help)


catalog_option = click.option(
    "--catalog",
    type=FILE,
    default=None,
    help="Catalog file (.csv or .parquet); default: the generated catalog.",
)
