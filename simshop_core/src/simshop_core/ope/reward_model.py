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
#: Pages per block: every temporary stays a few MB, so it is reused rather than freshly
#: mapped (fresh pages cost far more than the arithmetic on a busy host).
BLOCK = 8192


@dataclass(frozen=True)
class Summaries:
    """Each (N, k, O): see the module docstring."""

    logged: np.ndarray
    marginal: np.ndarray
    next: np.ndarray


def _blocks(n: int):
    for start in range(0, n, BLOCK):
        yield slice(start, min(start + BLOCK, n))


def _with_intercept(features: np.ndarray) -> np.ndarray:
    """[1, features] along the last axis, as float."""
    return np.concatenate(
        [np.ones((*features.shape[:-1], 1)), np.asarray(features, dtype=float)], axis=-1
    )


def _gather(feats: np.ndarray, slate: np.ndarray) -> np.ndarray:
    """(b, k, F): the features of each page's candidates at ``slate`` (b, k)."""
    return np.take_along_axis(feats, slate[:, :, None], axis=1)


def _fit(
    feats: np.ndarray,
    slate: np.ndarray,
    type_index: np.ndarray,
    n_types: int,
    outputs: np.ndarray,
    penalty: float,
) -> np.ndarray:
    """(T, d, k, O) raw-feature coefficients [intercept, slopes] of the per-(type,
    position) ridges. One pass over blocks sums each cell's Gram matrix and right-hand side
    in raw features; the standardisation (pooled over all logged candidates) is then applied
    to those sums, not to the data: with x̃ = M [1, x], Σ x̃x̃ᵀ = M G Mᵀ and the fitted
    β̃ maps back to raw coefficients as Mᵀ β̃."""
    n, k = slate.shape
    d = feats.shape[2] + 1
    n_out = outputs.shape[2]
    gram = np.zeros((n_types, k, d, d))
    rhs = np.zeros((n_types, k, d, n_out))
    for sl in _blocks(n):
        x = _with_intercept(_gather(feats[sl], slate[sl])).transpose(1, 0, 2)  # (k, b, d)
        y = outputs[sl].transpose(1, 0, 2)  # (k, b, O)
        types = type_index[sl]
        for t in range(n_types):
            rows = types == t
            xt = x[:, rows]
            gram[t] += xt.transpose(0, 2, 1) @ xt
            rhs[t] += xt.transpose(0, 2, 1) @ y[:, rows]
    total = gram.sum(axis=(0, 1))  # pooled over cells: count, Σx, Σxxᵀ
    count = max(total[0, 0], 1.0)
    mean = total[0, 1:] / count
    var = np.maximum(np.diag(total)[1:] / count - mean**2, 0.0)
    scale = np.sqrt(var)
    scale = np.where(scale > 1e-12 * np.maximum(1.0, np.abs(mean)), scale, 1.0)
    transform = np.eye(d)
    transform[1:, 0] = -mean / scale
    transform[1:, 1:] = np.diag(1.0 / scale)
    ridge = penalty * np.eye(d)
    ridge[0, 0] = 0.0
    coef = np.zeros((n_types, d, k, n_out))
    for t in range(n_types):
        for p in range(k):
            g = transform @ gram[t, p] @ transform.T + ridge
            # lstsq: a cell with fewer pages than features is still fitted (minimum norm).
            beta = np.linalg.lstsq(g, transform @ rhs[t, p], rcond=None)[0]
            coef[t, :, p] = transform.T @ beta
    return coef


def _predict(x: np.ndarray, coef: np.ndarray, type_index: np.ndarray) -> np.ndarray:
    """(b, k, O): the model at designs x (b, k, d), each page with its type's coefficients."""
    every = np.einsum("bpd,tdpo->btpo", x, coef, optimize=True)
    return every[np.arange(x.shape[0]), type_index]


def fit_predict(
    log: SlateLog,
    target: Target,
    type_index: np.ndarray,
    n_types: int,
    outputs: np.ndarray,
    penalty: float = RIDGE_PENALTY,
    best: np.ndarray | None = None,
) -> Summaries:
    """Fit the ridge to ``outputs`` (N, k, O) at the logged slates and summarise it;
    ``best``: the target's one slate per page if it is deterministic (`deterministic_slate`)."""
    feats = np.asarray(log.item_features)
    slate = np.asarray(log.slate)
    n, k = slate.shape
    m = int(log.n_candidates)
    if feats.ndim != 3 or feats.shape[:2] != (n, m):
        raise ValueError(f"item_features must have shape (N, m, F) with N={n}, m={m}")
    coef = _fit(feats, slate, type_index, n_types, outputs, penalty)
    n_out = outputs.shape[2]
    logged = np.empty((n, k, n_out))
    marginal = np.empty((n, k, n_out))
    nxt = marginal if best is not None else np.empty((n, k, n_out))
    marginals = target.marginals
    draws = np.asarray(target.slates)
    for sl in _blocks(n):
        f_b, types = feats[sl], type_index[sl]
        logged[sl] = _predict(_with_intercept(_gather(f_b, slate[sl])), coef, types)
        if best is not None:
            marg_feats = _gather(f_b, best[sl])
        else:
            # The target's mean features at each position: (b, k, m) @ (b, m, F); each
            # position's marginals sum to 1, and the model is linear in the features.
            marg_t = np.swapaxes(np.asarray(marginals[sl], dtype=float), 1, 2)
            marg_feats = np.matmul(marg_t, f_b, dtype=float)
        marginal[sl] = _predict(_with_intercept(marg_feats), coef, types)
        if best is not None:
            # A deterministic target's choice after a prefix it shows is its own item there,
            # and after any other prefix its prefix weight is 0: the marginal mean serves.
            continue
        if target.next_probs is not None:
            next_feats = np.matmul(np.asarray(target.next_probs[sl], dtype=float), f_b)
        else:
            next_feats = _next_from_draws(f_b, draws[sl], slate[sl], marg_feats)
        nxt[sl] = _predict(_with_intercept(next_feats), coef, types)
    return Summaries(logged=logged, marginal=marginal, next=nxt)


def _next_from_draws(
    feats: np.ndarray, draws: np.ndarray, slate: np.ndarray, fallback: np.ndarray
) -> np.ndarray:
    """(N, k, F): the mean features at p over the target's draws that share the logged
    positions 0..p−1 (exact for a deterministic target, S = 1); the marginal mean where no
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
    return np.where(count[:, :, None] > 0, mean_feats, fallback)
