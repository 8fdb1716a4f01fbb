"""Showing an evaluation: the rich table, the results file and the bar chart."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.table import Table

from simshop_cli.console import stdout

if TYPE_CHECKING:
    from simshop_core.evaluation import EvaluationResult

RESULT_SUFFIXES = (".csv", ".json")
PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def results_table(result: EvaluationResult, title: str | None = None) -> Table:
    """One row per (shopper, recommender); the references are dimmed."""
    table = Table(
        title=title
        or f"{result.episodes} visits per cell, seed {result.seed} "
        "(score: 0 = random, 1 = oracle; CI over shoppers)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for header in ("shopper", "recommender"):
        table.add_column(header, no_wrap=True)
    for header in ("reward", "95% CI", "CTR", "BTR", "pages", "score"):
        table.add_column(header, justify="right", no_wrap=True)
    previous = None
    for cell in result.cells:
        reference = cell.recommender in ("oracle", "random")
        table.add_row(
            cell.user if cell.user != previous else "",
            cell.recommender,
            f"{cell.mean_reward:.3f}",
            f"±{cell.ci_halfwidth:.3f}" if not math.isnan(cell.ci_halfwidth) else "n/a",
            f"{cell.ctr:.3f}",
            f"{cell.btr:.3f}",
            f"{cell.mean_length:.2f}",
            f"{cell.normalised_score:.2f}" if not math.isnan(cell.normalised_score) else "n/a",
            style="dim" if reference else None,
            end_section=False,
        )
        previous = cell.user
    return table


def print_results(result: EvaluationResult, title: str | None = None) -> None:
    stdout().print(results_table(result, title))


def save_plot(result: EvaluationResult, path: Path) -> Path:
    """A grouped bar chart of mean reward per shopper with 95% CI error bars."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt
    import numpy as np

    from simshop_core.files import atomic_path

    users, recommenders = result.users, result.recommenders
    width = 0.8 / len(recommenders)
    x = np.arange(len(users))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(users)), 4.0))
    for i, name in enumerate(recommenders):
        found = {c.user: c for c in result.cells if c.recommender == name}
        cells = [found.get(user) for user in users]  # a failed cell has no bar
        means = [c.mean_reward if c else math.nan for c in cells]
        errors = [0.0 if not c or math.isnan(c.ci_halfwidth) else c.ci_halfwidth for c in cells]
        ax.bar(
            x + (i - (len(recommenders) - 1) / 2) * width,
            means,
            width,
            yerr=errors,
            capsize=3,
            label=name,
        )
    ax.set_xticks(x, users, rotation=20, ha="right")
    ax.set_ylabel("mean visit reward (95% CI)")
    ax.set_title(f"SimShop evaluation: {result.episodes} visits per cell, seed {result.seed}")
    ax.legend(fontsize="small")
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp)
    finally:
        plt.close(fig)
    return path
