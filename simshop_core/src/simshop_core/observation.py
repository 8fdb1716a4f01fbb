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


def session_fields(visit: int, page: int, clicks: int, buys: int, streak: int) -> dict[str, Any]:
    return {
        "visit": np.array(visit, dtype=np.int64),
        "page": np.array(page, dtype=np.int64),
        "clicks": np.array(clicks, dtype=np.int64),
        "buys": np.array(buys, dtype=np.int64),
        "no_click_streak": np.array(streak, dtype=np.int64),
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
