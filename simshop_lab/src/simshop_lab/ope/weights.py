"""Importance weights of a target against the logger, one row per logged page.

- whole slate: ``π_e(s) / π_b(s)`` (ips, snips, dr, switch_dr, dr_os, sips, snsips);
- item–position: ``π_e(s_p at p) / π_b(s_p at p)`` per position (iips, sniips);
- prefix: ``π_e(s_0..s_p) / π_b(s_0..s_p)`` per position (rips, snrips, cascade_dr);
- pseudo-inverse: ``q_eᵀ Γ_b† 1_s`` (pi, snpi), Swaminathan et al. 2017.

The pseudo-inverse weight. Write a slate as its indicator ``1_s`` over the m·k (candidate,
position) pairs, ``q_e = E_e[1_s]`` (the target's marginals) and ``Γ = E_b[1_s 1_sᵀ]``. For
ordered slates of k *distinct* candidates drawn uniformly (without replacement),
``Γ[(j,p),(j',p')]`` is 1/m if (j,p) = (j',p'), 0 if exactly one of j = j', p = p' holds, and
1/(m(m−1)) otherwise, i.e. ``Γ_U = (1/m) I⊗I + 1/(m(m−1)) (J_m−I)⊗(J_k−I)``. Its eigenspaces
are products of (constant, centred) vectors over candidates and over positions, with
eigenvalues k/m (const⊗const), 0 (const⊗centred), (m−k)/(m(m−1)) (centred⊗const; 0 if m = k)
and 1/(m−1) (centred⊗centred), so

    Γ_U† = (m/k) P₁⊗P₁ + m(m−1)/(m−k) P⊥⊗P₁ + (m−1) P⊥⊗P⊥       (P₁ = J/n, P⊥ = I − J/n).

For two m×k matrices Q, S whose columns each sum to 1 (a distribution over candidates per
position) with row sums q, s (each candidate's chance of being shown anywhere) this gives

    f(Q, S) = vec(Q)ᵀ Γ_U† vec(S)
            = 1 + m(m−1)/(m−k) · (q·s − k²/m)/k + (m−1) · (⟨Q, S⟩ − q·s/k),

(the middle term dropped when m = k). Not the Cartesian-product ``Σ_p π_e/π_b − k + 1``:
that holds when the positions are drawn independently *with* replacement.
An ε-mixture logger ``ε·uniform + (1−ε)·δ_b`` (b: a deterministic base slate) has
``Γ = ε Γ_U + (1−ε) 1_b 1_bᵀ``; ``1_b`` lies in Γ_U's range (its columns sum to 1), so on that
range Sherman–Morrison gives

    w = f(Q,S)/ε − (1−ε)/ε² · f(Q,B) f(B,S) / (1 + (1−ε)/ε · f(B,B)).

All of it is O(k) per page given the target's marginals: no m·k × m·k matrix is formed.
"""

from __future__ import annotations

import numpy as np

from simshop_lab.ope.data import Logger, SlateLog, Target


def _ratio(target_log_prob: np.ndarray, logger_log_prob: np.ndarray, what: str) -> np.ndarray:
    """exp(target − logger), refusing logged slates the logger could not have shown."""
    logger_log_prob = np.asarray(logger_log_prob, dtype=float)
    if not np.all(np.isfinite(logger_log_prob)):
        raise ValueError(
            f"the logger's {what} must be finite log probabilities (the logged slates are ones "
            "it showed); got -inf or nan"
        )
    target_log_prob = np.asarray(target_log_prob, dtype=float)
    if np.any(np.isnan(target_log_prob)) or np.any(target_log_prob == np.inf):
        raise ValueError(f"the target's {what} must be log probabilities (-inf allowed), got nan")
    return np.exp(target_log_prob - logger_log_prob)


def deterministic_slate(target: Target) -> np.ndarray | None:
    """(N, k) the target's one slate per page when it is deterministic (S = 1 and its
    marginals, if given, put mass 1 on that slate), else None: a cheap gather that lets the
    estimators skip the (N, m, k) marginals."""
    slates = np.asarray(target.slates)
    if target.marginals is None:
        if slates.ndim != 3 or slates.shape[1] != 1:
            raise ValueError(
                "target.marginals may be None only for a deterministic target: target.slates "
                f"must then be (N, 1, k), got shape {slates.shape}"
            )
        return slates[:, 0, :]
    if slates.shape[1] != 1:
        return None
    slate = slates[:, 0, :]
    n, k = slate.shape
    at = np.asarray(target.marginals)[np.arange(n)[:, None], slate, np.arange(k)[None, :]]
    return slate if np.all(at == 1.0) else None


def slate_weights(log: SlateLog, target: Target) -> np.ndarray:
    """(N,) ``π_e(s) / π_b(s)`` of the whole logged slate."""
    return _ratio(target.slate_log_prob, log.slate_log_prob, "slate_log_prob")


