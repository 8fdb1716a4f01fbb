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


def _env_options(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> Any:
    # Imported here: `simshop --help` does not pay for simshop_core.
    from simshop_core.specs import parse_env_options

    try:
        return parse_env_options(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def env_option(
    help: str = (
        "Set an env option (repeatable): KEY=VALUE, VALUE as JSON when it parses, else text; "
        "a dotted KEY sets a nested one. E.g. --env-option click_model=pbm "
        "--env-option limits.pages=5"
    ),
) -> Callable[[Any], Any]:
    """``--env-option KEY=VALUE`` (repeatable), handed to the command as one dict
    (`simshop_core.specs.parse_env_options`); a malformed item is a usage error."""
    return click.option(
        "--env-option",
        "env_options",
        multiple=True,
        metavar="KEY=VALUE",
        callback=_env_options,
        help=help,
    )


#: The ready-made ``--env-option`` (the parameter is called ``env_options``, a dict).
env_option_option = env_option()
