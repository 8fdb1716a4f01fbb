"""`ShopVectorEnv`: the population engine as a native `gymnasium.vector.VectorEnv`.

``gymnasium.make_vec("simshop/Shop-v1", num_envs=N, vectorization_mode="vector_entry_point")``
gives one. Each of the N sub-envs is a `ShopEnv`: an episode is one visit; a shopper stays
for ``visits_per_shopper`` visits, then the next shopper (by index) takes the slot.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from simshop_core.env import ShopEnv
from simshop_core.population import Population
from simshop_core.rollout import show_pages
from simshop_core.spaces import SlateBatchSpace


class ShopVectorEnv(VectorEnv):
    """N shoppers stepped at once as arrays, with the scalar env's spaces
    batched.

    - **Action space**: `SlateBatchSpace` (N, k): one ordered slate per sub-env; ``sample()``
      gives a valid slate in every row.
    - **Observations**: the `ShopEnv` fields with a leading N axis. With ``copy=True`` (the
      default, as gymnasium's vector envs) every step returns fresh arrays; with
      ``copy=False`` they are the engine's own buffers, which the next step overwrites.
    - **Autoreset**: ``NEXT_STEP`` (gymnasium's default): after a sub-env's visit ends, its
      next ``step`` starts the next visit (reward 0, the action ignored) and returns its
      first observation.
    - **Seeding**: ``reset(seed=s)`` puts shoppers 0 … N−1 of seed ``s`` in the sub-envs;
      later shoppers get the next indices. Shopper i lives the same visits as in a
      `ShopEnv` reset with seed ``s`` and ``options={"shopper": i}``, given the same slates.
    - **info**: per sub-env ``shopper_id``, ``visit`` and ``page`` (the page just shown)
      and, per slate position, ``clicked``, ``bought`` and the simulator truth
      (``true_utility``, ``examine_prob``, ``click_prob``).

    Every other argument is `ShopEnv`'s.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}  # noqa: RUF012 - gymnasium API

    def __init__(self, num_envs: int = 1, *, copy: bool = True, **options: Any) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int | np.integer):
            raise ValueError(f"num_envs must be an integer, got {num_envs!r}")
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        options.pop("render_mode", None)
        self.env = env = ShopEnv(**options)
        self.num_envs = int(num_envs)
        self.copy = bool(copy)
        self.single_observation_space = env.observation_space
        self.single_action_space = env.action_space
        self.observation_space = batch_space(env.observation_space, self.num_envs)
        self.action_space = SlateBatchSpace(self.num_envs, env.num_candidates, env.slate_size)
        self.population: Population | None = None
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)

    @property
    def env_options(self) -> dict[str, Any]:
        return self.env.env_options

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """New shoppers in every sub-env: shoppers 0 … N−1 of ``seed``."""
        if isinstance(seed, list):
            raise ValueError("ShopVectorEnv takes one seed for all its shoppers, not a list")
        super().reset(seed=seed)
        if seed is None:
            seed = int(self.np_random.integers(2**63))
        self.population = Population(self.env.options, self.num_envs, int(seed))
        self.population.arrive(np.arange(self.num_envs), np.arange(self.num_envs))
        self._needs_reset[:] = False
        return self.population.observation(self.copy), self._info()

    def step(
        self, actions: Any
    ) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        population = self.population
        if population is None:
            raise RuntimeError("call reset() before step()")
        k = population.k
        starting = self._needs_reset
        if starting.any():
            # The sub-envs whose visit ended last step start the next one; their action
            # is ignored, so it is not checked either.
            actions = np.where(starting[:, None], _filler(k), np.asarray(actions))
            population.start_next(np.flatnonzero(starting))
            active = ~starting
        else:
            active = None
        page = show_pages(population, actions, active)
        done = page.terminated | page.truncated
        reward, terminated, truncated = page.reward, page.terminated, page.truncated
        if active is not None:
            reward = np.where(active, reward, 0.0)
            terminated = terminated & active
            truncated = truncated & active
            done = terminated | truncated
        self._needs_reset = done
        info = self._info(page, active)
        return population.observation(self.copy), reward, terminated, truncated, info

    def _info(self, page: Any = None, active: np.ndarray | None = None) -> dict[str, Any]:
        population = self.population
        assert population is not None
        info: dict[str, Any] = {
            "shopper_id": population.shopper + 1,
            "visit": population.visit.copy(),
        }
        if page is not None:
            info["page"] = page.page
            for name in ("clicked", "bought", "true_utility", "examine_prob", "click_prob"):
                info[name] = getattr(page, name)
            info["product_ids"] = page.product_ids
            if active is not None:
                info["_page"] = active  # gymnasium's mask: which sub-envs showed a page
        return info

    def true_utilities(self) -> np.ndarray:
        """(N, m): every sub-env's utility for each candidate on the coming page (the
        oracle's view)."""
        if self.population is None:
            raise RuntimeError("call reset() first")
        return self.population.true_utilities()


def _filler(k: int) -> np.ndarray:
    return np.arange(k, dtype=np.int64)
