"""The fifteen off-policy estimators (docs/ope.md), vectorised over logged pages.

Notation: page i shows the ordered slate s_i (k positions) from m candidates; w_i is the
whole-slate weight π_e(s_i)/π_b(s_i), W_ip the item–position weight, w_i,0:p the prefix
weight (see weights.py); R_i is the page metric and r_ip its per-position part:

- ``clicks`` / ``buys``: r_ip = clicked / bought at p, and R_i = Σ_p r_ip exactly;
- ``reward``: R_i is the page reward as `step` returned it; r_ip = (ctr·clicked_ip +
  btr·bought_ip)/k, the part the reward weights (SlateLog.reward_weights) tie to a position;
  the remainder ρ_i = R_i − Σ_p r_ip (mean utility of the shown items — unobservable per
  position —, repeats, the no-click penalty, which is not additive over positions, and the
  page-number term) belongs to no position.

Two families, each estimator in exactly one:

- **page level** (``dm ips snips dr switch_dr dr_os``): the whole slate is one action and R_i
  the reward, as in a plain contextual bandit (OBP's non-slate estimators). No click-model
  assumption (dm: its ridge model must be right). dr/switch_dr/dr_os use the ridge model's
  page prediction q̂(s) = Σ_p q̂(s_p, p) (of r_p plus p's share of ρ) and its target mean
  Σ_p Σ_j P_e(j at p) q̂(j, p).
- **position level** (``sips snsips iips sniips rips snrips pi snpi cascade_dr``): they
  weight the per-position part r_ip, each with its own weight and assumption. For
  ``reward`` they add the remainder ρ by a plug-in: the ridge model of ρ (additive over
  (candidate, position)) averaged under the target's marginals — a direct-method term,
  biased where that model is wrong (e.g. the no-click penalty), but free of the variance
  a whole-slate weight would add. For ``clicks`` and ``buys`` ρ = 0 and they are pure
  weighting estimators.

Hence ``sips`` ≡ ``ips`` and ``snsips`` ≡ ``snips`` on clicks and buys (the same formula: the
whole-slate weight times a sum over positions); on ``reward`` they differ by the remainder:
ips/snips weight the whole page reward, sips/snsips weight only r_ip and plug ρ in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Literal

import numpy as np

from simshop_lab.ope.data import Metric, SlateLog, Target
from simshop_lab.ope.intervals import Estimate, Parts, cluster_index, summarise
from simshop_lab.ope.reward_model import Summaries, fit_predict
from simshop_lab.ope.weights import (
    deterministic_slate,
    pi_weights,
    position_weights,
    prefix_weights,
    slate_weights,
)

METRICS: tuple[str, ...] = ("reward", "clicks", "buys")
#: switch_dr uses the DR term only where the whole-slate weight is at most this (Wang et al.).
SWITCH_TAU = 100.0
#: dr_os shrinks w to λw/(w²+λ) (Su et al. 2020); λ = τ² so both bend at the same weight.
SHRINK_LAMBDA = SWITCH_TAU**2

__all__ = [
    "ESTIMATORS",
    "METRICS",
    "Estimate",
    "Estimator",
    "applicable",
    "estimate",
    "estimate_all",
]


class Context:
    """What several estimators share on one (log, target, metric): computed once, lazily."""

    def __init__(self, log: SlateLog, target: Target, metric: Metric) -> None:
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
        _check(log, target)
        self.log, self.target, self.metric = log, target, metric
        k = log.slate.shape[1]
        clicked = np.asarray(log.clicked, dtype=float)
        bought = np.asarray(log.bought, dtype=float)
        if metric == "clicks":
            self.r = clicked
            self.page = clicked.sum(axis=1)
        elif metric == "buys":
            self.r = bought
            self.page = bought.sum(axis=1)
        else:
            rw = log.reward_weights
            self.r = (rw.ctr * clicked + rw.btr * bought) / k
            self.page = np.asarray(log.reward, dtype=float)
        self.rest = self.page - self.r.sum(axis=1)  # ρ: 0 for clicks and buys
        self.clusters = cluster_index(log.shopper)

    @cached_property
    def w(self) -> np.ndarray:
        return slate_weights(self.log, self.target)

    @cached_property
    def w_position(self) -> np.ndarray:
        return position_weights(self.log, self.target)

    @cached_property
    def w_prefix(self) -> np.ndarray:
        return prefix_weights(self.log, self.target)

    @cached_property
    def best(self) -> np.ndarray | None:
        """The target's one slate per page if it is deterministic, else None."""
        return deterministic_slate(self.target)

    @cached_property
    def w_pi(self) -> np.ndarray:
        return pi_weights(self.log, self.target, self.best)

    @cached_property
    def model(self) -> Summaries:
        """The ridge model of r_p per (candidate, position, shopper type), and of ρ as a
        sum of per-position shares."""
        types, type_index = np.unique(np.asarray(self.log.shopper_type), return_inverse=True)
        # Clicks and buys have no remainder: the position model alone.
        rest = self.rest[:, None] if self.metric == "reward" else None
        return fit_predict(
            self.log,
            self.target,
            type_index.ravel(),
            types.size,
            self.r[:, :, None],
            rest,
            best=self.best,
        )

    @cached_property
    def q_logged(self) -> np.ndarray:
        """(N,) q̂(s_i): the page model at the logged slate."""
        return self.model.logged.sum(axis=(1, 2))

    @cached_property
    def q_target(self) -> np.ndarray:
        """(N,) the page model's mean under the target's marginals."""
        return self.model.marginal.sum(axis=(1, 2))

    @cached_property
    def rest_plugin(self) -> np.ndarray:
        """(N,) the remainder ρ under the target, by the ridge model (0 unless reward)."""
        if self.metric != "reward":
            return np.zeros(self.r.shape[0])
        return self.model.marginal[:, :, 1].sum(axis=1)