def prefix_weights(log: SlateLog, target: Target) -> np.ndarray:
    """(N, k): the weight of the logged slate's positions 0..p, for each p."""
    return _ratio(target.prefix_log_probs, log.prefix_log_probs, "prefix_log_probs")


def position_weights(log: SlateLog, target: Target) -> np.ndarray:
    """(N, k): the item–position marginal ratio of each logged position."""
    logger = np.asarray(log.position_probs, dtype=float)
    if not np.all(logger > 0.0):
        raise ValueError(
            "the logger's position_probs must be > 0 at the logged positions (it showed them)"
        )
    return np.asarray(target.position_probs, dtype=float) / logger


def _pairing(m: int, k: int, rows: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """``f(Q, S) = vec(Q)ᵀ Γ_U† vec(S)`` from ``q·s`` (rows) and ``⟨Q, S⟩`` (inner)."""
    out = 1.0 + (m - 1) * (inner - rows / k)
    if m > k:
        out = out + m * (m - 1) / (m - k) * (rows - k * k / m) / k
    return out


def _shared(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,) candidates two slates share: ``q·s`` when both indicators are 0/1 (⟨A, B⟩ is
    then the positions where they agree)."""
    return (a[:, :, None] == b[:, None, :]).any(axis=2).sum(axis=1).astype(float)


def _gather_rows(rows: np.ndarray, slate: np.ndarray) -> np.ndarray:
    """Σ_p rows[i, slate[i, p]]: ``q·s`` for a slate indicator S (its row sums are 0/1)."""
    return np.take_along_axis(rows, slate, axis=1).sum(axis=1)


def pi_weights(log: SlateLog, target: Target, best: np.ndarray | None = None) -> np.ndarray:
    """(N,) the pseudo-inverse weight ``q_eᵀ Γ_b† 1_s`` for a uniform or ε-mixture logger;
    ``best``: the target's one slate per page if it is deterministic (`deterministic_slate`,
    which is called when it is not given)."""
    logger: Logger = log.logger
    slate = np.asarray(log.slate)
    n, k = slate.shape
    m = int(log.n_candidates)
    if logger.kind == "other":
        raise ValueError(
            "pi/snpi need a uniform or epsilon logger (Logger.kind), got 'other': Γ is unknown"
        )
    if logger.kind not in ("uniform", "epsilon"):
        raise ValueError(
            f"Logger.kind must be 'uniform', 'epsilon' or 'other', got {logger.kind!r}"
        )
    if k > m:
        raise ValueError(f"a slate of k={k} distinct candidates needs m >= k, got m={m}")
    if target.marginals is not None and np.shape(target.marginals) != (n, m, k):
        raise ValueError(f"target.marginals must have shape (N, m, k) = {(n, m, k)}")
    if best is None:
        best = deterministic_slate(target)
    if best is None:
        marginals = np.asarray(target.marginals)
        # (N, m): P_e(candidate shown anywhere); a matrix product reads the big array fastest.
        row_q = marginals @ np.ones(k)
        q_s = _gather_rows(row_q, slate)
    else:
        q_s = _shared(best, slate)
    inner_qs = np.asarray(target.position_probs, dtype=float).sum(axis=1)  # Σ_p Q[s_p, p]
    f_qs = _pairing(m, k, q_s, inner_qs)
    if logger.kind == "uniform":
        return f_qs
    eps = float(logger.epsilon)
    if not 0.0 < eps <= 1.0:
        raise ValueError(f"pi/snpi need 0 < Logger.epsilon <= 1 (some uniform slates), got {eps}")
    if eps == 1.0:
        return f_qs
    if logger.base_slate is None:
        raise ValueError("an epsilon Logger needs base_slate, int (N, k)")
    base = np.asarray(logger.base_slate)
    if base.shape != (n, k):
        raise ValueError(f"Logger.base_slate must have shape (N, k) = {(n, k)}, got {base.shape}")
    if best is None:
        q_b = _gather_rows(row_q, base)
        inner_qb = marginals[np.arange(n)[:, None], base, np.arange(k)[None, :]].sum(axis=1)
    else:  # Q one-hot on the target's slate: ⟨Q, B⟩ counts the positions where they agree
        q_b = _shared(best, base)
        inner_qb = (best == base).sum(axis=1).astype(float)
    f_qb = _pairing(m, k, q_b, inner_qb)
    f_bs = _pairing(m, k, _shared(base, slate), (base == slate).sum(axis=1).astype(float))
    f_bb = _pairing(m, k, np.full(n, float(k)), np.full(n, float(k)))
    c = (1.0 - eps) / eps
    return f_qs / eps - c / eps * f_qb * f_bs / (1.0 + c * f_bb)
