"""``simshop ope``: off-policy estimates of a target recommender from a per-page log, beside
the simulator's truth."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from simshop_cli.options import SEED_MAX, catalog_option


@click.command()
@click.option(
    "--log",
    "log_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The per-page log folder (simshop evaluate --log, or an imported real log).",
)
@click.option(
    "--target",
    "-t",
    required=True,
    help="The recommender to evaluate: any spec, e.g. popularity, random, "
    "popularity:explore=0.1, ppo:models/a.zip.",
)
@click.option(
    "--logger",
    default=None,
    help="The logging recommender (its label in the log); default: the only one with propensities.",
)
@click.option(
    "--estimators",
    "-e",
    default=None,
    help="Comma-separated estimators; default: all fifteen.",
)
@click.option(
    "--metric",
    type=click.Choice(["reward", "clicks", "buys"]),
    default="reward",
    show_default=True,
    help="What is estimated, per page.",
)
@click.option(
    "--ci",
    type=click.Choice(["analytic", "bootstrap"]),
    default="analytic",
    show_default=True,
    help="How the 95% intervals are made.",
)
@click.option(
    "--bootstrap",
    type=click.IntRange(10, 1_000_000),
    default=1000,
    show_default=True,
    help="Resamples (of shoppers) for --ci bootstrap.",
)
@click.option(
    "--validate",
    "repeats",
    type=click.IntRange(2, 100_000),
    default=None,
    help="Also draw R fresh logs from the logger and report each estimator's bias, RMSE and "
    "CI coverage against the page-level truth.",
)
@click.option(
    "--by-type/--pooled",
    default=True,
    show_default=True,
    help="Show the per-shopper-type rows too (they are always in --output).",
)
@click.option(
    "--seed",
    type=click.IntRange(0, SEED_MAX),
    default=0,
    show_default=True,
    help="Seed of the target's draws, the bootstrap and the fresh logs.",
)
@catalog_option
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the rows to a .json (everything) or .csv file (the rows; with --validate, "
    "the validation table).",
)
def ope(
    log_dir: Path,
    target: str,
    logger: str | None,
    estimators: str | None,
    metric: str,
    ci: str,
    bootstrap: int,
    repeats: int | None,
    by_type: bool,
    seed: int,
    catalog: Path | None,
    output: Path | None,
) -> None:
    """Estimate a target recommender's value from a logging recommender's pages.

    For each estimator: the estimate with a 95% CI, the effective sample size and the
    largest weight, beside the truth only a simulator knows — page level (the target's
    expected metric on the logged page states) and visit level (the target run online on the
    same shoppers with the same random streams) — and the relative error.
    """
    from simshop_cli.console import warn
    from simshop_cli.registry import load_registry
    from simshop_core.files import check_results_path
    from simshop_lab.ope.run import check_estimators, run_ope

    load_registry()
    if output is not None:
        check_results_path(output)  # before any work
    names = check_estimators(estimators)
    if repeats is not None:
        from simshop_lab.ope.validate import check_simulated

        check_simulated(log_dir)  # before any work
    result = run_ope(
        log_dir,
        target,
        logger,
        names,
        metric,
        ci,
        seed=seed,
        bootstrap=bootstrap,
        catalog=catalog,
        by_type=True,
    )
    _print_rows(result, by_type)
    for line in result.support["all"].warnings():
        warn(line)
    for note in result.notes:
        warn(note)
    if repeats is not None:
        from simshop_cli.progress import progress_bar
        from simshop_lab.ope.replay import read_pages
        from simshop_lab.ope.validate import validate

        pages = read_pages(log_dir, logger)
        with progress_bar("Validating", total=repeats) as advance:
            table, _ = validate(
                pages,
                target,
                repeats,
                estimators=names,
                metric=metric,
                ci=ci,
                seed=seed,
                bootstrap=bootstrap,
                catalog=catalog,
                progress=advance,
            )
        result.validation = table
        _print_validation(table, repeats, metric)
    if output is not None:
        result.save(output)
        click.echo(f"Wrote {output}")


def _number(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _value(value: Any) -> str:
    """An estimate or truth: four significant digits, so a CTR of 0.0038 reads as one."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.4g}"


def _percent(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:+.1%}"


def _print_rows(result: Any, by_type: bool) -> None:
    from rich.table import Table

    from simshop_cli.console import stdout

    manifest = result.manifest
    title = (
        f"{manifest['target']} from {manifest['pages']} pages of {manifest['logger']} "
        f"({manifest['metric']} per page; truth: page level / visit level)"
    )
    table = Table(title=title, box=None, header_style="bold")
    for name in ("estimator", "shopper", "estimate", "95% CI", "ESS", "max w", "truth page",
                 "truth visit", "rel. err page", "rel. err visit", "no support"):  # fmt: skip
        table.add_column(name, justify="left" if name in ("estimator", "shopper") else "right")
    records = result.records()
    # With one shopper type its rows are the pooled ones again: show them once.
    by_type = by_type and len({r["shopper_type"] for r in records} - {"all"}) > 1
    previous = None
    for row in records:
        if row["shopper_type"] != "all" and not by_type:
            continue
        if previous is not None and row["shopper_type"] != previous:
            table.add_section()
        previous = row["shopper_type"]
        ci = (
            "n/a"
            if row["ci_low"] is None
            else f"[{_value(row['ci_low'])}, {_value(row['ci_high'])}]"
        )
        share = row["unsupported_share"]
        table.add_row(
            row["estimator"],
            row["shopper_type"],
            _value(row["estimate"]),
            ci,
            _number(row["ess"], 1),
            _number(row["max_weight"], 1),
            _value(row["truth_page"]),
            _value(row["truth_visit"]),
            _percent(row["relative_error_page"]),
            _percent(row["relative_error_visit"]),
            "n/a" if share is None else f"{share:.0%}",
        )
    stdout().print(table)


def _print_validation(rows: list[dict[str, Any]], repeats: int, metric: str) -> None:
    from rich.table import Table

    from simshop_cli.console import stdout

    table = Table(
        title=f"Over {repeats} fresh logs, against the page-level truth ({metric} per page)",
        box=None,
        header_style="bold",
    )
    for name in ("estimator", "bias", "± s.e.", "RMSE", "rel. error", "coverage"):
        table.add_column(name, justify="left" if name == "estimator" else "right")
    for row in rows:
        coverage = row["coverage"]
        table.add_row(
            row["estimator"],
            _number(row["bias"], 4),
            _number(row["bias_se"], 4),
            _number(row["rmse"], 4),
            _percent(row["relative_error"]),
            "n/a" if coverage is None or not math.isfinite(coverage) else f"{coverage:.0%}",
        )
    stdout().print(table)
