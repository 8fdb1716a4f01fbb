"""Entry point ``simshop-recommenders``: registers the built-in recommenders.

Registration stays cheap: a heavy recommender (PPO needs torch and stable-baselines3) is
registered through a light class whose heavy imports happen inside its methods, so that
``simshop list-plugins`` never imports torch, and a missing ``[ppo]`` extra only matters (as
one error line naming it) when ppo is used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simshop_core import hookimpl
from simshop_recommenders.a2c import A2CRecommender
from simshop_recommenders.bandits import BANDITS
from simshop_recommenders.baselines import PopularityRecommender, RandomRecommender
from simshop_recommenders.ppo import PPORecommender

# PPORecommender and A2CRecommender are light to import: torch and SB3 are imported inside
# their methods; the bandits need only NumPy (SciPy on first use).
RECOMMENDERS: tuple[type, ...] = (
    RandomRecommender,
    PopularityRecommender,
    PPORecommender,
    A2CRecommender,
    *BANDITS,
)


@hookimpl
def register_recommenders(register: Callable[[type], Any]) -> None:
    for cls in RECOMMENDERS:
        register(cls)
