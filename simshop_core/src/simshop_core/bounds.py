"""The accepted ranges of seeds, run sizes and numeric options, in one place.

The CLI declares the same ranges on its options (``simshop_cli.options`` mirrors the numbers
without importing core, and a test keeps them in step); the Python API checks them here, so a
bad value is one `ValueError` naming the argument, raised before any work starts.

- **Seeds**: ``0 <= seed <= SEED_MAX`` (``2**32 - 1``) everywhere. numpy's `SeedSequence` and
  gymnasium's ``reset(seed=)`` take any non-negative int, but ``np.random.seed`` — which
  stable-baselines3 calls when training — takes only 32 bits, so 32 bits is what every command
  can honour.
- **Sizes** are bounded so that a run cannot die of a `MemoryError` half-way: a catalog
  holds at most `MAX_ITEMS` products, generated or loaded (loading and validating a million
  peaks at ~560 MB: `benchmarks/catalog_memory.py`);
  an evaluation cell keeps five 8-byte numbers per visit, so `MAX_EPISODES` visits
  are 40 MB per cell and worker; at most `MAX_JOBS` worker processes.
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

import numpy as np

SEED_MAX = 2**32 - 1
MAX_ITEMS = 1_000_000
MAX_EPISODES = 1_000_000
MAX_JOBS = 64

__all__ = [
    "MAX_EPISODES",
    "MAX_ITEMS",
    "MAX_JOBS",
    "SEED_MAX",
    "OptionError",
    "check_int",
    "check_seed",
    "int_problem",
    "is_int",
    "real_problem",
]


class OptionError(ValueError):
    """A bad value for one named option of ``owner``; ``str()`` is one line naming both."""

    def __init__(self, owner: str, option: str, value: Any, why: str) -> None:
        self.owner, self.option, self.value, self.why = owner, option, value, why
        super().__init__(f"invalid {owner} option {option}={value!r}: {why}")


def is_int(value: Any) -> bool:
    """A Python or NumPy integer; a bool is not one (``True`` is no count)."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def int_problem(value: Any, low: int, high: int | None = None) -> str | None:
    """Why ``value`` is not an integer in [low, high] (None: it is); the reason says what is
    accepted."""
    wanted = (
        f"an integer of at least {low:,}" if high is None else f"an integer in [{low:,}, {high:,}]"
    )
    if not is_int(value):
        return f"must be {wanted}, not {type(value).__name__}"
    if value < low or (high is not None and value > high):
        return f"must be {wanted}"
    return None


def real_problem(value: Any, limit: float | None = None) -> str | None:
    """Why ``value`` is not a finite real number with ``|value| <= limit`` (None: it is)."""
    is_real = isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )
    if not is_real:
        return f"must be a number, not {type(value).__name__}"
    if not math.isfinite(value):
        return "must be a finite number"
    if limit is not None and abs(value) > limit:
        return f"must lie in [{-limit:g}, {limit:g}]"
    return None


def check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    """``value`` as an int, or a `ValueError` naming ``name`` and the accepted range."""
    why = int_problem(value, low, high)
    if why is not None:
        raise ValueError(f"{name}={value!r} {why}")
    return int(value)


def check_seed(seed: Any, name: str = "seed") -> int:
    """A seed in [0, `SEED_MAX`], the one range every command and function takes."""
    return check_int(name, seed, 0, SEED_MAX)


def dataclass_option(cls: type, value: Any, name: str, also: str = "") -> Any:
    """A `ShopEnv` option held in a dataclass (`RewardWeights`, `EpisodeLimits`, a dynamic)
    from the dataclass itself or a dict of some of its fields; the dataclass's
    ``__post_init__`` checks the values, and a bad one is named as ``name.key``. ``also``
    names what else the option accepts, for the error line."""
    if isinstance(value, cls):
        return value
    known = sorted(f.name for f in fields(cls))
    if not isinstance(value, dict):
        raise ValueError(
            f"invalid ShopEnv option {name}={value!r}: want {also}a dict with some of the keys "
            f"{', '.join(known)}"
        )
    extra = sorted(map(str, set(value) - set(known)))
    if extra:
        raise ValueError(
            f"invalid ShopEnv option {name}: unknown key(s) {', '.join(extra)}; "
            f"known: {', '.join(known)}"
        )
    try:
        return cls(**value)
    except OptionError as exc:
        raise OptionError("ShopEnv", f"{name}.{exc.option}", exc.value, exc.why) from None
