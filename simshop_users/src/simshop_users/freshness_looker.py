"""`freshness_looker`: wants what is new."""

from __future__ import annotations

import numpy as np

from simshop_core.items import ItemBatch
from simshop_core.streams import BatchRandom
from simshop_core.user import BatchUser


class FreshnessLooker(BatchUser):
    """Utility ``exp(−decay · days_since_release)``: 1 on release day, halving every ~139 days."""

    name = "freshness_looker"
    description = "Prefers new releases: utility exp(−0.005 · days since release)"

    def __init__(
        self, *, decay: float = 0.005, click_threshold: float = 0.40, buy_threshold: float = 0.65
    ) -> None:
        super().__init__(click_threshold=click_threshold, buy_threshold=buy_threshold)
        if not decay >= 0:
            raise ValueError(f"decay must be non-negative, got {decay}")
        self.decay = float(decay)

    def batch_utility(self, items: ItemBatch, rng: BatchRandom) -> np.ndarray:
        days = items["days_since_release"].astype(np.float64, copy=False)
        # min(…, 1): an item "released" after the reference date is as fresh as it gets.
        return np.minimum(np.exp(-self.decay * days), 1.0)