def _check(log: SlateLog, target: Target) -> None:
    """One clear line for arrays that do not fit together."""
    slate = np.asarray(log.slate)
    if slate.ndim != 2 or not np.issubdtype(slate.dtype, np.integer):
        raise ValueError("log.slate must be an int array (N, k) of candidate indices")
    n, k = slate.shape
    m = int(log.n_candidates)
    if n == 0:
        raise ValueError("the log has no pages")
    if slate.min() < 0 or slate.max() >= m:
        raise ValueError(f"log.slate entries must be candidate indices in [0, {m})")
    if k > 1 and np.any(np.diff(np.sort(slate, axis=1), axis=1) == 0):
        raise ValueError("log.slate rows must hold k distinct candidates (an ordered slate)")
    shapes = {
        "log.clicked": (log.clicked, (n, k)),
        "log.bought": (log.bought, (n, k)),
        "log.reward": (log.reward, (n,)),
        "log.shopper": (log.shopper, (n,)),
        "log.shopper_type": (log.shopper_type, (n,)),
        "log.slate_log_prob": (log.slate_log_prob, (n,)),
        "log.prefix_log_probs": (log.prefix_log_probs, (n, k)),
        "log.position_probs": (log.position_probs, (n, k)),
        "target.slate_log_prob": (target.slate_log_prob, (n,)),
        "target.prefix_log_probs": (target.prefix_log_probs, (n, k)),
        "target.position_probs": (target.position_probs, (n, k)),
    }
    if target.marginals is not None:  # None: a deterministic target (checked below)
        shapes["target.marginals"] = (target.marginals, (n, m, k))
    for name, (array, shape) in shapes.items():
        if np.shape(array) != shape:
            raise ValueError(
                f"{name} must have shape {shape} (N, m, k = {n}, {m}, {k}), got {np.shape(array)}"
            )
    tslates = np.shape(target.slates)
    if len(tslates) != 3 or tslates[0] != n or tslates[2] != k or tslates[1] < 1:
        raise ValueError(f"target.slates must have shape (N, S, k) = ({n}, S, {k}), got {tslates}")
    if target.marginals is None and tslates[1] != 1:
        raise ValueError(
            f"target.marginals may be None only for a deterministic target (S = 1), got S = "
            f"{tslates[1]}"
        )
    if target.next_probs is not None and np.shape(target.next_probs) != (n, k, m):
        raise ValueError(f"target.next_probs must have shape (N, k, m) = {(n, k, m)}")


