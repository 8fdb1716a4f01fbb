"""`brand_lover`: loyal to some brands and colours."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from simshop_core.bounds import check_seed
from simshop_core.items import ItemBatch
from simshop_core.streams import BatchRandom
from simshop_core.user import BatchUser

BRAND_SHARE = 0.7  # how much the brand counts; the colour gets the rest
COLOR_SHARE = 0.3


class BrandLover(BatchUser):
    """Utility ``0.7·brand_weight + 0.3·colour_weight + U(−noise, noise)``, clipped to [0, 1].

    The weights are fixed for the model, so every shopper of this type shares them: given as
    dicts, or drawn once from ``preference_seed`` (Beta(0.25, 1) per catalog brand, then per colour,
    so giving ``brand_weights`` does not change the drawn colour weights). A brand or colour
    without a weight counts 0: an unknown brand earns no loyalty.
    """

    name = "brand_lover"
    description = "Loyal to favourite brands and colours: 0.7·brand + 0.3·colour weight + noise"

    def __init__(
        self,
        *,
        brand_weights: Mapping[str, float] | None = None,
        color_weights: Mapping[str, float] | None = None,
        preference_seed: int = 0,
        noise: float = 0.1,
        click_threshold: float = 0.30,
        buy_threshold: float = 0.50,
    ) -> None:
        super().__init__(click_threshold=click_threshold, buy_threshold=buy_threshold)
        if not noise >= 0:
            raise ValueError(f"noise must be non-negative, got {noise}")
        check_seed(preference_seed, "preference_seed")  # the one seed range, named
        if brand_weights is None or color_weights is None:
            # Imported here: the catalog module pulls in pandas, which listing plugins avoids.
            from simshop_core.catalog import BRANDS, COLORS

            prefs = np.random.default_rng(preference_seed)
            # Beta(0.25, 1) (= U⁴): most weights near 0 and a few favourites, like the
            # prototype's hand-set weights; uniform weights made a "brand lover" who clicks
            # three random items in four.
            drawn_brands = dict(
                zip(BRANDS, prefs.beta(0.25, 1.0, len(BRANDS)).tolist(), strict=True)
            )
            drawn_colors = dict(
                zip(COLORS, prefs.beta(0.25, 1.0, len(COLORS)).tolist(), strict=True)
            )
            brand_weights = drawn_brands if brand_weights is None else brand_weights
            color_weights = drawn_colors if color_weights is None else color_weights
        self.preference_seed = int(preference_seed)
        self.noise = float(noise)
        self.brand_weights = _weights(brand_weights, "brand")
        self.color_weights = _weights(color_weights, "color")

    def batch_utility(self, items: ItemBatch, rng: BatchRandom) -> np.ndarray:
        brand = _table(self.brand_weights, items.vocabulary("brand"))[items.codes("brand")]
        color = _table(self.color_weights, items.vocabulary("color"))[items.codes("color")]
        score = BRAND_SHARE * brand + COLOR_SHARE * color + rng.uniform(-self.noise, self.noise)
        return np.minimum(np.maximum(score, 0.0), 1.0)  # np.clip costs ~3x more on small arrays


def _table(weights: dict[str, float], vocabulary: tuple[str, ...]) -> np.ndarray:
    """The weight of every value of ``vocabulary``, as an array to index with codes (a few
    microseconds for the catalog's brands or colours: made on every ask, so a model never
    changes its own state)."""
    return np.array([weights.get(v, 0.0) for v in vocabulary], dtype=np.float64)


def _weights(weights: Mapping[str, float], what: str) -> dict[str, float]:
    out = {str(key): float(value) for key, value in weights.items()}
    for key, value in out.items():
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{what} weight for {key!r} must be within [0, 1], got {value}")
    return out
