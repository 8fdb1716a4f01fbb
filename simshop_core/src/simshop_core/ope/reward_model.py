"""The reward model of dm, dr, switch_dr, dr_os and cascade_dr: a NumPy ridge regression.

One ridge per (shopper type, slate position) on the candidate's standardised features plus
an intercept — the same as one ridge over item features × position × shopper type
one-hots, whose normal equations are block-diagonal in those cells. It predicts, for every
candidate j at every position p of a page, each of O per-position outputs (here: the
position's own reward r_p, and the page's remainder ρ/k; see estimators.py). The estimators
need three summaries of it per page and position, computed over blocks of pages so the
(N, m, k) prediction array is never held whole:

- ``logged``: the prediction for the logged candidate at p;
- ``marginal``: its mean under the target's marginals, Σ_j P_e(j at p) q(j, p);
- ``next``: its mean under the target's choice at p given the logged positions 0..p−1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simshop_core.ope.data import SlateLog, Target

#: The ridge penalty on standardised features (the intercept is not penalised).
RIDGE_PENALTY = 1.0
#: Pages per block when predicting for every candidate.
BLOCK = 16_384


@dataclass(frozen=True)
class Summaries:
    """Each (N, k, O): see the module docstring."""

    logged: np.ndarray
    marginal: np.ndarray
    next: np.ndarray


def _design(features: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """[1, standardised features] along the last axis."""
    z = (np.asarray(features, dtype=float) - mean) / scale
    return np.concatenate([np.ones((*z.shape[:-1], 1)), z], axis=-1)


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
    if feats.ndim != 3 or feats.shape[:2] != (n, log.n_candidates):
        raise ValueError(
            f"item_features must have shape (N, m, F) with N={n}, m={log.n_candidates}"
        )
    n_out = outputs.shape[2]
    flat = feats.reshape(-1, feats.shape[2]).astype(float, copy=False)
    mean = flat.mean(axis=0) if flat.size else np.zeros(feats.shape[2])
    scale = flat.std(axis=0) if flat.size else np.ones(feats.shape[2])
    scale = np.where(scale > 0, scale, 1.0)
    d = feats.shape[2] + 1
    ridge = penalty * np.eye(d)
    ridge[0, 0] = 0.0
    coef = np.zeros((n_types, d, k, n_out))
    logged_feats = np.take_along_axis(feats, slate[:, :, None], axis=1)  # (N, k, F)
    x_all = _design(logged_feats, mean, scale)  # (N, k, d)
    for t in range(n_types):
        rows = type_index == t
        for p in range(k):
            x = x_all[rows, p]
            gram = x.T @ x + ridge
            # lstsq: a cell with fewer pages than features is still fitted (minimum norm).
            coef[t, :, p] = np.linalg.lstsq(gram, x.T @ outputs[rows, p], rcond=None)[0]
    logged = np.einsum("npd,ndpo->npo", x_all, coef[type_index], optimize=True)
    marginal = np.empty((n, k, n_out))
    nxt = np.empty((n, k, n_out))
    marg = np.asarray(target.marginals, dtype=float)
    tslates = np.asarray(target.slates)
    next_probs = None if target.next_probs is None else np.asarray(target.next_probs, dtype=float)
    for start in range(0, n, BLOCK):
        sl = slice(start, min(start + BLOCK, n))
        x = _design(feats[sl], mean, scale)  # (b, m, d)
        pred = np.einsum("bmd,bdpo->bmpo", x, coef[type_index[sl]], optimize=True)
        marginal[sl] = np.einsum("bmp,bmpo->bpo", marg[sl], pred, optimize=True)
        if next_probs is not None:
            nxt[sl] = np.einsum("bpm,bmpo->bpo", next_probs[sl], pred, optimize=True)
        else:
            nxt[sl] = _next_from_draws(pred, tslates[sl], slate[sl], marginal[sl])
    return Summaries(logged=logged, marginal=marginal, next=nxt)


def _next_from_draws(
    pred: np.ndarray, draws: np.ndarray, slate: np.ndarray, fallback: np.ndarray
) -> np.ndarray:
    """The mean prediction at p over the target's draws that share the logged positions
    0..p−1 (exact for a deterministic target, S = 1); the marginal mean where none does."""
    b, s, k = draws.shape
    # (b, S, k, O): the model at position p for the draw's candidate at p.
    at = pred[np.arange(b)[:, None, None], draws, np.arange(k)[None, None, :]]
    same = draws == slate[:, None, :]
    # A draw shares the prefix before p if it equals the logged slate at all positions < p.
    match = np.concatenate(
        [np.ones((b, s, 1), bool), np.cumprod(same[:, :, :-1], axis=2).astype(bool)], axis=2
    )
    count = match.sum(axis=1)  # (b, k)
    total = np.einsum("bsk,bsko->bko", match.astype(float), at)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count[:, :, None]
    return np.where(count[:, :, None] > 0, mean, fallback)
