"""`A2CRecommender`: the registered ``a2c`` recommender, light to import."""

from __future__ import annotations

from pathlib import Path

from simshop_recommenders.ppo.agent import MODELS, SlateAgentRecommender
from simshop_recommenders.ppo.settings import A2CSettings

DEFAULT_MODEL: Path = MODELS / "a2c_default.zip"
_DEFAULTS = A2CSettings()


class A2CRecommender(SlateAgentRecommender):
    """Synchronous advantage actor-critic over Plackett–Luce slates (stable-baselines3).

    ppo's policy, extractor and training env with SB3's ``A2C``; ``A2CRecommender()`` uses
    the shipped default model (if there is one; else train one), ``A2CRecommender.load(path)``
    a saved one, ``train(...)`` trains (settings: `A2CSettings`).
    """

    name = "a2c"
    # Its training defaults, from the settings themselves, so the line never goes stale.
    description = (
        f"A2C agent (stable-baselines3, {'RMSprop' if _DEFAULTS.use_rms_prop else 'Adam'} "
        f"lr {_DEFAULTS.learning_rate:g}, {_DEFAULTS.n_envs}×{_DEFAULTS.n_steps}-step "
        "rollouts) on ppo's slate policy"
    )
    algorithm = "A2C"
    settings_class = A2CSettings
    default_model = DEFAULT_MODEL