def _col(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=float).reshape(-1, 1)


# --- page level: the whole slate as one action -------------------------------------------


def _dm(c: Context) -> Parts:
    return Parts(_col(c.q_target), None, None)


def _ips(c: Context) -> Parts:
    return Parts(_col(c.w * c.page), None, c.w)


def _snips(c: Context) -> Parts:
    return Parts(_col(c.w * c.page), _col(c.w), c.w)


def _dr_with(c: Context, w: np.ndarray) -> Parts:
    return Parts(_col(c.q_target + w * (c.page - c.q_logged)), None, w)


def _dr(c: Context) -> Parts:
    return _dr_with(c, c.w)


def _switch_dr(c: Context) -> Parts:
    return _dr_with(c, np.where(c.w <= SWITCH_TAU, c.w, 0.0))


def _dr_os(c: Context) -> Parts:
    return _dr_with(c, SHRINK_LAMBDA * c.w / (c.w**2 + SHRINK_LAMBDA))


# --- position level: weights per position, the remainder plugged in ----------------------


def _with_rest(c: Context, num: np.ndarray, den: np.ndarray | None, weight: np.ndarray) -> Parts:
    """Append the remainder's plug-in column (a plain mean) to a position-level estimator."""
    num = np.concatenate([num, _col(c.rest_plugin)], axis=1)
    if den is not None:
        den = np.concatenate([den, np.ones((num.shape[0], 1))], axis=1)
    return Parts(num, den, weight)


def _sips(c: Context) -> Parts:
    return _with_rest(c, _col(c.w * c.r.sum(axis=1)), None, c.w)


def _snsips(c: Context) -> Parts:
    return _with_rest(c, _col(c.w * c.r.sum(axis=1)), _col(c.w), c.w)


def _iips(c: Context) -> Parts:
    wp = c.w_position
    return _with_rest(c, _col((wp * c.r).sum(axis=1)), None, wp.mean(axis=1))


def _sniips(c: Context) -> Parts:
    wp = c.w_position
    return _with_rest(c, wp * c.r, wp, wp.mean(axis=1))


def _rips(c: Context) -> Parts:
    wp = c.w_prefix
    return _with_rest(c, _col((wp * c.r).sum(axis=1)), None, wp.mean(axis=1))


def _snrips(c: Context) -> Parts:
    wp = c.w_prefix
    return _with_rest(c, wp * c.r, wp, wp.mean(axis=1))


def _pi(c: Context) -> Parts:
    return _with_rest(c, _col(c.w_pi * c.r.sum(axis=1)), None, c.w_pi)


def _snpi(c: Context) -> Parts:
    return _with_rest(c, _col(c.w_pi * c.r.sum(axis=1)), _col(c.w_pi), c.w_pi)


