"""The reward model of dm, dr, switch_dr, dr_os and cascade_dr: a NumPy ridge regression.

A linear model over item features × position × shopper type: for a candidate j at position
p on a page of shopper type t it predicts ``intercept[t, p] + x_jᵀ slope[t, p]`` for each of
O outputs. Two kinds of output (see estimators.py):

- per position (r_p, observed at each position): one ridge per (type, position) cell — one
  ridge over the one-hot cells, whose normal equations are block-diagonal in them;
- page totals (the page reward's remainder ρ, observed per page only): one ridge per type
  of ρ on the slate's features position by position, an additive model whose per-position
  terms are the position's shares.

The estimators need three summaries of it per page and position:

- ``logged``: the prediction for the logged candidate at p;
- ``marginal``: its mean under the target's marginals, Σ_j P_e(j at p) q(j, p);
- ``next``: its mean under the target's choice at p given the logged positions 0..p−1
  (``Target.next_probs``; for a deterministic target the marginal one; else None).

The model is linear in the features, so a mean of predictions is the prediction at the mean
features: each summary is one (N, k, F) array of averaged features times the coefficients,
and no (N, m, k) array of predictions is ever formed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simshop_lab.ope.data import SlateLog, Target

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
    next: np.ndarray | None  # None: the target's choice after a prefix is unknown


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
    b, m, f = feats.shape
    k = slate.shape[1]
    if f == 0:
        return np.empty((b, k, 0), dtype=feats.dtype)
    flat = np.ascontiguousarray(feats).reshape(b * m, f)
    # Each candidate's F features as one opaque item: a 1-D take copies a row at a time,
    # ~7x faster than take_along_axis's element-wise fancy gather.
    rows = flat.view(np.dtype((np.void, flat.itemsize * f))).reshape(-1)
    picked = np.take(rows, np.arange(b)[:, None] * m + slate)
    return picked.view(feats.dtype).reshape(b, k, f)


def _fit(
    feats: np.ndarray,
    slate: np.ndarray,
    type_index: np.ndarray,
    n_types: int,
    outputs: np.ndarray,
    page_outputs: np.ndarray | None,
    penalty: float,
) -> np.ndarray:
    """(T, d, k, O) raw-feature coefficients [intercept, slopes] per (type, position):
    one ridge per cell for each per-position output (N, k, O1), and for each page output
    (N, O2) one ridge per type on the slate's features position by position (an additive
    model Σ_p x_pᵀβ_p: a page total fitted jointly, so each position gets its own share —
    fitting it position by position would credit an item with its neighbours, which
    without-replacement slates tie to it). The intercept is shared out equally.

    One pass over blocks sums each type's joint Gram matrix (every per-position cell's
    Gram matrix is a block of it) and the right-hand sides in raw features; the
    standardisation (pooled over all logged candidates) is applied to those sums: with
    x̃ = M [1, x], Σ x̃x̃ᵀ = M G Mᵀ and the fitted β̃ maps back to raw coefficients as Mᵀ β̃."""
    n, k = slate.shape
    f = feats.shape[2]
    d = f + 1
    wide = 1 + k * f
    n_pos = outputs.shape[2]
    n_page = 0 if page_outputs is None else page_outputs.shape[1]
    gram = np.zeros((n_types, wide, wide))
    rhs_pos = np.zeros((n_types, k, d, n_pos))
    rhs_page = np.zeros((n_types, wide, n_page))
    for sl in _blocks(n):
        x = _gather(feats[sl], slate[sl]).astype(float)  # (b, k, F)
        joint = np.concatenate([np.ones((x.shape[0], 1)), x.reshape(x.shape[0], -1)], axis=1)
        types = type_index[sl]
        y = outputs[sl]
        for t in range(n_types):
            rows = types == t
            jt = joint[rows]
            # einsum, not @: small products through a multi-threaded BLAS stall on a busy
            # host (threads wait for cores), and these are far too small to need threads.
            gram[t] += np.einsum("bi,bj->ij", jt, jt)
            rhs_pos[t] += np.einsum("bpd,bpo->pdo", _with_intercept(x[rows]), y[rows])
            if n_page:
                rhs_page[t] += np.einsum("bi,bo->io", jt, page_outputs[sl][rows])
    total = gram.sum(axis=0)
    count = max(total[0, 0] * k, 1.0)  # logged candidates
    mean = total[0, 1:].reshape(k, f).sum(axis=0) / count
    square = np.diag(total)[1:].reshape(k, f).sum(axis=0) / count
    scale = np.sqrt(np.maximum(square - mean**2, 0.0))
    scale = np.where(scale > 1e-12 * np.maximum(1.0, np.abs(mean)), scale, 1.0)
    transform = np.eye(wide)
    transform[1:, 0] = np.tile(-mean / scale, k)
    transform[1:, 1:] = np.diag(np.tile(1.0 / scale, k))
    ridge = penalty * np.eye(wide)
    ridge[0, 0] = 0.0
    coef = np.zeros((n_types, d, k, n_pos + n_page))
    for t in range(n_types):
        for p in range(k):
            cell = np.r_[0, 1 + p * f : 1 + (p + 1) * f]
            mt = transform[np.ix_(cell, cell)]
            g = mt @ gram[t][np.ix_(cell, cell)] @ mt.T + ridge[np.ix_(cell, cell)]
            # lstsq: a cell with fewer pages than features is still fitted (minimum norm).
            beta = np.linalg.lstsq(g, mt @ rhs_pos[t, p], rcond=None)[0]
            coef[t, :, p, :n_pos] = mt.T @ beta
        if n_page:
            g = transform @ gram[t] @ transform.T + ridge
            beta = transform.T @ np.linalg.lstsq(g, transform @ rhs_page[t], rcond=None)[0]
            coef[t, 0, :, n_pos:] = beta[0] / k
            coef[t, 1:, :, n_pos:] = beta[1:].reshape(k, f, n_page).transpose(1, 0, 2)
    return coef


def _table(coef: np.ndarray) -> np.ndarray:
    """(T, k·d·O): each type's coefficients (T, d, k, O) as one contiguous row, so a block's
    per-page coefficients are one row take (a fancy index on the transposed view is ~3x
    slower)."""
    return np.ascontiguousarray(coef.transpose(0, 2, 1, 3)).reshape(coef.shape[0], -1)


def _predict(x: np.ndarray, table: np.ndarray, type_index: np.ndarray) -> np.ndarray:
    """(b, k, O): the model at features x (b, k, F), each page with its type's coefficients
    (`_table`; the intercept first)."""
    b, k, f = x.shape
    per_page = np.take(table, type_index, axis=0).reshape(b, k, f + 1, -1)  # a block's worth
    # float64 first: einsum on float32 features casts them through a buffer, ~3x slower.
    x = np.asarray(x, dtype=np.float64)
    return per_page[:, :, 0] + np.einsum("bkf,bkfo->bko", x, per_page[:, :, 1:])


def fit_predict(
    log: SlateLog,
    target: Target,
    type_index: np.ndarray,
    n_types: int,
    outputs: np.ndarray,
    page_outputs: np.ndarray | None = None,
    penalty: float = RIDGE_PENALTY,
    best: np.ndarray | None = None,
) -> Summaries:
    """Fit the ridge to per-position ``outputs`` (N, k, O1) and page totals ``page_outputs``
    (N, O2) at the logged slates, and summarise it (O = O1 + O2 outputs, page ones last, as
    per-position shares); ``best``: the target's one slate per page if it is deterministic
    (`deterministic_slate`)."""
    feats = np.asarray(log.item_features)
    slate = np.asarray(log.slate)
    n, k = slate.shape
    m = int(log.n_candidates)
    if feats.ndim != 3 or feats.shape[:2] != (n, m):
        raise ValueError(f"item_features must have shape (N, m, F) with N={n}, m={m}")
    if best is None and target.marginals is None:  # a deterministic target: its one slate
        best = np.asarray(target.slates)[:, 0]
    coef = _fit(feats, slate, type_index, n_types, outputs, page_outputs, penalty)
    n_out = coef.shape[3]
    table = _table(coef)
    logged = np.empty((n, k, n_out))
    marginal = np.empty((n, k, n_out))
    nxt = None
    if best is not None:
        # A deterministic target's choice after a prefix it shows is its own item there, and
        # after any other prefix its prefix weight is 0: the marginal mean serves.
        nxt = marginal
    elif target.next_probs is not None:
        nxt = np.empty((n, k, n_out))
    marginals = target.marginals
    for sl in _blocks(n):
        f_b, types = feats[sl], type_index[sl]
        logged[sl] = _predict(_gather(f_b, slate[sl]), table, types)
        if best is not None:
            marg_feats = _gather(f_b, best[sl])
        else:
            # The target's mean features at each position: (b, k, m) @ (b, m, F); each
            # position's marginals sum to 1, and the model is linear in the features.
            marg_t = np.swapaxes(np.asarray(marginals[sl], dtype=float), 1, 2)
            marg_feats = np.matmul(marg_t, f_b, dtype=float)
        marginal[sl] = _predict(marg_feats, table, types)
        if best is None and target.next_probs is not None:
            next_feats = np.matmul(np.asarray(target.next_probs[sl], dtype=float), f_b)
            nxt[sl] = _predict(next_feats, table, types)
    return Summaries(logged=logged, marginal=marginal, next=nxt)
