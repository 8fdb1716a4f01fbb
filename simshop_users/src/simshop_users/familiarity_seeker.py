"""`familiarity_seeker`: warms to an item only after seeing it a few times."""

from __future__ import annotations

import numpy as np

from simshop_core.items import ItemBatch
from simshop_core.streams import BatchRandom
from simshop_core.user import BatchUser


class FamiliaritySeeker(BatchUser):
    """Utility ``sigmoid(n − midpoint) + N(0, noise)``, clipped to [0, 1], where
    ``n = times_shown + 1`` counts this shopper's exposures including the current one."""

    name = "familiarity_seeker"
    description = "Likes what it has seen before: utility sigmoid(exposures − 4) + noise"

    def __init__(
        self,
        *,
        midpoint: float = 4.0,
        noise: float = 0.05,
        click_threshold: float = 0.60,
        buy_threshold: float = 0.80,
    ) -> None:
        super().__init__(click_threshold=click_threshold, buy_threshold=buy_threshold)
        if not noise >= 0:
            raise ValueError(f"noise must be non-negative, got {noise}")
        self.midpoint = float(midpoint)
        self.noise = float(noise)

    def batch_utility(self, items: ItemBatch, rng: BatchRandom) -> np.ndarray:
        n = items["times_shown"] + 1.0
        base = 1.0 / (1.0 + np.exp(self.midpoint - n))
        return np.minimum(np.maximum(base + rng.normal(0.0, self.noise), 0.0), 1.0)
