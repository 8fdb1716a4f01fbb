"""The ``ppo`` recommender: PPO (stable-baselines3) over Plackett–Luce slates.

Importing this package is cheap: torch and stable-baselines3 are imported by the modules
that need them (`distribution`, `extractors`, `policy`, `training`), which `PPORecommender`
imports only when it trains, loads or recommends.
"""

from simshop_recommenders.ppo.recommender import (
    DEFAULT_MODEL,
    PPORecommender,
    TrainResult,
    UnseenShopperWarning,
)

__all__ = ["DEFAULT_MODEL", "PPORecommender", "TrainResult", "UnseenShopperWarning"]
