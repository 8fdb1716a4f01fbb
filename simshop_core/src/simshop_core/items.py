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


class ItemBatch:
    """The items of N shoppers at once, for a shopper model's batch form: ``items["price"]``
    is an (N, k) array, row i holding shopper i's items. ``codes("brand")`` gives integer
    codes into ``vocabulary("brand")``, which a model can turn into numbers with one lookup
    table instead of a dict lookup per item."""

    __slots__ = ("_codes", "_columns", "_rows", "_times_shown")

    def __init__(
        self,
        columns: Mapping[str, np.ndarray],
        rows: np.ndarray,
        times_shown: np.ndarray,
        codes: Mapping[str, tuple[np.ndarray, tuple[str, ...]]],
    ) -> None:
        self._columns = columns
        self._rows = rows  # (N, k) catalog rows
        self._times_shown = times_shown
        self._codes = codes

    def __getitem__(self, column: str) -> np.ndarray:
        if column == "times_shown":
            return self._times_shown.copy()
        try:
            values = self._columns[column]
        except KeyError:
            raise KeyError(
                f"ItemBatch has no column {column!r}; columns: {', '.join(self.columns)}"
            ) from None
        return values[self._rows]

    @property
    def shape(self) -> tuple[int, int]:
        """(shoppers, items per shopper)."""
        return self._rows.shape  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self._columns.keys(), "times_shown")

    def codes(self, column: str) -> np.ndarray:
        """(N, k) integer codes of a categorical column (into `vocabulary`)."""
        return self._codes[column][0][self._rows]

    def vocabulary(self, column: str) -> tuple[str, ...]:
        """The values the codes of ``column`` stand for (sorted)."""
        return self._codes[column][1]

    @classmethod
    def from_items(cls, items: Items) -> ItemBatch:
        """One shopper's `Items` as a batch of one (1, k), for a model written in batch form
        alone; a categorical column's codes index the sorted values among these items."""
        n = len(items)
        rows = np.arange(n) if items._index is None else items._index
        return cls(items._columns, rows[None], items._times_shown[None], _LocalCodes(items))

    def row(self, i: int) -> Items:
        """Shopper i's items as an `Items` view (the per-shopper form)."""
        return Items(self._columns, self._rows[i], self._times_shown[i])

    def __repr__(self) -> str:
        n, k = self.shape
        return f"ItemBatch({n} shoppers × {k} items)"


class _LocalCodes(Mapping[str, tuple[np.ndarray, tuple[str, ...]]]):
    """Codes of a categorical column over one `Items` view's own values, made on first ask
    (codes by catalog row: the view's rows get theirs, the others 0)."""

    def __init__(self, items: Items) -> None:
        self._items = items
        self._made: dict[str, tuple[np.ndarray, tuple[str, ...]]] = {}

    def __getitem__(self, column: str) -> tuple[np.ndarray, tuple[str, ...]]:
        if column not in self._made:
            items = self._items
            vocabulary, codes = np.unique(items[column], return_inverse=True)
            if items._index is None:
                by_row = codes
            else:
                by_row = np.zeros(int(items._index.max()) + 1, dtype=np.int64)
                by_row[items._index] = codes
            self._made[column] = (by_row, tuple(vocabulary.tolist()))
        return self._made[column]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items.columns)

    def __len__(self) -> int:
        return len(self._items.columns)
