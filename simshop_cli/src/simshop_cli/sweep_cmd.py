"""``simshop sweep``: recommenders × parameters × shoppers × seeds, as one table."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich import box
from rich.table import Table

from simshop_cli.options import (
    MAX_EPISODES,
    catalog_option,
    env_option_option,
    jobs_option,
    learner_batch_option,
    scheduler_option,
    suffix_check,
)

if TYPE_CHECKING:
    from simshop_lab.sweep import SweepResult

SWEEP_SUFFIXES = (".parquet", ".csv", ".json")


@click.command()
@click.option(
    "--recommenders",
    "-r",
    "recommenders",
    multiple=True,
    required=True,
    metavar="SPEC",
    help="A recommender spec, NAME[:PATH][:key=value]...; '|' separates the values of one "
    "parameter, and the values of several parameters are crossed "
    "(e.g. -r 'popularity:explore=0.05|0.1|0.2'). Repeatable, or comma-separated; 'all' "
    "is every installed recommender. random and the oracle always run.",
)
@click.option(
    "--users",
    "-u",
    "users",
    multiple=True,
    default=("all",),
    show_default=True,
    metavar="SPEC",
    help="Shopper specs, comma-separated or repeated; '|' as for --recommenders "
    "(e.g. -u 'cheap_seeker:pivot=20|30'); 'all' is every installed shopper.",
)
@click.option(
    "--seeds",
    default="0",
    show_default=True,
    metavar="SEEDS",
    help="Master seeds: a list and inclusive ranges, e.g. 0-4, 0,3,7 or 0-4,10. Each seed's "
    "cells are those of `simshop evaluate --seed S`.",
)
@click.option(
    "--episodes",
    type=click.IntRange(1, MAX_EPISODES),
    default=500,
    show_default=True,
    help="Visits per (seed, shopper, recommender) cell.",
)
@catalog_option
@env_option_option
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    callback=suffix_check(*SWEEP_SUFFIXES),
    help="Write the table: .parquet (the run's manifest in its metadata), .csv or .json.",
)
@jobs_option("Worker processes for all the cells of all seeds; the numbers do not change.")
@scheduler_option
@learner_batch_option
def sweep(
    recommenders: tuple[str, ...],
    users: tuple[str, ...],
    seeds: str,
    episodes: int,
    catalog: Path | None,
    env_options: dict,
    output: Path | None,
    jobs: int,
    scheduler: str | None,
    learner_batch: int,
) -> None:
    """Run a grid of recommenders × parameters × shoppers × seeds and print one table.

    One row per (seed, shopper, recommender), with the statistics of `simshop evaluate`
    (reward with a 95% CI over shoppers, CTR, BTR, pages, the normalised score against that
    seed's random and oracle). All cells of all seeds run in one go over --jobs processes
    or a Dask --scheduler. For example:

    \b
      simshop sweep -r 'popularity:explore=0.05|0.1|0.2' -r random \\
          -u cheap_seeker,brand_lover --seeds 0-4 --episodes 500 --output sweep.parquet
    """
    from simshop_cli.console import stdout, warn
    from simshop_cli.progress import progress_bar
    from simshop_cli.registry import load_registry
    from simshop_core.catalog import load_catalog
    from simshop_core.evaluation import recommender_specs, user_specs
    from simshop_lab.sweep import expand_specs, parse_seeds
    from simshop_lab.sweep import sweep as run_sweep

    load_registry()  # plugin load errors: one warning line each
    try:
        seed_list = parse_seeds(seeds)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--seeds'") from None
    rec_specs = expand_specs(recommenders)
    user_list = user_specs(expand_specs(users))
    cells = len(seed_list) * len(user_list) * len(recommender_specs(rec_specs))
    loaded_catalog = load_catalog(catalog)
    with progress_bar("Sweeping", total=cells * episodes) as advance:
        result = run_sweep(
            rec_specs,
            user_list,
            seeds=seed_list,
            episodes=episodes,
            catalog=loaded_catalog,
            jobs=jobs,
            env_options=env_options,
            scheduler=scheduler,
            progress=advance,
            learner_batch=learner_batch,
        )
    stdout().print(sweep_table(result))
    for note in result.notes:
        warn(note)
    if output is not None:
        result.save(output)
        click.echo(f"Wrote {output}")
    for seed, failure in result.failures:  # the other cells ran and were written
        click.echo(
            f"Error: seed {seed}, {failure.user} × {failure.recommender}: {failure.error}",
            err=True,
        )
    if result.failures:
        raise click.exceptions.Exit(1)


def sweep_table(result: SweepResult) -> Table:
    """One row per (seed, shopper, recommender); the references are dimmed."""
    shown = result.seeds
    seeds = ", ".join(map(str, shown)) if len(shown) <= 6 else f"{shown[0]}…{shown[-1]}"
    table = Table(
        title=f"{result.episodes} visits per cell, seeds {seeds} "
        "(score: 0 = random, 1 = oracle; CI over shoppers)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for header in ("seed", "shopper", "recommender"):
        table.add_column(header, no_wrap=True)
    for header in ("reward", "95% CI", "CTR", "BTR", "pages", "score"):
        table.add_column(header, justify="right", no_wrap=True)
    previous: tuple[int, str] | None = None
    for row in result.records():
        key = (row["seed"], row["user"])
        half = None if row["ci_low"] is None else (row["ci_high"] - row["ci_low"]) / 2
        score = row["normalised_score"]
        table.add_row(
            str(row["seed"]) if previous is None or key[0] != previous[0] else "",
            row["user"] if key != previous else "",
            row["recommender"],
            f"{row['mean_reward']:.3f}",
            f"±{half:.3f}" if half is not None and not math.isnan(half) else "n/a",
            f"{row['ctr']:.3f}",
            f"{row['btr']:.3f}",
            f"{row['mean_length']:.2f}",
            f"{score:.2f}" if score is not None else "n/a",
            style="dim" if row["recommender"] in ("oracle", "random") else None,
        )
        previous = key
    return table
