"""`value_optimizer`: quality per unit of price."""

from __future__ import annotations

import numpy as np

from simshop_core.items import ItemBatch
from simshop_core.streams import BatchRandom
from simshop_core.user import BatchUser


class ValueOptimizer(BatchUser):
    """Utility ``v / (1 + v)`` with ``v = scale · quality_score / price``."""

    name = "value_optimizer"
    description = "Weighs quality against price: utility v / (1 + v), v = 50·quality / price"

    def __init__(
        self, *, scale: float = 50.0, click_threshold: float = 0.70, buy_threshold: float = 0.85
    ) -> None:
        super().__init__(click_threshold=click_threshold, buy_threshold=buy_threshold)
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.scale = float(scale)

    def batch_utility(self, items: ItemBatch, rng: BatchRandom) -> np.ndarray:
        v = self.scale * items["quality_score"].astype(np.float64, copy=False) / items["price"]
        return v / (1.0 + v)
