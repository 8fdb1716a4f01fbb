"""The one rollout loop: a recommender plays against a `ShopEnv`, one `Page`
record at a time — or against the population engine, one page for every shopper at once.

Evaluation, the plugin checks, the app's session and logging all step the env through here,
so what a recommender is asked and told is the same everywhere: ``recommend`` (its slate
checked), optionally ``propensities``, ``env.step``, then ``update(Feedback)``; on the
engine, ``recommend_batch``, `Population.step` and, for a learner with delayed feedback,
``update`` per shopper (`play_pages`), and the engine's gymnasium
and stable-baselines3 faces step it through `show_pages`. This is also the boundary where a
recommender plugin's code is called, so what it returns is checked and a failure names the
plugin.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from simshop_core.recommender import Feedback, Propensities, Recommender, observation_row
from simshop_core.registry import blame, describe_exception
from simshop_core.spaces import check_slate, check_slates

if TYPE_CHECKING:
    from simshop_core.env import ShopEnv
    from simshop_core.population import PageBatch, Population


@dataclass(frozen=True, slots=True)
class Page:
    """One page: what the recommender saw and showed, and what came of it."""

    observation: dict[str, Any]  # what the slate was chosen on
    slate: np.ndarray  # the ordered slate, top first
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]  # the env's info: per-position outcomes and simulator truth
    next_observation: dict[str, Any]
    propensities: Propensities | None = None  # when asked for and the recommender has them

    @property
    def clicked(self) -> np.ndarray:
        """One bool per slate position."""
        return self.info["clicked"]

    @property
    def bought(self) -> np.ndarray:
        return self.info["bought"]

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated

    def feedback(self) -> Feedback:
        """What a real shop would have logged: no simulator truth."""
        return Feedback(
            observation=self.observation,
            slate=self.slate,
            clicked=self.info["clicked"],
            bought=self.info["bought"],
            reward=self.reward,
            next_observation=self.next_observation,
            terminated=self.terminated,
            truncated=self.truncated,
        )


def play_visit(
    env: ShopEnv,
    recommender: Recommender,
    observation: dict[str, Any],
    *,
    learn: bool = True,
    propensities: bool = False,
) -> Iterator[Page]:
    """The pages of the visit that starts at ``observation`` (just after ``env.reset``).

    ``learn``: hand every page's `Feedback` to ``recommender.update``; ``propensities``: ask
    the recommender how likely each slate was (for logs).
    """
    k, n = env.slate_size, env.num_candidates
    done = False
    while not done:
        slate = recommend(recommender, observation, k, n)
        chance = _propensities(recommender, observation, slate, k) if propensities else None
        next_observation, reward, terminated, truncated, info = env.step(slate)
        page = Page(
            observation, slate, float(reward), terminated, truncated, info, next_observation, chance
        )
        if learn:
            _update(recommender, page.feedback())
        yield page
        observation = next_observation
        done = terminated or truncated


def rollout(
    env: ShopEnv,
    recommender: Recommender,
    visits: int,
    *,
    seed: int | None = None,
    learn: bool = True,
    propensities: bool = False,
) -> Iterator[Page]:
    """Every page of ``visits`` visits; the first ``env.reset`` gets ``seed``.

    The recommender is not reset here: that is the caller's (evaluation resets one learner
    per cell).
    """
    for visit in range(visits):
        observation, _ = env.reset(seed=seed if visit == 0 else None)
        yield from play_visit(env, recommender, observation, learn=learn, propensities=propensities)


def recommend(recommender: Recommender, observation: dict[str, Any], k: int, n: int) -> np.ndarray:
    """``recommender.recommend(observation, k)``, checked: k distinct integer indices in
    [0, n). Anything else is a `PluginRuntimeError` naming the recommender and its plugin."""
    try:
        slate = recommender.recommend(observation, k)
    except Exception as exc:
        raise blame(recommender, "recommend", f"raised {describe_exception(exc)}") from exc
    try:
        if type(slate) is not np.ndarray:
            raise ValueError(f"got {type(slate).__name__}, not a NumPy integer array")
        return check_slate(slate, n, k, "the slate")
    except ValueError as exc:
        raise blame(recommender, "recommend", f"returned a bad slate: {exc}") from None


def _update(recommender: Recommender, feedback: Feedback) -> None:
    try:
        recommender.update(feedback)
    except Exception as exc:
        raise blame(recommender, "update", f"raised {describe_exception(exc)}") from exc


def _propensities(
    recommender: Recommender, observation: dict[str, Any], slate: np.ndarray, k: int
) -> Propensities | None:
    try:
        found = recommender.propensities(observation, slate)
    except Exception as exc:
        raise blame(recommender, "propensities", f"raised {describe_exception(exc)}") from exc
    if found is None:
        return None
    if not isinstance(found, Propensities):
        raise blame(recommender, "propensities", f"returned {type(found).__name__}")
    for name in ("prefix_log_probs", "position_probs"):
        if np.shape(getattr(found, name)) != (k,):
            raise blame(recommender, "propensities", f"returned {name} without {k} values")
    return found


# --- the population engine ------------------------------------------------------------------


def play_pages(
    population: Population,
    recommender: Recommender,
    active: np.ndarray,
    *,
    propensities: bool = False,
    learn: bool = False,
) -> tuple[dict[str, Any], np.ndarray, Propensities | None, PageBatch]:
    """One page for every slot of ``population`` at once, ``recommender`` choosing the
    slates; only the ``active`` slots are stepped. Returns the observations (the engine's
    buffers), the slates, their propensities (with ``propensities``, else None) and the
    page.

    ``learn``: a learner with delayed feedback, as in a real shop: after the step,
    ``update`` is called once per active slot, in slot order. Its observations are then
    copies, since a learner may keep what it is told.
    """
    observation = population.observation(copy=learn)
    slates = recommend_batch(recommender, observation, population.k, population.m, population.size)
    chance = batch_propensities(recommender, observation, slates) if propensities else None
    page = population.step(slates, None if active.all() else active)
    if learn:
        after = population.observation(copy=True)
        for row in np.flatnonzero(active).tolist():
            feedback = Feedback(
                observation=observation_row(observation, row),
                slate=slates[row],
                clicked=page.clicked[row],
                bought=page.bought[row],
                reward=float(page.reward[row]),
                next_observation=observation_row(after, row),
                terminated=bool(page.terminated[row]),
                truncated=bool(page.truncated[row]),
            )
            _update(recommender, feedback)
    return observation, slates, chance, page


def show_pages(population: Population, actions: Any, active: np.ndarray | None = None) -> PageBatch:
    """Show the slates ``actions`` (N × k, checked: a `ValueError` names the first bad row)
    to the ``active`` slots of ``population`` (all with None): the engine's gymnasium and
    stable-baselines3 faces step it here."""
    slates = check_slates(actions, population.m, population.k, population.size)
    return population.step(slates, active)


def recommend_batch(
    recommender: Recommender, observations: dict[str, Any], k: int, n: int, rows: int
) -> np.ndarray:
    """``recommender.recommend_batch``, checked: ``rows`` valid ordered slates. Anything else
    is a `PluginRuntimeError` naming the recommender and its plugin. A recommender without a
    batch form is asked one observation at a time, each slate checked by `recommend`."""
    if type(recommender).recommend_batch is Recommender.recommend_batch:
        return np.stack(
            [recommend(recommender, observation_row(observations, i), k, n) for i in range(rows)]
        )
    try:
        slates = recommender.recommend_batch(observations, k)
    except Exception as exc:
        raise blame(recommender, "recommend", f"raised {describe_exception(exc)}") from exc
    try:
        if type(slates) is not np.ndarray:
            raise ValueError(f"got {type(slates).__name__}, not a NumPy integer array")
        return check_slates(slates, n, k, rows, "the slates")
    except ValueError as exc:
        raise blame(recommender, "recommend", f"returned a bad slate: {exc}") from None


def batch_propensities(
    recommender: Recommender, observations: dict[str, Any], slates: np.ndarray
) -> Propensities | None:
    """The rows' propensities as one batch (`Recommender.propensities_batch`), checked: the
    right shapes, log-probabilities <= 0, marginals in [0, 1], no +inf (a NaN
    ``slate_log_prob`` marks a row without propensities). Anything else is a
    `PluginRuntimeError` naming the recommender and its plugin. A recommender without a
    batch form is asked one observation at a time, each answer checked by `_propensities`."""
    rows, k = slates.shape
    kind = type(recommender)
    if kind.propensities_batch is Recommender.propensities_batch:
        if kind.propensities is Recommender.propensities:
            return None  # the base class's: no propensities, whatever the observation
        return Propensities.stack(
            [
                _propensities(recommender, observation_row(observations, i), slates[i], k)
                for i in range(rows)
            ],
            k,
        )
    try:
        found = recommender.propensities_batch(observations, slates)
    except Exception as exc:
        raise blame(recommender, "propensities", f"raised {describe_exception(exc)}") from exc
    if found is None:
        return None
    try:
        return _check_batch(found, rows, k)
    except ValueError as exc:
        raise blame(recommender, "propensities", f"returned {exc}") from None


def _check_batch(found: Any, rows: int, k: int) -> Propensities:
    """``found`` as float64/int64 arrays of a batch of ``rows`` slates of ``k``, or a
    ValueError saying what is wrong with it."""
    if not isinstance(found, Propensities):
        raise ValueError(f"{type(found).__name__}, not Propensities")
    shapes = {"slate_log_prob": (rows,), "prefix_log_probs": (rows, k)}
    shapes |= {"position_probs": (rows, k), "samples": (rows,)}
    arrays = {}
    for name, shape in shapes.items():
        value = getattr(found, name)
        if np.shape(value) != shape:
            raise ValueError(f"{name} of shape {np.shape(value)}, not {shape}")
        arrays[name] = np.asarray(value)
    if arrays["samples"].dtype.kind not in "iu" or (arrays["samples"] < 0).any():
        raise ValueError("samples that are not counts (integers >= 0)")
    log_prob = arrays["slate_log_prob"].astype(np.float64, copy=False)
    given = ~np.isnan(log_prob)  # NaN: a row without propensities
    prefix = arrays["prefix_log_probs"].astype(np.float64, copy=False)[given]
    position = arrays["position_probs"].astype(np.float64, copy=False)[given]
    if np.isnan(prefix).any() or np.isnan(position).any():
        raise ValueError("NaN propensities on a row that has them")
    if (log_prob[given] > 0).any() or (prefix > 0).any():
        raise ValueError("log-probabilities above 0")
    if not ((position >= 0) & (position <= 1)).all():
        raise ValueError("position_probs outside [0, 1]")
    return Propensities(
        slate_log_prob=log_prob,
        prefix_log_probs=arrays["prefix_log_probs"].astype(np.float64, copy=False),
        position_probs=arrays["position_probs"].astype(np.float64, copy=False),
        samples=arrays["samples"].astype(np.int64, copy=False),
    )
