"""The six built-in SimShop shopper models, registered by `simshop_users.plugin`."""

from simshop_users.brand_lover import BrandLover
from simshop_users.cheap_seeker import CheapSeeker
from simshop_users.familiarity_seeker import FamiliaritySeeker
from simshop_users.freshness_looker import FreshnessLooker
from simshop_users.random_chooser import RandomChooser
from simshop_users.value_optimizer import ValueOptimizer

__version__ = "0.3.0"

__all__ = [
    "BrandLover",
    "CheapSeeker",
    "FamiliaritySeeker",
    "FreshnessLooker",
    "RandomChooser",
    "ValueOptimizer",
    "__version__",
]
