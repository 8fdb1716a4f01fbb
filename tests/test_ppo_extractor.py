"""The ppo features: the flat observation, the item encoder and the history mask."""

from __future__ import annotations

import numpy as np
import pytest

th = pytest.importorskip("torch")
from simshop_core.catalog import generate_catalog  # noqa: E402
from simshop_core.env import ShopEnv  # noqa: E402
from simshop_recommenders.ppo.extractors import (  # noqa: E402
    ShopFeaturesExtractor,
    normalisation_stats,
)
from simshop_recommenders.ppo.policy import SlatePolicy  # noqa: E402
from simshop_recommenders.ppo.vec_env import EngineVecEnv  # noqa: E402
from simshop_recommenders.ppo.wrapper import (  # noqa: E402
    ITEM_COLUMNS,
    flat_observation_space,
    flatten_observation,
)


@pytest.fixture(scope="module")
def env() -> ShopEnv:
    return ShopEnv(generate_catalog(120, seed=3), users=["familiarity_seeker", "cheap_seeker"])


@pytest.fixture(scope="module")
def observations(env: ShopEnv) -> tuple[list[dict], list[dict]]:
    """Flat observations with click history and without, from real visits."""
    with_history, without = [], []
    observation, _ = env.reset(seed=0)
    for _ in range(400):
        flat = flatten_observation(observation)
        (with_history if flat["history_mask"].any() else without).append(flat)
        # Cheapest first: cheap seekers click, so history builds up.
        slate = np.argsort(observation["candidates"]["price"])[: env.slate_size]
        observation, _, terminated, truncated, _ = env.step(slate)
        if terminated or truncated:
            observation, _ = env.reset()
    assert with_history and without
    return with_history, without


@pytest.fixture(scope="module")
def extractor(env: ShopEnv) -> ShopFeaturesExtractor:
    th.manual_seed(0)
    space = flat_observation_space(env.observation_space)
    return ShopFeaturesExtractor(space, normalisation_stats(env)).eval()


def batch(rows: list[dict]) -> dict[str, th.Tensor]:
    return {key: th.as_tensor(np.stack([r[key] for r in rows])) for key in rows[0]}


def encode(extractor: ShopFeaturesExtractor, rows: list[dict]) -> tuple[th.Tensor, th.Tensor]:
    with th.no_grad():
        return extractor(batch(rows))


def one_row(observation: dict) -> dict:
    return {key: value[0] for key, value in observation.items()}


def test_flat_observation_lies_in_its_space(env: ShopEnv) -> None:
    venv = EngineVecEnv(env, 1)
    venv.seed(1)
    observation = one_row(venv.reset())
    assert venv.observation_space.contains(observation)
    assert set(observation) == {"user_type", "session", "candidates", "history", "history_mask"}
    assert not {"items", "keys", "values"} & set(observation)  # SB3 chokes on those names
    assert observation["candidates"].shape == (50, len(ITEM_COLUMNS))
    venv.step_async(np.arange(5)[None])
    observation, *_ = venv.step_wait()
    assert venv.observation_space.contains(one_row(observation))


def test_training_env_takes_an_ordered_slate(env: ShopEnv) -> None:
    venv = EngineVecEnv(env, 1)
    venv.seed(2)
    venv.reset()
    assert venv.action_space.nvec.tolist() == [50] * 5
    venv.step_async(np.array([[4, 3, 2, 1, 0]]))
    _, _, _, [info] = venv.step_wait()
    assert set(info) <= {"user_type", "episode", "TimeLimit.truncated"}
    venv.seed(2)
    venv.reset()
    venv.step_async(np.array([[1, 1, 2, 3, 4]]))  # not distinct
    with pytest.raises(ValueError, match="row 0 is"):
        venv.step_wait()


def test_a_training_episode_is_a_shoppers_whole_stay(env: ShopEnv) -> None:
    venv = EngineVecEnv(env, 1, chain_visits=True, reward_scale=0.1)
    venv.seed(4)
    venv.reset()
    visits, scaled, unscaled, done = 0, 0.0, 0.0, False
    while not done:
        venv.step_async(np.arange(5)[None])
        _, reward, dones, [info] = venv.step_wait()
        scaled += float(reward[0])
        done = bool(dones[0])
        if "episode" in info:  # the per-visit record, unscaled
            visits += 1
            unscaled += info["episode"]["r"]
    assert visits == env.visits_per_shopper
    assert info["TimeLimit.truncated"] is False  # the stay ends terminated
    assert scaled == pytest.approx(0.1 * unscaled, rel=1e-4)


