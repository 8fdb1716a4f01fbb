"""`cheap_seeker`: the cheaper the item, the better."""

from __future__ import annotations

import numpy as np

from simshop_core.items import ItemBatch
from simshop_core.streams import BatchRandom
from simshop_core.user import BatchUser


class CheapSeeker(BatchUser):
    """Utility ``pivot / (pivot + price)``: 0.5 at a price equal to ``pivot``."""

    name = "cheap_seeker"
    description = "Prefers low prices: utility pivot / (pivot + price)"

    def __init__(
        self, *, pivot: float = 40.0, click_threshold: float = 0.72, buy_threshold: float = 0.85
    ) -> None:
        super().__init__(click_threshold=click_threshold, buy_threshold=buy_threshold)
        if not pivot > 0:
            raise ValueError(f"pivot must be positive, got {pivot}")
        self.pivot = float(pivot)

    def batch_utility(self, items: ItemBatch, rng: BatchRandom) -> np.ndarray:
        return self.pivot / (self.pivot + items["price"].astype(np.float64, copy=False))
