"""Propensities: uniform, Plackett–Luce, the ε-mixture, random, ppo's sample mode
and `check_propensities`, against brute-force enumeration and empirical frequencies."""

from __future__ import annotations

import copy
import itertools
import math
import warnings
from typing import Any

import numpy as np
import pytest

from simshop_core import Recommender
from simshop_core.propensity import (
    DEFAULT_SAMPLES,
    EpsilonMixture,
    plackett_luce_propensities,
    uniform_propensities,
)
from simshop_core.recommender import Feedback, Propensities
from simshop_core.testing import check_propensities
from simshop_recommenders import PopularityRecommender, RandomRecommender

# --- helpers -------------------------------------------------------------------------------


def all_slates(n: int, k: int) -> np.ndarray:
    return np.array(list(itertools.permutations(range(n), k)), dtype=np.int64)


def pl_log_prob(scores: np.ndarray, slate: np.ndarray) -> float:
    """Plackett–Luce log-probability, written independently: one Python loop, math.fsum."""
    remaining = [i for i in range(len(scores)) if scores[i] != -math.inf]
    total = 0.0
    for item in slate.tolist():
        if item not in remaining:
            return -math.inf
        top = max(scores[i] for i in remaining)
        mass = math.fsum(math.exp(scores[i] - top) for i in remaining)
        total += scores[item] - top - math.log(mass)
        remaining.remove(item)
    return total


