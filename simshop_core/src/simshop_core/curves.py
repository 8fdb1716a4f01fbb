"""Learning curves and regret of a learner's cell, from its per-visit results.

The **learning curve** is the mean visit reward per window of ``window`` visits, in the
cell's visit order (the order the visits ended; the last window may be shorter). By default
a cell of V visits has windows of ``ceil(V / 20)`` visits, so about `DEFAULT_WINDOWS` points.

The **cumulative regret** against the oracle: per visit, the oracle's reward on the same
shopper's same visit minus the learner's, summed in the learner's visit order. The oracle
cell of a shopper type has the learner's env seed (`simshop_core.evaluation.cell_seeds`) and
every shopper has streams of its own, so shopper i's visit v is the same person on the same
day in both cells, only shown other slates. The curve keeps the cumulative regret at the end
of each window; the final value is the cell's ``regret``.

Everything here is a fixed sequence of NumPy reductions over arrays in a fixed order, so the
numbers are bit-identical whoever played the visits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simshop_core.blocks import Visits

#: About this many windows per learning curve when no window is given.
DEFAULT_WINDOWS = 20

__all__ = [
    "DEFAULT_WINDOWS",
    "LearningCurve",
    "default_window",
    "learning_curve",
    "per_visit_regret",
    "visit_numbers",
]


@dataclass(frozen=True)
class LearningCurve:
    """A learner cell's curves: ``reward[w]`` is the mean visit reward of window w;
    ``regret[w]`` the cumulative regret at its end (None: no oracle cell to compare with)."""

    window: int
    reward: tuple[float, ...]
    regret: tuple[float, ...] | None

    @property
    def final_regret(self) -> float:
        return self.regret[-1] if self.regret else math.nan


def default_window(visits: int) -> int:
    """The window for a cell of ``visits`` visits: ``ceil(visits / DEFAULT_WINDOWS)``."""
    return max(1, -(-visits // DEFAULT_WINDOWS))


def visit_numbers(shopper: np.ndarray) -> np.ndarray:
    """Each visit's number for its shopper (from 1), given the visits' shoppers in any order
    in which every shopper's visits come in their own order (as every `Visits` has them)."""
    order = np.argsort(shopper, kind="stable")
    sorted_shopper = shopper[order]
    starts = np.flatnonzero(np.r_[True, sorted_shopper[1:] != sorted_shopper[:-1]])
    lengths = np.diff(np.r_[starts, len(shopper)])
    rank = np.arange(len(shopper)) - np.repeat(starts, lengths)
    numbers = np.empty(len(shopper), dtype=np.int64)
    numbers[order] = rank + 1
    return numbers


def per_visit_regret(learner: Visits, oracle: Visits) -> np.ndarray | None:
    """The oracle's reward minus the learner's, for each of the learner's visits in its
    order; None when the two cells did not play the same (shopper, visit) pairs."""
    if len(learner.reward) != len(oracle.reward):
        return None
    numbers = [visit_numbers(v.shopper) for v in (learner, oracle)]
    # One scale for both, so that equal keys mean equal (shopper, visit) pairs.
    scale = max(int(x.max(initial=0)) for x in numbers) + 1
    keys = [
        v.shopper.astype(np.int64) * scale + x
        for v, x in zip((learner, oracle), numbers, strict=True)
    ]
    mine, theirs = (np.argsort(k, kind="stable") for k in keys)
    if not np.array_equal(keys[0][mine], keys[1][theirs]):
        return None
    aligned = np.empty(len(learner.reward))
    aligned[mine] = oracle.reward[theirs]
    return aligned - learner.reward


def learning_curve(
    learner: Visits, oracle: Visits | None = None, window: int | None = None
) -> LearningCurve:
    """The learning curve of ``learner``'s visits (in their order) and, with the ``oracle``
    cell's visits of the same shopper type and seed, the cumulative regret per window."""
    n = len(learner.reward)
    if n == 0:
        raise ValueError("a learning curve needs at least one visit")
    window = default_window(n) if window is None else int(window)
    if window < 1:
        raise ValueError(f"the window must be at least 1 visit, got {window}")
    starts = np.arange(0, n, window)
    counts = np.diff(np.r_[starts, n])
    reward = np.add.reduceat(learner.reward, starts) / counts
    regret = None
    if oracle is not None:
        per_visit = per_visit_regret(learner, oracle)
        if per_visit is not None:
            cumulative = np.cumsum(per_visit)
            regret = tuple(float(x) for x in cumulative[starts + counts - 1])
    return LearningCurve(window, tuple(float(x) for x in reward), regret)
