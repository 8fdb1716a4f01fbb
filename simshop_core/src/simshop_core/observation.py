"""The observation: its `Dict` space and the feature tables it is copied from.

Per-item fields of every catalog row are computed once and stacked by dtype, so that one
observation is two copies (ints, floats) with a view per field, not ten.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from simshop_core.catalog import CATEGORICAL_COLUMNS, Catalog

OTHER = "other"
# Per-item fields of ``observation["candidates"]`` and ``observation["history"]``, by dtype.
FLOAT_FIELDS = ("price", "quality_score", "popularity", "days_since_release")
INT_FIELDS = ("product_id", "times_shown", *CATEGORICAL_COLUMNS)
SESSION_FIELDS = ("visit", "page", "clicks", "buys", "no_click_streak")
#: The row of ``times_shown`` in the int table.
TIMES_SHOWN = INT_FIELDS.index("times_shown")


class FeatureTable:
    """Every catalog row's observation fields, stacked by dtype: ``ints`` is
    (len(INT_FIELDS), rows + 1) and ``floats`` (len(FLOAT_FIELDS), rows + 1); the extra
    all-zero column is the padding row of the click history."""

    def __init__(self, catalog: Catalog, vocabularies: dict[str, list[str]]) -> None:
        columns = catalog.columns
        table: dict[str, np.ndarray] = {"product_id": columns["product_id"].astype(np.int64)}
        table["times_shown"] = np.zeros(len(catalog), dtype=np.int64)  # filled per shopper
        for name in FLOAT_FIELDS:
            table[name] = columns[name].astype(np.float32)
        for name in CATEGORICAL_COLUMNS:
            table[name] = catalog.codes(name, vocabularies[name])
        self.fields = table
        self.padding_row = len(catalog)
        self.ints = np.pad(np.stack([table[name] for name in INT_FIELDS]), ((0, 0), (0, 1)))
        self.floats = np.pad(np.stack([table[name] for name in FLOAT_FIELDS]), ((0, 0), (0, 1)))


def observation_space(
    features: FeatureTable,
    vocabularies: dict[str, list[str]],
    *,
    n_user_types: int,
    num_candidates: int,
    n_last_clicks: int,
    max_shown: int,
    max_pages: int,
    max_visits: int,
    slate_size: int,
) -> spaces.Dict:
    """The env's observation space; every `Box` has finite bounds from the catalog."""

    def item_space(length: int) -> dict[str, spaces.Space]:
        out: dict[str, spaces.Space] = {}
        ids = features.fields["product_id"]
        out["product_id"] = spaces.Box(min(0, int(ids.min())), int(ids.max()), (length,), np.int64)
        for name in FLOAT_FIELDS:
            high = np.float32(features.fields[name].max())
            out[name] = spaces.Box(np.float32(0), high, (length,), np.float32)
        out["times_shown"] = spaces.Box(0, max_shown, (length,), np.int64)
        for name in CATEGORICAL_COLUMNS:
            high = max(len(vocabularies[name]) - 1, 0)
            out[name] = spaces.Box(0, high, (length,), np.int64)
        return out

    max_count = max_pages * slate_size
    session_high = {
        "visit": max_visits,
        "page": max_pages + 1,
        "clicks": max_count,
        "buys": max_count,
        "no_click_streak": max_pages,
    }
    history = item_space(n_last_clicks)
    history["mask"] = spaces.Box(0, 1, (n_last_clicks,), np.int8)
    return spaces.Dict(
        {
            "user_type": spaces.Box(0.0, 1.0, (n_user_types,), np.float32),
            "session": spaces.Dict(
                {k: spaces.Box(0, v, (), np.int64) for k, v in session_high.items()}
            ),
            "candidates": spaces.Dict(item_space(num_candidates)),
            "history": spaces.Dict(history),
        }
    )


def _scalar(value: int) -> np.ndarray:
    array = np.array(value, dtype=np.int64)
    array.flags.writeable = False
    return array


#: 0-d arrays of the small counts of the session fields, to copy: a copy costs half of
#: making one (every observation holds fresh arrays: gymnasium's checker insists).
_SCALARS = tuple(_scalar(i) for i in range(256))


def session_fields(visit: int, page: int, clicks: int, buys: int, streak: int) -> dict[str, Any]:
    """The ``session`` fields as 0-d int64 arrays (counts are never negative)."""
    s = _SCALARS
    try:
        return {
            "visit": s[visit].copy(),
            "page": s[page].copy(),
            "clicks": s[clicks].copy(),
            "buys": s[buys].copy(),
            "no_click_streak": s[streak].copy(),
        }
    except IndexError:  # a count past the table: made afresh
        return {
            "visit": _scalar(visit),
            "page": _scalar(page),
            "clicks": _scalar(clicks),
            "buys": _scalar(buys),
            "no_click_streak": _scalar(streak),
        }


def item_fields(ints: np.ndarray, floats: np.ndarray, mask: np.ndarray | None = None) -> dict:
    """Per-field views of the stacked blocks (rows in INT_FIELDS and FLOAT_FIELDS order)."""
    fields = {
        "product_id": ints[0],
        "price": floats[0],
        "quality_score": floats[1],
        "popularity": floats[2],
        "days_since_release": floats[3],
        "times_shown": ints[1],
        "category": ints[2],
        "subcategory": ints[3],
        "brand": ints[4],
        "color": ints[5],
    }
    if mask is not None:
        fields["mask"] = mask
    return fields


def user_type_vocabulary(names: Sequence[str]) -> tuple[str, ...]:
    """The shopper vocabulary: the given names in order, then ``other``."""
    return (*(t for t in names if t != OTHER), OTHER)