def brute_force(slates: np.ndarray, joint: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(prefix probabilities, item–position marginals) of every slate, summed from the joints."""
    m, k = slates.shape
    prefix, position = np.empty((m, k)), np.empty((m, k))
    for i in range(k):
        keys = [tuple(s) for s in slates[:, : i + 1].tolist()]
        sums: dict[tuple[int, ...], float] = {}
        for key, p in zip(keys, joint, strict=True):
            sums[key] = sums.get(key, 0.0) + p
        prefix[:, i] = [sums[key] for key in keys]
        per_item = np.zeros(n)
        np.add.at(per_item, slates[:, i], joint)
        position[:, i] = per_item[slates[:, i]]
    return prefix, position


def observation(popularity: list[float]) -> dict[str, Any]:
    """A hand-made observation with the fields the baselines read."""
    n = len(popularity)
    return {
        "candidates": {
            "product_id": np.arange(1, n + 1, dtype=np.int64),
            "popularity": np.asarray(popularity, dtype=np.float32),
            "price": np.linspace(10.0, 60.0, n, dtype=np.float32),
        }
    }


def mc_tolerance(p: np.ndarray, samples: int) -> np.ndarray:
    """5 standard errors of the plain hit-counting estimate (Rao–Blackwell only narrows it)."""
    return 5 * np.sqrt((p * (1 - p) + 1 / samples) / samples) + 1e-12


class SyntheticPL(Recommender):
    """Plackett–Luce over scores computed from the observation (cheaper than ppo, same maths):
    Gumbel-top-k from the reset rng, propensities with a Monte Carlo generator of their own."""

    name = "synthetic_pl"
    description = "Plackett–Luce slates from price and popularity scores"

    def __init__(self, *, temperature: float = 1.0, samples: int = DEFAULT_SAMPLES) -> None:
        self.temperature = temperature
        self.samples = samples
        self.rng: np.random.Generator | None = None
        self._mc: np.random.Generator | None = None

    def reset(self, rng: np.random.Generator) -> None:
        self.rng, self._mc = rng, rng.spawn(1)[0]

    def scores(self, observation: dict[str, Any]) -> np.ndarray:
        c = observation["candidates"]
        price = np.asarray(c["price"], dtype=np.float64)
        popularity = np.asarray(c["popularity"], dtype=np.float64)
        return (popularity / popularity.max() * 2.0 - price / price.max()) / self.temperature

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        assert self.rng is not None
        noisy = self.scores(observation) + self.rng.gumbel(
            size=len(observation["candidates"]["price"])
        )
        return np.argsort(-noisy)[:k].astype(np.int64)

    def propensities(self, observation: dict[str, Any], slate: np.ndarray) -> Propensities:
        return plackett_luce_propensities(
            self.scores(observation), slate, samples=self.samples, rng=self._mc
        )


# --- uniform -------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "k"), [(5, 3), (6, 2), (4, 4), (1, 1)])
def test_uniform_against_enumeration(n: int, k: int) -> None:
    slates = all_slates(n, k)
    reports = [uniform_propensities(n, s) for s in slates]
    joint = np.exp([r.slate_log_prob for r in reports])
    assert joint.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(joint, 1 / math.perm(n, k), rtol=1e-12)
    prefix, position = brute_force(slates, joint, n)
    np.testing.assert_allclose(np.exp([r.prefix_log_probs for r in reports]), prefix, rtol=1e-12)
    np.testing.assert_allclose([r.position_probs for r in reports], position, rtol=1e-12)
    assert {r.samples for r in reports} == {0}


@pytest.mark.parametrize(
    ("n", "slate", "message"),
    [
        (0, [0], "n must be a positive integer"),
        (5, [0, 0, 1], "repeated indices"),
        (5, [0, 5], r"in \[0, 4\]"),
        (5, [-1, 2], r"in \[0, 4\]"),
        (5, [0.0, 1.0], "dtype float64"),
        (5, [], "non-empty"),
        (5, [[0, 1]], "1-d"),
    ],
)
def test_uniform_refuses_what_is_not_a_slate(n: int, slate: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        uniform_propensities(n, slate)


# --- Plackett–Luce -------------------------------------------------------------------------

SCORE_CASES = {
    "mild": [0.3, -0.2, 1.1, 0.0, -0.7, 0.5],
    "peaky": [9.0, 0.0, 3.0, -4.0, 8.5, 1.0],
    "never shown": [0.5, -math.inf, 1.0, 0.0, -math.inf, 2.0],
    "underflow": [0.0, 1.0, -700.0, 2.0, -650.0, 0.5],  # a range beyond exp's: log space
    "dominant": [1000.0, 0.0, 0.0, -500.0, 3.0, -2000.0],
}


@pytest.mark.parametrize("case", SCORE_CASES)
@pytest.mark.parametrize("k", [2, 3, 4])
def test_plackett_luce_against_enumeration(case: str, k: int) -> None:
    scores = np.array(SCORE_CASES[case])
    n = len(scores)
    slates = all_slates(n, k)
    rng, samples = np.random.default_rng(7), 2000
    reports = [plackett_luce_propensities(scores, s, samples=samples, rng=rng) for s in slates]
    joint_log = np.array([r.slate_log_prob for r in reports])
    independent = np.array([pl_log_prob(scores, s) for s in slates])
    finite = np.isfinite(independent)
    assert np.array_equal(np.isfinite(joint_log), finite)  # impossible slates: -inf
    np.testing.assert_allclose(joint_log[finite], independent[finite], rtol=1e-12, atol=1e-12)
    joint = np.exp(joint_log)
    assert joint.sum() == pytest.approx(1.0, abs=1e-12)
    prefix, position = brute_force(slates, joint, n)
    np.testing.assert_allclose(
        np.exp([r.prefix_log_probs for r in reports]), prefix, rtol=1e-10, atol=1e-15
    )
    got = np.array([r.position_probs for r in reports])
    exact = min(k, 2)  # positions 0 and 1 have closed forms
    np.testing.assert_allclose(got[:, :exact], position[:, :exact], rtol=1e-10, atol=1e-15)
    if k > 2:
        assert {r.samples for r in reports} == {samples}
        tolerance = mc_tolerance(position[:, 2:], samples)
        assert (np.abs(got[:, 2:] - position[:, 2:]) <= tolerance).all()
        assert (got[:, 2:][position[:, 2:] == 0] == 0).all()
    else:
        assert {r.samples for r in reports} == {0}


def test_plackett_luce_is_exact_without_an_rng_up_to_two_positions() -> None:
    p = plackett_luce_propensities([0.0, 1.0, 2.0], [2, 0])
    assert p.samples == 0
    with pytest.raises(ValueError, match=r"rng must be a np\.random\.Generator"):
        plackett_luce_propensities([0.0, 1.0, 2.0], [2, 0, 1])


def test_plackett_luce_joint_on_fifty_candidates_matches_an_independent_computation() -> None:
    rng = np.random.default_rng(3)
    for scale in (0.1, 1.0, 10.0, 100.0):
        scores = rng.normal(size=50) * scale
        for _ in range(20):
            slate = rng.permutation(50)[:5]
            p = plackett_luce_propensities(scores, slate, samples=100, rng=rng)
            steps = [pl_log_prob(scores, slate[: i + 1]) for i in range(5)]
            np.testing.assert_allclose(p.prefix_log_probs, steps, rtol=1e-11, atol=1e-11)
            assert p.slate_log_prob == p.prefix_log_probs[-1]


def test_plackett_luce_monte_carlo_marginals_are_unbiased_and_within_tolerance() -> None:
    scores = np.array([1.5, 0.2, -0.3, 0.9, 0.0, -1.0, 0.4, 2.0])
    slates = all_slates(8, 5)
    joint = np.exp([pl_log_prob(scores, s) for s in slates])
    _, position = brute_force(slates, joint, 8)
    rng = np.random.default_rng(11)
    picks = rng.choice(len(slates), 40, replace=False)
    for i in picks:
        p = plackett_luce_propensities(scores, slates[i], samples=20_000, rng=rng)
        assert p.samples == 20_000
        truth = position[i, 2:]
        assert (np.abs(p.position_probs[2:] - truth) <= mc_tolerance(truth, 20_000)).all()
    # Unbiased: the mean of many small estimates converges on the truth.
    i = picks[0]
    estimates = np.array(
        [
            plackett_luce_propensities(scores, slates[i], samples=200, rng=rng).position_probs[2:]
            for _ in range(300)
        ]
    )
    spread = estimates.std(axis=0) / np.sqrt(len(estimates))
    assert (np.abs(estimates.mean(axis=0) - position[i, 2:]) <= 5 * spread + 1e-12).all()


def test_plackett_luce_monte_carlo_is_reproducible_and_uses_only_its_rng() -> None:
    scores = np.random.default_rng(0).normal(size=50)
    slate = np.array([3, 17, 8, 41, 0])
    runs = []
    for global_seed in (1, 2):
        np.random.seed(global_seed)  # noqa: NPY002 - must not matter
        runs.append(plackett_luce_propensities(scores, slate, rng=np.random.default_rng(5)))
    assert np.array_equal(runs[0].position_probs, runs[1].position_probs)
    other = plackett_luce_propensities(scores, slate, rng=np.random.default_rng(6))
    assert not np.array_equal(runs[0].position_probs[2:], other.position_probs[2:])
    np.testing.assert_array_equal(runs[0].position_probs[:2], other.position_probs[:2])


def test_plackett_luce_chunks_large_candidate_sets() -> None:
    # 4,000 candidates: the draws are made in several chunks; equal scores put every item
    # anywhere with probability 1/n.
    n = 4000
    p = plackett_luce_propensities(
        np.zeros(n), [5, 9, 2, 7], samples=3000, rng=np.random.default_rng(1)
    )
    assert p.samples == 3000
    np.testing.assert_allclose(p.position_probs, 1 / n, rtol=0.2)
    assert p.slate_log_prob == pytest.approx(-sum(math.log(n - j) for j in range(4)), rel=1e-12)


@pytest.mark.parametrize("gap", [100.0, 1000.0])
def test_plackett_luce_nearly_deterministic_scores(gap: float) -> None:
    # Item i scores −gap·i: the slate 0, 1, 2, 3, 4 is all but certain; every draw takes the
    # heaviest items first, where "total − drawn" would cancel to nothing.
    scores = -gap * np.arange(50.0)
    rng = np.random.default_rng(0)
    sure = plackett_luce_propensities(scores, [0, 1, 2, 3, 4], rng=rng)
    assert sure.slate_log_prob == pytest.approx(0.0, abs=1e-40)
    np.testing.assert_allclose(sure.position_probs, 1.0, rtol=1e-12)
    swapped = plackett_luce_propensities(scores, [0, 1, 3, 2, 4], rng=rng)
    assert swapped.slate_log_prob == pytest.approx(-gap, rel=1e-9)
    assert swapped.position_probs[2] == pytest.approx(math.exp(-gap), rel=1e-9)
    assert swapped.position_probs[3] == pytest.approx(math.exp(-gap), rel=1e-9)


@pytest.mark.parametrize(
    ("scores", "slate", "kwargs", "message"),
    [
        ([0.0, math.nan, 1.0], [0, 1], {}, "NaN or \\+inf"),
        ([0.0, math.inf, 1.0], [0, 1], {}, "NaN or \\+inf"),
        ([[0.0, 1.0]], [0], {}, "1-d"),
        ([0.0, -math.inf, -math.inf], [0, 1], {}, "at least 2 finite scores"),
        ([0.0, 1.0, 2.0], [0, 1, 2], {"samples": 0, "rng": np.random.default_rng(0)}, "samples"),
        ([0.0, 1.0, 2.0], [0, 3], {}, r"in \[0, 2\]"),
    ],
)
def test_plackett_luce_refuses_bad_input(
    scores: Any, slate: Any, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        plackett_luce_propensities(scores, slate, **kwargs)


def test_plackett_luce_timing_is_reasonable() -> None:
    """Not a benchmark: a guard that the default call stays well under a second."""
    import time

    scores, rng = np.random.default_rng(0).normal(size=50), np.random.default_rng(1)
    start = time.perf_counter()
    plackett_luce_propensities(scores, [1, 2, 3, 4, 5], rng=rng)
    assert time.perf_counter() - start < 1.0


# --- ε-mixture -----------------------------------------------------------------------------


POPULARITY = [5.0, 50.0, 20.0, 50.0, 1.0]


@pytest.mark.parametrize("epsilon", [0.0, 0.3, 1.0])
def test_epsilon_mixture_of_a_deterministic_base_against_enumeration(epsilon: float) -> None:
    obs = observation(POPULARITY)
    n, k = 5, 3
    mix = EpsilonMixture(PopularityRecommender(), epsilon)
    mix.reset(np.random.default_rng(0))
    mix.recommend(obs, k)
    base = PopularityRecommender().recommend(obs, k)  # [1, 3, 2]
    slates = all_slates(n, k)
    reports = [mix.propensities(obs, s) for s in slates]
    joint = np.exp([r.slate_log_prob for r in reports])
    uniform = 1 / math.perm(n, k)
    is_base = (slates == base).all(axis=1)
    np.testing.assert_allclose(joint, (1 - epsilon) * is_base + epsilon * uniform, atol=1e-15)
    assert joint.sum() == pytest.approx(1.0, abs=1e-12)
    prefix, position = brute_force(slates, joint, n)
    np.testing.assert_allclose(np.exp([r.prefix_log_probs for r in reports]), prefix, atol=1e-14)
    np.testing.assert_allclose([r.position_probs for r in reports], position, atol=1e-14)
    if epsilon == 0:
        assert (
            np.isneginf(joint_log := [r.slate_log_prob for r in reports]).sum() == len(slates) - 1
        )
        assert max(joint_log) == 0.0
    if epsilon == 1:
        for s, r in zip(slates, reports, strict=True):
            u = uniform_propensities(n, s)
            np.testing.assert_allclose(r.prefix_log_probs, u.prefix_log_probs, rtol=1e-12)
            np.testing.assert_allclose(r.position_probs, u.position_probs, rtol=1e-12)


def test_epsilon_mixture_of_a_stochastic_base_mixes_its_propensities() -> None:
    obs = observation([5.0, 50.0, 20.0, 30.0, 1.0, 12.0])
    n, k, epsilon = 6, 3, 0.25
    base = SyntheticPL()
    mix = EpsilonMixture(base, epsilon)
    mix.reset(np.random.default_rng(0))
    mix.recommend(obs, k)
    scores = base.scores(obs)
    slates = all_slates(n, k)
    reports = [mix.propensities(obs, s) for s in slates]
    expected = np.array(
        [
            (1 - epsilon) * math.exp(pl_log_prob(scores, s)) + epsilon / math.perm(n, k)
            for s in slates
        ]
    )
    np.testing.assert_allclose(np.exp([r.slate_log_prob for r in reports]), expected, rtol=1e-12)
    prefix, position = brute_force(slates, expected, n)
    np.testing.assert_allclose(np.exp([r.prefix_log_probs for r in reports]), prefix, rtol=1e-10)
    got = np.array([r.position_probs for r in reports])
    np.testing.assert_allclose(got[:, :2], position[:, :2], rtol=1e-10)
    assert (
        np.abs(got[:, 2] - position[:, 2]) <= mc_tolerance(position[:, 2], DEFAULT_SAMPLES)
    ).all()
    assert {r.samples for r in reports} == {DEFAULT_SAMPLES}


def test_epsilon_mixture_of_random_is_uniform() -> None:
    obs = observation(POPULARITY)
    mix = EpsilonMixture(RandomRecommender(), 0.4)
    mix.reset(np.random.default_rng(0))
    for s in all_slates(5, 2):
        mix.recommend(obs, 2)
        p, u = mix.propensities(obs, s), uniform_propensities(5, s)
        assert p.slate_log_prob == pytest.approx(u.slate_log_prob, rel=1e-12)
        np.testing.assert_allclose(p.position_probs, u.position_probs, rtol=1e-12)


@pytest.mark.parametrize(
    "make",
    [
        lambda: EpsilonMixture(PopularityRecommender(), 0.2),
        lambda: EpsilonMixture(PopularityRecommender(), 0.0),
        lambda: EpsilonMixture(PopularityRecommender(), 1.0),
        lambda: EpsilonMixture(RandomRecommender(), 0.5),
        lambda: EpsilonMixture(SyntheticPL(), 0.3),
    ],
    ids=["popularity 0.2", "popularity 0", "popularity 1", "random 0.5", "plackett-luce 0.3"],
)
def test_check_propensities_passes_epsilon_mixtures(make: Any) -> None:
    check_propensities(make())


def test_epsilon_mixture_frequencies_follow_epsilon() -> None:
    obs = observation(POPULARITY)
    mix = EpsilonMixture(PopularityRecommender(), 0.3)
    mix.reset(np.random.default_rng(1))
    base = PopularityRecommender().recommend(obs, 3)
    trials = 20_000
    hits = sum(np.array_equal(mix.recommend(obs, 3), base) for _ in range(trials))
    p = 0.7 + 0.3 / math.perm(5, 3)
    assert abs(hits - trials * p) <= 5 * math.sqrt(trials * p * (1 - p))


class Recording(RandomRecommender):
    """Random, remembering the slates it recommended and the feedback it was given."""

    name = "recording"

    def __init__(self) -> None:
        super().__init__()
        self.slates: list[list[int]] = []
        self.feedback: list[Feedback] = []

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        slate = super().recommend(observation, k)
        self.slates.append(slate.tolist())
        return slate

    def update(self, feedback: Feedback) -> None:
        self.feedback.append(feedback)


def test_epsilon_mixture_base_draws_do_not_depend_on_the_coin() -> None:
    obs = observation(POPULARITY)
    seen = []
    for epsilon in (0.0, 0.5, 1.0):
        base = Recording()
        mix = EpsilonMixture(base, epsilon)
        mix.reset(np.random.default_rng(4))
        shown = [mix.recommend(obs, 3).tolist() for _ in range(50)]
        seen.append(base.slates)
        if epsilon == 0.0:
            assert shown == base.slates
    assert seen[0] == seen[1] == seen[2]


def test_epsilon_mixture_is_reproducible_and_propensities_do_not_change_slates() -> None:
    obs = observation(POPULARITY)
    runs = []
    for ask in (False, True):
        mix = EpsilonMixture(RandomRecommender(), 0.5)
        mix.reset(np.random.default_rng(9))
        slates = []
        for _ in range(100):
            slates.append(mix.recommend(obs, 3).tolist())
            if ask:
                mix.propensities(obs, np.array(slates[-1]))
        runs.append(slates)
    assert runs[0] == runs[1]


class SecretlyRandom(RandomRecommender):
    name = "secretly_random"

    def propensities(self, observation: dict[str, Any], slate: np.ndarray) -> None:
        return None


def test_epsilon_mixture_refuses_a_stochastic_base_without_propensities() -> None:
    obs = observation(POPULARITY)
    mix = EpsilonMixture(SecretlyRandom(), 0.1)
    mix.reset(np.random.default_rng(0))
    slate = mix.recommend(obs, 3)
    with pytest.raises(ValueError, match="draws random numbers but reports no propensities"):
        mix.propensities(obs, slate)


def test_epsilon_mixture_recomputes_a_deterministic_slate_for_another_observation() -> None:
    mix = EpsilonMixture(PopularityRecommender(), 0.2)
    mix.reset(np.random.default_rng(0))
    mix.recommend(observation(POPULARITY), 3)
    other = observation(POPULARITY[::-1])  # not the object recommend saw: recomputed
    best = PopularityRecommender().recommend(other, 3)
    assert mix.propensities(other, best).slate_log_prob == pytest.approx(
        math.log(0.8 + 0.2 / 60), rel=1e-12
    )


def test_epsilon_mixture_passes_on_update_and_env_options() -> None:
    base = Recording()
    mix = EpsilonMixture(base, 0.5)
    mix.reset(np.random.default_rng(0))
    obs = observation(POPULARITY)
    slate = mix.recommend(obs, 2)
    feedback = Feedback(
        obs, slate, np.array([True, False]), np.array([False, False]), 1.0, obs, False, False
    )
    mix.update(feedback)
    assert base.feedback == [feedback]
    assert mix.env_options is None

    class WithOptions(PopularityRecommender):
        name = "with_options"

        @property
        def env_options(self) -> dict[str, Any]:
            return {"num_candidates": 7}

    assert EpsilonMixture(WithOptions(), 0.1).env_options == {"num_candidates": 7}


def test_epsilon_mixture_label_and_repr() -> None:
    mix = EpsilonMixture(PopularityRecommender(), 0.1)
    assert mix.label == "popularity:explore=0.1"
    assert repr(mix) == "<EpsilonMixture popularity:explore=0.1>"
    assert EpsilonMixture(PopularityRecommender(), 1).epsilon == 1.0


@pytest.mark.parametrize("epsilon", [-0.1, 1.5, math.nan, "0.1", True, None])
def test_epsilon_mixture_validates_epsilon(epsilon: Any) -> None:
    with pytest.raises(ValueError, match="epsilon must be a number in \\[0, 1\\]"):
        EpsilonMixture(PopularityRecommender(), epsilon)


def test_epsilon_mixture_validates_base_and_needs_reset() -> None:
    with pytest.raises(ValueError, match="base must be a Recommender instance"):
        EpsilonMixture(PopularityRecommender, 0.1)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="before reset"):
        EpsilonMixture(PopularityRecommender(), 0.1).recommend(observation(POPULARITY), 2)


# --- random --------------------------------------------------------------------------------


def test_random_reports_uniform_propensities() -> None:
    rec = RandomRecommender()
    rec.reset(np.random.default_rng(0))
    obs = observation(POPULARITY)
    slate = rec.recommend(obs, 3)
    p = rec.propensities(obs, slate)
    assert p.slate_log_prob == pytest.approx(-math.log(60), rel=1e-12)
    np.testing.assert_allclose(np.exp(p.prefix_log_probs), [1 / 5, 1 / 20, 1 / 60], rtol=1e-12)
    np.testing.assert_allclose(p.position_probs, 1 / 5)


def test_check_propensities_passes_random_and_synthetic_plackett_luce() -> None:
    check_propensities(RandomRecommender)
    check_propensities(RandomRecommender, n=5, k=5, trials=5000)
    check_propensities(SyntheticPL)  # k = 3: position 2 by Monte Carlo
    check_propensities(SyntheticPL(temperature=0.3, samples=2000), n=6, k=4, trials=10_000)


# --- check_propensities catches liars ------------------------------------------------------


class ReportsUniform(SyntheticPL):
    """Draws Plackett–Luce slates but claims they were uniform."""

    name = "reports_uniform"

    def propensities(self, observation: dict[str, Any], slate: np.ndarray) -> Propensities:
        return uniform_propensities(len(observation["candidates"]["price"]), slate)


class WithReplacement(SyntheticPL):
    """Forgets that the items are drawn without replacement: probabilities do not sum to 1."""

    name = "with_replacement"

    def propensities(self, observation: dict[str, Any], slate: np.ndarray) -> Propensities:
        log_p = self.scores(observation)
        log_p = log_p - np.log(np.exp(log_p).sum())
        prefix = np.cumsum(log_p[slate])
        return Propensities(float(prefix[-1]), prefix, np.exp(log_p[slate]))


class FirstPositionMarginals(SyntheticPL):
    """Right joint, but every marginal taken from position 0."""

    name = "first_position_marginals"

    def propensities(self, observation: dict[str, Any], slate: np.ndarray) -> Propensities:
        p = super().propensities(observation, slate)
        scores = self.scores(observation)
        softmax = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
        return Propensities(p.slate_log_prob, p.prefix_log_probs, softmax[slate], 0)


class SlightlyCold(SyntheticPL):
    """Samples at temperature 1 but reports temperature 1.15: consistent, a little wrong."""

    name = "slightly_cold"

    def propensities(self, observation: dict[str, Any], slate: np.ndarray) -> Propensities:
        scores = self.scores(observation) / 1.15
        return plackett_luce_propensities(scores, slate, samples=self.samples, rng=self._mc)


class Peeks(SyntheticPL):
    """Uses the slate rng for its Monte Carlo: logging changes the slates that follow."""

    name = "peeks"

    def propensities(self, observation: dict[str, Any], slate: np.ndarray) -> Propensities:
        return plackett_luce_propensities(self.scores(observation), slate, rng=self.rng)


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (PopularityRecommender, "returned None: the recommender reports no propensities"),
        (WithReplacement, "sum to"),
        (FirstPositionMarginals, r"P\(the item at position 1 is there\)"),
        (ReportsUniform, "showed slate"),
        (SlightlyCold, "showed|chi-square"),
        (Peeks, "asking for propensities changed the slates"),
    ],
)
def test_check_propensities_catches(cls: type[Recommender], message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_propensities(cls)


def test_check_propensities_refuses_sizes_it_cannot_enumerate() -> None:
    with pytest.raises(ValueError, match="more than 100,000"):
        check_propensities(RandomRecommender, n=50, k=5)


# --- ppo (the shipped model) ---------------------------------------------------------------


@pytest.fixture(scope="module")
def ppo_setup() -> tuple[Any, list[dict[str, Any]]]:
    pytest.importorskip("torch")
    from simshop_core import ShopEnv
    from simshop_recommenders.ppo import PPORecommender

    rec = PPORecommender(mode="sample")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a shopper model the model never saw, if any
        env = ShopEnv(**rec.env_options)
    observations = [env.reset(seed=s)[0] for s in range(3)]
    return rec, observations


def test_ppo_sample_mode_propensities_are_plackett_luce_of_its_scores(ppo_setup: Any) -> None:
    rec, observations = ppo_setup
    rec = copy.deepcopy(rec)
    rec.reset(np.random.default_rng(0))
    for obs in observations:
        slate = rec.recommend(obs, 5)
        p = rec.propensities(obs, slate)
        scores = rec.scores(obs)
        steps = [pl_log_prob(scores, slate[: i + 1]) for i in range(5)]
        np.testing.assert_allclose(p.prefix_log_probs, steps, rtol=1e-11, atol=1e-11)
        assert p.slate_log_prob == p.prefix_log_probs[-1]
        assert p.samples == DEFAULT_SAMPLES
        softmax = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
        assert p.position_probs[0] == pytest.approx(softmax[slate[0]], rel=1e-12)


def test_ppo_propensities_reuse_the_scores_and_never_change_the_slates(ppo_setup: Any) -> None:
    rec, observations = ppo_setup
    runs = []
    for ask in (False, True):
        r = copy.deepcopy(rec)
        calls: list[int] = []
        original = r.scores

        def counting(obs: dict[str, Any], original: Any = original, calls: list = calls) -> Any:
            calls.append(1)
            return original(obs)

        r.scores = counting
        r.reset(np.random.default_rng(5))
        slates, reports = [], []
        for obs in observations * 2:
            slates.append(r.recommend(obs, 5).tolist())
            if ask:
                reports.append(r.propensities(obs, np.array(slates[-1])))
        assert len(calls) == len(slates)  # propensities cost no forward pass
        runs.append((slates, reports))
    assert runs[0][0] == runs[1][0]
    # Reproducible, Monte Carlo included, under the same reset seed.
    again = copy.deepcopy(rec)
    again.reset(np.random.default_rng(5))
    for obs, slate, report in zip(observations * 2, runs[1][0], runs[1][1], strict=True):
        assert again.recommend(obs, 5).tolist() == slate
        np.testing.assert_array_equal(
            again.propensities(obs, np.array(slate)).position_probs, report.position_probs
        )


def test_ppo_greedy_mode_has_no_propensities(ppo_setup: Any) -> None:
    from simshop_recommenders.ppo import PPORecommender

    rec, observations = ppo_setup
    greedy = PPORecommender(mode="greedy")
    greedy._model, greedy._metadata = rec._model, rec._metadata  # share the loaded model
    assert greedy.mode == "greedy" and greedy.deterministic
    greedy.reset(np.random.default_rng(0))
    obs = observations[0]
    slate = greedy.recommend(obs, 5)
    assert slate.tolist() == np.argsort(-greedy.scores(obs), kind="stable")[:5].tolist()
    assert greedy.propensities(obs, slate) is None
    greedy.deterministic = False
    assert greedy.mode == "sample"


def test_ppo_mode_is_validated() -> None:
    from simshop_recommenders.ppo import PPORecommender

    with pytest.raises(ValueError, match="ppo mode must be 'greedy' or 'sample', got 'random'"):
        PPORecommender(mode="random")
