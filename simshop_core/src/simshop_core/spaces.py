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