def test_without_chaining_an_episode_is_one_visit(env: ShopEnv) -> None:
    venv = EngineVecEnv(env, 1, chain_visits=False)
    venv.seed(4)
    venv.reset()
    pages, done = 0, False
    while not done:
        venv.step_async(np.arange(5)[None])
        _, _, dones, [info] = venv.step_wait()
        pages += 1
        done = bool(dones[0])
    assert "episode" in info and pages <= env.limits.pages


def test_rows_without_history_do_not_change_other_rows(
    extractor: ShopFeaturesExtractor, observations: tuple[list[dict], list[dict]]
) -> None:
    with_history, without = observations
    mixed = [with_history[0], without[0], with_history[1], without[1]]
    candidates, context = encode(extractor, mixed)
    for i, row in enumerate(mixed):
        alone_candidates, alone_context = encode(extractor, [row])
        th.testing.assert_close(candidates[i], alone_candidates[0], rtol=1e-5, atol=1e-6)
        th.testing.assert_close(context[i], alone_context[0], rtol=1e-5, atol=1e-6)
    # The same rows with history, batched with only rows that have history: unchanged.
    _, context_all = encode(extractor, [with_history[0], with_history[1]])
    th.testing.assert_close(context[[0, 2]], context_all, rtol=1e-5, atol=1e-6)


def test_masked_history_slots_are_ignored(
    extractor: ShopFeaturesExtractor, observations: tuple[list[dict], list[dict]]
) -> None:
    """Whatever sits in a slot with mask 0 (zeros from the env, or junk) changes nothing."""
    _, without = observations
    row = without[0]
    junk = {key: value.copy() for key, value in row.items()}
    junk["history"] = np.random.default_rng(0).uniform(0, 5, size=row["history"].shape)
    junk["history"] = junk["history"].astype(np.float32)
    th.testing.assert_close(encode(extractor, [junk])[1], encode(extractor, [row])[1])


def test_history_changes_the_context(
    extractor: ShopFeaturesExtractor, observations: tuple[list[dict], list[dict]]
) -> None:
    with_history, _ = observations
    row = with_history[0]
    cleared = {key: value.copy() for key, value in row.items()}
    cleared["history_mask"][:] = 0
    assert not th.allclose(encode(extractor, [row])[1], encode(extractor, [cleared])[1])


def test_normalisation_comes_from_the_catalog(env: ShopEnv) -> None:
    stats = normalisation_stats(env)
    price = np.log1p(env.catalog.columns["price"])
    assert stats["numeric"]["price"] == pytest.approx([price.mean(), price.std()])
    assert stats["vocab_sizes"] == {c: len(v) for c, v in env.vocabularies.items()}
    assert stats["times_shown_max"] == env.visits_per_shopper * env.limits.pages


def test_scores_are_permutation_equivariant(
    env: ShopEnv, observations: tuple[list[dict], list[dict]]
) -> None:
    th.manual_seed(0)
    policy = SlatePolicy(
        flat_observation_space(env.observation_space),
        env.action_space,
        lambda _: 1e-3,
        features_extractor_kwargs={"stats": normalisation_stats(env)},
    ).eval()
    row = observations[0][0]
    order = np.random.default_rng(1).permutation(50)
    shuffled = {**row, "candidates": row["candidates"][order]}
    with th.no_grad():
        scores = policy.candidate_scores(batch([row]))[0]
        shuffled_scores = policy.candidate_scores(batch([shuffled]))[0]
    th.testing.assert_close(shuffled_scores, scores[order], rtol=1e-5, atol=1e-6)
    # And the distribution is the Plackett-Luce one over those scores.
    with th.no_grad():
        dist = policy.get_distribution(batch([row]))
    assert dist.mode()[0].tolist() == th.topk(scores, 5).indices.tolist()
