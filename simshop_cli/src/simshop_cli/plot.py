"""``simshop evaluate --plot``: the figure of an evaluation.

The mean reward of every cell as bars with 95% CI error bars; when learners ran, below it one
pair of panels per shopper type: the learners' learning curves (mean visit reward per window,
with the random and oracle cells' means as dashed references) and their cumulative regret
against the oracle. matplotlib is imported here, lazily, with the Agg backend (no display).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simshop_core.evaluation import CellResult, EvaluationResult

PLOT_SUFFIXES = (".png", ".svg", ".pdf")
#: Shopper types side by side before the learners' panels wrap to a new row.
PANEL_COLUMNS = 4
_REFERENCES = ("random", "oracle")


def learner_cells(result: EvaluationResult) -> list[CellResult]:
    """The cells with a learning curve, in the result's order."""
    return [c for c in result.cells if c.curve is not None]


def save_plot(result: EvaluationResult, path: Path) -> Path:
    """Write the figure to ``path`` (.png, .svg or .pdf), whole or not at all."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    from simshop_core.files import atomic_path

    learners = learner_cells(result)
    users = sorted({c.user for c in learners})
    columns = min(PANEL_COLUMNS, len(users))
    pair_rows = -(-len(users) // columns) if users else 0
    width = max(6.0, 1.6 * len(result.users), 3.6 * columns)
    fig = plt.figure(figsize=(width, 4.0 + 5.0 * pair_rows))
    grid = fig.add_gridspec(
        1 + 2 * pair_rows, max(columns, 1), height_ratios=[1.6] + [1] * (2 * pair_rows)
    )
    _bars(fig.add_subplot(grid[0, :]), result)
    for i, user in enumerate(users):
        row, column = divmod(i, columns)
        curve_ax = fig.add_subplot(grid[1 + 2 * row, column])
        regret_ax = fig.add_subplot(grid[2 + 2 * row, column], sharex=curve_ax)
        _curves(curve_ax, regret_ax, result, user)
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lower().lstrip("."))
    finally:
        plt.close(fig)
    return path


def _bars(ax: Any, result: EvaluationResult) -> None:
    """Mean reward per shopper and recommender, with 95% CI error bars."""
    import numpy as np

    users, recommenders = result.users, result.recommenders
    width = 0.8 / len(recommenders)
    x = np.arange(len(users))
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


def _curves(curve_ax: Any, regret_ax: Any, result: EvaluationResult, user: str) -> None:
    """One shopper type's learners: learning curves above, cumulative regret below."""
    import numpy as np

    for cell in learner_cells(result):
        if cell.user != user:
            continue
        assert cell.curve is not None and cell.window is not None
        ends = np.minimum(np.arange(1, len(cell.curve) + 1) * cell.window, cell.visits)
        curve_ax.plot(ends, cell.curve, marker=".", label=cell.recommender)
        if cell.regret_curve is not None:
            regret_ax.plot(ends, cell.regret_curve, marker=".", label=cell.recommender)
    for cell in result.cells:
        if cell.user == user and cell.recommender in _REFERENCES:
            curve_ax.axhline(cell.mean_reward, linestyle="--", linewidth=1, color="grey")
            curve_ax.annotate(
                cell.recommender,
                (1.0, cell.mean_reward),
                xycoords=("axes fraction", "data"),
                ha="right",
                va="bottom",
                fontsize="x-small",
                color="grey",
            )
    curve_ax.set_title(user, fontsize="medium")
    curve_ax.set_ylabel("mean visit reward per window")
    curve_ax.legend(fontsize="x-small")
    regret_ax.axhline(0.0, linewidth=0.8, color="grey")
    regret_ax.set_xlabel("visits")
    regret_ax.set_ylabel("cumulative regret vs oracle")
