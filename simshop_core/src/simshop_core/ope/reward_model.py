"""The reward model of dm, dr, switch_dr, dr_os and cascade_dr: a NumPy ridge regression.

One ridge per (shopper type, slate position) on the candidate's standardised features plus
an intercept — the same as one ridge over item features × position × shopper type
one-hots, whose normal equations are block-diagonal in those cells. It predicts, for a
candidate j at position p of a page, each of O per-position outputs (here: the position's
own reward r_p, and the page's remainder ρ/k; see estimators.py). The estimators need three
summaries of it per page and position:

- ``logged``: the prediction for the logged candidate at p;
- ``marginal``: its mean under the target's marginals, Σ_j P_e(j at p) q(j, p);
- ``next``: its mean under the target's choice at p given the logged positions 0..p−1.

The model is linear in the features, so a mean of predictions is the prediction at the mean
features: each summary is one (N, k, F) array of averaged features times the coefficients,
and no (N, m, k) array of predictions is ever formed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simshop_core.ope.data import SlateLog, Target

#: The ridge penalty on standardised features (the intercept is not penalised).
RIDGE_PENALTY = 1.0


@dataclass(frozen=True)
class Summaries:
    """Each (N, k, O): see the module docstring."""

    logged: np.ndarray
    marginal: np.ndarray
    next: np.ndarray


def _standardise(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and scale over all candidates of all pages (scale 1 if constant)."""
    f = features.shape[2]
    if features.size == 0:
        return np.zeros(f), np.ones(f)
    mean = features.mean(axis=(0, 1), dtype=np.float64)
    square = np.square(features, dtype=np.float64).mean(axis=(0, 1))
    scale = np.sqrt(np.maximum(square - mean**2, 0.0))
    return mean, np.where(scale > 1e-12 * np.maximum(1.0, np.abs(mean)), scale, 1.0)


def _design(mean_features: np.ndarray, mass: np.ndarray, mean: np.ndarray, scale: np.ndarray):
    """[mass, standardised features] for features averaged under weights of total ``mass``
    (1 for a probability distribution; the intercept and centring scale with it)."""
    z = (mean_features - mass[..., None] * mean) / scale
    return np.concatenate([mass[..., None], z], axis=-1)


def _apply(x: np.ndarray, coef: np.ndarray, type_index: np.ndarray) -> np.ndarray:
    """(N, k, O): Σ_d x[i, p, d] coef[type_i, d, p, o]."""
    out = np.empty((x.shape[0], x.shape[1], coef.shape[3]))
    for t in range(coef.shape[0]):
        rows = type_index == t
        out[rows] = np.einsum("npd,dpo->npo", x[rows], coef[t])
    return out


def fit_predict(
    log: SlateLog,
    target: Target,
    type_index: np.ndarray,
    n_types: int,
    outputs: np.ndarray,
    penalty: float = RIDGE_PENALTY,
) -> Summaries:
    """Fit the ridge to ``outputs`` (N, k, O) at the logged slates and summarise it."""
    feats = np.asarray(log.item_features)
    slate = np.asarray(log.slate)
    n, k = slate.shape
    m = int(log.n_candidates)
    if feats.ndim != 3 or feats.shape[:2] != (n, m):
        raise ValueError(f"item_features must have shape (N, m, F) with N={n}, m={m}")
    mean, scale = _standardise(feats)
    d = feats.shape[2] + 1
    ridge = penalty * np.eye(d)
    ridge[0, 0] = 0.0
    ones = np.ones((n, k))
    logged_feats = np.take_along_axis(feats, slate[:, :, None], axis=1)  # (N, k, F)
    x_logged = _design(logged_feats.astype(float), ones, mean, scale)
    coef = np.zeros((n_types, d, k, outputs.shape[2]))
    for t in range(n_types):
        rows = type_index == t
        for p in range(k):
            x = x_logged[rows, p]
            # lstsq: a cell with fewer pages than features is still fitted (minimum norm).
            coef[t, :, p] = np.linalg.lstsq(x.T @ x + ridge, x.T @ outputs[rows, p], rcond=None)[0]
    logged = _apply(x_logged, coef, type_index)
    # The target's mean features at each position: (N, k, m) @ (N, m, F).
    marg_t = np.swapaxes(np.asarray(target.marginals, dtype=float), 1, 2)
    marg_feats = np.matmul(marg_t, feats, dtype=float)
    x_marg = _design(marg_feats, marg_t.sum(axis=2), mean, scale)
    marginal = _apply(x_marg, coef, type_index)
    if target.next_probs is not None:
        nxt_p = np.asarray(target.next_probs, dtype=float)
        x_next = _design(np.matmul(nxt_p, feats, dtype=float), nxt_p.sum(axis=2), mean, scale)
    else:
        x_next = _next_from_draws(feats, np.asarray(target.slates), slate, mean, scale, x_marg)
    return Summaries(logged=logged, marginal=marginal, next=_apply(x_next, coef, type_index))


def _next_from_draws(
    feats: np.ndarray,
    draws: np.ndarray,
    slate: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    fallback: np.ndarray,
) -> np.ndarray:
    """(N, k, d): the mean design at p over the target's draws that share the logged
    positions 0..p−1 (exact for a deterministic target, S = 1); the marginal one where no
    draw does."""
    n, s, k = draws.shape
    same = draws == slate[:, None, :]
    # A draw shares the prefix before p if it equals the logged slate at all positions < p.
    match = np.concatenate(
        [np.ones((n, s, 1), bool), np.cumprod(same[:, :, :-1], axis=2).astype(bool)], axis=2
    )
    count = match.sum(axis=1)  # (N, k)
    total = np.zeros((n, k, feats.shape[2]))
    for j in range(s):
        at = np.take_along_axis(feats, draws[:, j, :, None], axis=1)  # (N, k, F)
        total += match[:, j, :, None] * at
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_feats = total / count[:, :, None]
    x = _design(mean_feats, np.ones(count.shape), mean, scale)
    return np.where(count[:, :, None] > 0, x, fallback)