def _cascade_dr(c: Context) -> Parts:
    """Kiyohara et al. 2022: Σ_p w_0:p (r_p − Q̂_p(s_0:p)) + w_0:p−1 E_e[Q̂_p | s_0:p−1], with
    Q̂_p = q̂(s_p, p) + F_p, the position model now plus the target's expected future
    F_p = Σ_{l>p} E_e[q̂(·, l)] under its marginals. The F terms telescope to
    Σ_p w_0:p−1 (N_p − M_p) with N_p = E_e[q̂(·, p) | s_0:p−1], M_p its marginal mean, so

        cascade_dr = Σ_p w_0:p (r_p − q̂(s_p, p)) + Σ_p w_0:p−1 (N_p − M_p) + Σ_p M_p,

    unbiased under the cascade assumption for any model. N_p needs the target's choice
    after the logged prefix (``Target.next_probs``; for a deterministic target N_p = M_p
    wherever w_0:p−1 ≠ 0); without it N_p = M_p is used, which keeps it unbiased (the middle
    sum has mean 0) and drops that sum's variance reduction."""
    wp = c.w_prefix
    before = np.concatenate([np.ones((wp.shape[0], 1)), wp[:, :-1]], axis=1)  # w_0:p−1
    marginal = c.model.marginal[:, :, 0]
    terms = wp * (c.r - c.model.logged[:, :, 0]) + marginal
    if c.model.next is not None:
        terms += before * (c.model.next[:, :, 0] - marginal)
    return _with_rest(c, _col(terms.sum(axis=1)), None, wp.mean(axis=1))


@dataclass(frozen=True)
class Estimator:
    """One estimator: its name, the assumption it needs (click model and metric) and how it
    turns a log and a target into per-page parts."""

    name: str
    assumption: str
    level: Literal["page", "position"]
    self_normalised: bool
    parts: Callable[[Context], Parts]


_PLUG = " For reward: r_p = (ctr·click+btr·buy)/k weighted, the remainder by the ridge plug-in."
ESTIMATORS: dict[str, Estimator] = {
    e.name: e
    for e in (
        Estimator(
            "dm",
            "Direct method: the ridge reward model (item features × position × shopper type, "
            "additive over positions) must be right; any click model, any metric. No interval: "
            "its error is the model's.",
            "page",
            False,
            _dm,
        ),
        Estimator(
            "ips",
            "Page-level IPS, the whole slate as one action, weighting the page metric: "
            "unbiased under any click model and any metric (needs the target's slates to be "
            "ones the logger shows).",
            "page",
            False,
            _ips,
        ),
        Estimator(
            "snips",
            "Self-normalised page-level IPS: any click model and metric; consistent, slightly "
            "biased at small n.",
            "page",
            True,
            _snips,
        ),
        Estimator(
            "dr",
            "Doubly robust, the whole slate as one action, page-level ridge model as control "
            "variate: unbiased under any click model and metric.",
            "page",
            False,
            _dr,
        ),
        Estimator(
            "switch_dr",
            f"Switch-DR (Wang et al. 2017): DR where the slate weight is <= {SWITCH_TAU:g}, the "
            "ridge model elsewhere; any click model, biased where the model is wrong.",
            "page",
            False,
            _switch_dr,
        ),
        Estimator(
            "dr_os",
            f"DR with optimistic shrinkage (Su et al. 2020), the whole slate as one action: "
            f"w -> λw/(w²+λ), λ = {SHRINK_LAMBDA:g}; any click model, biased by the shrinkage.",
            "page",
            False,
            _dr_os,
        ),
        Estimator(
            "sips",
            "Standard slate IPS: Σ_p r_p times the whole-slate weight; any click model. "
            "Equals ips on clicks and buys." + _PLUG,
            "position",
            False,
            _sips,
        ),
        Estimator(
            "snsips",
            "Self-normalised standard slate IPS; any click model. Equals snips on clicks and "
            "buys." + _PLUG,
            "position",
            True,
            _snsips,
        ),
        Estimator(
            "iips",
            "Independent (item-position) IPS: each position by its item-position marginal "
            "ratio; assumes PBM (position p's reward depends only on the item at p)." + _PLUG,
            "position",
            False,
            _iips,
        ),
        Estimator(
            "sniips",
            "Self-normalised independent IPS (per position); assumes PBM." + _PLUG,
            "position",
            True,
            _sniips,
        ),
        Estimator(
            "rips",
            "Reward-interaction IPS: position p by its prefix weight (positions 0..p); "
            "assumes cascade (position p's reward depends only on the items at 0..p)." + _PLUG,
            "position",
            False,
            _rips,
        ),
        Estimator(
            "snrips",
            "Self-normalised reward-interaction IPS (per position); assumes cascade." + _PLUG,
            "position",
            True,
            _snrips,
        ),
        Estimator(
            "pi",
            "Pseudo-inverse (Swaminathan et al. 2017), exact Γ for ordered slates without "
            "replacement, uniform or ε-mixture logger: assumes the expected page metric is "
            "additive over (position, item) (PBM, not cascade)." + _PLUG,
            "position",
            False,
            _pi,
        ),
        Estimator(
            "snpi",
            "Self-normalised pseudo-inverse; assumes additivity over (position, item), a "
            "uniform or ε-mixture logger." + _PLUG,
            "position",
            True,
            _snpi,
        ),
        Estimator(
            "cascade_dr",
            "Cascade doubly robust (Kiyohara et al. 2022): prefix weights with the ridge "
            "model as control variate; assumes cascade (position p's reward depends only on "
            "the items at 0..p)." + _PLUG,
            "position",
            False,
            _cascade_dr,
        ),
    )
}


