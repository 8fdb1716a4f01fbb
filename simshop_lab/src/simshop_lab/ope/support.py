"""Support checks (issue 12, item 5): where the target puts mass that the logger never does.

An importance-weighted estimator can only see what the logger showed. On a page where the
target would show a slate the logger never shows (logger probability 0, target's > 0), the
slate-level estimators (``ips``, ``snips``, ``dr``, ``switch_dr``, ``dr_os``, ``sips``,
``snsips``, and the prefix/cascade ones ``rips``, ``snrips``, ``cascade_dr``) are blind; where
it puts an item at a position the logger never puts it, the item–position ones (``iips``,
``sniips``, ``pi``, ``snpi``) are. ``dm`` needs no support (it extrapolates with its model,
which is its own risk). `Support` holds the share of pages without each kind of support, so
it is reported, not silently estimated; NaN when the logger's probabilities cannot be known
(a logger that learns, or one not installed here, or a real log).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Which support each estimator needs: "slate" (the target's whole slates, or their
#: prefixes) or "item" (its (item, position) pairs); None: none.
NEEDS: dict[str, str | None] = {
    "dm": None,
    "ips": "slate",
    "snips": "slate",
    "dr": "slate",
    "switch_dr": "slate",
    "dr_os": "slate",
    "sips": "slate",
    "snsips": "slate",
    "rips": "slate",
    "snrips": "slate",
    "cascade_dr": "slate",
    "iips": "item",
    "sniips": "item",
    "pi": "item",
    "snpi": "item",
}


@dataclass(frozen=True)
class Support:
    """Shares of pages without support (NaN: unknown)."""

    pages: int
    slate: float  # share of pages where some target slate has logger probability 0
    item: float  # share where some target (item, position) has logger marginal 0

    def share(self, estimator: str) -> float:
        """The share of pages lacking the support ``estimator`` needs (0 if it needs none)."""
        need = NEEDS.get(estimator, "slate")
        if need is None:
            return 0.0
        return self.slate if need == "slate" else self.item

    def warnings(self) -> list[str]:
        """One line per kind of support that is missing on some pages."""
        out = []
        if self.slate > 0:
            out.append(
                f"the target shows slates the logger never shows on {self.slate:.1%} of the pages:"
                " ips, snips, dr, switch_dr, dr_os, sips, snsips, rips, snrips and cascade_dr "
                "cannot see them (biased)"
            )
        if self.item > 0:
            out.append(
                f"the target puts items at positions the logger never does on {self.item:.1%} "
                "of the pages: iips, sniips, pi and snpi cannot see them (biased)"
            )
        if math.isnan(self.slate) or math.isnan(self.item):
            out.append(
                "the logger's probabilities of the target's slates are unknown (it cannot be "
                "rebuilt here, or it learns): support is not checked"
            )
        return out


class SupportCounter:
    """Accumulates pages without support, step by step."""

    def __init__(self) -> None:
        self.pages = 0
        self.slate_missing = 0
        self.item_missing = 0
        self.unknown = False

    def add(self, target_slates: np.ndarray, slate_p: np.ndarray, item_p: np.ndarray) -> None:
        """``target_slates`` (n, S, k) the target may show; ``slate_p``/``item_p`` (n, S) the
        logger's probability of each, and the smallest marginal of its (item, position)s."""
        n = len(target_slates)
        self.pages += n
        if np.isnan(slate_p).any() or np.isnan(item_p).any():
            self.unknown = True
            return
        self.slate_missing += int(np.count_nonzero((slate_p <= 0).any(axis=1)))
        self.item_missing += int(np.count_nonzero((item_p <= 0).any(axis=1)))

    def result(self) -> Support:
        if self.unknown or self.pages == 0:
            return Support(self.pages, math.nan, math.nan)
        return Support(self.pages, self.slate_missing / self.pages, self.item_missing / self.pages)
