"""``simshop evaluate``: every (shopper, recommender) cell,
with the random and oracle references.
"""

from __future__ import annotations

from pathlib import Path

import click

from simshop_cli.options import (
    MAX_EPISODES,
    catalog_option,
    env_option_option,
    jobs_option,
    learner_batch_option,
    scheduler_option,
    seed_option,
    suffix_check,
    users_option,
)
from simshop_cli.plot import PLOT_SUFFIXES, save_plot
from simshop_cli.progress import progress_bar
from simshop_cli.results import RESULT_SUFFIXES, print_results


@click.command()
@click.option(
    "--recommenders",
    "-r",
    default="popularity",
    show_default=True,
    help="Comma-separated recommender specs, NAME[:PATH][:key=value]... (e.g. ppo:models/a.zip, "
    "popularity:explore=0.1), or 'all'. random (if installed) and the oracle reference "
    "always run.",
)
@users_option("Comma-separated shopper specs (e.g. cheap_seeker:pivot=30), or 'all'.")
@click.option(
    "--episodes",
    type=click.IntRange(1, MAX_EPISODES),
    default=500,
    show_default=True,
    help="Visits per (shopper, recommender) cell.",
)
@seed_option("Master seed.")
@catalog_option
@env_option_option
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    callback=suffix_check(*RESULT_SUFFIXES),
    help="Write the table to a .csv or .json file.",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    callback=suffix_check(*PLOT_SUFFIXES),
    help="Write a figure (.png, .svg or .pdf): mean reward with CI error bars, and for "
    "learners their learning curves and cumulative regret, one panel per shopper.",
)
@click.option(
    "--window",
    type=click.IntRange(1, MAX_EPISODES),
    default=None,
    help="Visits per point of a learner's learning curve (mean visit reward per window). "
    "Default: --episodes / 20, rounded up (about 20 points).",
)
@learner_batch_option
@click.option(
    "--log",
    "log_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write a per-page log (Parquet, with propensities and the simulator's truth) into "
    "this new or empty folder.",
)
@jobs_option("Worker processes; the numbers are the same for any value.")
@scheduler_option
def evaluate(
    recommenders: str,
    users: str,
    episodes: int,
    seed: int,
    catalog: Path | None,
    env_options: dict,
    output: Path | None,
    plot: Path | None,
    window: int | None,
    learner_batch: int,
    log_dir: Path | None,
    jobs: int,
    scheduler: str | None,
) -> None:
    """Compare recommenders across shopper models.

    Each cell reports visits, mean visit reward with a 95% confidence interval (shoppers, not
    visits, are the independent units), CTR, BTR, mean visit length and the normalised score
    (0 = random, 1 = oracle). Every cell's seed derives from --seed, so the numbers do not
    depend on which other cells ran, their order or --jobs.

    A learner (a recommender that learns from feedback, such as a bandit) learns across the
    visits of its cell, from scratch; the table adds its cumulative regret against the oracle
    and its learning curve, and --plot draws both.
    """
    from simshop_cli.console import warn
    from simshop_cli.registry import load_registry
    from simshop_cli.train_cmd import check_writable
    from simshop_core.catalog import load_catalog
    from simshop_core.evaluation import evaluate as run_evaluation
    from simshop_core.evaluation import recommender_specs, user_specs

    ctx = click.get_current_context()
    for path, option in ((output, "--output"), (plot, "--plot")):
        if path is not None:  # before the run: a bad path must not cost a whole evaluation
            check_writable(ctx, path, option)
    load_registry()  # plugin load errors: one warning line each
    user_names = user_specs(users)
    cells = len(user_names) * len(recommender_specs(recommenders))
    loaded_catalog = load_catalog(catalog)
    with progress_bar("Evaluating", total=cells * episodes) as advance:
        result = run_evaluation(
            recommenders,
            user_names,
            episodes=episodes,
            seed=seed,
            catalog=loaded_catalog,
            jobs=jobs,
            env_options=env_options,
            progress=advance,
            log=log_dir,
            scheduler=scheduler,
            window=window,
            learner_batch=learner_batch,
        )
    print_results(result)
    for note in result.notes:
        warn(note)
    if output is not None:
        result.save(output)
        click.echo(f"Wrote {output}")
    if plot is not None:
        save_plot(result, plot)
        click.echo(f"Wrote {plot}")
    if log_dir is not None:
        click.echo(f"Wrote the per-page log to {log_dir}")
    for failure in result.failures:  # the other cells ran and were written
        click.echo(f"Error: {failure.user} × {failure.recommender}: {failure.error}", err=True)
    if result.failures:
        raise click.exceptions.Exit(1)