def applicable(log: SlateLog) -> list[str]:
    """The estimators this log supports, in `ESTIMATORS`' order: all but pi/snpi when the logger's
    Γ is unknown (Logger kind "other") or singular (an epsilon logger with ε = 0)."""
    logger = log.logger
    if logger.kind == "other" or (logger.kind == "epsilon" and not 0.0 < logger.epsilon <= 1.0):
        return [name for name in ESTIMATORS if name not in ("pi", "snpi")]
    return list(ESTIMATORS)


def _run(
    name: str,
    context: Context,
    ci: Literal["analytic", "bootstrap"],
    bootstrap: int,
    rng: np.random.Generator | None,
) -> Estimate:
    if name not in ESTIMATORS:
        raise ValueError(f"unknown estimator {name!r}; known: {', '.join(ESTIMATORS)}")
    parts = ESTIMATORS[name].parts(context)
    found = summarise(name, parts, context.clusters, ci=ci, bootstrap=bootstrap, rng=rng)
    if name == "dm":
        # dm's error is its model's, which neither interval here measures (with the model
        # held fixed, a "95%" interval covered the truth 19-54% of the time): none is given.
        nan = float("nan")
        return replace(found, ci_low=nan, ci_high=nan, std_error=nan)
    return found


def estimate(
    name: str,
    log: SlateLog,
    target: Target,
    metric: Metric = "reward",
    *,
    ci: Literal["analytic", "bootstrap"] = "analytic",
    bootstrap: int = 1000,
    rng: np.random.Generator | None = None,
) -> Estimate:
    """The estimator ``name``'s value of ``target`` on ``log`` for ``metric``, with a 95%
    interval: analytic (normal, standard errors clustered by shopper) or a bootstrap over
    shoppers (``bootstrap`` resamples drawn from ``rng``)."""
    if name not in ESTIMATORS:
        raise ValueError(f"unknown estimator {name!r}; known: {', '.join(ESTIMATORS)}")
    return _run(name, Context(log, target, metric), ci, bootstrap, rng)


def estimate_all(
    log: SlateLog,
    target: Target,
    metric: Metric = "reward",
    names: tuple[str, ...] | list[str] | None = None,
    *,
    ci: Literal["analytic", "bootstrap"] = "analytic",
    bootstrap: int = 1000,
    rng: np.random.Generator | None = None,
) -> list[Estimate]:
    """Several estimators (all fifteen by default, in `ESTIMATORS`' order) sharing their weights and
    reward model. pi/snpi under a Logger of kind "other" raise ValueError."""
    names = list(ESTIMATORS) if names is None else list(names)
    for name in names:
        if name not in ESTIMATORS:
            raise ValueError(f"unknown estimator {name!r}; known: {', '.join(ESTIMATORS)}")
    context = Context(log, target, metric)
    return [_run(name, context, ci, bootstrap, rng) for name in names]
