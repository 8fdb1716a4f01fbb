"""Ridge regression per shopper type, learnt one observation at a time.

For type t: ``A_t = λ·I + Σ x xᵀ``, ``b_t = Σ r·x`` and ``θ_t = A_t⁻¹ b_t``. ``A_t⁻¹`` is
kept up to date by Sherman–Morrison rank-one updates (O(d²) each, no inversion on the hot
path); every `REFRESH` updates of a type it is recomputed from ``A_t`` (kept too, at O(d²)
a trial), so rounding never accumulates. New feature columns (`ItemFeatures.grow`) and new
shopper types are inserted exactly: a column that was 0 for every past trial is an
independent ``λ`` block.
"""

from __future__ import annotations

import numpy as np

#: Rank-one updates of one type between two exact inversions of ``A_t``.
REFRESH = 256


class RidgeModels:
    """``A``, ``A_inv`` (types, d, d) and ``b`` (types, d), float64."""

    def __init__(self, regularization: float, dim: int = 0) -> None:
        self.regularization = float(regularization)
        self.A = np.zeros((0, dim, dim))
        self.A_inv = np.zeros((0, dim, dim))
        self.b = np.zeros((0, dim))
        self.updates = np.zeros(0, dtype=np.int64)  # rank-one updates since the last refresh

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
            self.updates = np.concatenate([self.updates, np.zeros(extra, dtype=np.int64)])

    def theta(self, t: int | np.ndarray) -> np.ndarray:
        """The ridge estimate of type t (or of each type in an array of them)."""
        return np.einsum("...de,...e->...d", self.A_inv[t], self.b[t])

    def update(self, t: int, x: np.ndarray, reward: np.ndarray) -> None:
        """One trial per row of ``x`` (m, d) with ``reward`` (m,): a rank-one update each,
        in row order (m is at most the slate size: this loop is over shown positions)."""
        A_inv = self.A_inv[t]
        for row in x:
            u = A_inv @ row
            A_inv -= np.outer(u, u / (1.0 + row @ u))
        self.A[t] += x.T @ x
        self.b[t] += x.T @ reward
        self.updates[t] += len(x)
        if self.updates[t] >= REFRESH:
            self.A_inv[t] = np.linalg.inv(self.A[t])
            self.updates[t] = 0
