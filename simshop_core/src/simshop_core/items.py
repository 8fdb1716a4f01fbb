"""`Items`: a cheap, read-only view of some catalog rows, column by column."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np


class Items:
    """The shown items (or the candidates): ``items["price"]`` is one value per item.

    Columns are sliced from the catalog on access, so building a view costs nothing and a
    shopper model can never change the catalog through it. ``len(items)`` is the number of
    items, not the number of columns.
    """

    __slots__ = ("_columns", "_index", "_times_shown")

    def __init__(
        self,
        columns: Mapping[str, np.ndarray],
        index: np.ndarray | None = None,
        times_shown: np.ndarray | None = None,
    ) -> None:
        self._columns = columns
        if index is not None:
            n = len(index)
        elif times_shown is not None:
            n = len(times_shown)
        else:
            n = len(next(iter(columns.values()))) if columns else 0
        self._index = index
        if times_shown is None:
            times_shown = np.zeros(n, dtype=np.int64)
        elif len(times_shown) != n:
            raise ValueError(f"times_shown has {len(times_shown)} values for {n} items")
        self._times_shown = times_shown

    def __getitem__(self, column: str) -> np.ndarray:
        if column == "times_shown":
            return self._times_shown.copy()
        try:
            values = self._columns[column]
        except KeyError:
            raise KeyError(
                f"Items has no column {column!r}; columns: {', '.join(self.columns)}"
            ) from None
        return values.copy() if self._index is None else values[self._index]

    def __len__(self) -> int:
        return len(self._times_shown)

    def __contains__(self, column: object) -> bool:
        return column == "times_shown" or column in self._columns

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self._columns.keys(), "times_shown")

    def __repr__(self) -> str:
        return f"Items({len(self)} items)"

    def subset(self, positions: np.ndarray) -> Items:
        """The items at ``positions`` (e.g. the examined slate positions), as a new view."""
        index = positions if self._index is None else self._index[positions]
        return Items(self._columns, index, self._times_shown[positions])

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Items:
        """Build a view from plain columns, e.g. in a plugin's own tests."""
        columns = {key: np.asarray(value) for key, value in data.items() if key != "times_shown"}
        times = data.get("times_shown")
        return cls(columns, None, None if times is None else np.asarray(times, dtype=np.int64))
