"""stable-baselines3's `VecEnv` over the population engine: ppo trains on N shoppers stepped
as arrays, not N `ShopEnv`s stepped one by one.

Each of the ``num_envs`` sub-envs is a slot of one `simshop_core.population.Population`:
the flat observation of `simshop_recommenders.ppo.wrapper`, batched; the ordered slate as
the action. With ``chain_visits`` (the default) an episode is a shopper's whole stay — when a
visit ends and the shopper has visits left, the next one starts at once — and the stay ends
``terminated``. SB3's conventions are kept: a finished sub-env is reset in the same step
(its new shopper's first observation is returned), the last observation of a truncated
episode is in ``info["terminal_observation"]``, and ``info["episode"]`` holds the unscaled
reward and length of each visit at its end (what SB3's ``ep_rew_mean`` reports, as
evaluation averages it).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv

from simshop_core.env import ShopEnv
from simshop_core.population import Population
from simshop_core.recommender import observation_row
from simshop_core.rollout import show_pages
from simshop_recommenders.ppo.wrapper import flat_observation_space, flatten_observation


class EngineVecEnv(VecEnv):
    """``num_envs`` shopper slots of one population engine (see the module)."""

    def __init__(
        self,
        env: ShopEnv,
        num_envs: int,
        chain_visits: bool = True,
        reward_scale: float = 1.0,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"the number of envs must be at least 1, got {num_envs}")
        self.env = env  # before VecEnv.__init__, which asks get_attr("render_mode")
        super().__init__(num_envs, flat_observation_space(env.observation_space), env.action_space)
        self.chain_visits = chain_visits
        self.reward_scale = float(reward_scale)
        self._seed: int | None = None
        self._population: Population | None = None
        self._actions: np.ndarray | None = None
        self._visit_reward = np.zeros(num_envs)
        self._visit_length = np.zeros(num_envs, dtype=np.int64)
        self._start = time.perf_counter()

    def seed(self, seed: int | None = None) -> Sequence[int | None]:  # type: ignore[override]
        self._seed = seed
        return [seed] * self.num_envs

    def reset(self) -> dict[str, np.ndarray]:
        seed = self._seed if self._seed is not None else int(np.random.SeedSequence().entropy)
        self._seed = None  # the next reset without a seed goes on with new shoppers
        n = self.num_envs
        self._population = Population(self.env.options, n, seed % 2**63)
        self._population.arrive(np.arange(n), np.arange(n))
        self._visit_reward[:] = 0.0
        self._visit_length[:] = 0
        return flatten_observation(self._population.observation())

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, list[dict]]:
        population = self._population
        if population is None or self._actions is None:
            raise RuntimeError("call reset() before step()")
        env = self.env
        page = show_pages(population, np.asarray(self._actions))
        self._visit_reward += page.reward
        self._visit_length += 1
        ended = page.terminated | page.truncated
        infos: list[dict[str, Any]] = [
            {"user_type": env.shopper_names[slot]} for slot in population.model.tolist()
        ]
        dones = ended.copy()
        rows = np.flatnonzero(ended)
        if len(rows):
            elapsed = round(time.perf_counter() - self._start, 6)
            for row in rows.tolist():
                infos[row]["episode"] = {
                    "r": float(self._visit_reward[row]),
                    "l": int(self._visit_length[row]),
                    "t": elapsed,
                }
            self._visit_reward[rows] = 0.0
            self._visit_length[rows] = 0
            more = population.visits_left[rows] > 0
            if self.chain_visits:
                # The same shopper's next visit: the episode (the stay) goes on; a stay
                # ends terminated (the next shopper owes nothing to this one).
                dones[rows[more]] = False
                for row in rows[~more].tolist():
                    infos[row]["TimeLimit.truncated"] = False
            else:
                last = None
                for row in rows.tolist():
                    cut = bool(page.truncated[row])
                    infos[row]["TimeLimit.truncated"] = cut
                    if cut:  # SB3 bootstraps a truncated episode from its last observation
                        if last is None:
                            last = flatten_observation(population.observation(copy=True))
                        infos[row]["terminal_observation"] = observation_row(last, row)
            population.start_next(rows)
        observation = flatten_observation(population.observation())
        reward = page.reward * self.reward_scale
        return observation, reward.astype(np.float32), dones, infos

    def close(self) -> None:
        self._population = None

    # The rest of SB3's VecEnv interface: there are no per-env objects to reach into.

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self.env, attr_name)] * len(self._indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        raise AttributeError(f"EngineVecEnv cannot set {attr_name!r} per sub-env")

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list:
        raise AttributeError(f"EngineVecEnv has no per-env method {method_name!r}")

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * len(self._indices(indices))

    def _indices(self, indices: Any) -> Iterable[int]:
        if indices is None:
            return range(self.num_envs)
        return [indices] if isinstance(indices, int) else list(indices)
