"""`random_chooser`: no preference at all."""

from __future__ import annotations

import numpy as np

from simshop_core.items import ItemBatch
from simshop_core.streams import BatchRandom
from simshop_core.user import BatchUser


class RandomChooser(BatchUser):
    """Utility ``U(0, 1)``, drawn afresh for every item on every look."""

    name = "random_chooser"
    description = "Has no taste: utility U(0, 1)"

    def __init__(self, *, click_threshold: float = 0.85, buy_threshold: float = 0.97) -> None:
        super().__init__(click_threshold=click_threshold, buy_threshold=buy_threshold)

    def batch_utility(self, items: ItemBatch, rng: BatchRandom) -> np.ndarray:
        return rng.random()
