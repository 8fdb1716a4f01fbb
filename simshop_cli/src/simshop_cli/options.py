"""Options and checks several commands share, declared once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

FILE = click.Path(dir_okay=False, path_type=Path)

# The ranges of simshop_core.bounds, repeated so that `simshop --help` need not import core
# (tests/test_cli.py keeps them equal). Sizes are bounded so that no run dies of a
# MemoryError half-way; one seed range for every command.
SEED_MAX = 2**32 - 1
MAX_ITEMS = 1_000_000
MAX_EPISODES = 1_000_000
MAX_JOBS = 64
#: train only: far beyond any real run (a month at a few thousand steps/s), far from int64.
MAX_TIMESTEPS = 10**10
#: train only: envs stepped in one process; each keeps a rollout buffer and catalog-sized
#: exposure counts, and more than this gains nothing on one core.
MAX_ENVS = 256


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
    """``--seed``, the same range for every command: 0 … 2**32 - 1."""
    return click.option(
        "--seed", type=click.IntRange(0, SEED_MAX), default=0, show_default=True, help=help
    )


def jobs_option(help: str) -> Callable[[Any], Any]:
    return click.option(
        "--jobs", "-j", type=click.IntRange(1, MAX_JOBS), default=1, show_default=True, help=help
    )


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


def _scheduler(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    # Imported here: `simshop --help` does not pay for simshop_core (this module imports
    # no Dask either: it is checked for, not loaded).
    from simshop_core.scheduler import check_scheduler, require_dask

    try:
        value = check_scheduler(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    if value is not None:
        try:
            require_dask()
        except ImportError as exc:
            raise click.ClickException(str(exc)) from None
    return value


#: ``--learner-batch N``: the shoppers a learner serves at once.
learner_batch_option = click.option(
    "--learner-batch",
    "learner_batch",
    type=click.IntRange(1, MAX_EPISODES),
    default=1,
    show_default=True,
    help="Shoppers a learner serves at once. 1: exact online learning, an update after every "
    "page. N > 1: N shoppers at once with delayed feedback, as in a real shop (the learner "
    "updates after each step of all N). Recommenders that do not learn ignore it.",
)

#: ``--scheduler local|ADDRESS``: run the tasks on Dask (`simshop_core.scheduler`).
scheduler_option = click.option(
    "--scheduler",
    default=None,
    metavar="local|ADDRESS",
    callback=_scheduler,
    help="Run the work on Dask: 'local' starts a cluster of --jobs worker processes on this "
    "machine, tcp://HOST:PORT uses a running cluster (its workers, not --jobs). The numbers "
    "are the same as without it. Needs pip install 'simshop-core[dask]'.",
)
