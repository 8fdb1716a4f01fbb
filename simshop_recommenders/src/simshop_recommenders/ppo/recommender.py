"""`PPORecommender`: the registered ``ppo`` recommender, light to import.

PPO (stable-baselines3) over the slate agents' shared machinery (`ppo.agent`); see
`SlateAgentRecommender` for loading, acting, training and the saved model's format.
"""

from __future__ import annotations

from pathlib import Path

from simshop_recommenders.ppo.agent import (
    METADATA_NAME,
    MODELS,
    SlateAgentRecommender,
    UnseenShopperWarning,
    metadata_json,
    read_metadata,
)
from simshop_recommenders.ppo.settings import PPOSettings

MODEL_FORMAT = "simshop-ppo"
DEFAULT_MODEL: Path = MODELS / "ppo_default.zip"

__all__ = [
    "DEFAULT_MODEL",
    "METADATA_NAME",
    "MODEL_FORMAT",
    "PPORecommender",
    "UnseenShopperWarning",
    "metadata_json",
    "read_metadata",
]


class PPORecommender(SlateAgentRecommender):
    """Proximal policy optimisation over Plackett–Luce slates (stable-baselines3).

    ``PPORecommender()`` uses the shipped default model, loaded when first needed;
    ``PPORecommender.load(path)`` a saved one; ``train(...)`` trains from scratch, or goes on
    training a loaded model with its step count intact.
    """

    name = "ppo"
    description = "PPO agent (stable-baselines3) scoring candidates, slates by Plackett–Luce"
    algorithm = "PPO"
    settings_class = PPOSettings
    default_model = DEFAULT_MODEL
