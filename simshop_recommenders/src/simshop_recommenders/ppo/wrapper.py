"""The training view of `ShopEnv`: a flat observation and an ordered-slate action.

stable-baselines3 takes neither nested ``Dict`` observations nor a k-hot action with a
Plackett–Luce distribution, so ppo's `VecEnv` over the population engine
(`simshop_recommenders.ppo.vec_env`) gives it

- an observation that is a flat ``Dict`` of five float32 ``Box`` es: ``user_type``,
  ``session`` (5 fields), ``candidates`` and ``history`` (one row per item, the columns of
  `ITEM_COLUMNS`) and ``history_mask``. Values stay raw — normalisation is the policy's job —
  and ``product_id`` is left out so that a policy cannot memorise catalog rows;
- the env's own action: the ordered slate (`SlateSpace`, a ``MultiDiscrete([n] * k)``).

`flatten_observation` is also what `PPORecommender.recommend` uses at inference, so training
and inference see the same input (sb3-contrib's masking FAQ is the cautionary tale).
No torch here: the wrapper is plain NumPy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from simshop_core.observation import CATEGORICAL_COLUMNS, FLOAT_FIELDS, SESSION_FIELDS

#: Per-item columns of the flat ``candidates`` and ``history`` arrays, in this order.
ITEM_COLUMNS = (
    "price",
    "quality_score",
    "popularity",
    "days_since_release",
    "times_shown",
    "category",
    "subcategory",
    "brand",
    "color",
)


def flat_observation_space(env_space: spaces.Dict) -> spaces.Dict:
    """The flat space matching `flatten_observation`, with the env's (finite) bounds."""
    candidates = env_space["candidates"]
    return flat_space(
        n_user_types=env_space["user_type"].shape[0],
        session_high=[float(env_space["session"][f].high) for f in SESSION_FIELDS],
        num_candidates=candidates["price"].shape[0],
        n_last_clicks=env_space["history"]["price"].shape[0],
        times_shown_high=float(candidates["times_shown"].high.max()),
        vocab_sizes={c: int(candidates[c].high.max()) + 1 for c in CATEGORICAL_COLUMNS},
    )


def flat_space(
    *,
    n_user_types: int,
    session_high: Sequence[float],
    num_candidates: int,
    n_last_clicks: int,
    times_shown_high: float,
    vocab_sizes: Mapping[str, int],
) -> spaces.Dict:
    """The flat observation space from the numbers that bound it (a saved model's metadata
    holds them, so a model is rebuilt without its env)."""
    # Prices, popularity and ages are unbounded here (the env's bounds come from its
    # catalog), so that a model resumed or evaluated on another catalog with the same
    # vocabularies still has the same observation space.
    highs = {"times_shown": float(times_shown_high)}
    highs.update({c: float(max(int(vocab_sizes[c]) - 1, 0)) for c in CATEGORICAL_COLUMNS})
    item_high = np.array(
        [np.inf if c in FLOAT_FIELDS else highs[c] for c in ITEM_COLUMNS], np.float32
    )
    n, h = int(num_candidates), int(n_last_clicks)
    return spaces.Dict(
        {
            "user_type": spaces.Box(0.0, 1.0, (int(n_user_types),), np.float32),
            "session": spaces.Box(
                np.zeros(5, np.float32), np.array(session_high, np.float32), dtype=np.float32
            ),
            "candidates": spaces.Box(
                np.zeros((n, len(ITEM_COLUMNS)), np.float32),
                np.tile(item_high, (n, 1)),
                dtype=np.float32,
            ),
            "history": spaces.Box(
                np.zeros((h, len(ITEM_COLUMNS)), np.float32),
                np.tile(item_high, (h, 1)),
                dtype=np.float32,
            ),
            "history_mask": spaces.Box(0.0, 1.0, (h,), np.float32),
        }
    )


def _item_block(fields: dict[str, np.ndarray]) -> np.ndarray:
    return np.stack([fields[c] for c in ITEM_COLUMNS], axis=-1, dtype=np.float32)


def flatten_observation(observation: dict[str, Any]) -> dict[str, np.ndarray]:
    """`ShopEnv`'s nested observation → the flat dict the policy takes (float32 arrays); a
    batch of observations (the population engine's, leading N axis) → a batch."""
    session = observation["session"]
    return {
        "user_type": np.asarray(observation["user_type"], dtype=np.float32),
        "session": np.stack([session[f] for f in SESSION_FIELDS], axis=-1, dtype=np.float32),
        "candidates": _item_block(observation["candidates"]),
        "history": _item_block(observation["history"]),
        "history_mask": np.asarray(observation["history"]["mask"], dtype=np.float32),
    }
