"""The features extractor: one item encoder for candidates and click history, and a context.

Input is the flat observation of `simshop_recommenders.ppo.wrapper`. Each item (candidate or
history row) is encoded by the same small network from

- learned embeddings of its ``category``, ``subcategory``, ``brand`` and ``color`` (one
  table row per vocabulary value, vocabulary sizes from the env, so a catalog with other
  values needs another model);
- its numeric fields, standardised with statistics of the catalog the model was trained on
  (``log1p`` first for the skewed price, popularity and age);
- how often this shopper has been shown it (``times_shown``, two scalings).

The context summarises the shopper type (one-hot), the session fields, the click history
(a masked mean, so a row without history is encoded on its own and never changes other
rows) and the candidate pool (mean).

`ShopFeaturesExtractor` returns the pair ``(candidates (batch, n, item_dim), context (batch,
context_dim))`` rather than one flat tensor: only `SlatePolicy`'s heads read it, and
flattening 50 encodings to slice them apart again cost a third of the update time.
The statistics are constructor arguments and buffers, so they are saved with the model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from simshop_core.catalog import CATEGORICAL_COLUMNS
from simshop_core.env import ShopEnv
from simshop_core.observation import SESSION_FIELDS
from simshop_recommenders.ppo.wrapper import ITEM_COLUMNS

#: Numeric item columns and whether they are log1p-transformed before standardising.
LOG_COLUMNS = {
    "price": True,
    "quality_score": False,
    "popularity": True,
    "days_since_release": True,
}
_NUMERIC = tuple(LOG_COLUMNS)
_SHOWN = ITEM_COLUMNS.index("times_shown")
_FIRST_CODE = ITEM_COLUMNS.index(CATEGORICAL_COLUMNS[0])
_N_DENSE = len(_NUMERIC) + 2  # standardised numeric fields + two exposure scalings


def normalisation_stats(env: ShopEnv) -> dict[str, Any]:
    """What the extractor needs from the env and its catalog, as plain JSON-able values."""
    columns = env.catalog.columns
    numeric = {}
    for name, use_log in LOG_COLUMNS.items():
        values = np.asarray(columns[name], dtype=np.float64)
        values = np.log1p(values) if use_log else values
        numeric[name] = [float(values.mean()), float(values.std() or 1.0)]
    return {
        "numeric": numeric,
        "times_shown_max": float(env.visits_per_shopper * env.limits.pages),
        "session_high": [float(env.observation_space["session"][f].high) for f in SESSION_FIELDS],
        "vocab_sizes": {c: len(env.vocabularies[c]) for c in CATEGORICAL_COLUMNS},
    }


class ItemEncoder(nn.Module):
    """(…, len(ITEM_COLUMNS)) raw item rows → (…, item_dim) encodings.

    The first layer sees the dense fields and the four categorical values. Each value has an
    ``item_dim``-wide embedding and the four are summed (as ``nn.EmbeddingBag(mode="sum")``
    would), computed as ``one-hot @ table`` inside the first linear layer: on CPU one matrix
    product is ~3x faster than an embedding lookup's backward pass.
    """

    def __init__(self, stats: Mapping[str, Any], item_dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", th.tensor([stats["numeric"][c][0] for c in _NUMERIC]))
        self.register_buffer("std", th.tensor([stats["numeric"][c][1] for c in _NUMERIC]))
        self.register_buffer("log_mask", th.tensor([LOG_COLUMNS[c] for c in _NUMERIC]))
        self.shown_scale = 1.0 / math.log1p(max(float(stats["times_shown_max"]), 1.0))
        sizes = [max(int(stats["vocab_sizes"][c]), 1) for c in CATEGORICAL_COLUMNS]
        self.register_buffer("code_max", th.tensor(sizes) - 1)
        # Column c's values occupy inputs offset_c … offset_c + size_c − 1 after the dense ones.
        offsets = _N_DENSE + np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.register_buffer("code_offset", th.tensor(offsets.tolist()))
        self.n_inputs = _N_DENSE + sum(sizes)
        self.first = nn.Linear(self.n_inputs, item_dim)
        self.rest = nn.Sequential(nn.ReLU(), nn.Linear(item_dim, item_dim), nn.ReLU())
        # The same standardisation folded into one multiply-add over the numeric fields and
        # the log-scaled exposure (derived from the buffers above, so not saved twice).
        n = len(_NUMERIC)
        log_mask = th.cat([self.log_mask, th.tensor([True])])
        scale = th.cat([1.0 / self.std, th.tensor([self.shown_scale])]).float()
        shift = th.cat([-self.mean / self.std, th.zeros(1)]).float()
        self.register_buffer("_log_mask", log_mask, persistent=False)
        self.register_buffer("_scale", scale, persistent=False)
        self.register_buffer("_shift", shift, persistent=False)
        self.register_buffer("_code_max", self.code_max.float(), persistent=False)
        assert (n, n + 1) == (_SHOWN, _FIRST_CODE)  # the column layout the forward relies on

    def forward(self, items: th.Tensor) -> th.Tensor:
        lead = items.shape[:-1]
        rows = items.reshape(-1, items.shape[-1])
        # Few passes over the rows: in an update they are 512 × 55 items, and on CPU each
        # elementwise pass over them costs as much as a small matrix product.
        raw = rows[:, : _SHOWN + 1].clamp(min=0.0)  # the numeric fields and times_shown
        inputs = rows.new_zeros(rows.shape[0], self.n_inputs)
        # Standardised numeric fields, then two views of exposure: log-scaled over its whole
        # range, and linear up to 10, where familiarity effects happen.
        inputs[:, : _SHOWN + 1] = th.addcmul(
            self._shift, th.where(self._log_mask, th.log1p(raw), raw), self._scale
        )
        inputs[:, _SHOWN + 1] = raw[:, _SHOWN].clamp(max=10.0) * 0.1
        codes = th.minimum(rows[:, _FIRST_CODE:].round().clamp(min=0.0), self._code_max)
        inputs.scatter_(1, codes.long() + self.code_offset, 1.0)
        return self.rest(self.first(inputs)).reshape(*lead, -1)


class ShopFeaturesExtractor(BaseFeaturesExtractor):
    """Flat observation → ``(candidate encodings (batch, n, item_dim), context)``."""

    def __init__(
        self,
        observation_space: spaces.Dict,
        stats: Mapping[str, Any],
        item_dim: int = 32,
        context_dim: int = 64,
    ) -> None:
        n, n_columns = observation_space["candidates"].shape
        if n_columns != len(ITEM_COLUMNS):
            raise ValueError(f"expected {len(ITEM_COLUMNS)} item columns, got {n_columns}")
        n_types = observation_space["user_type"].shape[0]
        n_session = observation_space["session"].shape[0]
        if len(stats["session_high"]) != n_session:
            raise ValueError(f"expected {n_session} session bounds in the normalisation stats")
        # features_dim is nominal (SB3 wants one): the output is a pair, see the module.
        super().__init__(observation_space, features_dim=n * item_dim + context_dim)
        self.num_candidates = n
        self.item_dim = item_dim
        self.context_dim = context_dim
        self.items = ItemEncoder(stats, item_dim)
        session_high = th.tensor([float(v) for v in stats["session_high"]])
        self.register_buffer("session_scale", 1.0 / session_high.clamp(min=1.0))
        self.context = nn.Sequential(
            nn.Linear(n_types + n_session + 2 * item_dim + 1, context_dim), nn.ReLU()
        )

    def forward(self, observations: dict[str, th.Tensor]) -> tuple[th.Tensor, th.Tensor]:
        candidates = self.items(observations["candidates"])  # (batch, n, item_dim)
        history = self.items(observations["history"])  # (batch, h, item_dim)
        mask = observations["history_mask"].unsqueeze(-1)  # (batch, h, 1)
        clicks = mask.sum(dim=1)  # (batch, 1)
        # Masked mean, row by row: a row without history gets zeros and touches no other row.
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
        return candidates, context
