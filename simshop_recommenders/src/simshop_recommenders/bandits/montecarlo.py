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
the same numbers and logging never changes the slates. The last observation's draws are
kept, counted by prefix (`RankedDraws`), so asking about many slates of one observation
draws once and each further question costs O(k log samples).
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
        self._ranked: RankedDraws | None = None

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
        if key != self._key or self._ranked is None:
            words = np.frombuffer(digest, dtype=np.uint32).tolist()
            rng = np.random.default_rng([seed, version, *words])
            self._ranked = RankedDraws(_ranked_draws(draw, rng, n, k, samples), n)
            self._key = key
        prefix_hits, position_hits = self._ranked.count(slate)
        with np.errstate(divide="ignore"):
            prefix = np.log(prefix_hits / samples)
        return Propensities(
            slate_log_prob=float(prefix[-1]),
            prefix_log_probs=prefix,
            position_probs=position_hits / samples,
            samples=samples,
        )


class RankedDraws:
    """The top k of many draws, counted: per position, how often each item was there, and
    how often each prefix (positions 0..i) came out. A prefix is numbered by the number of
    its own prefix and its last item (``number · n + item``), level by level, so the
    numbers stay below ``samples · n`` for any k."""

    def __init__(self, top: np.ndarray, n: int) -> None:
        samples, k = top.shape
        self.n = n
        self.items = np.stack([np.bincount(top[:, i], minlength=n) for i in range(k)])
        self.codes: list[np.ndarray] = []  # per level: the prefixes' codes, sorted
        self.counts: list[np.ndarray] = []  # and how many draws start with each
        number = np.zeros(samples, dtype=np.int64)
        for i in range(k):
            codes, number, counts = np.unique(
                number * n + top[:, i], return_inverse=True, return_counts=True
            )
            self.codes.append(codes)
            self.counts.append(counts)

    def count(self, slate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(draws starting with each prefix of ``slate``, draws with ``slate[i]`` at i)."""
        k = len(slate)
        prefix = np.zeros(k)
        number = 0
        for i, item in enumerate(slate.tolist()):
            code = number * self.n + item
            codes = self.codes[i]
            number = int(np.searchsorted(codes, code))
            if number == len(codes) or codes[number] != code:
                break  # never drawn: this prefix and every longer one count 0
            prefix[i] = self.counts[i][number]
        return prefix, self.items[np.arange(k), slate].astype(np.float64)


def _ranked_draws(draw: Draw, rng: np.random.Generator, n: int, k: int, samples: int) -> np.ndarray:
    """The top k of ``samples`` score draws, (samples, k), ranked like ``recommend``."""
    top = np.empty((samples, k), dtype=np.int64)
    chunk = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, samples, chunk):
        rows = min(chunk, samples - start)
        scores = draw(rng, rows)
        top[start : start + rows] = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return top
