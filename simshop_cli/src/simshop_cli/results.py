"""Showing an evaluation: the rich table (the figure is `simshop_cli.plot`'s)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich import box
from rich.table import Table

from simshop_cli.console import stdout
from simshop_cli.plot import PLOT_SUFFIXES, save_plot

if TYPE_CHECKING:
    from collections.abc import Sequence

    from simshop_core.evaluation import CellResult, EvaluationResult

RESULT_SUFFIXES = (".csv", ".json")
#: Eight heights, low to high: a learning curve in as many characters as it has windows.
SPARK = "▁▂▃▄▅▆▇█"

__all__ = [
    "PLOT_SUFFIXES",
    "RESULT_SUFFIXES",
    "print_results",
    "results_table",
    "save_plot",
    "sparkline",
]


def sparkline(values: Sequence[float], low: float | None = None, high: float | None = None) -> str:
    """``values`` as bars of `SPARK`, from ``low`` (the lowest bar) to ``high`` (the highest;
    values beyond are clipped); by default from the values' minimum to their maximum."""
    low = min(values) if low is None else low
    high = max(values) if high is None else high
    span = high - low
    top = len(SPARK) - 1
    return "".join(
        SPARK[min(top, max(0, round((v - low) / span * top))) if span > 0 else 0] for v in values
    )


def results_table(result: EvaluationResult, title: str | None = None) -> Table:
    """One row per (shopper, recommender); the references are dimmed. When learners ran, two
    more columns show their cumulative regret against the oracle and their learning curve:
    a sparkline of the mean reward per window from the shopper's random mean (▁) to its
    oracle mean (█), like the score (its own range when a reference is missing); the other
    rows leave them blank."""
    windows = [c.window for c in result.cells if c.curve is not None]
    learners = bool(windows)
    caption = None
    if learners:
        batch = result.manifest.get("options", {}).get("learner_batch", 1)
        caption = (
            f"learning curve: mean reward per {windows[0]} visits, random ▁ to oracle █; "
            "regret: cumulative, against the oracle on the same shoppers; learners "
            + (f"served {batch} shoppers at once" if batch != 1 else "learnt online")
        )
    table = Table(
        title=title
        or f"{result.episodes} visits per cell, seed {result.seed} "
        "(score: 0 = random, 1 = oracle; CI over shoppers)",
        title_justify="left",
        caption=caption,
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for header in ("shopper", "recommender"):
        table.add_column(header, no_wrap=True)
    for header in ("reward", "95% CI", "CTR", "BTR", "pages", "score"):
        table.add_column(header, justify="right", no_wrap=True)
    if learners:
        table.add_column("regret", justify="right", no_wrap=True)
        table.add_column("learning curve", no_wrap=True)
    previous = None
    for cell in result.cells:
        reference = cell.recommender in ("oracle", "random")
        extra: list[str] = []
        if learners:
            regret = "" if cell.curve is None else "n/a"
            if not math.isnan(cell.regret):
                regret = f"{cell.regret:,.1f}"
            extra = [regret, _curve(result, cell)]
        table.add_row(
            cell.user if cell.user != previous else "",
            cell.recommender,
            f"{cell.mean_reward:.3f}",
            f"±{cell.ci_halfwidth:.3f}" if not math.isnan(cell.ci_halfwidth) else "n/a",
            f"{cell.ctr:.3f}",
            f"{cell.btr:.3f}",
            f"{cell.mean_length:.2f}",
            f"{cell.normalised_score:.2f}" if not math.isnan(cell.normalised_score) else "n/a",
            *extra,
            style="dim" if reference else None,
            end_section=False,
        )
        previous = cell.user
    return table


def print_results(result: EvaluationResult, title: str | None = None) -> None:
    stdout().print(results_table(result, title))


def _curve(result: EvaluationResult, cell: CellResult) -> str:
    """A learner's sparkline, random (▁) to oracle (█) of its shopper; blank for others."""
    if not cell.curve:
        return ""
    means = {c.recommender: c.mean_reward for c in result.cells if c.user == cell.user}
    low, high = means.get("random"), means.get("oracle")
    if low is None or high is None or not high > low:
        return sparkline(cell.curve)
    return sparkline(cell.curve, low, high)
