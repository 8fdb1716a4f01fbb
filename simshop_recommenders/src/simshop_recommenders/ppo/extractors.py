"""The features extractor: one item encoder for candidates and click history, and a context.

Input is `SlateTrainingEnv`'s flat observation. Each item (candidate or history row) is
encoded by the same small network from

- embeddings of its ``category``, ``subcategory``, ``brand`` and ``color`` codes (vocabulary
  sizes from the env's vocabularies, so a catalog with other values is a different model);
- its numeric fields, standardised with statistics of the catalog the model was trained on
  (``log1p`` first for the skewed price, popularity and age);
- how often this shopper has been shown it (``times_shown``, scaled by its maximum).

The context summarises the shopper type (one-hot), the session fields, the click history
(a masked mean, so a row without history is encoded on its own and never changes other
rows) and the candidate pool (mean). The output is the per-candidate encodings, flattened,
followed by the context; `simshop_recommenders.ppo.policy` scores each candidate from its
encoding and the context. The statistics are buffers of this module and arguments of its
constructor, so they are saved with the model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from simshop_core.catalog import CATEGORICAL_COLUMNS
from simshop_core.env import SESSION_FIELDS, ShopEnv
from simshop_recommenders.ppo.wrapper import ITEM_COLUMNS

#: Numeric item columns and whether they are log1p-transformed before standardising.
LOG_COLUMNS = {"price": True, "quality_score": False, "popularity": True, "days_since_release": True}
_NUMERIC = tuple(LOG_COLUMNS)
_COLUMN = {name: i for i, name in enumerate(ITEM_COLUMNS)}


def normalisation_stats(env: ShopEnv) -> dict[str, Any]:
    """What the extractor needs from the env and its catalog: plain JSON-able values."""
    columns = env.catalog.columns
    numeric = {}
    for name, use_log in LOG_COLUMNS.items():
        values = np.asarray(columns[name], dtype=np.float64)
        values = np.log1p(values) if use_log else values
        numeric[name] = [float(values.mean()), float(values.std() or 1.0)]
    session_high = [float(env.observation_space["session"][f].high) for f in SESSION_FIELDS]
    return {
        "numeric": numeric,
        "times_shown_max": float(env.visits_per_shopper * env.limits.pages),
        "session_high": session_high,
        "vocab_sizes": {c: len(env.vocabularies[c]) for c in CATEGORICAL_COLUMNS},
    }


class ItemEncoder(nn.Module):
    """(…, len(ITEM_COLUMNS)) raw item rows → (…, item_dim) encodings."""

    def __init__(
        self,
        stats: Mapping[str, Any],
        item_dim: int,
        embed_dims: Mapping[str, int],
    ) -> None:
        super().__init__()
        means = [stats["numeric"][c][0] for c in _NUMERIC]
        stds = [stats["numeric"][c][1] for c in _NUMERIC]
        self.register_buffer("mean", th.tensor(means, dtype=th.float32))
        self.register_buffer("std", th.tensor(stds, dtype=th.float32))
        self.register_buffer("log_mask", th.tensor([LOG_COLUMNS[c] for c in _NUMERIC]))
        self.register_buffer(
            "shown_scale", th.tensor(1.0 / math.log1p(max(stats["times_shown_max"], 1.0)))
        )
        sizes = stats["vocab_sizes"]
        self.register_buffer(
            "code_max", th.tensor([max(sizes[c] - 1, 0) for c in CATEGORICAL_COLUMNS])
        )
        self.embeddings = nn.ModuleList(
            nn.Embedding(max(sizes[c], 1), embed_dims[c]) for c in CATEGORICAL_COLUMNS
        )
        n_in = len(_NUMERIC) + 2 + sum(embed_dims[c] for c in CATEGORICAL_COLUMNS)
        self.net = nn.Sequential(
            nn.Linear(n_in, item_dim), nn.ReLU(), nn.Linear(item_dim, item_dim), nn.ReLU()
        )

    def forward(self, items: th.Tensor) -> th.Tensor:
        numeric = items[..., : len(_NUMERIC)]
        numeric = th.where(self.log_mask, th.log1p(numeric.clamp(min=0.0)), numeric)
        numeric = (numeric - self.mean) / self.std
        shown = items[..., _COLUMN["times_shown"]].clamp(min=0.0).unsqueeze(-1)
        # Two views of exposure: log-scaled over its whole range, and linear up to 10, where
        # familiarity effects happen.
        exposure = th.cat([th.log1p(shown) * self.shown_scale, shown.clamp(max=10.0) / 10.0], -1)
        codes = items[..., _COLUMN["category"] :].round().long()
        codes = th.minimum(codes.clamp(min=0), self.code_max)
        embedded = [emb(codes[..., i]) for i, emb in enumerate(self.embeddings)]
        return self.net(th.cat([numeric, exposure, *embedded], dim=-1))


class ShopFeaturesExtractor(BaseFeaturesExtractor):
    """Flat observation → ``[candidate encodings (n·item_dim), context (context_dim)]``."""

    def __init__(
        self,
        observation_space: spaces.Dict,
        stats: Mapping[str, Any],
        item_dim: int = 32,
        context_dim: int = 64,
        embed_dims: Mapping[str, int] | None = None,
    ) -> None:
        n, n_columns = observation_space["candidates"].shape
        if n_columns != len(ITEM_COLUMNS):
            raise ValueError(f"expected {len(ITEM_COLUMNS)} item columns, got {n_columns}")
        n_types = observation_space["user_type"].shape[0]
        n_session = observation_space["session"].shape[0]
        super().__init__(observation_space, features_dim=n * item_dim + context_dim)
        self.num_candidates = n
        self.item_dim = item_dim
        self.context_dim = context_dim
        embed_dims = dict(embed_dims or {"category": 4, "subcategory": 4, "brand": 8, "color": 4})
        self.items = ItemEncoder(stats, item_dim, embed_dims)
        session_high = th.tensor(_as_floats(stats["session_high"], n_session))
        self.register_buffer("session_scale", 1.0 / session_high.clamp(min=1.0))
        self.context = nn.Sequential(
            nn.Linear(n_types + n_session + 2 * item_dim + 1, context_dim), nn.ReLU()
        )

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        candidates = self.items(observations["candidates"])  # (batch, n, item_dim)
        history = self.items(observations["history"])  # (batch, h, item_dim)
        mask = observations["history_mask"].unsqueeze(-1)  # (batch, h, 1)
        clicks = mask.sum(dim=1)  # (batch, 1)
        # Masked mean per row: a row with no history gets zeros (and clicks = 0).
        history_mean = (history * mask).sum(dim=1) / clicks.clamp(min=1.0)
        context = self.context(
            th.cat(
                [
                    observations["user_type"],
                    observations["session"] * self.session_scale,
                    history_mean,
                    clicks / mask.shape[1],
                    candidates.mean(dim=1),
                ],
                dim=-1,
            )
        )
        return th.cat([candidates.flatten(1), context], dim=-1)


def _as_floats(values: Sequence[float], length: int) -> list[float]:
    values = [float(v) for v in values]
    if len(values) != length:
        raise ValueError(f"expected {length} session bounds, got {len(values)}")
    return values
