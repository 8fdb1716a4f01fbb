"""Entry point ``simshop-recommenders``: registers the built-in recommenders.

Registration stays cheap: a heavy recommender (PPO needs torch and stable-baselines3) is
registered through a light class whose heavy imports happen inside its methods, so that
``simshop list-plugins`` never imports torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simshop_core import hookimpl
from simshop_recommenders.baselines import PopularityRecommender, RandomRecommender

RECOMMENDERS: tuple[type, ...] = (RandomRecommender, PopularityRecommender)


@hookimpl
def register_recommenders(register: Callable[[type], Any]) -> None:
    for cls in RECOMMENDERS:
        register(cls)
    # "ppo" goes here: register(PPORecommender) from simshop_recommenders.ppo, a module that
    # must import torch / stable-baselines3 only inside train/load/recommend.
