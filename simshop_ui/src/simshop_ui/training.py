"""The training page: learning curves from the ``progress.csv`` that ``simshop train`` writes
(stable-baselines3's CSV logger), so nobody needs W&B to see them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

PROGRESS_FILE = "progress.csv"
DEFAULT_RUNS_DIR = "runs"
#: Preferred x axis, then the default metrics to plot (whichever exist).
STEP_COLUMN = "time/total_timesteps"
DEFAULT_METRICS = ("rollout/ep_rew_mean", "eval/mean_reward")


def find_runs(root: str | Path) -> list[Path]:
    """Every folder under ``root`` that holds a ``progress.csv``, sorted."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(path.parent for path in root.rglob(PROGRESS_FILE) if path.is_file())


def read_progress(run: str | Path) -> pd.DataFrame:
    """A run's ``progress.csv`` (or the file itself); empty while training has logged nothing."""
    path = Path(run)
    if path.is_dir():
        path = path / PROGRESS_FILE
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """The numeric columns worth plotting (everything but the step counter)."""
    numeric = frame.select_dtypes("number").columns
    return [c for c in numeric if c != STEP_COLUMN and frame[c].notna().any()]


def default_metrics(columns: list[str]) -> list[str]:
    chosen = [c for c in DEFAULT_METRICS if c in columns]
    return chosen or columns[:1]


def step_column(frame: pd.DataFrame) -> str | None:
    return STEP_COLUMN if STEP_COLUMN in frame.columns else None


def curve(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``step`` and ``value`` for one metric; SB3 leaves cells blank when a metric was not
    logged in that row, so those rows are dropped."""
    step = step_column(frame)
    x = frame[step] if step else pd.Series(range(1, len(frame) + 1), index=frame.index)
    out = pd.DataFrame({"step": x, "value": frame[metric]})
    return out.dropna().reset_index(drop=True)


def curve_chart(frame: pd.DataFrame, metric: str) -> Any:
    import altair as alt

    step = step_column(frame)
    return (
        alt.Chart(curve(frame, metric), title=metric)
        .mark_line(point=True)
        .encode(
            x=alt.X("step:Q", title=step or "log row"),
            y=alt.Y("value:Q", title=metric, scale=alt.Scale(zero=False)),
            tooltip=["step:Q", alt.Tooltip("value:Q", format=".4g")],
        )
        .properties(height=240)
    )


__all__ = [
    "DEFAULT_RUNS_DIR",
    "PROGRESS_FILE",
    "curve",
    "curve_chart",
    "default_metrics",
    "find_runs",
    "metric_columns",
    "read_progress",
    "step_column",
]
