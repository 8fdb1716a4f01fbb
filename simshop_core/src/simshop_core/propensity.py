"""Propensities of ordered slates (`simshop_core.recommender.Propensities`): how likely a stochastic
recommender was to show the slate it showed, for off-policy evaluation of its logs.

- `uniform_propensities`: a uniformly random ordered slate of k distinct items out of n.
- `plackett_luce_propensities`: Plackett–Luce sampling without replacement from
  ``softmax(scores)`` (what Gumbel-top-k draws). Joint and prefixes exact; item–position
  marginals exact at positions 0 and 1, Monte Carlo (Rao–Blackwellised) from position 2 on.
- `EpsilonMixture`: any recommender, with probability ε replaced by a uniformly random slate.
  Exact propensities, so it makes a deterministic recommender loggable.

The probability of an impossible slate is 0 (log-probability ``-inf``), not an error. NumPy
only (no scipy, no torch): importing this module is cheap.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, ClassVar

import numpy as np

from simshop_core.recommender import Feedback, Propensities, Recommender, observation_row
from simshop_core.spaces import check_slate

__all__ = [
    "DEFAULT_SAMPLES",
    "EpsilonMixture",
    "broadcast_propensities",
    "plackett_luce_propensities",
    "uniform_propensities",
]

#: Monte Carlo draws behind Plackett–Luce marginals from position 2 on. The estimator is
#: Rao–Blackwellised (see `plackett_luce_propensities`), so its standard error is at most
#: ``sqrt(p (1 - p) / 10_000) <= 0.005``, and measured 1.5–20× below that; a call for n = 50,
#: k = 5 takes 13–17 ms (most of it drawing the 500,000 exponentials). Pass ``samples`` to
#: trade precision for time.
DEFAULT_SAMPLES = 10_000

# Rows of Monte Carlo draws per chunk: keeps the (rows, n) work array near 8 MB for any n.
_CHUNK_ELEMENTS = 1 << 20
# Scores spanning more than this race on log keys (exp of the span would overflow).
_LOG_RANGE = 600.0


def _check_slate(slate: Any, n: int) -> np.ndarray:
    a = np.asarray(slate)
    if a.ndim != 1 or len(a) == 0:
        raise ValueError(f"a slate must be a non-empty 1-d array of indices, got shape {a.shape}")
    return check_slate(a, n, len(a), "the slate")


def uniform_propensities(n: int, slate: Any) -> Propensities:
    """A uniformly random ordered slate of ``k = len(slate)`` distinct items out of ``n``.

    ``P(prefix 0..i) = Π_{j<=i} 1/(n − j)``; every shown item is at its position with
    probability ``1/n``. Exact.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive integer number of candidates, got {n!r}")
    slate = _check_slate(slate, int(n))
    k = len(slate)
    prefix = -np.cumsum(np.log(n - np.arange(k, dtype=np.float64)))
    return Propensities(
        slate_log_prob=float(prefix[-1]),
        prefix_log_probs=prefix,
        position_probs=np.full(k, 1.0 / n),
        samples=0,
    )


def broadcast_propensities(propensities: Propensities, rows: int) -> Propensities:
    """One slate's propensities as those of a batch of ``rows`` slates that share them."""
    k = len(propensities.prefix_log_probs)
    return Propensities(
        slate_log_prob=np.full(rows, propensities.slate_log_prob),
        prefix_log_probs=np.broadcast_to(propensities.prefix_log_probs, (rows, k)),
        position_probs=np.broadcast_to(propensities.position_probs, (rows, k)),
        samples=np.full(rows, propensities.samples, dtype=np.int64),
    )


# --- Plackett–Luce -------------------------------------------------------------------------


