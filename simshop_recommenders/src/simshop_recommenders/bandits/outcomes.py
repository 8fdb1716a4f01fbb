"""What a bandit learns from one page: which slate positions count as trials, and each
trial's reward.

- The reward of position i is ``(1 − buy_weight)·clicked[i] + buy_weight·bought[i]``, in
  [0, 1]. The default ``buy_weight = 5/8`` is the split of the env's default page reward
  between CTR (weight 3) and BTR (weight 5): a bandit ranking by it ranks by an item's
  share of the page reward.
- Which positions were examined: ``"all"`` (every shown position: the default threshold
  click model, and pbm with its misses counted as plain misses) or ``"cascade"`` (the
  shopper scans top-down and stops at the first click: positions after it were never seen,
  so they are no trials; a page without a click was examined to the bottom).
"""

from __future__ import annotations

import numbers
from typing import Literal

import numpy as np

from simshop_core.recommender import Feedback

Examined = Literal["all", "cascade"]
EXAMINED: tuple[str, ...] = ("all", "cascade")
#: The env's default reward weights ctr = 3, btr = 5: a buy's share of a bought item's reward.
DEFAULT_BUY_WEIGHT = 0.625


def check_buy_weight(value: float) -> float:
    """``buy_weight`` as a float in [0, 1], or a one-line ValueError."""
    return check_real("buy_weight", value, 0.0, 1.0)


def check_examined(value: str) -> str:
    if value not in EXAMINED:
        raise ValueError(f"examined must be one of {', '.join(EXAMINED)}, got {value!r}")
    return value


def check_real(
    name: str, value: float, low: float, high: float = float("inf"), *, open_low: bool = False
) -> float:
    """``value`` as a float in [low, high] ((low, high] with ``open_low``), else a one-line
    ValueError naming the parameter and the accepted range."""
    bad = isinstance(value, bool) or not isinstance(value, numbers.Real)
    if not bad:
        v = float(value)
        bad = not (v > low if open_low else v >= low) or not v <= high
    if bad:
        side = "(" if open_low else "["
        top = "inf)" if high == float("inf") else f"{high:g}]"
        raise ValueError(f"{name} must be a number in {side}{low:g}, {top}, got {value!r}")
    return float(value)


def check_count(name: str, value: int, low: int = 1) -> int:
    """``value`` as an int of at least ``low``, else a one-line ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer of at least {low}, got {value!r}")
    return int(value)


def examined_count(clicked: np.ndarray, examined: str) -> int:
    """How many top positions of the slate count as trials."""
    k = len(clicked)
    if examined == "all":
        return k
    hits = np.flatnonzero(clicked)
    return int(hits[0]) + 1 if len(hits) else k


def reward_table(buy_weight: float) -> np.ndarray:
    """A position's reward by ``clicked + bought`` (0: nothing, 1: a click, 2: a buy)."""
    return np.array([0.0, 1.0 - buy_weight, 1.0])


def trials(feedback: Feedback, rewards: np.ndarray, examined: str) -> tuple[np.ndarray, np.ndarray]:
    """The examined positions' candidate indices and rewards, top first; ``rewards`` is
    `reward_table` (looked up rather than computed: this runs on every page)."""
    clicked = np.asarray(feedback.clicked, dtype=bool)
    outcome = clicked.view(np.uint8) + np.asarray(feedback.bought, dtype=bool).view(np.uint8)
    slate = np.asarray(feedback.slate, dtype=np.int64)
    if examined == "all":
        return slate, rewards[outcome]
    m = examined_count(clicked, examined)
    return slate[:m], rewards[outcome[:m]]
