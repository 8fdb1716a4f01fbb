"""The training view of `ShopEnv`: a flat observation and an ordered-slate action.

stable-baselines3 takes neither nested ``Dict`` observations nor a k-hot action with a
Plackett–Luce distribution, so this wrapper gives it

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

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from simshop_core.env import ShopEnv
from simshop_core.observation import FLOAT_FIELDS, SESSION_FIELDS

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
#: The info entries the training wrapper passes on (the env's arrays stay behind).
INFO_KEYS = ("shopper_id", "user_type", "visit", "page", "total_clicks", "total_buys")


def flat_observation_space(env_space: spaces.Dict) -> spaces.Dict:
    """The flat space matching `flatten_observation`, with the env's (finite) bounds."""
    candidates, history = env_space["candidates"], env_space["history"]
    n, h = candidates["price"].shape[0], history["price"].shape[0]

    def item_bounds(item_space: spaces.Dict) -> np.ndarray:
        # Prices, popularity and ages are unbounded here (the env's bounds come from its
        # catalog), so that a model resumed or evaluated on another catalog with the same
        # vocabularies still has the same observation space.
        return np.array(
            [
                np.inf if c in FLOAT_FIELDS else float(item_space[c].high.max())
                for c in ITEM_COLUMNS
            ],
            np.float32,
        )

    session_high = np.array(
        [float(env_space["session"][f].high) for f in SESSION_FIELDS], dtype=np.float32
    )
    n_types = env_space["user_type"].shape[0]
    return spaces.Dict(
        {
            "user_type": spaces.Box(0.0, 1.0, (n_types,), np.float32),
            "session": spaces.Box(np.zeros(5, np.float32), session_high, dtype=np.float32),
            "candidates": spaces.Box(
                np.zeros((n, len(ITEM_COLUMNS)), np.float32),
                np.tile(item_bounds(candidates), (n, 1)),
                dtype=np.float32,
            ),
            "history": spaces.Box(
                np.zeros((h, len(ITEM_COLUMNS)), np.float32),
                np.tile(item_bounds(history), (h, 1)),
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


class SlateTrainingEnv(gym.Wrapper):
    """`ShopEnv` with the flat observation and the ordered-slate action (see the module).

    With ``chain_visits`` (the default), one training episode is a shopper's whole stay:
    when a visit ends and the shopper has visits left, the next visit starts at once and the
    episode goes on. Evaluation averages the reward over every visit of every shopper, and
    what a page does to later visits (exposures that make a ``familiarity_seeker`` buy next
    time) only earns credit if the value function can see past the end of a visit. The stay
    ends with ``terminated``: the next shopper owes nothing to this one.

    ``reward_scale`` multiplies the reward the learner sees: a stay returns ~150, and a
    critic fitting targets that large would swamp the features it shares with the actor.
    Wrap the `ShopEnv` in SB3's ``Monitor`` *inside* this wrapper to log unscaled per-visit
    episodes (``info["episode"]`` is passed on at the end of each visit).
    """

    def __init__(self, env: gym.Env, chain_visits: bool = True, reward_scale: float = 1.0) -> None:
        super().__init__(env)
        shop: ShopEnv = env.unwrapped  # type: ignore[assignment]
        self.num_candidates = shop.num_candidates
        self.slate_size = shop.slate_size
        self.visits_per_shopper = shop.visits_per_shopper
        self.chain_visits = chain_visits
        self.reward_scale = float(reward_scale)
        self.observation_space = flat_observation_space(shop.observation_space)
        self.action_space = shop.action_space

    def reset(self, **kwargs: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        observation, info = self.env.reset(**kwargs)
        return flatten_observation(observation), info

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        # SB3 hands over the sampled slate as it is; the env itself checks it.
        observation, reward, terminated, truncated, info = self.env.step(action)
        # SB3's DummyVecEnv deep-copies every info dict on every step: keep only scalars.
        slim = {key: info[key] for key in INFO_KEYS}
        if "episode" in info:
            slim["episode"] = info["episode"]
        if (terminated or truncated) and self.chain_visits:
            if info["visit"] < self.visits_per_shopper:
                observation, _ = self.env.reset()  # the same shopper's next visit
                terminated = truncated = False
            else:
                terminated, truncated = True, False  # the stay is over
        reward = float(reward) * self.reward_scale
        return flatten_observation(observation), reward, terminated, truncated, slim
