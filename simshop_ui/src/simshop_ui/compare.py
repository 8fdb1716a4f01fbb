"""The compare page: an evaluation grid through `simshop_core.evaluate`, as a table and a chart;
for learners also their learning curves and cumulative regret against the oracle.

The numbers are `evaluate`'s own (nothing is recomputed here), so they equal what
``simshop evaluate`` prints for the same shoppers, recommenders, episodes, seed and env
options. Besides the dropdowns' choices the page takes typed specs
(``popularity:explore=0.1, ppo:mode=greedy``).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from simshop_core.catalog import Catalog
from simshop_core.evaluation import EvaluationResult, evaluate, recommender_specs
from simshop_core.specs import label, parse_spec

#: The table's columns, in order (names as in `CellResult`).
TABLE_COLUMNS = (
    "user",
    "recommender",
    "mean_reward",
    "ci_low",
    "ci_high",
    "ctr",
    "btr",
    "normalised_score",
    "visits",
    "shoppers",
    "mean_length",
)


def typed_specs(text: str) -> list[str]:
    """``"popularity:explore=0.1, ppo:mode=greedy"`` → the specs, each checked for syntax
    (a one-line ValueError); commas separate them, as in ``--recommenders``."""
    specs = [part.strip() for part in text.split(",") if part.strip()]
    for spec in specs:
        parse_spec(spec)
    return specs


def with_typed(chosen: Sequence[str], typed: Sequence[str]) -> list[str]:
    """The chosen specs, then the typed ones whose label is new (one row per label)."""
    out: list[str] = []
    seen: set[str] = set()
    for spec in [*chosen, *typed]:
        if label(spec) not in seen:
            seen.add(label(spec))
            out.append(spec)
    return out


def cell_labels(recommenders: Sequence[str]) -> list[str]:
    """The recommenders a grid reports: the chosen ones plus the references (labels as
    `evaluate` gives them: two models of one recommender are two rows)."""
    return sorted(recommender_specs(list(recommenders)))


def total_episodes(users: Sequence[str], recommenders: Sequence[str], episodes: int) -> int:
    return len(users) * len(cell_labels(recommenders)) * episodes


def run_comparison(
    users: Sequence[str],
    recommenders: Sequence[str],
    episodes: int,
    seed: int,
    catalog: Catalog | None = None,
    progress: Callable[[float], None] | None = None,
    env_options: Mapping[str, Any] | None = None,
) -> EvaluationResult:
    """`evaluate` with ``progress(fraction done)`` instead of episode counts."""
    if not users:
        raise ValueError("choose at least one shopper")
    total = total_episodes(users, recommenders, episodes)
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(min(done / total, 1.0))

    return evaluate(
        recommenders=list(recommenders),
        users=list(users),
        episodes=episodes,
        seed=seed,
        catalog=catalog,
        env_options=dict(env_options or {}),
        progress=tick,
    )


def results_frame(result: EvaluationResult) -> pd.DataFrame:
    """The table, one row per (shopper, recommender), values unrounded; with learners, their
    final cumulative regret against the oracle too (a column only then)."""
    columns = list(TABLE_COLUMNS)
    if has_learners(result):
        columns.append("regret")
    return result.to_frame()[columns]


def has_learners(result: EvaluationResult) -> bool:
    return any(cell.curve is not None for cell in result.cells)


#: The learning frame's two measures, as the chart's rows name them.
CURVE_MEASURES = {"curve": "mean reward per window", "regret_curve": "cumulative regret"}


def learning_frame(result: EvaluationResult) -> pd.DataFrame:
    """The learners' curves, long: one row per (shopper, learner, measure, window), with
    ``visits`` the number of visits at the window's end and ``value`` the window's mean
    reward or the cumulative regret then (`CURVE_MEASURES`)."""
    rows = []
    for cell in result.cells:
        if cell.curve is None or cell.window is None:
            continue
        for field, measure in CURVE_MEASURES.items():
            values = getattr(cell, field)
            for i, value in enumerate(values or ()):
                rows.append(
                    {
                        "user": cell.user,
                        "recommender": cell.recommender,
                        "measure": measure,
                        "visits": min((i + 1) * cell.window, cell.visits),
                        "value": value,
                    }
                )
    return pd.DataFrame(rows, columns=["user", "recommender", "measure", "visits", "value"])


def learning_chart(result: EvaluationResult) -> Any:
    """The learners' learning curves (top row) and cumulative regret against the oracle
    (bottom row), one column per shopper; None when no learner ran."""
    import altair as alt

    data = learning_frame(result)
    if data.empty:
        return None
    return (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=alt.X("visits:Q", title="visits"),
            y=alt.Y("value:Q", title=None),
            color=alt.Color("recommender:N", title="learner"),
            tooltip=[
                "user:N",
                "recommender:N",
                "visits:Q",
                alt.Tooltip("value:Q", format=".3f", title="value"),
            ],
        )
        .properties(width=240, height=180)
        .facet(
            column=alt.Column("user:N", title="shopper"),
            row=alt.Row("measure:N", title=None, sort=list(CURVE_MEASURES.values())),
        )
        .resolve_scale(y="independent")
    )


def cli_command(
    users: Sequence[str],
    recommenders: Sequence[str],
    episodes: int,
    seed: int,
    env_options: Mapping[str, Any] | None = None,
) -> str:
    """The ``simshop evaluate`` line that prints the same numbers."""
    args = [
        "simshop",
        "evaluate",
        "--recommenders",
        ",".join(recommenders) or "random",
        "--users",
        ",".join(users),
        "--episodes",
        str(episodes),
        "--seed",
        str(seed),
    ]
    for key, value in (env_options or {}).items():
        text = value if isinstance(value, str) else json.dumps(value)
        args += ["--env-option", f"{key}={text}"]
    return shlex.join(args)


def reward_chart(frame: pd.DataFrame) -> Any:
    """Mean reward per recommender, grouped by shopper, with 95% CI error bars."""
    import altair as alt

    data = frame.assign(ci="±" + ((frame["ci_high"] - frame["ci_low"]) / 2).round(3).astype(str))
    base = alt.Chart(data).encode(
        x=alt.X("user:N", title="shopper"),
        xOffset=alt.XOffset("recommender:N"),
        color=alt.Color("recommender:N", title="recommender"),
    )
    tooltip = [
        "user:N",
        "recommender:N",
        alt.Tooltip("mean_reward:Q", format=".3f", title="mean reward"),
        alt.Tooltip("ci:N", title="95% CI"),
        alt.Tooltip("normalised_score:Q", format=".2f", title="normalised score"),
    ]
    bars = base.mark_bar().encode(
        y=alt.Y("mean_reward:Q", title="mean reward per visit"), tooltip=tooltip
    )
    # A cell with one shopper has no CI (NaN): its bar simply has no whisker.
    whiskers = base.mark_errorbar(ticks=True, color="black").encode(
        y=alt.Y("ci_low:Q", title="mean reward per visit"), y2="ci_high:Q"
    )
    return alt.layer(bars, whiskers).properties(height=320)


__all__ = [
    "TABLE_COLUMNS",
    "cell_labels",
    "cli_command",
    "has_learners",
    "learning_chart",
    "learning_frame",
    "results_frame",
    "reward_chart",
    "run_comparison",
    "total_episodes",
    "typed_specs",
    "with_typed",
]
