"""The six bandit recommenders: hand-computed updates, regret, reset, propensities, batches,
the plugin contract and reproducibility through `evaluate`."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from dataclasses import asdict
from typing import Any

import numpy as np
import pytest

from simshop_core import get_registry
from simshop_core.evaluation import evaluate
from simshop_core.recommender import Feedback, Recommender
from simshop_core.registry import make_recommender
from simshop_core.specs import parameters
from simshop_core.testing import check_propensities, check_recommender
from simshop_recommenders.bandits import (
    BANDITS,
    UCB1,
    CascadeUCB,
    EpsilonGreedy,
    LinTS,
    LinUCB,
    Thompson,
)
from simshop_recommenders.bandits.ridge import sherman_morrison, woodbury

NAMES = ("epsilon_greedy", "ucb", "thompson", "linucb", "lin_ts", "cascade_ucb")
W = 0.625  # the default buy weight


def observation(n: int = 6, t: int = 0, types: int = 3, **fields: Any) -> dict[str, Any]:
    """An observation as the env gives it (only the fields bandits read)."""
    one_hot = np.zeros(types, dtype=np.float32)
    one_hot[t] = 1.0
    candidates = {
        "product_id": np.arange(10, 10 + n, dtype=np.int64),
        "price": np.linspace(5.0, 100.0, n).astype(np.float32),
        "quality_score": np.linspace(0.9, 0.1, n).astype(np.float32),
        "popularity": np.linspace(20.0, 90.0, n).astype(np.float32),
        "days_since_release": (30.0 * np.arange(n)).astype(np.float32),
        "times_shown": np.zeros(n, dtype=np.int64),
        "category": np.arange(n, dtype=np.int64) % 2,
        "subcategory": np.zeros(n, dtype=np.int64),
        "brand": np.arange(n, dtype=np.int64) % 3,
        "color": np.zeros(n, dtype=np.int64),
    }
    candidates.update(fields)
    return {"user_type": one_hot, "candidates": candidates}


def feedback(
    obs: dict[str, Any], slate: list[int], clicked: list[int], bought: list[int]
) -> Feedback:
    return Feedback(
        observation=obs,
        slate=np.array(slate, dtype=np.int64),
        clicked=np.array(clicked, dtype=bool),
        bought=np.array(bought, dtype=bool),
        reward=0.0,
        next_observation=obs,
        terminated=False,
        truncated=False,
    )


def script(obs: dict[str, Any]) -> list[Feedback]:
    """Two pages: a click on top; then a click at position 1 and a buy at position 2."""
    return [
        feedback(obs, [0, 1, 2], [1, 0, 0], [0, 0, 0]),
        feedback(obs, [3, 4, 5], [0, 1, 1], [0, 0, 1]),
    ]


def started(rec: Recommender, seed: int = 0) -> Recommender:
    rec.reset(np.random.default_rng(seed))
    return rec


# --- the plugin contract -----------------------------------------------------------------------


def test_registered_with_their_parameters() -> None:
    registry = get_registry()
    for cls in BANDITS:
        assert cls.name in registry.recommenders
        assert cls.description and "\n" not in cls.description
        params = parameters(cls)
        assert params and all(p.annotation for p in params)  # typed, with defaults
    assert [c.name for c in BANDITS] == list(NAMES)
    rec = make_recommender("epsilon_greedy:epsilon=0.2:examined=cascade")
    assert isinstance(rec, EpsilonGreedy) and rec.epsilon == 0.2 and rec.examined == "cascade"
    assert make_recommender("cascade_ucb:index=kl").index == "kl"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("epsilon_greedy:epsilon=1.5", "epsilon"),
        ("ucb:alpha=-1", "alpha"),
        ("thompson:prior_alpha=0", "prior_alpha"),
        ("lin_ts:samples=0", "samples"),
        ("linucb:regularization=0", "regularization"),
        ("linucb:examined=half", "examined"),
        ("cascade_ucb:index=ucb2", "index"),
        ("thompson:buy_weight=2", "buy_weight"),
    ],
)
def test_bad_parameters_are_one_line_value_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        make_recommender(spec)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("cls", BANDITS)
@pytest.mark.parametrize("seed", [0, 1])
def test_check_recommender(cls: type[Recommender], seed: int) -> None:
    check_recommender(cls, seed=seed)


def test_check_recommender_epsilon_greedy_at_both_ends() -> None:
    check_recommender(EpsilonGreedy(epsilon=0.0))  # deterministic
    check_recommender(EpsilonGreedy(epsilon=1.0))  # always random


def test_registration_imports_no_torch() -> None:
    code = (
        "import sys, simshop_recommenders.plugin; "
        "assert 'torch' not in sys.modules and 'scipy' not in sys.modules, 'heavy import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- hand computations ---------------------------------------------------------------------------


def test_epsilon_greedy_update_by_hand() -> None:
    obs = observation()
    rec = started(EpsilonGreedy(epsilon=0.0, prior_mean=1.0, prior_weight=1.0))
    for fb in script(obs):
        rec.update(fb)
    _, trials, rewards = rec._counts(obs)
    np.testing.assert_array_equal(trials, [1, 1, 1, 1, 1, 1])
    np.testing.assert_allclose(rewards, [1 - W, 0, 0, 0, 1 - W, 1])
    means = (rewards + 1.0) / (trials + 1.0)  # [0.6875, .5, .5, .5, .6875, 1]
    np.testing.assert_array_equal(rec.recommend(obs, 3), [5, 0, 4])  # ties: index order
    assert means[5] > means[0] == means[4] > means[1]
    # The cascade rule: page 2's position 2 (after the first click) is no trial.
    rec = started(EpsilonGreedy(epsilon=0.0, examined="cascade"))
    for fb in script(obs):
        rec.update(fb)
    _, trials, rewards = rec._counts(obs)
    np.testing.assert_array_equal(trials, [1, 0, 0, 1, 1, 0])
    np.testing.assert_allclose(rewards, [1 - W, 0, 0, 0, 1 - W, 0])
    # Another shopper type learnt nothing.
    np.testing.assert_array_equal(rec._counts(observation(t=2))[1], np.zeros(6))


def test_ucb_update_by_hand() -> None:
    obs = observation(n=8)
    rec = started(UCB1(alpha=0.5))
    for fb in script(obs):
        rec.update(fb)
    # Products 6 and 7 were never tried: first, in index order.
    np.testing.assert_array_equal(rec.recommend(obs, 2), [6, 7])
    rec.update(feedback(obs, [6, 7], [0, 0], [0, 0]))
    n, s = np.ones(8), np.array([1 - W, 0, 0, 0, 1 - W, 1, 0, 0])
    index = s / n + 0.5 * np.sqrt(2 * math.log(8) / n)
    np.testing.assert_array_equal(rec.recommend(obs, 3), np.argsort(-index, kind="stable")[:3])
    np.testing.assert_array_equal(rec.recommend(obs, 3), [5, 0, 4])


def test_thompson_update_by_hand() -> None:
    obs = observation()
    rec = started(Thompson(prior_alpha=2.0, prior_beta=3.0), seed=7)
    for fb in script(obs):
        rec.update(fb)
    s = np.array([1 - W, 0, 0, 0, 1 - W, 1])
    a, b = 2.0 + s, 3.0 + 1.0 - s
    draws = np.random.default_rng(7).beta(a, b)  # the same generator, no draws before
    np.testing.assert_array_equal(rec.recommend(obs, 4), np.argsort(-draws, kind="stable")[:4])


def test_cascade_ucb_update_by_hand() -> None:
    obs = observation()
    rec = started(CascadeUCB(alpha=1.5))
    for fb in script(obs):
        rec.update(fb)
    # Only positions up to the first click are trials: products 10, 13 and 14.
    _, trials, rewards = rec._counts(obs)
    np.testing.assert_array_equal(trials, [1, 0, 0, 1, 1, 0])
    np.testing.assert_allclose(rewards, [1 - W, 0, 0, 0, 1 - W, 0])
    np.testing.assert_array_equal(rec.recommend(obs, 3), [1, 2, 5])  # untried first
    for fb in (feedback(obs, [1, 2, 5], [0, 0, 0], [0, 0, 0]),):  # no click: all examined
        rec.update(fb)
    bound = np.array([1 - W, 0, 0, 0, 1 - W, 0]) + np.sqrt(1.5 * math.log(3 + 1) / 1)
    np.testing.assert_array_equal(rec.recommend(obs, 6), np.argsort(-bound, kind="stable"))
    kl = started(CascadeUCB(index="kl"))
    for fb in [*script(obs), feedback(obs, [1, 2, 5], [0, 0, 0], [0, 0, 0])]:
        kl.update(fb)
    t, n, s = kl._counts(obs)
    q = kl._bounds(t, n, s)
    mean = s / n
    budget = math.log(4) + 3 * math.log(math.log(4)) if math.log(4) > 1 else math.log(4)
    p = np.clip(mean, 1e-12, 1 - 1e-12)
    qq = np.clip(q, 1e-12, 1 - 1e-12)
    kl_value = p * np.log(p / qq) + (1 - p) * np.log((1 - p) / (1 - qq))
    np.testing.assert_allclose(kl_value, budget, atol=1e-4)  # the largest q within budget
    assert (q >= mean).all() and (q <= 1).all()


def hand_features(obs: dict[str, Any]) -> np.ndarray:
    c = {key: np.asarray(v, dtype=np.float64) for key, v in obs["candidates"].items()}
    numeric = np.column_stack(
        [
            np.ones_like(c["price"]),
            np.log1p(c["price"]) / 5,
            np.log(c["quality_score"] + 0.01) / 5,
            c["popularity"] / 100,
            c["days_since_release"] / 365,
            np.log1p(c["times_shown"]) / 2,
        ]
    )
    one_hots = [
        np.eye(int(c[f].max()) + 1)[c[f].astype(int)] for f in ("category", "brand", "color")
    ]
    return np.column_stack([numeric, *one_hots])


@pytest.mark.parametrize("examined", ["all", "cascade"])
def test_linucb_update_by_hand(examined: str) -> None:
    obs = observation(times_shown=np.array([0, 3, 1, 0, 0, 7]))
    rec = started(LinUCB(alpha=0.7, regularization=2.0, examined=examined))
    rec.recommend(obs, 3)
    for fb in script(obs):
        rec.update(fb)
    x = hand_features(obs)
    rows = [0, 1, 2, 3, 4, 5] if examined == "all" else [0, 3, 4]
    reward = {0: 1 - W, 4: 1 - W, 5: 1.0}
    r = np.array([reward.get(i, 0.0) for i in rows])
    A = 2.0 * np.eye(x.shape[1]) + x[rows].T @ x[rows]
    b = x[rows].T @ r
    np.testing.assert_allclose(rec.models.A_inv[0], np.linalg.inv(A), atol=1e-10)
    np.testing.assert_allclose(rec.models.b[0], b, atol=1e-12)
    np.testing.assert_allclose(rec.models.gram(0), A, atol=1e-12)
    theta = np.linalg.solve(A, b)
    score = x @ theta + 0.7 * np.sqrt(np.einsum("nd,de,ne->n", x, np.linalg.inv(A), x))
    np.testing.assert_array_equal(rec.recommend(obs, 4), np.argsort(-score, kind="stable")[:4])
    # Other shopper types are untouched: still λ·I.
    np.testing.assert_allclose(rec.models.A_inv[1], np.eye(x.shape[1]) / 2.0)


def test_lin_ts_update_by_hand() -> None:
    obs = observation()
    rec = started(LinTS(scale=0.3, regularization=1.0), seed=3)
    for fb in script(obs):
        rec.update(fb)
    x = hand_features(obs)
    r = np.array([1 - W, 0, 0, 0, 1 - W, 1.0])
    A = np.eye(x.shape[1]) + x.T @ x
    theta = np.linalg.solve(A, x.T @ r)
    root = 0.3 * np.linalg.cholesky(np.linalg.inv(A))
    z = np.random.default_rng(3).standard_normal(x.shape[1])  # the same generator
    expected = np.argsort(-(x @ (theta + root @ z)), kind="stable")[:3]
    np.testing.assert_array_equal(rec.recommend(obs, 3), expected)


def test_page_updates_equal_one_rank_one_step_at_a_time() -> None:
    rng = np.random.default_rng(0)
    d = 9
    past = rng.normal(size=(30, d))
    inverse = np.linalg.inv(np.eye(d) + past.T @ past)
    rows = rng.normal(size=(5, d))
    one_by_one = inverse.copy()
    for row in rows:
        one_by_one -= sherman_morrison(one_by_one, row)
    np.testing.assert_allclose(inverse - woodbury(inverse, rows), one_by_one, atol=1e-12)
    exact = np.linalg.inv(np.eye(d) + past.T @ past + rows.T @ rows)
    np.testing.assert_allclose(one_by_one, exact, atol=1e-12)


def test_new_codes_widen_the_linear_model_exactly() -> None:
    first = observation(brand=np.array([0, 1, 0, 1, 0, 1]))
    rec = started(LinUCB())
    rec.recommend(first, 3)
    for fb in script(first):
        rec.update(fb)
    d = rec.models.dim
    later = observation(brand=np.array([0, 4, 2, 1, 0, 3]))  # brands 2, 3 and 4 are new
    rec.recommend(later, 3)
    assert rec.models.dim == d + 3
    x = hand_features(first)
    x = np.insert(x, [6 + 2 + 2] * 3, 0.0, axis=1)  # brand block: columns 8, 9 → 8…12
    r = np.array([1 - W, 0, 0, 0, 1 - W, 1.0])
    A = np.eye(d + 3) + x.T @ x
    np.testing.assert_allclose(rec.models.A_inv[0], np.linalg.inv(A), atol=1e-12)
    np.testing.assert_allclose(rec.models.b[0], x.T @ r, atol=1e-12)


# --- learning -----------------------------------------------------------------------------------


def play(
    rec: Recommender, p: np.ndarray, obs: dict[str, Any], rounds: int, k: int, cascade: bool
) -> np.ndarray:
    """Per-round regret against the k best click probabilities ``p`` (clicks only)."""
    rng = np.random.default_rng(1)
    best = np.sort(p)[::-1][:k]
    regret = np.empty(rounds)
    for i in range(rounds):
        slate = rec.recommend(obs, k)
        clicked = rng.random(k) < p[slate]
        if cascade:  # the shopper stops at the first click
            hit = np.flatnonzero(clicked)
            if len(hit):
                clicked[hit[0] + 1 :] = False
            best_value = 1 - np.prod(1 - best)
            regret[i] = best_value - (1 - np.prod(1 - p[slate]))
        else:
            regret[i] = best.sum() - p[slate].sum()
        rec.update(feedback(obs, slate.tolist(), clicked.tolist(), [0] * k))
    return regret


SUBLINEAR = {
    "ucb": UCB1(buy_weight=0.0),
    "thompson": Thompson(buy_weight=0.0),
    "linucb": LinUCB(buy_weight=0.0),
    "lin_ts": LinTS(buy_weight=0.0),
    "cascade_ucb": CascadeUCB(buy_weight=0.0),
}


@pytest.mark.parametrize("name", list(SUBLINEAR))
def test_regret_grows_sublinearly(name: str) -> None:
    # Ten products whose click probability falls with price (linear in the linear
    # bandits' log-price feature, so both kinds of model hold the truth).
    obs = observation(n=10, price=np.geomspace(5.0, 200.0, 10).astype(np.float32))
    p = np.linspace(0.8, 0.05, 10)
    rec = started(SUBLINEAR[name])
    regret = np.cumsum(play(rec, p, obs, 2000, 2, cascade=name == "cascade_ucb"))
    first, total = regret[999], regret[-1]
    assert first > 0
    assert total - first < 0.5 * first, (first, total)  # the second half costs far less


def test_epsilon_greedy_regret_falls_to_its_exploration_floor() -> None:
    obs = observation(n=10)
    p = np.linspace(0.8, 0.05, 10)
    rec = started(EpsilonGreedy(epsilon=0.1, buy_weight=0.0))
    regret = play(rec, p, obs, 2000, 2, cascade=False)
    floor = 0.1 * (np.sort(p)[::-1][:2].sum() - 2 * p.mean())  # ε × a random slate's regret
    assert regret[1000:].mean() < floor + 0.02
    assert regret[:100].mean() > regret[1000:].mean()


@pytest.mark.parametrize("cls", BANDITS)
def test_a_learner_forgets_on_reset(cls: type[Recommender]) -> None:
    obs = observation()
    fresh = started(cls(), seed=5)
    expected = [fresh.recommend(obs, 3) for _ in range(3)]
    rec = started(cls(), seed=1)
    for _ in range(20):
        for fb in script(obs):
            rec.update(fb)
        rec.recommend(obs, 3)
    rec.reset(np.random.default_rng(5))
    assert rec.version == 0
    for slate in expected:
        np.testing.assert_array_equal(rec.recommend(obs, 3), slate)


def test_evaluate_is_the_same_for_any_jobs_and_order() -> None:
    users = ["cheap_seeker", "brand_lover"]
    options = {"visits_per_shopper": 3}
    a = evaluate("linucb,thompson", users, episodes=12, jobs=1, env_options=options)
    b = evaluate("thompson,linucb", users[::-1], episodes=12, jobs=2, env_options=options)
    for cell in a.cells:
        np.testing.assert_equal(asdict(cell), asdict(b.cell(cell.user, cell.recommender)))
    learnt = a.cell("cheap_seeker", "linucb")
    assert learnt.visits == 12 and learnt.shoppers == 4


# --- propensities -------------------------------------------------------------------------------


def all_slates(n: int, k: int) -> np.ndarray:
    return np.array(list(itertools.permutations(range(n), k)), dtype=np.int64)


def trained(rec: Recommender, obs: dict[str, Any], seed: int = 0) -> Recommender:
    """``rec`` after three pages on ``obs`` (five candidates or more)."""
    started(rec, seed)
    rec.update(feedback(obs, [0, 1, 2], [1, 0, 0], [0, 0, 0]))
    rec.update(feedback(obs, [3, 4, 1], [0, 1, 1], [0, 0, 1]))
    rec.update(feedback(obs, [2, 1, 0], [0, 1, 1], [0, 1, 0]))
    return rec


def test_epsilon_greedy_propensities_are_exact_after_learning() -> None:
    obs = observation(n=5)
    rec = trained(EpsilonGreedy(epsilon=0.3), obs)
    slates = all_slates(5, 3)
    reports = [rec.propensities(obs, s) for s in slates]
    joint = np.exp([r.slate_log_prob for r in reports])
    assert abs(joint.sum() - 1.0) < 1e-12
    assert all(r.samples == 0 for r in reports)
    greedy = rec.greedy(obs, 3)
    is_greedy = (slates == greedy).all(axis=1)
    np.testing.assert_allclose(joint, 0.7 * is_greedy + 0.3 / 60)
    for i in range(3):  # every marginal is the sum of the joints it covers
        p = np.array([r.position_probs[i] for r in reports])
        brute = np.bincount(slates[:, i], weights=joint, minlength=5)[slates[:, i]]
        np.testing.assert_allclose(p, brute, atol=1e-12)
    check_propensities(EpsilonGreedy)


@pytest.mark.parametrize("cls", [Thompson, LinTS])
def test_monte_carlo_propensities_match_the_slates_shown(cls: type[Recommender]) -> None:
    obs = observation(n=5)
    scale = {"scale": 0.5} if cls is LinTS else {}
    rec = trained(cls(samples=40_000, **scale), obs)
    before = rec.rng.bit_generator.state
    slates = all_slates(5, 2)
    reports = [rec.propensities(obs, s) for s in slates]
    assert rec.rng.bit_generator.state == before  # propensities never draw from self.rng
    joint = np.exp([r.slate_log_prob for r in reports])
    assert abs(joint.sum() - 1.0) < 1e-9 and all(r.samples == 40_000 for r in reports)
    draws = 4000
    shown = np.array([rec.recommend(obs, 2) for _ in range(draws)])
    index = {tuple(s): i for i, s in enumerate(slates.tolist())}
    freq = np.bincount([index[tuple(s)] for s in shown.tolist()], minlength=len(slates)) / draws
    sd = np.sqrt(joint * (1 - joint) / draws + joint * (1 - joint) / 40_000)
    assert (np.abs(freq - joint) <= 5 * sd + 1e-3).all()
    assert joint.max() > 2 / len(slates)  # it learnt something: not uniform


@pytest.mark.parametrize("cls", [Thompson, LinTS])
def test_check_propensities_monte_carlo(cls: type[Recommender]) -> None:
    # 200,000 draws per propensity: 10× the check's 20,000 slates, so that the Monte
    # Carlo error stays well inside its frequency tests.
    check_propensities(cls(samples=200_000))


@pytest.mark.parametrize("cls", [UCB1, LinUCB, CascadeUCB])
def test_deterministic_bandits_report_no_propensities(cls: type[Recommender]) -> None:
    obs = observation()
    rec = trained(cls(), obs)
    assert rec.propensities(obs, rec.recommend(obs, 3)) is None


# --- batches ------------------------------------------------------------------------------------


def batch(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "user_type": np.stack([r["user_type"] for r in rows]),
        "candidates": {
            key: np.stack([r["candidates"][key] for r in rows]) for key in rows[0]["candidates"]
        },
    }


@pytest.mark.parametrize("cls", [UCB1, LinUCB, CascadeUCB, lambda: EpsilonGreedy(epsilon=0.0)])
def test_deterministic_batch_rows_are_the_slates_of_recommend(cls: Any) -> None:
    rows = [observation(t=t % 3, times_shown=np.arange(6) * t) for t in range(5)]
    rec = trained(cls(), rows[0])
    for fb in script(rows[1]):
        rec.update(fb)
    slates = rec.recommend_batch(batch(rows), 3)
    for row, slate in zip(rows, slates, strict=True):
        np.testing.assert_array_equal(rec.recommend(row, 3), slate)


@pytest.mark.parametrize("make", [lambda: EpsilonGreedy(epsilon=0.5), Thompson, LinTS])
def test_stochastic_batch_rows_follow_recommend(make: Any) -> None:
    obs = observation(n=5)
    rec = trained(make(), obs)
    draws = 3000
    one = np.array([rec.recommend(obs, 1)[0] for _ in range(draws)])
    rows = rec.recommend_batch(batch([obs] * draws), 1)[:, 0]
    a, b = np.bincount(one, minlength=5) / draws, np.bincount(rows, minlength=5) / draws
    sd = np.sqrt(2 * np.maximum(a, 1 / draws) / draws)
    assert (np.abs(a - b) <= 5 * sd).all(), (a, b)