def _logsumexp(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """log Σ exp(x) along ``axis``; -inf where every entry is -inf."""
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return np.squeeze(out, axis=axis)


def _logsumexp_excluding_each(x: np.ndarray) -> np.ndarray:
    """``out[a] = log Σ_{b≠a} exp(x[b])`` for every ``a``, in O(n).

    ``total − exp(x[a])`` is exact enough unless ``x[a]`` holds more than half the mass (at
    most one entry does): that one is summed afresh.
    """
    m = np.max(x)
    e = np.exp(x - m)
    total = e.sum()
    with np.errstate(divide="ignore"):
        out = np.log(total - e) + m
    for a in np.flatnonzero(e > 0.5 * total):
        out[a] = _logsumexp(np.delete(x, a))
    return out


def plackett_luce_propensities(
    scores: Any,
    slate: Any,
    *,
    samples: int = DEFAULT_SAMPLES,
    rng: np.random.Generator | None = None,
) -> Propensities:
    """Propensities of ``slate`` under Plackett–Luce sampling from ``softmax(scores)``.

    The slate is drawn without replacement: position 0 from ``softmax(scores)``, each next
    position from the softmax over the items not yet taken (exactly what Gumbel-top-k draws).

    - joint and prefixes: exact, ``Σ_{j<=i} (scores[s_j] − logsumexp(scores of the items not
      in s_<j))``, in float64;
    - position 0's marginal is ``softmax(scores)[s_0]`` and position 1's
      ``Σ_{a≠s_1} p_a · w_{s_1} / (Z − w_a)`` (O(n)): both exact;
    - positions 2 and on: Monte Carlo with ``samples`` Gumbel-top-k draws from ``rng`` (only
      from it), Rao–Blackwellised: for each draw of the first i items, the exact probability
      that ``s_i`` comes next, averaged. Unbiased, and never noisier than counting hits.

    ``samples`` is 0 in the result when every number is exact (``k <= 2``). Scores of -inf
    are items that are never shown; slates holding one have log-probability -inf.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or len(s) == 0:
        raise ValueError(f"scores must be a non-empty 1-d array, got shape {s.shape}")
    if np.isnan(s).any() or np.isposinf(s).any():
        raise ValueError("scores must be finite or -inf (never shown); got NaN or +inf")
    n = len(s)
    slate = _check_slate(slate, n)
    k = len(slate)
    if np.count_nonzero(np.isfinite(s)) < k:
        raise ValueError(
            f"a slate of {k} items needs at least {k} finite scores, got "
            f"{np.count_nonzero(np.isfinite(s))}"
        )
    mc = k > 2
    if mc:
        if isinstance(samples, bool) or not isinstance(samples, numbers.Integral) or samples < 1:
            raise ValueError(f"samples must be a positive integer, got {samples!r}")
        if not isinstance(rng, np.random.Generator):
            raise ValueError(
                "rng must be a np.random.Generator: the marginals of positions 2 and on are "
                f"Monte Carlo estimates (k={k})"
            )

    # Successive log-softmaxes: row j excludes the items at positions < j.
    taken_before = np.zeros((k, n), dtype=bool)
    rows, cols = np.tril_indices(k, -1)
    taken_before[rows, slate[cols]] = True
    logits = np.where(taken_before, -np.inf, s)
    steps = s[slate] - _logsumexp(logits, axis=1)
    prefix = np.cumsum(steps)

    log_p = s - _logsumexp(s)
    position = np.empty(k)
    position[0] = math.exp(log_p[slate[0]])
    if k > 1:
        # P(j at 1) = w_j Σ_{a≠j} p_a / (Z − w_a): log-space, no cancellation.
        j = slate[1]
        c = log_p - _logsumexp_excluding_each(s)
        position[1] = math.exp(s[j] + _logsumexp(np.delete(c, j)))
    if mc:
        assert rng is not None
        position[2:] = _monte_carlo_marginals(s, slate, int(samples), rng)
    return Propensities(
        slate_log_prob=float(prefix[-1]),
        prefix_log_probs=prefix,
        position_probs=np.clip(position, 0.0, 1.0),
        samples=int(samples) if mc else 0,
    )


def _monte_carlo_marginals(
    s: np.ndarray, slate: np.ndarray, samples: int, rng: np.random.Generator
) -> np.ndarray:
    """Rao–Blackwellised estimates of P(slate[i] at position i) for i = 2 .. k−1.

    Each draw takes the first k−1 items by Gumbel-top-k over the finite scores (as an
    exponential race: the smallest ``E_j / w_j``, ``E ~ Exp(1)``, which is the largest
    ``s_j + Gumbel``); for position i it adds the exact ``P(slate[i] next | the first i)``.

    That needs the weight of the items not yet drawn. ``total − drawn`` would cancel when a
    drawn item holds nearly all the weight, so the k−1 heaviest items are kept apart: the rest
    ("light") is summed once and only light drawn items are subtracted from it. A light item
    weighs no more than any heavy one, and each drawn light item leaves a heavy one undrawn,
    so the result is accurate to about n·ε, whatever the scores.
    """
    k = len(slate)
    finite = np.flatnonzero(np.isfinite(s))
    f = s[finite]
    heavy = np.argsort(-f, kind="stable")[: k - 1]
    light = np.ones(len(f), dtype=bool)
    light[heavy] = False
    # Weights relative to the heaviest light item (there are >= k finite scores: one at least).
    shift = f[light].max()
    light_weight = np.where(light, np.exp(np.where(light, f, shift) - shift), 0.0)
    light_total = light_weight.sum()
    # Heavy weights in linear terms unless they would overflow (then log space, slower).
    linear = bool(f[heavy].max() - shift <= _LOG_RANGE)
    heavy_weight = np.exp(f[heavy] - shift) if linear else None
    # Where each slate item sits among the finite scores (-1: a -inf score, never shown).
    where = np.full(len(s), -1, dtype=np.int64)
    where[finite] = np.arange(len(finite))
    targets = where[slate[2:]]
    # Race keys: E / w, or log E − s when w = exp(s − max) would underflow.
    log_keys = bool(f.max() - f.min() > _LOG_RANGE)
    inverse_weight = None if log_keys else np.exp(f.max() - f)

    sums = np.zeros(k - 2)
    chunk = max(1, _CHUNK_ELEMENTS // len(f))
    for start in range(0, samples, chunk):
        size = min(chunk, samples - start)
        race = rng.standard_exponential((size, len(f)))
        if log_keys:
            np.log(race, out=race)
            race -= f
        else:
            race *= inverse_weight
        rows = np.arange(size)
        first = np.empty((size, k - 1), dtype=np.int64)
        for i in range(k - 1):  # k−1 argmins beat a partition + sort for small k
            first[:, i] = race.argmin(axis=1)
            race[rows, first[:, i]] = np.inf
        light_drawn = np.cumsum(light_weight[first], axis=1)
        heavy_left = first[:, :1] != heavy
        for i in range(2, k):
            heavy_left &= first[:, i - 1 : i] != heavy
            target = targets[i - 2]
            if target < 0:
                continue  # a -inf score: never at any position
            light_rest = np.maximum(light_total - light_drawn[:, i - 1], 0.0)
            with np.errstate(divide="ignore"):
                if heavy_weight is not None:
                    log_rest = np.log(light_rest + heavy_left @ heavy_weight)
                else:
                    heavy_rest = _logsumexp(np.where(heavy_left, f[heavy] - shift, -np.inf))
                    log_rest = np.logaddexp(np.log(light_rest), heavy_rest)
            log_value = f[target] - shift - log_rest
            log_value[(first[:, :i] == target).any(axis=1)] = -np.inf  # already shown
            sums[i - 2] += np.exp(log_value).sum()
    return sums / samples


_STOCHASTIC_BASE = (
    "{} draws random numbers but reports no propensities: a stochastic recommender must "
    "implement propensities() to be mixed with uniform exploration"
)


# --- ε-mixture -----------------------------------------------------------------------------


class EpsilonMixture(Recommender):
    """``base``'s slate, except with probability ``epsilon`` a uniformly random one.

    Its propensities are exact, which makes any deterministic recommender loggable:

    - ``base`` reports none (deterministic): ``P(s) = (1−ε)·[s = base's slate] + ε·P_unif(s)``,
      each prefix likewise with prefix equality, each marginal ``(1−ε)·[base(x)[i] = s[i]] +
      ε/n``;
    - ``base`` reports propensities: each number is mixed, ``(1−ε)·p_base + ε·p_unif``.

    A base that draws from the generator it was reset with while recommending is stochastic;
    if it then reports no propensities, `propensities` raises a ValueError (its slates cannot
    be made loggable by mixing).

    Built from the spec parameter ``explore=EPS`` on any recommender (``popularity:explore=0.1``),
    not registered as a plugin. `reset` keeps its generator for the coin and the uniform slate
    and resets ``base`` with an independent child generator, so the base's own draws do not
    depend on the coin. ``base`` recommends on every page (also when the uniform slate is
    shown), so a learning base sees every page and its propensities are always asked right
    after its own `recommend`, as the contract wants.
    """

    name: ClassVar[str] = "epsilon_mixture"
    description: ClassVar[str] = "Another recommender's slate, or with probability ε a random one"

    def __init__(self, base: Recommender, epsilon: float) -> None:
        if not isinstance(base, Recommender):
            raise ValueError(f"base must be a Recommender instance, got {type(base).__name__}")
        if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real):
            raise ValueError(f"epsilon must be a number in [0, 1], got {epsilon!r}")
        if not 0.0 <= float(epsilon) <= 1.0:
            raise ValueError(f"epsilon must be a number in [0, 1], got {epsilon!r}")
        self.base = base
        self.epsilon = float(epsilon)
        self.rng: np.random.Generator | None = None
        self._base_rng: np.random.Generator | None = None
        # The last page: (observation, k, base's slate, whether base drew from its rng).
        self._last: tuple[dict[str, Any], int, np.ndarray, bool] | None = None
        # The last batch: (observations, k, base's slates, whether base drew from its rng).
        self._last_batch: tuple[dict[str, Any], int, np.ndarray, bool] | None = None

    @property
    def label(self) -> str:
        """The spec form, ``NAME:explore=EPS`` (the base's parameters are the spec's to add)."""
        return f"{self.base.name}:explore={self.epsilon!r}"

    def __repr__(self) -> str:
        return f"<EpsilonMixture {self.label}>"

    @property
    def env_options(self) -> dict[str, Any] | None:
        return self.base.env_options

    def reset(self, rng: np.random.Generator) -> None:
        self.rng = rng
        # spawn() leaves rng's own stream untouched; a generator without a seed sequence
        # (built from a bare bit generator state) gets a child seeded from one draw.
        try:
            child = rng.spawn(1)[0]
        except (TypeError, ValueError):
            child = np.random.default_rng(rng.integers(2**63))
        self._base_rng = child
        self._last = self._last_batch = None
        self.base.reset(child)

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        if self.rng is None or self._base_rng is None:
            raise RuntimeError("EpsilonMixture.recommend called before reset(rng)")
        before = self._base_rng.bit_generator.state
        base_slate = np.asarray(self.base.recommend(observation, k))
        drew = self._base_rng.bit_generator.state != before
        self._last = (observation, int(k), base_slate.copy(), drew)
        if self.rng.random() < self.epsilon:
            n = len(observation["candidates"]["product_id"])
            if not 1 <= k <= n:
                raise ValueError(f"slate size k must be between 1 and the {n} candidates, got {k}")
            return self.rng.permutation(n)[:k].astype(np.int64)
        return base_slate

    def recommend_batch(self, observations: dict[str, Any], k: int) -> np.ndarray:
        """`recommend` row by row (the same draws in the same order: the same slates), the
        base's slates kept for `propensities_batch`, which then need not ask for them again."""
        slates, bases, drew = [], [], False
        for i in range(len(observations["user_type"])):
            slates.append(self.recommend(observation_row(observations, i), k))
            assert self._last is not None
            bases.append(self._last[2])
            drew |= self._last[3]
        self._last_batch = (observations, int(k), np.stack(bases), drew)
        return np.stack(slates)  # its dtype as given: the boundary checks it

    def update(self, feedback: Feedback) -> None:
        self.base.update(feedback)

    def propensities(self, observation: dict[str, Any], slate: np.ndarray) -> Propensities:
        n = len(observation["candidates"]["product_id"])
        slate = _check_slate(slate, n)
        uniform = uniform_propensities(n, slate)
        eps = self.epsilon
        log_eps = math.log(eps) if eps > 0 else -math.inf
        log_keep = math.log1p(-eps) if eps < 1 else -math.inf
        base = self.base.propensities(observation, slate)
        if base is None:
            base_slate, drew = self._base_slate(observation, len(slate))
            if drew:
                raise ValueError(_STOCHASTIC_BASE.format(type(self.base).__name__))
            hits = base_slate[: len(slate)] == slate
            with np.errstate(divide="ignore"):
                base_prefix = np.log(np.cumprod(hits).astype(np.float64))
            base = Propensities(
                slate_log_prob=float(base_prefix[-1]),
                prefix_log_probs=base_prefix,
                position_probs=hits.astype(np.float64),
            )
        prefix = np.logaddexp(log_keep + base.prefix_log_probs, log_eps + uniform.prefix_log_probs)
        return Propensities(
            slate_log_prob=float(
                np.logaddexp(log_keep + base.slate_log_prob, log_eps + uniform.slate_log_prob)
            ),
            prefix_log_probs=prefix,
            position_probs=(1.0 - eps) * base.position_probs + eps / n,
            samples=base.samples,
        )

    def propensities_batch(self, observations: dict[str, Any], slates: np.ndarray) -> Propensities:
        """`propensities` of every row at once, as arrays (the same numbers)."""
        rows, n = observations["candidates"]["product_id"].shape
        slates = np.asarray(slates)
        k = slates.shape[1]
        uniform = uniform_propensities(n, slates[0])  # the same for every slate
        eps = self.epsilon
        log_eps = math.log(eps) if eps > 0 else -math.inf
        log_keep = math.log1p(-eps) if eps < 1 else -math.inf
        base = None
        if type(self.base).propensities is not Recommender.propensities:  # it may have some
            base = self.base.propensities_batch(observations, slates)
        if base is None:  # deterministic: every row is worked out below
            nan = np.full((rows, k), np.nan)
            base = Propensities(nan[:, 0], nan, nan, np.zeros(rows, dtype=np.int64))
        missing = np.isnan(base.slate_log_prob)
        if missing.any():  # rows the base has no propensities for: it is deterministic there
            base_slates, drew = self._base_slates(observations, k)
            if drew:
                raise ValueError(_STOCHASTIC_BASE.format(type(self.base).__name__))
            hits = base_slates[:, :k] == slates
            with np.errstate(divide="ignore"):
                base_prefix = np.log(np.cumprod(hits, axis=1).astype(np.float64))
            base = Propensities(
                slate_log_prob=np.where(missing, base_prefix[:, -1], base.slate_log_prob),
                prefix_log_probs=np.where(missing[:, None], base_prefix, base.prefix_log_probs),
                position_probs=np.where(
                    missing[:, None], hits.astype(np.float64), base.position_probs
                ),
                samples=np.where(missing, 0, base.samples),
            )
        return Propensities(
            slate_log_prob=np.logaddexp(
                log_keep + base.slate_log_prob, log_eps + uniform.slate_log_prob
            ),
            prefix_log_probs=np.logaddexp(
                log_keep + base.prefix_log_probs, log_eps + uniform.prefix_log_probs
            ),
            position_probs=(1.0 - eps) * base.position_probs + eps / n,
            samples=np.asarray(base.samples, dtype=np.int64),
        )

    def _base_slates(self, observations: dict[str, Any], k: int) -> tuple[np.ndarray, bool]:
        """Base's slates for this batch: those `recommend_batch` kept, else recomputed with
        its rng put back after."""
        last = self._last_batch
        if last is not None and last[0] is observations and last[1] == k:
            return last[2], last[3]
        if self._base_rng is None:
            raise RuntimeError("EpsilonMixture.propensities called before reset(rng)")
        state = self._base_rng.bit_generator.state
        base_slates = np.asarray(self.base.recommend_batch(observations, k))
        drew = self._base_rng.bit_generator.state != state
        self._base_rng.bit_generator.state = state
        return base_slates, drew

    def _base_slate(self, observation: dict[str, Any], k: int) -> tuple[np.ndarray, bool]:
        """Base's slate for this page: the one cached by `recommend` (no second forward pass,
        no second update of a stateful base), else recomputed with its rng put back after."""
        if self._last is not None and self._last[0] is observation and self._last[1] == k:
            return self._last[2], self._last[3]
        if self._base_rng is None:
            raise RuntimeError("EpsilonMixture.propensities called before reset(rng)")
        state = self._base_rng.bit_generator.state
        base_slate = np.asarray(self.base.recommend(observation, k))
        drew = self._base_rng.bit_generator.state != state
        self._base_rng.bit_generator.state = state
        return base_slate, drew
