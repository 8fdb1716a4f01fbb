"""Which arm a shopper sees: a seeded hash of the shopper id.

A shopper's arm is a pure function of the assignment seed and the shopper's index — the same
SplitMix64 keying as the shoppers' random streams (`simshop_core.streams.shopper_keys`), on a
seed of its own — so a returning shopper always sees the same arm, and arms need no table of
who is where. Shopper i goes to arm B when the hash, read as a uniform number in [0, 1), is
below ``split``: the expected share of B is ``split``.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from simshop_core.bounds import check_seed
from simshop_core.streams import shopper_keys

__all__ = ["assign", "assignment_seed", "check_split"]

_TO_UNIT = 2.0**-64
#: What the assignment seed is derived for, so that it differs from every stream seed.
_SALT = int.from_bytes(hashlib.sha256(b"simshop-abtest-assignment").digest()[:8], "little")


def check_split(split: float) -> float:
    """``split`` (the share of shoppers in arm B) as a float in (0, 1), or one ValueError."""
    if isinstance(split, bool) or not isinstance(split, int | float | np.floating | np.integer):
        raise ValueError(f"split={split!r} must be a number in (0, 1), the share of arm B")
    if not (math.isfinite(split) and 0 < split < 1):
        raise ValueError(f"split={split!r} must lie strictly between 0 and 1 (the share of arm B)")
    return float(split)


def assignment_seed(seed: int) -> int:
    """The assignment hash's seed for master seed ``seed`` (independent of the shoppers'
    random streams, which use the master seed itself)."""
    state = np.random.SeedSequence(check_seed(seed), spawn_key=(_SALT,)).generate_state(1)
    return int(state[0])


def assign(shoppers: np.ndarray, seed: int, split: float = 0.5) -> np.ndarray:
    """A bool per shopper index: True = arm B. ``seed`` is the master seed."""
    split = check_split(split)
    keys = shopper_keys(assignment_seed(seed), np.asarray(shoppers, dtype=np.int64))
    return keys.astype(np.float64) * _TO_UNIT < split
