"""The baseline recommenders: random and popularity."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from simshop_core import ShopEnv, get_registry
from simshop_core.testing import check_recommender
from simshop_recommenders import PopularityRecommender, RandomRecommender
from simshop_users import CheapSeeker


@pytest.fixture(scope="module")
def observation() -> dict[str, Any]:
    env = ShopEnv(users=[CheapSeeker()])
    obs, _ = env.reset(seed=0)
    return obs


def fake_observation(popularity: list[float]) -> dict[str, Any]:
    n = len(popularity)
    return {
        "candidates": {
            "product_id": np.arange(1, n + 1, dtype=np.int64),
            "popularity": np.asarray(popularity, dtype=np.float32),
        }
    }


def assert_slate(slate: np.ndarray, k: int, n: int) -> None:
    assert isinstance(slate, np.ndarray) and slate.dtype == np.int64
    assert slate.shape == (k,)
    assert len(set(slate.tolist())) == k
    assert slate.min() >= 0 and slate.max() < n


@pytest.mark.parametrize("cls", [RandomRecommender, PopularityRecommender])
def test_k_distinct_in_range(cls: type, observation: dict[str, Any]) -> None:
    rec = cls()
    rec.reset(np.random.default_rng(0))
    n = len(observation["candidates"]["product_id"])
    for k in (1, 2, 5, 17, n):
        assert_slate(rec.recommend(observation, k), k, n)


@pytest.mark.parametrize("cls", [RandomRecommender, PopularityRecommender])
@pytest.mark.parametrize("k", [0, -1, 51])
def test_impossible_k_is_a_value_error(cls: type, observation: dict[str, Any], k: int) -> None:
    rec = cls()
    rec.reset(np.random.default_rng(0))
    with pytest.raises(ValueError, match="between 1 and the 50 candidates"):
        rec.recommend(observation, k)


@pytest.mark.parametrize("cls", [RandomRecommender, PopularityRecommender])
def test_check_recommender_passes(cls: type) -> None:
    assert isinstance(check_recommender(cls), cls)


def test_random_needs_reset(observation: dict[str, Any]) -> None:
    with pytest.raises(RuntimeError, match="before reset"):
        RandomRecommender().recommend(observation, 5)


def test_random_is_reproducible_under_a_seed(observation: dict[str, Any]) -> None:
    def run(seed: int) -> list[list[int]]:
        rec = RandomRecommender()
        rec.reset(np.random.default_rng(seed))
        return [rec.recommend(observation, 5).tolist() for _ in range(20)]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_random_is_uniform() -> None:
    rec = RandomRecommender()
    rec.reset(np.random.default_rng(1))
    obs = fake_observation([1.0] * 10)
    counts = np.bincount(np.concatenate([rec.recommend(obs, 5) for _ in range(4000)]), minlength=10)
    np.testing.assert_allclose(counts / 4000, 0.5, atol=0.03)


def test_popularity_picks_top_k_ties_to_lower_index() -> None:
    rec = PopularityRecommender()
    obs = fake_observation([5, 9, 9, 1, 7, 9])
    assert rec.recommend(obs, 1).tolist() == [1]
    assert rec.recommend(obs, 3).tolist() == [1, 2, 5]
    assert rec.recommend(obs, 5).tolist() == [1, 2, 5, 4, 0]


def test_popularity_on_env_observation(observation: dict[str, Any]) -> None:
    rec = PopularityRecommender()  # deterministic: needs no reset
    popularity = observation["candidates"]["popularity"]
    slate = rec.recommend(observation, 5)
    rest = np.setdiff1d(np.arange(len(popularity)), slate)
    assert popularity[slate].min() >= popularity[rest].max()
    assert np.all(np.diff(popularity[slate]) <= 0)  # most popular first
    assert np.array_equal(rec.recommend(observation, 5), slate)


def test_builtin_recommenders_register_through_the_entry_point(
    fresh_plugin_manager: None,
) -> None:
    registry = get_registry()
    assert registry.recommenders["random"].cls is RandomRecommender
    assert registry.recommenders["popularity"].cls is PopularityRecommender
    for name in ("random", "popularity"):
        assert registry.recommenders[name].plugin == "simshop-recommenders"
    assert not [e for e in registry.errors if e.plugin.startswith("simshop-")]


def test_builtin_plugins_import_nothing_heavy() -> None:
    # Listing plugins imports their modules: no torch, no pandas (the catalog) at that point.
    code = (
        "import sys; from simshop_core import get_registry; r = get_registry(); "
        "assert {'random', 'popularity'} <= set(r.recommenders) and len(r.users) >= 6; "
        "heavy = sorted({'torch', 'stable_baselines3', 'pandas', 'streamlit', 'wandb'} "
        "& set(sys.modules)); assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
