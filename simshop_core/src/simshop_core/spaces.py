"""The action space: an ordered slate of k distinct candidate indices, top position first."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces


class SlateSpace(spaces.MultiDiscrete):
    """Ordered slates of ``k`` distinct indices out of ``n`` candidates, top position first.

    A `MultiDiscrete([n] * k)`, so stable-baselines3 and gymnasium's checker know it; ``sample``
    draws k distinct indices (a uniformly random ordered slate) and ``contains`` also demands
    that they are distinct.
    """

    def __init__(self, n: int, k: int, seed: int | np.random.Generator | None = None) -> None:
        if not 1 <= k <= n:
            raise ValueError(f"a slate of k={k} distinct items needs 1 <= k <= n={n}")
        super().__init__(np.full(k, n, dtype=np.int64), dtype=np.int64, seed=seed)
        self.n = int(n)
        self.k = int(k)

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        if mask is not None or probability is not None:
            raise NotImplementedError("SlateSpace.sample takes no mask or probability")
        return self.np_random.permutation(self.n)[: self.k].astype(self.dtype)

    def contains(self, x: Any) -> bool:
        return bool(super().contains(x) and len(np.unique(np.asarray(x))) == self.k)

    def __repr__(self) -> str:
        return f"SlateSpace(n={self.n}, k={self.k})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SlateSpace) and self.n == other.n and self.k == other.k

    def __hash__(self) -> int:
        return hash((SlateSpace, self.n, self.k))


class SlateBatchSpace(spaces.MultiDiscrete):
    """N ordered slates at once: a `MultiDiscrete` of shape (N, k) whose ``sample`` gives a
    valid slate (k distinct indices) in every row and whose ``contains`` demands one."""

    def __init__(
        self, num_envs: int, n: int, k: int, seed: int | np.random.Generator | None = None
    ) -> None:
        if not 1 <= k <= n:
            raise ValueError(f"a slate of k={k} distinct items needs 1 <= k <= n={n}")
        super().__init__(np.full((num_envs, k), n, dtype=np.int64), dtype=np.int64, seed=seed)
        self.num_envs, self.n, self.k = int(num_envs), int(n), int(k)

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        if mask is not None or probability is not None:
            raise NotImplementedError("SlateBatchSpace.sample takes no mask or probability")
        return sample_slates(self.np_random, self.num_envs, self.n, self.k)

    def contains(self, x: Any) -> bool:
        return bool(super().contains(x) and not repeats(np.asarray(x)).any())

    def __repr__(self) -> str:
        return f"SlateBatchSpace(num_envs={self.num_envs}, n={self.n}, k={self.k})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SlateBatchSpace) and (self.num_envs, self.n, self.k) == (
            other.num_envs,
            other.n,
            other.k,
        )

    def __hash__(self) -> int:
        return hash((SlateBatchSpace, self.num_envs, self.n, self.k))


def sample_slates(rng: np.random.Generator, rows: int, n: int, k: int) -> np.ndarray:
    """``rows`` uniformly random ordered slates of ``k`` distinct indices out of ``n``, as
    an int64 (rows, k) array, without a (rows, n) array or a sort of n.

    When k² ≤ n, i.i.d. uniform k-tuples are drawn and the rows with a repeat drawn again
    (rejection: the accepted tuples are uniform over ordered slates, and at least ~60% are
    accepted each round). Otherwise position j draws an index among the n − j not yet taken
    and steps over the taken ones in increasing order (O(k²) vector operations)."""
    if k * k <= n:
        out = rng.integers(0, n, (rows, k))
        redo = np.flatnonzero(repeats(out))
        while len(redo):
            again = rng.integers(0, n, (len(redo), k))
            out[redo] = again
            redo = redo[repeats(again)]
        return out
    out = np.empty((rows, k), dtype=np.int64)
    taken = np.empty((rows, 0), dtype=np.int64)  # the indices so far, sorted per row
    for j in range(k):
        v = rng.integers(0, n - j, rows)
        for i in range(j):
            v += v >= taken[:, i]
        out[:, j] = v
        taken = np.sort(np.concatenate([taken, v[:, None]], axis=1), axis=1)
    return out


def repeats(slates: np.ndarray) -> np.ndarray:
    """Per row of an (N, k) array, whether some index appears twice. Column against column
    for small k: sorting many short rows costs far more."""
    rows, k = slates.shape
    if k > 12:
        ordered = np.sort(slates, axis=1)
        return (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
    out = np.zeros(rows, dtype=bool)
    columns = [slates[:, j] for j in range(k)]
    for i in range(k):
        for j in range(i + 1, k):
            out |= columns[i] == columns[j]
    return out


def check_slates(slates: Any, n: int, k: int, rows: int, who: str = "the actions") -> np.ndarray:
    """``slates`` as an int64 (rows, k) array of valid ordered slates, or a `ValueError`
    naming the first bad row."""
    a = slates if type(slates) is np.ndarray else np.asarray(slates)
    want = f"{rows} ordered slates of {k} distinct integer candidate indices in [0, {n - 1}]"
    if a.dtype.kind not in "iu":
        raise ValueError(f"{who} must be {want}; got dtype {a.dtype}")
    if a.shape != (rows, k):
        raise ValueError(f"{who} must be {want}; got shape {a.shape}")
    # Two reductions and the repeat check for the whole batch; rows are looked at only when
    # something is wrong.
    repeated = repeats(a)
    if a.min() < 0 or a.max() >= n or repeated.any():
        bad = (a < 0).any(axis=1) | (a >= n).any(axis=1) | repeated
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{who} must be {want}; row {row} is {a[row].tolist()}")
    return a if a.dtype == np.int64 else a.astype(np.int64)


def check_slate(slate: Any, n: int, k: int, who: str = "the action") -> np.ndarray:
    """``slate`` as an int64 array, or a `ValueError` that says what is wrong with it.

    A valid slate is ``k`` distinct integers in ``[0, n)`` (negative indices are refused, not
    wrapped; floats are refused even when whole). This runs on every env step: the common
    case (an int64 array) costs a ``tolist`` and three builtins.
    """
    a = slate if type(slate) is np.ndarray else np.asarray(slate)
    if a.dtype.kind in "iu" and a.shape == (k,):
        values = a.tolist()
        if min(values) >= 0 and max(values) < n and len(set(values)) == k:
            return a if a.dtype == np.int64 else a.astype(np.int64)
    want = f"an ordered slate of {k} distinct integer candidate indices in [0, {n - 1}]"
    if a.dtype.kind not in "iu":
        raise ValueError(f"{who} must be {want}; got dtype {a.dtype}")
    if a.shape != (k,):
        raise ValueError(f"{who} must be {want}; got shape {a.shape}")
    values = a.tolist()
    if min(values) < 0 or max(values) >= n:
        raise ValueError(f"{who} must be {want}; got {values}")
    raise ValueError(f"{who} must be {want}; got repeated indices {values}")
