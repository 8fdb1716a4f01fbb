"""The OPE estimators on synthetic logs drawn straight from NumPy under known click models.

A small shop (m candidates, k positions, a few shopper types) whose expected page metric is
known exactly for every ordered slate, so the truth of any target is an exact sum over all
m!/(m−k)! slates. Each estimator must be unbiased (mean over R logs within 4 standard
errors of the truth) where its assumption holds, and measurably biased where it does not.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np
import pytest

from simshop_lab.ope import estimators as est
from simshop_lab.ope import intervals
from simshop_lab.ope.data import Logger, SlateLog, Target
from simshop_lab.ope.estimators import ESTIMATORS, applicable, estimate, estimate_all
from simshop_lab.ope.weights import pi_weights, position_weights, prefix_weights, slate_weights

PAGES_PER_SHOPPER = 3


def ordered_slates(m: int, k: int) -> np.ndarray:
    return np.array(list(itertools.permutations(range(m), k)), dtype=np.int64)


@dataclass
class Policy:
    """A distribution over all ordered slates, per shopper type, and what follows from it."""

    probs: np.ndarray  # (T, nS)
    prefix: np.ndarray  # (T, nS, k): P(the slate's positions 0..p)
    marginals: np.ndarray  # (T, m, k)
    next_probs: np.ndarray  # (T, nS, k, m): P(j at p | the slate's positions 0..p−1)


def policy(probs: np.ndarray, slates: np.ndarray, m: int) -> Policy:
    t, n_slates = probs.shape
    k = slates.shape[1]
    prefix = np.empty((t, n_slates, k))
    nxt = np.empty((t, n_slates, k, m))
    code = np.zeros(n_slates, dtype=np.int64)
    before = np.ones((t, n_slates))  # P(positions 0..p−1)
    for p in range(k):
        # Dense tables over the prefix codes 0..m^(p+1)−1.
        size = m ** (p + 1)
        child = code * m + slates[:, p]
        table = np.stack([np.bincount(child, weights=probs[c], minlength=size) for c in range(t)])
        prefix[:, :, p] = table[:, child]
        options = code[:, None] * m + np.arange(m)[None, :]  # (nS, m)
        with np.errstate(invalid="ignore", divide="ignore"):
            nxt[:, :, p, :] = np.nan_to_num(table[:, options] / before[:, :, None])
        before = prefix[:, :, p]
        code = child
    marginals = np.stack(
        [
            np.stack(
                [np.bincount(slates[:, p], weights=probs[c], minlength=m) for p in range(k)], 1
            )
            for c in range(t)
        ]
    )
    return Policy(probs, prefix, marginals, nxt)


@dataclass
class Shop:
    """T shopper types × m items with attraction a, buy rate b and utility u."""

    m: int
    k: int
    click_model: str
    a: np.ndarray  # (T, m)
    b: np.ndarray
    u: np.ndarray
    features: np.ndarray  # (T, m, F)
    slates: np.ndarray  # all ordered slates (nS, k)

    @property
    def theta(self) -> np.ndarray:
        return 1.0 / np.log2(np.arange(self.k) + 2.0)

    def click_probs(self, attraction: np.ndarray) -> np.ndarray:
        """(…, k) P(click at p) given the attraction of the slate's items."""
        if self.click_model == "pbm":
            return self.theta * attraction
        if self.click_model == "cascade":
            survive = np.cumprod(1.0 - attraction, axis=-1)
            before = np.concatenate([np.ones_like(survive[..., :1]), survive[..., :-1]], axis=-1)
            return attraction * before
        raise AssertionError(self.click_model)

    def expected(self, metric: str) -> np.ndarray:
        """(T, nS) the expected page metric of every slate for every type."""
        t = np.arange(self.a.shape[0])[:, None, None]
        att = self.a[t, self.slates[None]]  # (T, nS, k)
        pc = self.click_probs(att)
        if metric == "clicks":
            return pc.sum(-1)
        buys = (pc * self.b[t, self.slates[None]]).sum(-1)
        if metric == "buys":
            return buys
        if self.click_model == "pbm":
            no_click = np.prod(1.0 - self.theta * att, axis=-1)
        else:
            no_click = np.prod(1.0 - att, axis=-1)
        util = self.u[t, self.slates[None]].sum(-1)
        return (
            3.0 * pc.sum(-1) / self.k + 5.0 * buys / self.k + util / self.k - 0.1 * no_click - 0.1
        )

    def truth(self, target: Policy, metric: str) -> float:
        return float(np.mean(np.sum(target.probs * self.expected(metric), axis=1)))


