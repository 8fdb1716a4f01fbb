"""A SimShop log as Open Bandit Pipeline's slate bandit feedback, for users who have OBP.

OBP's slate estimators (``SlateStandardIPS``, ``SlateIndependentIPS``,
``SlateRewardInteractionIPS``, and ``SlateOffPolicyEvaluation`` around them; obp 0.5.x,
``obp/ope/estimators_slate.py`` and ``meta_slate.py``) read one flat row per (slate, slot):

- ``slate_id`` (which slate the row belongs to), ``position`` (its slot, 0 = top),
  ``action`` (the item, an index 0..n_unique_action-1), ``reward`` (the slot's reward);
- ``pscore``: the logger's probability of the whole slate, the same on every row of a slate
  (SIPS); ``pscore_item_position``: of this item at this slot (IIPS); ``pscore_cascade``: of
  the slots 0..position (RIPS);
- ``n_rounds``, ``n_unique_action``, ``context`` and ``action_context`` describe the data;
  ``len_list`` is the slate length OBP's estimators are built with (``SIPS(len_list=…)``).

Here a page is a slate; ``action`` is the index of the shown product id among all the product
ids in the log's ``candidate_ids`` (``action_ids[action]`` is the product id), ``reward`` is
the slot's click or purchase (OBP's slate rewards are per slot, so the page reward, with its
non-additive no-click term, is not offered), ``context`` is an empty (n_rounds, 0) array
(the log keeps no per-page features) and ``action_context`` None unless given. For an OBD log
(metadata ``source: obd``) a page is one OBD row: its ``position`` is the OBD position
(``page`` - 1) and ``len_list`` is 3, so the dict matches what OBP makes of OBD itself.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from simshop_core.logs import read_log_arrays, read_log_metadata

_COLUMNS = (
    "page",
    "candidate_ids",
    "slate",
    "clicked",
    "bought",
    "slate_log_prob",
    "prefix_log_probs",
    "position_probs",
)


def to_obp_slate_feedback(
    arrays: Mapping[str, np.ndarray],
    metric: Literal["clicks", "buys"] = "clicks",
    positions: np.ndarray | None = None,
    action_context: np.ndarray | None = None,
) -> dict[str, Any]:
    """OBP's slate bandit feedback dict from `read_log_arrays` output of one logger.

    ``arrays`` needs ``candidate_ids``, ``slate``, ``clicked``, ``bought`` and the three
    propensity columns, with propensities on every page. ``positions`` (int (N, k)) are the
    OBP slots of the slate's items; by default 0..k-1 on every page. ``action_context``
    (float (n_unique_action, d)) is passed through.
    """
    if metric not in ("clicks", "buys"):
        raise ValueError(f"OBP slate rewards are per slot: metric must be clicks or buys, got "
                         f"{metric!r}")  # fmt: skip
    missing = [c for c in _COLUMNS[1:] if c not in arrays]
    if missing:
        raise ValueError(f"the log arrays lack column(s) {', '.join(missing)}")
    slate = np.asarray(arrays["slate"], np.int64)
    candidates = np.asarray(arrays["candidate_ids"], np.int64)
    n, k = slate.shape
    slate_log_prob = np.asarray(arrays["slate_log_prob"], np.float64)
    prefix = np.asarray(arrays["prefix_log_probs"], np.float64)
    marginal = np.asarray(arrays["position_probs"], np.float64)
    if np.isnan(slate_log_prob).any() or np.isnan(prefix).any() or np.isnan(marginal).any():
        raise ValueError("some pages have no propensities: export one logging recommender "
                         "that logged them")  # fmt: skip
    if positions is None:
        positions = np.broadcast_to(np.arange(k), (n, k))
    positions = np.asarray(positions, np.int64)
    if positions.shape != (n, k) or (n and positions.min() < 0):
        raise ValueError(f"positions must be (pages, k) = ({n}, {k}) slots >= 0")
    shown = np.take_along_axis(candidates, slate, axis=1)  # product ids, (N, k)
    # Each product's dense index among the sorted product ids; shown items are candidates.
    action_ids = np.unique(candidates)
    action = np.searchsorted(action_ids, shown)
    reward = arrays["clicked"] if metric == "clicks" else arrays["bought"]
    len_list = int(positions.max()) + 1 if n else k
    return {
        "n_rounds": n,
        "n_unique_action": len(action_ids),
        "len_list": len_list,
        "slate_id": np.repeat(np.arange(n), k),
        "context": np.empty((n, 0)),
        "action_context": action_context,
        "action": action.reshape(-1),
        "action_ids": action_ids,
        "position": positions.reshape(-1),
        "reward": np.asarray(reward, np.float64).reshape(-1),
        "pscore": np.repeat(np.exp(slate_log_prob), k),
        "pscore_item_position": marginal.reshape(-1),
        "pscore_cascade": np.exp(prefix).reshape(-1),
    }


def obp_feedback_from_log(
    directory: str | os.PathLike[str],
    logger: str | None = None,
    metric: Literal["clicks", "buys"] = "clicks",
) -> dict[str, Any]:
    """OBP's slate feedback for the pages of ``logger`` in a log folder (default: the only
    recommender in it with propensities)."""
    arrays = read_log_arrays(directory, [*_COLUMNS, "recommender"])
    names = arrays.pop("recommender")
    has = ~np.isnan(arrays["slate_log_prob"])
    with_props = sorted(set(names[has].tolist()))
    if logger is None:
        if len(with_props) != 1:
            found = ", ".join(with_props) or "none"
            raise ValueError(f"pass --logger: the log needs exactly one recommender with "
                             f"propensities, it has {found}")  # fmt: skip
        logger = with_props[0]
    elif logger not in with_props:
        found = ", ".join(with_props) or "none"
        raise ValueError(f"logger {logger!r} has no pages with propensities in {directory}; "
                         f"those that have: {found}")  # fmt: skip
    rows = names == logger
    arrays = {name: a[rows] for name, a in arrays.items()}
    positions = None
    metadata = read_log_metadata(directory)
    action_context = None
    if metadata.get("source") == "obd":
        from simshop_lab.data.obd import obd_item_features

        positions = arrays["page"][:, None] - 1  # the OBD position, see simshop_lab.data.obd
        action_context = obd_item_features(metadata)
    feedback = to_obp_slate_feedback(arrays, metric, positions, action_context)
    if metadata.get("source") == "obd":
        feedback["len_list"] = int(metadata["n_positions"])
    return feedback


def save_obp_feedback(feedback: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write the dict as a NumPy ``.npz`` (whole or not at all; None values are left out).

    Read it back with `load_obp_feedback` (or ``dict(np.load(path))`` and ``.item()`` on the
    0-d entries); no pickle, so loading runs no code.
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"the OBP export is a .npz file, got {path.name!r}")
    arrays = {k: np.asarray(v) for k, v in feedback.items() if v is not None}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_obp_feedback(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The dict `save_obp_feedback` wrote: 0-d entries back as Python ints, absent optional
    entries (``action_context``) as None."""
    with np.load(path, allow_pickle=False) as data:
        out: dict[str, Any] = {k: (data[k].item() if data[k].ndim == 0 else data[k]) for k in data}
    out.setdefault("action_context", None)
    return out
