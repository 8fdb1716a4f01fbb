"""Per-shopper random streams, counter-based.

Every random number the shop draws for a shopper is a pure function of the master seed, the
shopper's index and *where* it is drawn: the shopper's page counter (pages seen so far, across
visits), a purpose (arrival, candidate pool, utility noise, clicks, …) and a column (a
candidate index or a slate position). So a shopper's trajectory depends only on the seed, its
index and the recommender's decisions — never on how many shoppers are stepped together, who
their neighbours are, or the order anything ran in. Numbers for N shoppers are made in one
vectorised call, with no per-shopper `Generator` (a loop of 4,096 Generator calls alone costs
~2.4 ms a step).

The generator is SplitMix64 (Steele, Lea & Flood 2014, the seeder of xoshiro and of Java's
`SplittableRandom`), used counter-based: the number at position ``w`` of a shopper's stream is
``mix64(key + w · γ)``, where ``key`` is the shopper's 64-bit key and ``w`` packs
(counter, purpose, column). NumPy has no vectorised keyed generator, and its ``Philox`` takes
one key per `Generator`; this is ten lines of uint64 arithmetic that NumPy does at array speed.
"""

from __future__ import annotations

import functools
from enum import IntEnum

import numpy as np

_GAMMA = np.uint64(0x9E3779B97F4A7C15)  # 2⁶⁴ / φ, SplitMix64's increment
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = (np.uint64(s) for s in (30, 27, 31, 11))
_TO_UNIT = 2.0**-53
# A position packs (counter: 24 bits, purpose: 8 bits, call: 12 bits, column: 20 bits).
_COUNTER_SHIFT = np.uint64(40)
_PURPOSE_SHIFT = np.uint64(32)
_CALL_SHIFT = np.uint64(20)
#: Up to this many numbers for one shopper, Python ints beat NumPy's per-call overhead.
_SMALL = 24
#: The most columns one draw can have (candidate indices and catalog rows stay below it).
MAX_COLUMNS = 1 << 20


class Purpose(IntEnum):
    """What a number is drawn for: each purpose has its own part of a shopper's stream."""

    ARRIVAL = 0  # the shopper's type, and the seed of a plugin shopper's `reset`
    POOL = 1  # the candidate pool (counter: pages seen when it is drawn)
    UTILITY = 2  # a shopper model's own noise, by candidate index
    CLICK = 3  # examination and buying draws, by slate position
    PLUGIN = 4  # the seed of the `Generator` a per-shopper plugin model draws from
    RECOMMENDER = 5  # a block's recommender seed (evaluation)
    DYNAMICS = 6  # shopper dynamics: column 0 the budget (counter 0), 1 churn (at a visit's end)


def mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function, a bijection of uint64 that scrambles every bit; in place
    (``z`` is overwritten and returned: temporaries cost more than the arithmetic)."""
    tmp = np.empty_like(z)
    for shift, multiplier in ((_S30, _M1), (_S27, _M2)):
        np.right_shift(z, shift, out=tmp)
        z ^= tmp
        z *= multiplier
    np.right_shift(z, _S31, out=tmp)
    z ^= tmp
    return z


def _to_unit(z: np.ndarray) -> np.ndarray:
    """The top 53 bits as a float in [0, 1), as NumPy's generators do."""
    z >>= _S11
    return z * _TO_UNIT


@functools.lru_cache(maxsize=64)
def master_key(seed: int) -> np.uint64:
    """The 64-bit base of every stream of one run, from the master seed."""
    return np.random.SeedSequence(int(seed)).generate_state(1, np.uint64)[0]


def shopper_keys(seed: int, shoppers: np.ndarray | int) -> np.ndarray:
    """Each shopper's 64-bit key (a uint64 array; shopper indices are 0, 1, 2, …)."""
    index = np.asarray(shoppers, dtype=np.uint64)
    z = np.atleast_1d(index) + np.uint64(1)  # an array: it wraps silently, a scalar warns
    z *= _GAMMA
    z += master_key(seed)
    return mix64(z)


def _stream(
    keys: np.ndarray, counters: np.ndarray | int, purpose: int, columns: np.ndarray, call: int
) -> np.ndarray:
    """``key + position · γ`` for every (key, column): (N, columns) uint64, mixed in place."""
    head = (int(purpose) << 32) | (int(call) << 20)
    counter = np.asarray(counters, dtype=np.uint64)
    z = np.left_shift(counter, _COUNTER_SHIFT)
    z |= np.uint64(head)
    z = z[:, None] if z.ndim else z[None, None]
    z = z | np.asarray(columns, dtype=np.uint64)  # broadcasts to (N, columns)
    if z.shape[0] != len(keys):
        z = np.broadcast_to(z, (len(keys), z.shape[1])).copy()
    # Array arithmetic wraps modulo 2⁶⁴ silently (as SplitMix64 wants); np.errstate would
    # cost more than the arithmetic on a small batch.
    z *= _GAMMA
    z += np.asarray(keys, dtype=np.uint64)[:, None]
    return mix64(z)


