"""ppo's SB3 VecEnv over the population engine: SB3's conventions and the same shoppers as
the scalar env."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")

from simshop_core import ShopEnv
from simshop_recommenders.ppo.vec_env import EngineVecEnv
from simshop_recommenders.ppo.wrapper import flatten_observation


def play(venv: EngineVecEnv, steps: int) -> list:
    venv.seed(3)
    observation = venv.reset()
    out = []
    for _ in range(steps):
        actions = np.argsort(-observation["candidates"][:, :, 2], axis=1, kind="stable")[:, :5]
        venv.step_async(actions)
        observation, reward, dones, infos = venv.step_wait()
        out.append((reward.tolist(), dones.tolist(), [sorted(i) for i in infos]))
    return out


def test_chained_visits_make_one_episode_per_stay() -> None:
    env = ShopEnv(users="all", visits_per_shopper=3)
    venv = EngineVecEnv(env, 8, chain_visits=True, reward_scale=0.1)
    venv.seed(0)
    observation = venv.reset()
    assert observation["candidates"].shape == (8, 50, 9)
    for row in range(8):  # SB3's observation_space is one sub-env's
        assert {key: value[row] for key, value in observation.items()} in venv.observation_space
    visits = np.zeros(8, dtype=int)
    for _ in range(200):
        venv.step_async(np.tile(np.arange(5), (8, 1)))
        observation, reward, dones, infos = venv.step_wait()
        assert reward.dtype == np.float32
        for row, info in enumerate(infos):
            if "episode" in info:
                visits[row] += 1
            if dones[row]:
                assert visits[row] == 3 and info["TimeLimit.truncated"] is False
                visits[row] = 0
            else:
                assert "terminal_observation" not in info


def test_unchained_truncated_visits_carry_their_last_observation() -> None:
    env = ShopEnv(users="cheap_seeker", limits={"pages": 2, "no_click_pages": 5})
    venv = EngineVecEnv(env, 4, chain_visits=False)
    venv.seed(1)
    venv.reset()
    seen = 0
    for _ in range(20):
        venv.step_async(np.tile(np.arange(5), (4, 1)))
        _, _, dones, infos = venv.step_wait()
        for row in np.flatnonzero(dones):
            if infos[row]["TimeLimit.truncated"]:
                terminal = infos[row]["terminal_observation"]
                assert terminal["session"][1] == 3  # the page after the last one shown
                seen += 1
    assert seen > 0


def test_the_same_seed_replays_and_matches_the_scalar_env() -> None:
    env = ShopEnv(users="all")
    assert play(EngineVecEnv(env, 4), 30) == play(EngineVecEnv(env, 4), 30)
    # Slot 0 holds shopper 0: its first page equals the scalar env's shopper 0.
    venv = EngineVecEnv(env, 4)
    venv.seed(3)
    first = venv.reset()
    scalar = ShopEnv(users="all")
    observation, _ = scalar.reset(seed=3, options={"shopper": 0})
    flat = flatten_observation(observation)
    for key, value in flat.items():
        np.testing.assert_array_equal(first[key][0], value, err_msg=key)
