"""Monte Carlo propensities of a slate drawn as the top k of random scores (Thompson
sampling: the scores are posterior draws).

No closed form exists for the probability that independent (or correlated) posterior draws
come out in a given order, so ``samples`` score vectors are drawn, ranked exactly as
``recommend`` ranks one (equal scores in index order) and counted: the joint, every prefix
and every item–position marginal are frequencies of the same draws, so they form one
coherent distribution (the joints of all slates sum to 1, a prefix is the sum of the joints
it covers) and ``samples`` is recorded with them. A slate never drawn has probability 0.

The draws come from a generator seeded by the recommender's propensity seed, its number of
updates and a digest of the observation — never from ``self.rng`` — so asking twice gives
the same numbers and logging never changes the slates. The last observation's ranked draws
are kept, so asking about many slates of one observation draws once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np

from simshop_core.recommender import Propensities

#: Draws behind each propensity: a frequency's standard error is at most 0.005.
DEFAULT_SAMPLES = 10_000
# Score draws per chunk: keeps the (rows, n) work arrays near 8 MB for any n.
_CHUNK_ELEMENTS = 1 << 20

#: ``draw(rng, rows)``: ``rows`` score vectors, (rows, n), from the recommender's posterior.
Draw = Callable[[np.random.Generator, int], np.ndarray]


def observation_digest(observation: dict[str, Any]) -> bytes:
    """A digest of what a bandit's scores depend on: the shopper type and the candidates."""
    h = hashlib.blake2b(digest_size=16)
    h.update(np.ascontiguousarray(observation["user_type"]).tobytes())
    for field in sorted(observation["candidates"]):
        h.update(field.encode())
        h.update(np.ascontiguousarray(observation["candidates"][field]).tobytes())
    return h.digest()


class MonteCarloSlates:
    """The ranked draws of the last (state, observation, k) asked about."""

    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        self._top: np.ndarray | None = None

    def propensities(
        self,
        draw: Draw,
        slate: np.ndarray,
        n: int,
        *,
        samples: int,
        seed: int,
        version: int,
        digest: bytes,
    ) -> Propensities:
        slate = np.asarray(slate, dtype=np.int64)
        k = len(slate)
        key = (seed, version, digest, n, k, samples)
        if key != self._key or self._top is None:
            words = np.frombuffer(digest, dtype=np.uint32).tolist()
            rng = np.random.default_rng([seed, version, *words])
            self._top = _ranked_draws(draw, rng, n, k, samples)
            self._key = key
        match = self._top == slate
        prefix_hits = np.logical_and.accumulate(match, axis=1).sum(axis=0)
        with np.errstate(divide="ignore"):
            prefix = np.log(prefix_hits / samples)
        return Propensities(
            slate_log_prob=float(prefix[-1]),
            prefix_log_probs=prefix,
            position_probs=match.sum(axis=0) / samples,
            samples=samples,
        )


def _ranked_draws(draw: Draw, rng: np.random.Generator, n: int, k: int, samples: int) -> np.ndarray:
    """The top k of ``samples`` score draws, (samples, k), ranked like ``recommend``."""
    top = np.empty((samples, k), dtype=np.int64)
    chunk = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, samples, chunk):
        rows = min(chunk, samples - start)
        scores = draw(rng, rows)
        top[start : start + rows] = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return top
