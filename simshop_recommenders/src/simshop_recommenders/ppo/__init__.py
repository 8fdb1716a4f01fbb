"""The ``ppo`` recommender: PPO (stable-baselines3) over Plackett–Luce slates, and the slate
agents' machinery that ``a2c`` (`simshop_recommenders.a2c`) shares: `agent` (the recommender
class both subclass), `settings`, `policy`, `distribution`, `extractors`, `wrapper`,
`vec_env` and `training`.

Importing this package is cheap: torch and stable-baselines3 are imported by the modules
that need them (`distribution`, `extractors`, `policy`, `training`), which `PPORecommender`
imports only when it trains, loads or recommends. It implements core's training contract
(`simshop_core.training.Trainable`), so ``simshop train`` and the app never import this package;
without the ``[ppo]`` extra, using it is one error line naming the extra.
"""

from simshop_recommenders.ppo.recommender import (
    DEFAULT_MODEL,
    PPORecommender,
    UnseenShopperWarning,
)

__all__ = ["DEFAULT_MODEL", "PPORecommender", "UnseenShopperWarning"]