def make_shop(
    m: int, k: int, click_model: str, n_types: int = 2, seed: int = 0, attraction=(0.1, 0.8)
) -> Shop:
    rng = np.random.default_rng(seed)
    a = rng.uniform(*attraction, (n_types, m))
    b = rng.uniform(0.2, 0.6, (n_types, m))
    u = rng.uniform(0.0, 1.0, (n_types, m))
    features = np.stack([a, b, u + rng.normal(0, 0.1, u.shape)], axis=2)
    return Shop(m, k, click_model, a, b, u, features, ordered_slates(m, k))


def uniform_probs(shop: Shop) -> np.ndarray:
    n_slates = shop.slates.shape[0]
    return np.full((shop.a.shape[0], n_slates), 1.0 / n_slates)


def epsilon_probs(shop: Shop, eps: float, base: np.ndarray) -> np.ndarray:
    """ε·uniform + (1−ε)·δ_base, base: one slate index per type."""
    probs = eps * uniform_probs(shop)
    probs[np.arange(base.size), base] += 1.0 - eps
    return probs


def softmax_probs(shop: Shop, temperature: float) -> np.ndarray:
    """A target that favours attractive items near the top."""
    score = (shop.a[:, shop.slates] * shop.theta).sum(-1) / temperature
    e = np.exp(score - score.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def draw_log(
    shop: Shop,
    logger: Policy,
    target: Policy,
    n: int,
    rng: np.random.Generator,
    logger_spec: Logger,
    base: np.ndarray | None = None,
    draws: int = 4,
    with_next: bool = True,
) -> tuple[SlateLog, Target]:
    n_types = shop.a.shape[0]
    shopper = np.arange(n) // PAGES_PER_SHOPPER
    kind = rng.integers(n_types, size=shopper.max() + 1)[shopper]
    cum = np.cumsum(logger.probs, axis=1)
    idx = np.minimum((rng.random(n)[:, None] > cum[kind]).sum(1), cum.shape[1] - 1)
    slate = shop.slates[idx]
    att = shop.a[kind[:, None], slate]
    k = shop.k
    if shop.click_model == "pbm":
        clicked = rng.random((n, k)) < shop.theta * att
    else:
        attracted = rng.random((n, k)) < att
        clicked = attracted & (np.cumsum(attracted, axis=1) == 1)
    bought = clicked & (rng.random((n, k)) < shop.b[kind[:, None], slate])
    util = shop.u[kind[:, None], slate].sum(1)
    reward = (
        3.0 * clicked.sum(1) / k
        + 5.0 * bought.sum(1) / k
        + util / k
        - 0.1 * (clicked.sum(1) == 0)
        - 0.1
    )
    at = np.arange(k)
    tcum = np.cumsum(target.probs, axis=1)
    tidx = np.minimum(
        (rng.random((n, draws))[:, :, None] > tcum[kind][:, None, :]).sum(2), tcum.shape[1] - 1
    )
    spec = logger_spec
    if spec.kind == "epsilon":
        spec = replace(spec, base_slate=shop.slates[base[kind]])
    log = SlateLog(
        slate=slate,
        n_candidates=shop.m,
        clicked=clicked,
        bought=bought,
        reward=reward,
        shopper=shopper,
        shopper_type=np.array(["a", "b", "c", "d"])[kind],
        slate_log_prob=np.log(logger.probs[kind, idx]),
        prefix_log_probs=np.log(logger.prefix[kind, idx]),
        position_probs=logger.marginals[kind[:, None], slate, at],
        item_features=shop.features[kind],
        logger=spec,
    )
    with np.errstate(divide="ignore"):
        tgt = Target(
            slate_log_prob=np.log(target.probs[kind, idx]),
            prefix_log_probs=np.log(target.prefix[kind, idx]),
            position_probs=target.marginals[kind[:, None], slate, at],
            marginals=target.marginals[kind],
            slates=shop.slates[tidx],
            next_probs=target.next_probs[kind, idx] if with_next else None,
        )
    return log, tgt


def replicate(shop, logger, target, metric, names, reps, n, seed, spec, base=None, **kw):
    """(reps, len(names)) estimates over independent logs, and the coverage indicators."""
    rng = np.random.default_rng(seed)
    truth = shop.truth(target, metric)
    values = np.empty((reps, len(names)))
    covered = np.empty((reps, len(names)), dtype=bool)
    for r in range(reps):
        log, tgt = draw_log(shop, logger, target, n, rng, spec, base, **kw)
        for j, e in enumerate(estimate_all(log, tgt, metric, names)):
            values[r, j] = e.estimate
            covered[r, j] = e.ci_low <= truth <= e.ci_high
    return truth, values, covered


def z_scores(truth: float, values: np.ndarray) -> np.ndarray:
    """|mean − truth| in standard errors of the mean over the replications."""
    se = values.std(axis=0, ddof=1) / np.sqrt(values.shape[0])
    return np.abs(values.mean(axis=0) - truth) / se


ANY = ["ips", "snips", "dr", "sips", "snsips"]
CASCADE = ["rips", "snrips", "cascade_dr"]
PBM_ONLY = ["iips", "sniips", "pi", "snpi"]


@pytest.fixture(scope="module")
def pbm_setting():
    shop = make_shop(5, 3, "pbm")
    logger = policy(uniform_probs(shop), shop.slates, shop.m)
    target = policy(softmax_probs(shop, 0.15), shop.slates, shop.m)
    return shop, logger, target


@pytest.fixture(scope="module")
def cascade_setting():
    # Attractions near 0 and 1: cascade's interactions (a click above hides what is below)
    # are strong, so the additive and item-position fits are far off.
    shop = make_shop(6, 3, "cascade", seed=2, attraction=(0.02, 0.98))
    logger = policy(uniform_probs(shop), shop.slates, shop.m)
    target = policy(softmax_probs(shop, 0.05), shop.slates, shop.m)
    return shop, logger, target


@pytest.mark.parametrize("metric", ["clicks", "buys"])
def test_unbiased_under_pbm(pbm_setting, metric):
    """PBM satisfies every assumption: all weighting estimators are unbiased."""
    shop, logger, target = pbm_setting
    names = ANY + CASCADE + PBM_ONLY
    truth, values, covered = replicate(
        shop, logger, target, metric, names, 80, 2000, 1, Logger("uniform")
    )
    z = z_scores(truth, values)
    assert np.all(z < 4.0), dict(zip(names, z.round(2), strict=True))
    # The analytic 95% intervals cover the truth about 95% of the time.
    coverage = covered.mean(axis=0)
    assert np.all(coverage >= 0.85), dict(zip(names, coverage, strict=True))


def test_cascade_biases_the_pbm_estimators(cascade_setting):
    """Under cascade the page-, slate- and prefix-weighted estimators stay unbiased; iips and
    pi (which assume the item at p alone sets p's reward, and additivity) do not."""
    shop, logger, target = cascade_setting
    names = ANY + CASCADE + PBM_ONLY
    truth, values, covered = replicate(
        shop, logger, target, "clicks", names, 80, 2000, 2, Logger("uniform")
    )
    z = dict(zip(names, z_scores(truth, values).round(2), strict=True))
    assert all(z[name] < 4.0 for name in ANY + CASCADE), z
    assert all(z[name] > 8.0 for name in PBM_ONLY), z
    coverage = dict(zip(names, covered.mean(axis=0), strict=True))
    assert all(coverage[name] >= 0.85 for name in ANY + CASCADE), coverage


def test_pi_unbiased_under_epsilon_logging():
    """The exact ε-mixture weight keeps pi unbiased under PBM; the Cartesian-product form
    Σ_p π_e/π_b − k + 1 (what vw-estimators and most code use) is biased here."""
    shop = make_shop(5, 3, "pbm", seed=3)
    base = np.array([7, 40])
    logger = policy(epsilon_probs(shop, 0.4, base), shop.slates, shop.m)
    target = policy(softmax_probs(shop, 0.2), shop.slates, shop.m)
    rng = np.random.default_rng(4)
    truth = shop.truth(target, "clicks")
    values, cartesian = [], []
    for _ in range(80):
        log, tgt = draw_log(shop, logger, target, 2000, rng, Logger("epsilon", 0.4), base)
        values.append([e.estimate for e in estimate_all(log, tgt, "clicks", ["pi", "snpi"])])
        w = (tgt.position_probs / log.position_probs).sum(1) - shop.k + 1
        cartesian.append(np.mean(w * log.clicked.sum(1)))
    assert np.all(z_scores(truth, np.array(values)) < 4.0)
    assert z_scores(truth, np.array(cartesian)[:, None])[0] > 8.0


def test_reward_metric():
    """For the page reward (its no-click term is not additive, its utility term not observed
    per position) the page-level estimators are unbiased, and so are the position-level
    ones here, through the plug-in remainder: a ridge fitted to the page total jointly over
    positions, whose utility part is additive and whose no-click part is small."""
    shop = make_shop(5, 3, "pbm", seed=5)
    logger = policy(uniform_probs(shop), shop.slates, shop.m)
    target = policy(softmax_probs(shop, 0.15), shop.slates, shop.m)
    names = ANY + CASCADE + PBM_ONLY
    truth, values, covered = replicate(
        shop, logger, target, "reward", names, 60, 2000, 6, Logger("uniform")
    )
    z = dict(zip(names, z_scores(truth, values).round(2), strict=True))
    assert all(value < 4.0 for value in z.values()), z
    coverage = covered.mean(axis=0)
    assert np.all(coverage >= 0.85), dict(zip(names, coverage, strict=True))


@pytest.mark.parametrize("deterministic", [True, False])
def test_cascade_dr_baseline_from_draws(cascade_setting, deterministic):
    """Without next_probs cascade_dr stays unbiased: a deterministic target's choice after
    the logged prefix is its own slate's; for a stochastic one the baseline is replaced by
    its expectation under the marginals."""
    shop, logger, target = cascade_setting
    if deterministic:
        best = np.argmax(softmax_probs(shop, 0.15), axis=1)
        probs = np.zeros_like(uniform_probs(shop))
        probs[np.arange(best.size), best] = 1.0
        target = policy(probs, shop.slates, shop.m)
    truth, values, _ = replicate(
        shop,
        logger,
        target,
        "clicks",
        ["cascade_dr"],
        60,
        2000,
        7,
        Logger("uniform"),
        draws=1 if deterministic else 16,
        with_next=False,
    )
    assert np.all(z_scores(truth, values) < 4.0)


# --- the pseudo-inverse weight against numpy.linalg.pinv of an enumerated Γ ---------------


def indicator(slates: np.ndarray, m: int) -> np.ndarray:
    """(nS, m·k): 1_s over (candidate, position) pairs, candidate-major."""
    n, k = slates.shape
    out = np.zeros((n, m, k))
    out[np.arange(n)[:, None], slates, np.arange(k)[None, :]] = 1.0
    return out.reshape(n, m * k)


def pinv_weights(slates: np.ndarray, m: int, logger: np.ndarray, target: np.ndarray) -> np.ndarray:
    """qᵀ Γ† 1_s for every slate, Γ = Σ_s π_b(s) 1_s 1_sᵀ enumerated."""
    ind = indicator(slates, m)
    gamma = (ind * logger[:, None]).T @ ind
    q = target @ ind
    return ind @ np.linalg.pinv(gamma, rcond=1e-10, hermitian=True) @ q


def log_of_all_slates(slates, m, logger_spec, target_probs):
    """A 'log' holding every ordered slate once, for comparing weights slate by slate; the
    target's draws are its most likely slate (exactly its slate when it is deterministic)."""
    n, k = slates.shape
    tp = policy(target_probs[None], slates, m)
    log = SlateLog(
        slate=slates,
        n_candidates=m,
        clicked=np.zeros((n, k), bool),
        bought=np.zeros((n, k), bool),
        reward=np.zeros(n),
        shopper=np.arange(n),
        shopper_type=np.full(n, "a"),
        slate_log_prob=np.zeros(n),
        prefix_log_probs=np.zeros((n, k)),
        position_probs=np.ones((n, k)),
        item_features=np.zeros((n, m, 1)),
        logger=logger_spec,
    )
    target = Target(
        slate_log_prob=np.zeros(n),
        prefix_log_probs=np.zeros((n, k)),
        position_probs=tp.marginals[0][slates, np.arange(k)],
        marginals=np.repeat(tp.marginals, n, axis=0),
        slates=np.repeat(slates[np.argmax(target_probs)][None, None], n, axis=0),
    )
    return log, target


@pytest.mark.parametrize("m,k", [(3, 1), (4, 2), (5, 3), (4, 4), (6, 2), (5, 5), (6, 3)])
@pytest.mark.parametrize("eps", [1.0, 0.3, 0.9])
@pytest.mark.parametrize("deterministic", [False, True])
def test_pi_weight_matches_pinv_of_enumerated_gamma(m, k, eps, deterministic):
    rng = np.random.default_rng(m * 10 + k)
    slates = ordered_slates(m, k)
    n = slates.shape[0]
    target = rng.dirichlet(np.full(n, 0.3))
    if deterministic:  # the fast path: marginals one-hot on the target's one slate
        target = (np.arange(n) == np.argmax(target)).astype(float)
    base = int(rng.integers(n))
    logger = np.full(n, eps / n)
    logger[base] += 1.0 - eps
    spec = (
        Logger("uniform")
        if eps == 1.0
        else Logger("epsilon", eps, np.repeat(slates[base][None], n, axis=0))
    )
    log, tgt = log_of_all_slates(slates, m, spec, target)
    expected = pinv_weights(slates, m, logger, target)
    np.testing.assert_allclose(pi_weights(log, tgt), expected, rtol=1e-8, atol=1e-8)
    # The weight is unbiased for every additive reward: Σ_s π_b(s) w(s) 1_s = q.
    np.testing.assert_allclose(
        (logger * pi_weights(log, tgt)) @ indicator(slates, m),
        target @ indicator(slates, m),
        atol=1e-10,
    )


def test_vw_estimators_pseudo_inverse_is_the_cartesian_case():
    """vw-estimators' PI (Σ p_pred/p_log − k + 1) is written for a Cartesian product of slots
    under a product logger; there it equals the enumerated pinv weight this file checks our
    closed form against. For ordered slates without replacement it does not."""
    from estimators.slates import pseudo_inverse

    rng = np.random.default_rng(11)
    sizes = (3, 2, 4)  # each slot its own actions; a slate is one per slot
    offsets = np.cumsum((0, *sizes[:-1]))
    slates = np.array(list(itertools.product(*[range(s) for s in sizes]))) + offsets
    m = sum(sizes)
    slot_logger = [rng.dirichlet(np.ones(s)) for s in sizes]
    slot_target = [rng.dirichlet(np.ones(s)) for s in sizes]
    local = slates - offsets
    logger = np.prod([slot_logger[p][local[:, p]] for p in range(3)], axis=0)
    target = np.prod([slot_target[p][local[:, p]] for p in range(3)], axis=0)
    expected = pinv_weights(slates, m, logger, target)
    for s in range(slates.shape[0]):
        vw = pseudo_inverse.Estimator()
        p_logs = [float(slot_logger[p][local[s, p]]) for p in range(3)]
        p_preds = [float(slot_target[p][local[s, p]]) for p in range(3)]
        vw.add_example(p_logs, 1.0, p_preds)
        assert vw.get() == pytest.approx(expected[s], rel=1e-9, abs=1e-9)
    # Without replacement, the Cartesian form is not the pseudo-inverse weight.
    slates = ordered_slates(5, 3)
    n = slates.shape[0]
    target = rng.dirichlet(np.ones(n))
    log, tgt = log_of_all_slates(slates, 5, Logger("uniform"), target)
    ours = pi_weights(log, tgt)
    cartesian = (tgt.position_probs / (1 / 5)).sum(1) - 3 + 1
    assert np.max(np.abs(ours - cartesian)) > 0.1


# --- cross-check IPS and SNIPS with vw-estimators ------------------------------------------


@pytest.mark.parametrize("metric", ["clicks", "buys", "reward"])
def test_ips_snips_agree_with_vw_estimators(pbm_setting, metric):
    from estimators.bandits import ips, snips

    shop, logger, target = pbm_setting
    log, tgt = draw_log(shop, logger, target, 3000, np.random.default_rng(8), Logger("uniform"))
    page = {
        "clicks": log.clicked.sum(1),
        "buys": log.bought.sum(1),
        "reward": log.reward,
    }[metric].astype(float)
    vw_ips, vw_snips = ips.Estimator(), snips.Estimator()
    for p_log, p_pred, r in zip(
        np.exp(log.slate_log_prob), np.exp(tgt.slate_log_prob), page, strict=True
    ):
        vw_ips.add_example(float(p_log), float(r), float(p_pred))
        vw_snips.add_example(float(p_log), float(r), float(p_pred))
    assert estimate("ips", log, tgt, metric).estimate == pytest.approx(vw_ips.get(), rel=1e-10)
    assert estimate("snips", log, tgt, metric).estimate == pytest.approx(vw_snips.get(), rel=1e-10)


# --- properties -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["uniform", "epsilon"])
def test_weights_of_the_logger_itself_are_one(kind):
    shop = make_shop(5, 3, "pbm")
    base = np.array([3, 17])
    probs = uniform_probs(shop) if kind == "uniform" else epsilon_probs(shop, 0.3, base)
    logger = policy(probs, shop.slates, shop.m)
    spec = Logger("uniform") if kind == "uniform" else Logger("epsilon", 0.3)
    log, tgt = draw_log(shop, logger, logger, 500, np.random.default_rng(9), spec, base)
    for weights in (slate_weights, position_weights, prefix_weights, pi_weights):
        np.testing.assert_allclose(weights(log, tgt), 1.0, rtol=1e-9)
    for e in estimate_all(log, tgt, "clicks"):
        if e.estimator not in ("dm", "dr_os"):  # dr_os shrinks even a weight of 1
            assert e.ess == pytest.approx(500.0) and e.max_weight == pytest.approx(1.0)


def test_deterministic_target_fast_path_changes_nothing(cascade_setting):
    """A deterministic target's one-hot marginals are read through its slate; given as two
    identical draws it takes the general path (the marginals; cascade_dr's baseline
    without next_probs): the same estimates."""
    shop, logger, _ = cascade_setting
    best = np.argmax(softmax_probs(shop, 0.15), axis=1)
    probs = np.zeros_like(uniform_probs(shop))
    probs[np.arange(best.size), best] = 1.0
    target = policy(probs, shop.slates, shop.m)
    rng = np.random.default_rng(15)
    log, tgt = draw_log(shop, logger, target, 3000, rng, Logger("uniform"), draws=1)
    general = replace(tgt, slates=np.repeat(tgt.slates, 2, axis=1), next_probs=None)
    for metric in ("reward", "clicks"):
        fast = estimate_all(log, replace(tgt, next_probs=None), metric)
        slow = estimate_all(log, general, metric)
        for a, b in zip(fast, slow, strict=True):
            assert a.estimate == pytest.approx(b.estimate, rel=1e-9, abs=1e-12), a.estimator
            assert a.std_error == pytest.approx(b.std_error, rel=1e-9, abs=1e-12, nan_ok=True)


@pytest.mark.parametrize("eps", [1.0, 0.4])
def test_deterministic_target_without_dense_marginals(cascade_setting, eps):
    """A deterministic target may leave ``Target.marginals`` None (its one slate stands for
    them, no (N, m, k) array): every estimate, interval and weight is the one the dense
    one-hot marginals give, pooled and per shopper type, for a uniform and an ε logger, and
    the general path gives (the dense marginals read as two identical draws)."""
    shop, logger, _ = cascade_setting
    best = np.argmax(softmax_probs(shop, 0.15), axis=1)
    probs = np.zeros_like(uniform_probs(shop))
    probs[np.arange(best.size), best] = 1.0
    target = policy(probs, shop.slates, shop.m)
    rng = np.random.default_rng(16)
    spec = Logger("uniform") if eps == 1.0 else Logger("epsilon", eps)
    # The ε logger's base is the target's own slate for one shopper type, so the two
    # slates agree at some positions (the pseudo-inverse's ⟨Q, B⟩ term).
    base = None if eps == 1.0 else np.array([best[0], 11])
    log, dense = draw_log(shop, logger, target, 3000, rng, spec, base, draws=1)
    assert dense.marginals is not None and dense.slates.shape[1] == 1
    sparse = replace(dense, marginals=None)
    general = replace(dense, slates=np.repeat(dense.slates, 2, axis=1), next_probs=None)
    np.testing.assert_array_equal(pi_weights(log, sparse), pi_weights(log, dense))
    np.testing.assert_allclose(pi_weights(log, sparse), pi_weights(log, general), rtol=1e-12)
    for metric in ("reward", "clicks", "buys"):
        for rows in (slice(None), log.shopper_type == "b"):
            part = log.take(rows)
            got = estimate_all(part, sparse.take(rows), metric)
            for other, tol in ((dense, 1e-12), (general, 1e-9)):
                want = estimate_all(part, other.take(rows), metric)
                for a, b in zip(got, want, strict=True):
                    for key in ("estimate", "ci_low", "ci_high", "ess", "max_weight"):
                        assert getattr(a, key) == pytest.approx(
                            getattr(b, key), rel=tol, abs=tol, nan_ok=True
                        ), (a.estimator, key)
    # None is only for a deterministic target: with several sampled slates it is refused.
    with pytest.raises(ValueError, match=r"target\.marginals may be None"):
        estimate("ips", log, replace(sparse, slates=np.repeat(sparse.slates, 2, axis=1)))


def test_switch_dr_and_dr_os_between_dr_and_dm(pbm_setting, monkeypatch):
    shop, logger, target = pbm_setting
    log, tgt = draw_log(shop, logger, target, 2000, np.random.default_rng(10), Logger("uniform"))
    get = {e.estimator: e.estimate for e in estimate_all(log, tgt, "clicks")}
    # Here every slate weight is below τ = 100: switch_dr is dr.
    assert np.max(slate_weights(log, tgt)) < est.SWITCH_TAU
    assert get["switch_dr"] == pytest.approx(get["dr"], rel=1e-12)
    monkeypatch.setattr(est, "SWITCH_TAU", 0.0)
    assert estimate("switch_dr", log, tgt, "clicks").estimate == pytest.approx(get["dm"])
    monkeypatch.setattr(est, "SHRINK_LAMBDA", 1e12)
    assert estimate("dr_os", log, tgt, "clicks").estimate == pytest.approx(get["dr"], rel=1e-6)


def test_bootstrap_interval(pbm_setting, monkeypatch):
    shop, logger, target = pbm_setting
    log, tgt = draw_log(shop, logger, target, 3000, np.random.default_rng(12), Logger("uniform"))
    analytic = estimate("snips", log, tgt, "clicks")
    boot = estimate(
        "snips",
        log,
        tgt,
        "clicks",
        ci="bootstrap",
        bootstrap=400,
        rng=np.random.default_rng(0),
    )
    again = estimate(
        "snips",
        log,
        tgt,
        "clicks",
        ci="bootstrap",
        bootstrap=400,
        rng=np.random.default_rng(0),
    )
    assert boot == again
    # Drawn in chunks of resamples (memory), the same stream gives the same interval.
    monkeypatch.setattr(intervals, "BOOTSTRAP_CELLS", 7 * log.shopper.max())
    chunked = estimate(
        "snips", log, tgt, "clicks", ci="bootstrap", bootstrap=400, rng=np.random.default_rng(0)
    )
    assert chunked.ci_low == pytest.approx(boot.ci_low) and chunked.ci_high == pytest.approx(
        boot.ci_high
    )
    assert boot.estimate == analytic.estimate
    assert boot.std_error == pytest.approx(analytic.std_error, rel=0.2)
    assert boot.ci_low < boot.estimate < boot.ci_high


def test_clustered_standard_error_grows_with_correlated_pages(pbm_setting):
    """Pages of one shopper repeated: the clustered SE sees they are not independent."""
    shop, logger, target = pbm_setting
    log, tgt = draw_log(shop, logger, target, 1000, np.random.default_rng(13), Logger("uniform"))
    rows = np.repeat(np.arange(1000), 4)
    log4, tgt4 = log.take(rows), tgt.take(rows)
    one = estimate("ips", log, tgt, "clicks")
    four = estimate("ips", log4, tgt4, "clicks")
    assert four.estimate == pytest.approx(one.estimate)
    assert four.std_error == pytest.approx(one.std_error, rel=1e-3)
    unclustered = replace(log4, shopper=np.arange(4000))
    assert estimate("ips", unclustered, tgt4, "clicks").std_error < 0.6 * one.std_error


def test_estimators_names_and_assumptions():
    assert list(ESTIMATORS) == [
        "dm",
        "ips",
        "snips",
        "dr",
        "switch_dr",
        "dr_os",
        "sips",
        "snsips",
        "iips",
        "sniips",
        "rips",
        "snrips",
        "pi",
        "snpi",
        "cascade_dr",
    ]
    for e in ESTIMATORS.values():
        assert e.assumption and "\n" not in e.assumption
    assert "PBM" in ESTIMATORS["iips"].assumption
    assert "cascade" in ESTIMATORS["rips"].assumption
    assert "cascade" in ESTIMATORS["cascade_dr"].assumption
    assert "additive" in ESTIMATORS["pi"].assumption


def test_bad_input_is_refused(pbm_setting):
    shop, logger, target = pbm_setting
    log, tgt = draw_log(shop, logger, target, 50, np.random.default_rng(14), Logger("uniform"))
    with pytest.raises(ValueError, match=r"Logger\.kind"):
        estimate("pi", replace(log, logger=Logger("other")), tgt, "clicks")
    other = replace(log, logger=Logger("other"))
    assert len(estimate_all(other, tgt, "clicks", applicable(other))) == 13
    with pytest.raises(ValueError, match="unknown estimator"):
        estimate("nope", log, tgt)
    with pytest.raises(ValueError, match="metric"):
        estimate("ips", log, tgt, "ctr")
    with pytest.raises(ValueError, match="distinct"):
        bad = log.slate.copy()
        bad[0, 1] = bad[0, 0]
        estimate("ips", replace(log, slate=bad), tgt)
    with pytest.raises(ValueError, match=r"target\.marginals"):
        estimate("ips", log, replace(tgt, marginals=tgt.marginals[:, :, :1]))
    with pytest.raises(ValueError, match="finite"):
        lp = log.slate_log_prob.copy()
        lp[0] = -np.inf
        estimate("ips", replace(log, slate_log_prob=lp), tgt)
    with pytest.raises(ValueError, match="rng"):
        estimate("ips", log, tgt, ci="bootstrap")
    # A target that never shows the logged slates: weights 0, not an error.
    never = replace(tgt, slate_log_prob=np.full(50, -np.inf))
    assert estimate("ips", log, never, "clicks").estimate == 0.0
    snips_never = estimate("snips", log, never, "clicks")
    assert np.isnan(snips_never.estimate) and snips_never.ess == 0.0


def test_dm_gives_no_interval(pbm_setting) -> None:
    # Its error is the reward model's, which no interval here measures: n/a, not a narrow lie.
    shop, logger, target = pbm_setting
    log, tgt = draw_log(shop, logger, target, 2000, np.random.default_rng(3), Logger("uniform"))
    found = estimate("dm", log, tgt, "clicks")
    assert np.isfinite(found.estimate)
    assert np.isnan(found.ci_low) and np.isnan(found.ci_high) and np.isnan(found.std_error)
