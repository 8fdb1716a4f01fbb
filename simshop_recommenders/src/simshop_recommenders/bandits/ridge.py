"""Ridge regression per shopper type, learnt by rank-one updates of the inverse.

For type t: ``A_t = λ·I + Σ x xᵀ``, ``b_t = Σ r·x`` and ``θ_t = A_t⁻¹ b_t``. No inversion of
``A_t`` on the hot path: each trial is the Sherman–Morrison rank-one update

    ``A⁻¹ ← A⁻¹ − (A⁻¹x)(A⁻¹x)ᵀ / (1 + xᵀA⁻¹x)``   (O(d²)).

A page brings m ≤ k trials (the examined positions); their m rank-one updates are applied
together, by the Woodbury identity ``A⁻¹ − U (I + X U)⁻¹ Uᵀ`` with ``U = A⁻¹Xᵀ``: the same
matrix as m Sherman–Morrison steps one after the other (a test checks it), in a handful of
array operations instead of 5·m (on the hot path, NumPy's per-call cost is what counts).

Every `REFRESH` trials of a type ``A_t⁻¹`` is recomputed from ``A_t``, so rounding never
accumulates (``A_t`` itself is brought up to date then, from the trial rows kept meanwhile:
`gram`). New feature columns (`ItemFeatures`) and new shopper types are inserted exactly: a
column that was 0 for every past trial is an independent ``λ`` block.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Trials of one type between two exact inversions of ``A_t``.
REFRESH = 256


class RidgeModels:
    """``A_inv`` (types, d, d), ``b`` (types, d); float64."""

    def __init__(self, regularization: float, dim: int = 0) -> None:
        self.regularization = float(regularization)
        self.A = np.zeros((0, dim, dim))  # up to date only after `gram`
        self.A_inv = np.zeros((0, dim, dim))
        self.b = np.zeros((0, dim))
        self.updates: list[int] = []  # per type: trials since the last exact inversion
        self.pending: list[list[np.ndarray]] = []  # per type: trial rows not yet in A

    @property
    def dim(self) -> int:
        return self.b.shape[1]

    @property
    def types(self) -> int:
        return self.b.shape[0]

    def grow(self, types: int, inserts: list[tuple[int, int]]) -> None:
        """Insert feature columns (``(position, count)`` in the current layout) and make
        room for ``types`` shopper types."""
        lam = self.regularization
        if inserts:
            for t in range(self.types):
                self._sync(t)
            where = [p for p, count in inserts for _ in range(count)]
            new = np.insert(np.zeros(self.dim, dtype=bool), where, True)
            self.A = np.insert(np.insert(self.A, where, 0.0, axis=1), where, 0.0, axis=2)
            self.A_inv = np.insert(np.insert(self.A_inv, where, 0.0, axis=1), where, 0.0, axis=2)
            self.b = np.insert(self.b, where, 0.0, axis=1)
            self.A[:, new, new] = lam
            self.A_inv[:, new, new] = 1.0 / lam
        if types > self.types:
            extra = types - self.types
            eye = np.eye(self.dim)
            self.A = np.concatenate([self.A, np.broadcast_to(lam * eye, (extra, *eye.shape))])
            self.A_inv = np.concatenate(
                [self.A_inv, np.broadcast_to(eye / lam, (extra, *eye.shape))]
            )
            self.b = np.concatenate([self.b, np.zeros((extra, self.dim))])
            self.updates.extend([0] * extra)
            self.pending.extend([] for _ in range(extra))

    def theta(self, t: int | np.ndarray) -> np.ndarray:
        """The ridge estimate of type t (or of each type in an array of them)."""
        return np.einsum("...de,...e->...d", self.A_inv[t], self.b[t])

    def update(self, t: int, x: np.ndarray, reward: np.ndarray) -> None:
        """One trial per row of ``x`` (m, d) with ``reward`` (m,)."""
        if len(x) == 0:
            return
        A_inv = self.A_inv[t]  # a view: updated in place
        A_inv -= sherman_morrison(A_inv, x[0]) if len(x) == 1 else woodbury(A_inv, x)
        self.b[t] += reward @ x
        self.pending[t].append(x)
        self.updates[t] += len(x)
        if self.updates[t] >= REFRESH:
            self.A_inv[t] = np.linalg.inv(self.gram(t))
            self.updates[t] = 0

    def gram(self, t: int) -> np.ndarray:
        """``A_t``, up to date."""
        self._sync(t)
        return self.A[t]

    def _sync(self, t: int) -> None:
        """Add the pending trial rows of type t to ``A_t``."""
        if self.pending[t]:
            rows = np.concatenate(self.pending[t])
            self.A[t] += rows.T @ rows
            self.pending[t] = []


def sherman_morrison(inverse: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``A⁻¹ − (A + x xᵀ)⁻¹`` for ``inverse = A⁻¹``: ``u uᵀ / (1 + xᵀu)``, ``u = A⁻¹x``."""
    u = inverse @ x
    return np.multiply.outer(u, u / (1.0 + x @ u))


def woodbury(inverse: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``A⁻¹ − (A + Xᵀ X)⁻¹`` for ``inverse = A⁻¹`` and the rows of ``x``: ``U (I + X U)⁻¹
    Uᵀ`` with ``U = A⁻¹Xᵀ`` — the sum of the Sherman–Morrison steps of the rows in turn."""
    u = x @ inverse  # Uᵀ (A⁻¹ is symmetric)
    g = u @ x.T
    g += _identity(len(x))
    return u.T @ solve_positive(g, u)


def solve_positive(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a⁻¹ b`` for a small symmetric positive definite ``a``: LAPACK's ``dposv`` straight
    from SciPy (NumPy's `solve` costs 3× as much in Python around the same work, and this
    runs on every page); `np.linalg.solve` should ``a`` not be positive definite."""
    _, solution, info = lapack().dposv(a, b)
    return solution if info == 0 else np.linalg.solve(a, b)


def cholesky(a: np.ndarray) -> np.ndarray | None:
    """The lower Cholesky factor of a symmetric positive definite ``a`` (its lower triangle
    is read), by LAPACK's ``dpotrf`` straight from SciPy; None if it is not one."""
    factor, info = lapack().dpotrf(a, lower=1, clean=1)
    return factor if info == 0 else None


def lapack() -> Any:
    """``scipy.linalg.lapack``, imported on first use: registering the bandits stays NumPy
    only."""
    global _LAPACK
    if _LAPACK is None:
        from scipy.linalg import lapack as module

        _LAPACK = module
    return _LAPACK


_LAPACK: Any = None


_IDENTITIES: dict[int, np.ndarray] = {}


def _identity(m: int) -> np.ndarray:
    """``np.eye(m)``, made once per size (read only)."""
    eye = _IDENTITIES.get(m)
    if eye is None:
        eye = _IDENTITIES[m] = np.eye(m)
        eye.flags.writeable = False
    return eye
