"""The item features of the linear bandits (``linucb``, ``lin_ts``).

One row per candidate:

====================  =================================================================
``bias``              1
``price``             ``log1p(price) / 5`` (a log: cheapness and value are ratios)
``quality``           ``log(quality_score + 0.01) / 5`` (log quality − log price ranks
                      by quality per unit of price, the value a shopper gets)
``popularity``        ``popularity / 100``
``freshness``         ``days_since_release / 365``
``exposures``         ``log1p(min(times_shown, 4095)) / 2`` (this shopper's earlier
                      exposures)
``category``          one-hot of the category code
``brand``             one-hot of the brand code
``color``             one-hot of the colour code
====================  =================================================================

The scalings are fixed (nothing is fitted to the data), chosen so that every feature spans
about a unit on the default catalog, which is what one ridge penalty for all of them wants.
The one-hot blocks grow as new codes appear: `ItemFeatures.grow` says where the new columns
go, and a ridge model inserts them exactly (a column that was 0 for every past trial adds
an independent ``λ·I`` block; nothing learnt changes).
"""

from __future__ import annotations

from typing import Any

import numpy as np

NUMERIC: tuple[str, ...] = ("bias", "price", "quality", "popularity", "freshness", "exposures")
CATEGORICAL: tuple[str, ...] = ("category", "brand", "color")
EXPOSURES = NUMERIC.index("exposures")
# The fields every column but the exposures is made of.
_STATIC = ("price", "quality_score", "popularity", "days_since_release", *CATEGORICAL)
# The exposures column by times_shown, looked up (it changes every page); beyond the table
# an exposure count counts as its last entry.
_EXPOSURE = np.log1p(np.arange(4096, dtype=np.float64)) / 2.0


class ItemFeatures:
    """Maps candidates (an observation's ``candidates``) to feature rows.

    Everything but the exposures is a property of the product, so the rows of the last
    candidate set are kept: the next page of the same shopper (the same candidates) only
    recomputes the exposures column.
    """

    def __init__(self) -> None:
        self.sizes = dict.fromkeys(CATEGORICAL, 0)  # one-hot widths seen so far
        # The last candidates' static fields (as bytes), shape and rows.
        self._last: tuple[bytes, tuple[int, ...], np.ndarray] | None = None

    @property
    def dim(self) -> int:
        return len(NUMERIC) + sum(self.sizes.values())

    def names(self) -> list[str]:
        """Column names: the numeric ones, then ``brand=3`` and so on."""
        return [*NUMERIC, *(f"{c}={i}" for c in CATEGORICAL for i in range(self.sizes[c]))]

    def __call__(self, candidates: dict[str, Any]) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """(..., n, dim) float64 features of the candidates (one observation's, or a
        batch's with a leading axis), and the columns inserted to make room for new codes
        (see `grow`; a model must insert them too)."""
        shape = np.shape(candidates["price"])
        key = b"".join([np.asarray(candidates[f]).tobytes() for f in _STATIC])
        last = self._last
        if (
            last is not None
            and last[0] == key
            and last[1] == shape
            and last[2].shape[-1] == self.dim
        ):
            x, inserts = last[2].copy(), []
        else:
            inserts = self.grow(candidates)
            x = self._static(candidates)
            self._last = (key, shape, x.copy())
        x[..., EXPOSURES] = _EXPOSURE.take(candidates["times_shown"], mode="clip")
        return x, inserts

    def grow(self, candidates: dict[str, Any]) -> list[tuple[int, int]]:
        """Widen the one-hot blocks to the codes in ``candidates``; returns (position,
        count) of the inserted columns, in the old layout's coordinates, left to right."""
        inserts = []
        offset = len(NUMERIC)
        for column in CATEGORICAL:
            codes = np.asarray(candidates[column])
            if codes.size and codes.min() < 0:
                raise ValueError(f"{column} codes must be non-negative, got {int(codes.min())}")
            width = int(codes.max()) + 1 if codes.size else 0
            old = self.sizes[column]
            if width > old:
                inserts.append((offset + old, width - old))
                self.sizes[column] = width
            offset += old
        return inserts

    def _static(self, candidates: dict[str, Any]) -> np.ndarray:
        """Every column but the exposures."""
        price = np.asarray(candidates["price"], dtype=np.float64)
        x = np.zeros((*price.shape, self.dim))
        x[..., 0] = 1.0
        x[..., 1] = np.log1p(price) / 5.0
        x[..., 2] = np.log(np.asarray(candidates["quality_score"], dtype=np.float64) + 0.01) / 5.0
        x[..., 3] = np.asarray(candidates["popularity"], dtype=np.float64) / 100.0
        x[..., 4] = np.asarray(candidates["days_since_release"], dtype=np.float64) / 365.0
        offset = len(NUMERIC)
        flat = x.reshape(-1, self.dim)  # a view: x is contiguous
        rows = np.arange(flat.shape[0])
        for column in CATEGORICAL:
            flat[rows, offset + np.asarray(candidates[column]).reshape(-1)] = 1.0
            offset += self.sizes[column]
        return x
