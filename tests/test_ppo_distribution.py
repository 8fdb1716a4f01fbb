"""The Plackett–Luce slate distribution: exact probabilities on a pool small enough to list."""

from __future__ import annotations

import itertools
import math

import pytest

th = pytest.importorskip("torch")
from simshop_recommenders.ppo.distribution import PlackettLuceDistribution  # noqa: E402


def brute_force_probability(scores: list[float], slate: tuple[int, ...]) -> float:
    """P(ordered slate) by the definition: pick, remove, renormalise."""
    remaining = list(range(len(scores)))
    probability = 1.0
    for item in slate:
        total = sum(math.exp(scores[i]) for i in remaining)
        probability *= math.exp(scores[item]) / total
        remaining.remove(item)
    return probability


def all_slates(n: int, k: int) -> list[tuple[int, ...]]:
    return list(itertools.permutations(range(n), k))


@pytest.fixture(params=[(5, 2), (5, 3), (4, 4)], ids=lambda p: f"n{p[0]}k{p[1]}")
def pool(request: pytest.FixtureRequest) -> tuple[th.Tensor, int, list[tuple[int, ...]]]:
    n, k = request.param
    generator = th.Generator().manual_seed(n * 10 + k)
    scores = th.randn(n, generator=generator, dtype=th.float64) * 1.5
    return scores, k, all_slates(n, k)


def test_probabilities_of_all_ordered_slates_sum_to_one(pool) -> None:
    scores, k, slates = pool
    dist = PlackettLuceDistribution(len(scores), k)
    dist.proba_distribution(scores.expand(len(slates), -1))
    log_p = dist.log_prob(th.tensor(slates))
    assert log_p.shape == (len(slates),)
    assert float(log_p.exp().sum()) == pytest.approx(1.0, abs=1e-9)


def test_log_prob_matches_brute_force(pool) -> None:
    scores, k, slates = pool
    dist = PlackettLuceDistribution(len(scores), k)
    dist.proba_distribution(scores.expand(len(slates), -1))
    log_p = dist.log_prob(th.tensor(slates, dtype=th.float32))  # SB3 stores actions as floats
    expected = [math.log(brute_force_probability(scores.tolist(), s)) for s in slates]
    assert log_p.tolist() == pytest.approx(expected, abs=1e-9)


def test_log_prob_handles_a_batch_of_different_scores() -> None:
    generator = th.Generator().manual_seed(1)
    scores = th.randn(6, 5, generator=generator, dtype=th.float64)
    slates = th.tensor([[0, 1], [4, 3], [2, 0], [1, 4], [3, 2], [0, 4]])
    dist = PlackettLuceDistribution(5, 2).proba_distribution(scores)
    expected = [
        math.log(brute_force_probability(s.tolist(), tuple(a.tolist())))
        for s, a in zip(scores, slates, strict=True)
    ]
    assert dist.log_prob(slates).tolist() == pytest.approx(expected, abs=1e-9)


def test_entropy_estimate_is_unbiased_over_the_distribution(pool) -> None:
    """Σ over slates of P(slate) · estimate(slate) is the exact entropy (the chain rule)."""
    scores, k, slates = pool
    dist = PlackettLuceDistribution(len(scores), k)
    dist.proba_distribution(scores.expand(len(slates), -1))
    log_p = dist.log_prob(th.tensor(slates))
    estimates = dist.entropy()  # along the slates just given to log_prob
    exact = -float((log_p.exp() * log_p).sum())
    assert float((log_p.exp() * estimates).sum()) == pytest.approx(exact, abs=1e-9)
    assert exact > 0


def test_entropy_without_a_slate_uses_the_top_k_order() -> None:
    scores = th.tensor([[2.0, 1.0, 0.0, -1.0, 0.5]], dtype=th.float64)
    dist = PlackettLuceDistribution(5, 2).proba_distribution(scores)
    entropy = dist.entropy()
    dist.log_prob(th.tensor([[0, 1]]))
    assert entropy.tolist() == pytest.approx(dist.entropy().tolist())


def test_mode_is_the_top_k_in_decreasing_order() -> None:
    scores = th.tensor([[0.1, 3.0, -2.0, 2.0, 1.0], [5.0, 4.0, 3.0, 2.0, 1.0]])
    dist = PlackettLuceDistribution(5, 3).proba_distribution(scores)
    assert dist.mode().tolist() == [[1, 3, 4], [0, 1, 2]]
    assert dist.get_actions(deterministic=True).tolist() == [[1, 3, 4], [0, 1, 2]]


def test_samples_are_distinct_and_follow_plackett_luce() -> None:
    n, k, draws = 5, 2, 40_000
    scores = th.tensor([1.0, 0.0, -0.5, 0.5, -1.0], dtype=th.float64)
    th.manual_seed(0)  # SB3 seeds torch's generator; sampling draws from it
    dist = PlackettLuceDistribution(n, k).proba_distribution(scores.expand(draws, n))
    samples = dist.sample()
    assert samples.shape == (draws, k)
    assert bool((samples[:, 0] != samples[:, 1]).all())
    counts: dict[tuple[int, ...], int] = {}
    for row in samples.tolist():
        counts[tuple(row)] = counts.get(tuple(row), 0) + 1
    for slate in all_slates(n, k):
        p = brute_force_probability(scores.tolist(), slate)
        tolerance = 4 * math.sqrt(p * (1 - p) / draws) + 1e-4  # 4 standard errors
        assert counts.get(slate, 0) / draws == pytest.approx(p, abs=tolerance)


def test_sampling_is_reproducible_under_a_seed() -> None:
    scores = th.zeros(3, 50)
    dist = PlackettLuceDistribution(50, 5).proba_distribution(scores)
    th.manual_seed(7)
    first = dist.sample()
    th.manual_seed(7)
    assert th.equal(first, dist.sample())


def test_gradients_stay_finite_with_excluded_candidates() -> None:
    scores = th.randn(4, 6, requires_grad=True)
    dist = PlackettLuceDistribution(6, 4).proba_distribution(scores)
    loss = dist.log_prob(th.tensor([[0, 1, 2, 3]] * 4)).sum() + dist.entropy().sum()
    loss.backward()
    assert scores.grad is not None
    assert bool(th.isfinite(scores.grad).all())


def test_bad_arguments_are_errors() -> None:
    with pytest.raises(ValueError, match="k=6"):
        PlackettLuceDistribution(5, 6)
    dist = PlackettLuceDistribution(5, 2)
    with pytest.raises(ValueError, match="expected 5 candidate scores"):
        dist.proba_distribution(th.zeros(1, 4))
    with pytest.raises(RuntimeError, match="proba_distribution"):
        dist.sample()