_MASK = (1 << 64) - 1
_G, _A, _B = int(_GAMMA), int(_M1), int(_M2)


def small_uniforms(
    key: np.ndarray | int, counter: int, purpose: int, columns: list[int], call: int = 0
) -> list[float]:
    """`uniforms` for one shopper and a few columns, in Python ints: the same numbers, bit
    for bit, without NumPy's per-call cost (which would be most of one shopper's page)."""
    key = int(key[0]) if isinstance(key, np.ndarray) else int(key)
    start = key + ((int(counter) << 40) | (int(purpose) << 32) | (int(call) << 20)) * _G
    out = []
    for column in columns:  # (start + column·γ) is key + (base | column)·γ: base's low bits are 0
        z = (start + column * _G) & _MASK
        z = ((z ^ (z >> 30)) * _A) & _MASK
        z = ((z ^ (z >> 27)) * _B) & _MASK
        out.append(((z ^ (z >> 31)) >> 11) * _TO_UNIT)
    return out


def bits(
    keys: np.ndarray, counters: np.ndarray | int, purpose: int, columns: np.ndarray, call: int = 0
) -> np.ndarray:
    """Raw 64-bit numbers: one row per key, one column per ``columns`` entry (which may also
    be an (N, columns) array: a column per row)."""
    return _stream(keys, counters, purpose, columns, call)


def uniforms(
    keys: np.ndarray, counters: np.ndarray | int, purpose: int, columns: np.ndarray, call: int = 0
) -> np.ndarray:
    """Uniform floats in [0, 1) (53 bits), shaped (len(keys), columns)."""
    if len(keys) == 1 and np.size(columns) <= _SMALL:
        counter = int(np.asarray(counters).reshape(-1)[0])
        cols = np.asarray(columns).reshape(-1).tolist()
        return np.array([small_uniforms(keys, counter, purpose, cols, call)])
    return _to_unit(_stream(keys, counters, purpose, columns, call))


def seeds(keys: np.ndarray, counters: np.ndarray | int, purpose: int, column: int = 0) -> list[int]:
    """One 64-bit seed per key (to seed a `Generator` for code that needs one)."""
    return bits(keys, counters, purpose, np.full(1, column, dtype=np.uint64))[:, 0].tolist()


class BatchRandom:
    """The random numbers a shopper model's batch form draws from: one row per shopper,
    one column per item. Row i depends only on shopper i's key, its page counter and the
    item's column (its candidate index), so an item's noise is the same whichever slate it
    is shown on — the oracle sees exactly the utility the shopper will have. Each call
    draws fresh numbers."""

    __slots__ = ("_calls", "columns", "counters", "keys")

    def __init__(self, keys: np.ndarray, counters: np.ndarray, columns: np.ndarray) -> None:
        self.keys = keys
        self.counters = counters
        self.columns = columns  # (N, k) candidate index of every item
        self._calls = 0

    @property
    def shape(self) -> tuple[int, int]:
        return self.columns.shape  # type: ignore[return-value]

    def random(self) -> np.ndarray:
        """U[0, 1), one per item."""
        self._calls += 1
        if len(self.keys) == 1 and self.columns.size <= _SMALL:  # one shopper: Python ints
            counter = int(self.counters[0])
            row = small_uniforms(
                self.keys, counter, Purpose.UTILITY, self.columns[0].tolist(), self._calls
            )
            return np.array([row])
        return uniforms(self.keys, self.counters, Purpose.UTILITY, self.columns, self._calls)

    def uniform(self, low: float, high: float) -> np.ndarray:
        """U[low, high), one per item."""
        return low + (high - low) * self.random()

    def normal(self, loc: float = 0.0, scale: float = 1.0) -> np.ndarray:
        """N(loc, scale²), one per item (Box–Muller from two uniforms: NumPy alone, and the
        same numbers element by element whatever the batch)."""
        radius = np.sqrt(-2.0 * np.log(1.0 - self.random()))  # 1 − u is in (0, 1]
        return loc + scale * (radius * np.cos(2.0 * np.pi * self.random()))


class GeneratorRandom:
    """`BatchRandom`'s methods over one shopper's `numpy.random.Generator`, shaped (1, k):
    what a model written in batch form alone draws from when asked per shopper
    (`simshop_core.user.BatchUser.utility`). The numbers are the Generator's own."""

    __slots__ = ("_rng", "shape")

    def __init__(self, rng: np.random.Generator, k: int) -> None:
        self._rng = rng
        self.shape = (1, k)

    def random(self) -> np.ndarray:
        return self._rng.random(self.shape)

    def uniform(self, low: float, high: float) -> np.ndarray:
        return self._rng.uniform(low, high, self.shape)

    def normal(self, loc: float = 0.0, scale: float = 1.0) -> np.ndarray:
        return self._rng.normal(loc, scale, self.shape)
