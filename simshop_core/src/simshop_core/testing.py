"""Checks a plugin author runs in their own tests.

Plain functions that raise `AssertionError` with a message saying what is wrong, so they work
under pytest, unittest or a bare script::

    from simshop_core.testing import check_recommender, check_user

    def test_impulse_buyer():
        check_user(ImpulseBuyer)

    def test_cheapest_first():
        check_recommender(CheapestFirst)

Importing this module is cheap: the catalog and the env are imported when a check runs.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import itertools
import random
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from simshop_core.items import Items
from simshop_core.plugins import PluginRuntimeError
from simshop_core.recommender import Feedback, Recommender
from simshop_core.registry import Kind, check_class
from simshop_core.stats import binomial_at_least, binomial_cdf, chi_square_sf
from simshop_core.user import Reaction, User, has_batch_form

if TYPE_CHECKING:
    from simshop_core.catalog import Catalog
    from simshop_core.env import ShopEnv

__all__ = ["check_propensities", "check_recommender", "check_user", "make_items"]

T = TypeVar("T")
_DETERMINISM_HINT = (
    "draw every random number from the rng argument, never from np.random, random or hash()"
)


# --- test data ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _catalog(n_items: int, seed: int) -> Catalog:
    # Cached: a catalog's columns are read-only, so tests can share one safely.
    from simshop_core.catalog import generate_catalog

    return generate_catalog(n_items=n_items, seed=seed)


def make_items(n: int = 50, seed: int = 0, *, times_shown: Any = None) -> Items:
    """An `Items` view of a generated catalog of ``n`` items (same seed, same items).

    ``times_shown`` (an int or one int per item) defaults to exposures drawn from ``seed`` in
    [0, 10), so that a model driven by exposures sees a variety of them.
    """
    catalog = _catalog(n, seed)
    if times_shown is None:
        shown = np.random.default_rng(seed).integers(0, 10, n)
    else:
        shown = np.broadcast_to(np.asarray(times_shown, dtype=np.int64), (n,)).copy()
    return catalog.items(None, shown)


# --- users -------------------------------------------------------------------------------


def check_user(
    user_or_cls: User | type[User],
    catalog: Catalog | None = None,
    *,
    seed: int = 0,
    n: int = 50,
    pages: int = 5,
) -> User:
    """Check a shopper model against the plugin contract and return the instance checked.

    The class has a snake_case ``name`` and a one-line ``description`` and builds with no
    arguments; ``utility`` gives one float in [0, 1] per item, the same numbers bit for bit
    under the same rng seed, and changes no state of the user; ``react`` returns a `Reaction`
    of right-length boolean arrays with ``bought`` ⊆ ``clicked``; a session replays exactly
    under the same seed, also after ``reset`` on a used shopper (memory starts empty).
    Items come from ``catalog`` (default: a generated one): ``pages`` pages of ``n`` items,
    plus a page of one item, with exposures counted as the env counts them.
    """
    user = _build(user_or_cls, User, "user")
    label = type(user).__name__
    if not hasattr(user, "click_threshold") or not hasattr(user, "buy_threshold"):
        raise AssertionError(
            f"{label}.__init__ must call super().__init__(click_threshold=..., buy_threshold=...)"
        )
    pristine = copy.deepcopy(user)  # taken before anything ran: the reference for replays
    page_list = _pages(catalog, seed, n, pages)

    user.reset(np.random.default_rng(seed))
    for i, items in enumerate(page_list, start=1):
        where = f"{label}.utility on page {i}"
        before = _state(user)
        with _global_random(1):
            first = user.utility(items, np.random.default_rng([seed, i]))
        _check_utility(first, len(items), where)
        changed = _diff(before, _state(user), "vars(self)")
        if changed:
            raise AssertionError(
                f"{where} changed {changed}; utility only looks (update memory in react)"
            )
        with _global_random(2):
            again = user.utility(items, np.random.default_rng([seed, i]))
        if not _bit_equal(first, again):
            raise AssertionError(
                f"{where} is not reproducible under the same seed; " + _DETERMINISM_HINT
            )
        _check_reaction(user.react(items, np.random.default_rng([seed, i])), len(items), label, i)

    # The same session twice from the pristine copy: reproducible; then on the used shopper:
    # reset must empty its memory.
    reference = _session(copy.deepcopy(pristine), page_list, seed, 1)
    for trace, what in (
        (_session(copy.deepcopy(pristine), page_list, seed, 2), "is not reproducible"),
        (_session(user, page_list, seed, 3), "does not start afresh after reset(rng)"),
    ):
        for i, (a, b) in enumerate(zip(reference, trace, strict=True), start=1):
            for field in ("clicked", "bought", "utility"):
                if not _bit_equal(getattr(a, field), getattr(b, field)):
                    raise AssertionError(
                        f"{label} {what}: with the same seed, page {i} gave different "
                        f"{field}; {_DETERMINISM_HINT}, and clear memory in reset"
                    )
    if has_batch_form(user):
        _check_batch_form(user, catalog, seed)
    return user


def _check_batch_form(user: User, catalog: Catalog | None, seed: int) -> None:
    """`User.batch_utility`: an (N, k) float array in [0, 1], reproducible, and row i the
    same whether shopper i is asked alone or among others (what makes the population
    engine's numbers independent of its size)."""
    from simshop_core.env_options import item_codes
    from simshop_core.items import ItemBatch
    from simshop_core.streams import BatchRandom, shopper_keys

    label = f"{type(user).__name__}.batch_utility"
    catalog = catalog if catalog is not None else _catalog(250, 0)
    rng = np.random.default_rng(seed)
    shoppers, k = 7, min(5, len(catalog))
    rows = np.stack([rng.choice(len(catalog), k, replace=False) for _ in range(shoppers)])
    times = rng.integers(0, 12, rows.shape)
    columns = np.stack([rng.choice(50, k, replace=False) for _ in range(shoppers)])
    keys = shopper_keys(seed, np.arange(shoppers))
    counters = rng.integers(0, 100, shoppers)
    codes = item_codes(catalog)

    def ask(which: np.ndarray) -> np.ndarray:
        items = ItemBatch(catalog.columns, rows[which], times[which], codes)
        return user.batch_utility(items, BatchRandom(keys[which], counters[which], columns[which]))

    every = np.arange(shoppers)
    values = ask(every)
    if not isinstance(values, np.ndarray) or values.shape != rows.shape:
        shape = getattr(values, "shape", type(values).__name__)
        raise AssertionError(f"{label} returned {shape} for {rows.shape} items")
    for i in every:  # dtype, finiteness and range, row by row
        _check_utility(values[i], k, label)
    if not _bit_equal(values, ask(every)):
        raise AssertionError(f"{label} is not reproducible: draw only from the rng given")
    for i in (0, shoppers - 1):
        if not _bit_equal(values[i : i + 1], ask(np.array([i]))):
            raise AssertionError(
                f"{label} gives shopper {i} other numbers alone than among others: a row may "
                "depend only on its own items and rng row"
            )


def _pages(catalog: Catalog | None, seed: int, n: int, pages: int) -> list[Items]:
    """Pages of random catalog rows, with exposures counted across pages like the env."""
    catalog = catalog if catalog is not None else _catalog(250, 0)
    rng = np.random.default_rng(seed)
    shown = np.zeros(len(catalog), dtype=np.int64)
    out = []
    for size in [min(n, len(catalog))] * pages + [1]:
        rows = rng.choice(len(catalog), size, replace=False)
        out.append(catalog.items(rows, shown[rows].copy()))
        shown[rows] += 1
    return out


def _session(user: User, pages: list[Items], seed: int, global_seed: int) -> list[Reaction]:
    rng = np.random.default_rng(seed)
    with _global_random(global_seed):
        user.reset(rng)
        return [user.react(items, rng) for items in pages]


def _check_utility(values: Any, n: int, where: str) -> None:
    if not isinstance(values, np.ndarray):
        raise AssertionError(f"{where} returned {type(values).__name__}, not a np.ndarray")
    if values.shape != (n,):
        raise AssertionError(f"{where} returned shape {values.shape} for {n} items; want ({n},)")
    if values.dtype.kind != "f":
        raise AssertionError(f"{where} returned dtype {values.dtype}; want a float array")
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0) | (values > 1))
    if len(bad):
        raise AssertionError(
            f"{where}: utility must lie in [0, 1], got {values[bad[0]]!r} for item {bad[0]}"
        )


def _check_reaction(reaction: Any, n: int, label: str, page: int) -> None:
    where = f"{label}.react on page {page}"
    if not isinstance(reaction, Reaction):
        raise AssertionError(f"{where} returned {type(reaction).__name__}, not a Reaction")
    for field in ("clicked", "bought"):
        value = getattr(reaction, field)
        if not isinstance(value, np.ndarray) or value.dtype != np.bool_ or value.shape != (n,):
            got = getattr(value, "dtype", type(value).__name__), getattr(value, "shape", "?")
            raise AssertionError(
                f"{where}: Reaction.{field} must be a bool array of shape ({n},), got {got}"
            )
    _check_utility(reaction.utility, n, f"{where}: Reaction.utility")
    not_clicked = np.flatnonzero(reaction.bought & ~reaction.clicked)
    if len(not_clicked):
        raise AssertionError(
            f"{where}: item {not_clicked[0]} was bought but not clicked (bought ⊆ clicked)"
        )


# --- recommenders ------------------------------------------------------------------------


class _ProbeShopper(User):
    """The shopper `check_recommender` runs against: clicks often, so the history fills."""

    name = "probe_shopper"
    description = "Likes cheap, good items (used by simshop_core.testing)"

    def __init__(self, *, click_threshold: float = 0.5, buy_threshold: float = 0.8) -> None:
        super().__init__(click_threshold=click_threshold, buy_threshold=buy_threshold)

    def utility(self, items: Items, rng: np.random.Generator) -> np.ndarray:
        price = items["price"]
        score = 0.5 * items["quality_score"] + 0.5 * 40.0 / (40.0 + price)
        return np.clip(score + rng.uniform(-0.1, 0.1, len(price)), 0.0, 1.0)


def check_recommender(
    rec_or_cls: Recommender | type[Recommender],
    catalog: Catalog | None = None,
    *,
    seed: int = 0,
    steps: int = 20,
    ks: Sequence[int] = (1, 2, 5, 10),
    slate_size: int = 5,
) -> Recommender:
    """Check a recommender against the plugin contract and return the instance checked.

    The class has a snake_case ``name`` and builds with no arguments; on observations from a
    real `ShopEnv` (built from the recommender's ``env_options`` if it has them) ``recommend``
    returns ``k`` distinct in-range integer indices for every ``k`` in ``ks`` and leaves the
    observation alone; the whole run (``reset`` → ``recommend`` / ``update(feedback)`` …)
    replays exactly under the same seed; and ``reset`` forgets: a recommender that has already
    played (and learnt) replays the same slates as a fresh one after ``reset`` with the same
    seed.
    """
    rec = _build(rec_or_cls, Recommender, "recommender")
    pristine = copy.deepcopy(rec)
    env = _probe_env(rec, catalog, slate_size)
    sizes = sorted({k for k in ks if k <= env.num_candidates} | {env.slate_size})
    label = type(rec).__name__
    first = _run(rec, env, seed, steps, sizes, 1)
    for trace, what in (
        (_run(copy.deepcopy(pristine), env, seed, steps, sizes, 2), "is not reproducible"),
        (_run(rec, env, seed, steps, sizes, 3), "does not forget on reset"),
    ):
        for (step, k, a), (_, _, b) in zip(first, trace, strict=True):
            if not np.array_equal(a, b):
                raise AssertionError(
                    f"{label} {what}: after reset with the same seed, step {step} (k={k}) "
                    f"gave {b.tolist()} instead of {a.tolist()}; "
                    + _DETERMINISM_HINT
                    + ", and clear what was learnt in reset(rng)"
                )
    if type(rec).recommend_batch is not Recommender.recommend_batch:
        _check_recommender_batch(copy.deepcopy(pristine), env, seed)
    return rec


def _check_recommender_batch(rec: Recommender, env: ShopEnv, seed: int) -> None:
    """`Recommender.recommend_batch` on a population's observations: valid (N, k) slates,
    leaving the observations alone, and — for a recommender whose slates do not depend on
    its rng — the slates `recommend` gives one observation at a time."""
    from simshop_core.population import Population
    from simshop_core.recommender import observation_row
    from simshop_core.spaces import check_slates

    label = f"{type(rec).__name__}.recommend_batch"
    population = Population(env.options, 6, seed)
    population.arrive(np.arange(6), np.arange(6))
    observations = population.observation(copy=True)
    frozen = copy.deepcopy(observations)
    k, n = env.slate_size, env.num_candidates
    rec.reset(np.random.default_rng(seed))
    slates = rec.recommend_batch(observations, k)
    if not isinstance(slates, np.ndarray):
        raise AssertionError(f"{label} returned {type(slates).__name__}, not a np.ndarray")
    try:
        check_slates(slates, n, k, 6, label)
    except ValueError as exc:
        raise AssertionError(str(exc)) from None
    changed = _diff(frozen, observations, "observations")
    if changed:
        raise AssertionError(f"{label} changed {changed}; it must only read")
    rows = [observation_row(observations, i) for i in range(6)]
    # The same start as the batch: a recommender that draws only sometimes (epsilon-greedy)
    # and did not draw here must give the batch's slates.
    rec.reset(np.random.default_rng(seed))
    one = [rec.recommend(row, k) for row in rows]
    rec.reset(np.random.default_rng(seed + 1))
    other = [rec.recommend(row, k) for row in rows]
    deterministic = all(np.array_equal(a, b) for a, b in zip(one, other, strict=True))
    if deterministic and not all(np.array_equal(a, b) for a, b in zip(slates, one, strict=True)):
        raise AssertionError(
            f"{label} gave other slates than recommend does one observation at a time"
        )


def _probe_env(rec: Recommender, catalog: Catalog | None, slate_size: int) -> ShopEnv:
    from simshop_core.env import ShopEnv

    options: dict[str, Any] = {"slate_size": slate_size, **(rec.env_options or {})}
    catalog = catalog if catalog is not None else _catalog(250, 0)
    return ShopEnv(catalog, users=[_ProbeShopper()], **options)


class _Probe(Recommender):
    """Asks the recommender under test for every slate size on each observation, checks each
    answer, and passes the env's size on to the rollout loop (which does the rest)."""

    name = "probe"

    def __init__(self, rec: Recommender, sizes: list[int], n: int) -> None:
        self.rec, self.sizes, self.n = rec, sizes, n
        self.step = 0
        self.out: list[tuple[int, int, np.ndarray]] = []

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        self.step += 1
        label = type(self.rec).__name__
        frozen = copy.deepcopy(observation)
        shown: np.ndarray | None = None
        for size in self.sizes:
            slate = self.rec.recommend(observation, size)
            _check_slate(slate, size, self.n, f"{label}.recommend(k={size}), step {self.step}")
            self.out.append((self.step, size, slate.copy()))
            if size == k:
                shown = slate
        changed = _diff(frozen, observation, "observation")
        if changed:
            raise AssertionError(f"{label}.recommend changed {changed}; it must only read")
        assert shown is not None
        return shown

    def update(self, feedback: Feedback) -> None:
        self.rec.update(feedback)


def _run(
    rec: Recommender, env: ShopEnv, seed: int, steps: int, sizes: list[int], global_seed: int
) -> list[tuple[int, int, np.ndarray]]:
    """One evaluation-like run through the rollout loop; (step, k, slate) per recommend call."""
    from simshop_core.rollout import rollout

    probe = _Probe(rec, sizes, env.num_candidates)
    with _global_random(global_seed):
        rec.reset(np.random.default_rng(seed))
        try:
            for _ in itertools.islice(rollout(env, probe, steps, seed=seed), steps):
                pass
        except PluginRuntimeError as exc:  # the loop's own check, or the probe's inside it
            if isinstance(exc.__cause__, AssertionError):
                raise exc.__cause__ from None
            raise AssertionError(str(exc)) from exc
    return probe.out


def _check_slate(slate: Any, k: int, n: int, where: str) -> None:
    if not isinstance(slate, np.ndarray):
        raise AssertionError(f"{where} returned {type(slate).__name__}, not a np.ndarray")
    if slate.shape != (k,):
        raise AssertionError(f"{where} returned shape {slate.shape}; want ({k},)")
    if slate.dtype.kind not in "iu":
        raise AssertionError(f"{where} returned dtype {slate.dtype}; want integer indices")
    if len(np.unique(slate)) != k:
        raise AssertionError(f"{where} returned repeated indices: {slate.tolist()}")
    if slate.min() < 0 or slate.max() >= n:
        raise AssertionError(f"{where} returned {slate.tolist()}; indices must lie in [0, {n - 1}]")


# --- helpers -----------------------------------------------------------------------------


def _build(obj: Any, base: type[T], kind: Kind) -> T:
    """Check the class as the registry would, and that ``cls()`` works (the registry's call)."""
    cls = obj if isinstance(obj, type) else type(obj)
    problem = check_class(kind, base, cls)
    if problem:
        raise AssertionError(problem)
    description = getattr(cls, "description", "")
    if not isinstance(description, str) or "\n" in description.strip():
        raise AssertionError(f"{cls.__qualname__}.description must be one line of text")
    try:
        built = cls()
    except Exception as exc:
        raise AssertionError(
            f"{cls.__qualname__}() failed ({type(exc).__name__}: {exc}); the registry builds "
            "plugins with no arguments, so give every __init__ parameter a default"
        ) from exc
    return built if obj is cls else obj


@contextlib.contextmanager
def _global_random(value: int) -> Iterator[None]:
    """Seed the global generators differently per run: a model that uses them shows up as
    not reproducible. Their previous state is restored afterwards."""
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    np.random.seed(value)  # noqa: NPY002 - deliberately the legacy global generator
    random.seed(value)
    try:
        yield
    finally:
        np.random.set_state(np_state)  # noqa: NPY002
        random.setstate(py_state)


def _state(obj: Any) -> Any:
    return copy.deepcopy(getattr(obj, "__dict__", {}))


def _bit_equal(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _diff(a: Any, b: Any, path: str) -> str | None:
    """The path of the first difference between two snapshots (None if equal)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        same = isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
        if not same or a.dtype != b.dtype or a.shape != b.shape:
            return path
        equal = np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
        return None if equal else path
    if type(a) is not type(b):
        return path
    if isinstance(a, np.random.Generator):
        return None if a.bit_generator.state == b.bit_generator.state else path
    if isinstance(a, dict):
        if a.keys() != b.keys():
            return path
        for key in a:
            found = _diff(a[key], b[key], f"{path}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(a, list | tuple):
        if len(a) != len(b):
            return path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _diff(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    if isinstance(a, float) and a != a and b != b:  # NaN
        return None
    if hasattr(a, "__dict__") and not isinstance(a, type):
        return _diff(vars(a), vars(b), path)
    try:
        return None if bool(a == b) else path
    except Exception:
        return None  # incomparable (e.g. a torch module): not our business


# --- propensities ------------------------------------------------------------------------


def check_propensities(
    rec_or_cls: Recommender | type[Recommender],
    *,
    n: int = 6,
    k: int = 3,
    seed: int = 0,
    trials: int = 20_000,
) -> Recommender:
    """Check a stochastic recommender's propensities and return the instance checked.

    On two observations of a real `ShopEnv` with ``n`` candidates and slates of ``k``, after
    ``reset`` and ``recommend``, `propensities` is asked about every ordered slate of ``k`` out
    of ``n``: the joint probabilities must sum to 1 and every prefix and item–position marginal
    must equal the sum of the joints it covers (to 1e-9 when exact; Monte Carlo marginals
    within 5 standard errors of their ``samples``). Then ``recommend`` is drawn ``trials``
    times on one observation after a seeded ``reset``: the slate and item–position frequencies
    must agree with the reported probabilities (exact binomial tails at 5 sigma per slate and
    per item–position, and chi-square tests at p < 1e-6 over slates and over the items of each
    position; with the default 20,000 draws an item–position marginal wrong by 1–2 percentage
    points is caught), and asking for propensities after each slate must not change the slates
    (it must not draw from ``self.rng``). A recommender that reports no propensities
    (None) fails. A class is built with no arguments; an instance (an `EpsilonMixture`, say)
    is checked as it is.
    """
    import itertools
    import math

    if isinstance(rec_or_cls, type):
        rec = _build(rec_or_cls, Recommender, "recommender")
    elif isinstance(rec_or_cls, Recommender):
        rec = rec_or_cls
    else:
        raise AssertionError(f"{rec_or_cls!r} is not a simshop_core.Recommender")
    if not 1 <= k <= n:
        raise ValueError(f"check_propensities needs 1 <= k <= n, got n={n}, k={k}")
    if math.perm(n, k) > 100_000:
        raise ValueError(
            f"check_propensities enumerates every slate: {math.perm(n, k)} for n={n}, k={k} "
            "is more than 100,000"
        )
    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials}")
    label = type(rec).__name__
    pristine = copy.deepcopy(rec)
    slates = np.array(list(itertools.permutations(range(n), k)), dtype=np.int64)
    index = {s: i for i, s in enumerate(map(tuple, slates.tolist()))}
    env = _propensity_env(rec, n, k)
    observations = [env.reset(seed=seed)[0], env.reset(seed=seed + 1)[0]]

    # (a) Every slate's propensities against brute-force sums of the joints.
    rec.reset(np.random.default_rng(seed))
    reports = []
    for o, observation in enumerate(observations):
        where = f"observation {o}"
        shown = rec.recommend(observation, k)
        _check_slate(shown, k, n, f"{label}.recommend(k={k}) on {where}")
        report = _ask_every_slate(rec, observation, slates, f"{label}.propensities on {where}")
        reports.append(report)
        probs = np.exp(report.joint)
        if not abs(probs.sum() - 1.0) <= 1e-9:
            raise AssertionError(
                f"{label}: on {where} the joint probabilities of the {len(slates)} ordered "
                f"slates of {k} out of {n} sum to {float(probs.sum())!r}, not 1"
            )
        if probs[index[tuple(shown.tolist())]] <= 0:
            raise AssertionError(
                f"{label}.recommend showed {shown.tolist()} on {where}, but its propensities "
                "call that slate impossible"
            )
        for i in range(k):
            _, group = np.unique(slates[:, : i + 1], axis=0, return_inverse=True)
            group = group.reshape(-1)
            brute = np.bincount(group, weights=probs)[group]
            what = f"{label}: on {where}, P(positions 0..{i})"
            _compare(np.exp(report.prefix[:, i]), brute, np.zeros(len(slates)), slates, what)
            item = slates[:, i]
            brute = np.bincount(item, weights=probs, minlength=n)[item]
            what = f"{label}: on {where}, P(the item at position {i} is there)"
            _compare(report.position[:, i], brute, report.samples, slates, what)

    # (b) Empirical frequencies; and a second run that asks for propensities after every
    # slate must show the same slates.
    observation = observations[0]
    plain = copy.deepcopy(pristine)
    plain.reset(np.random.default_rng(seed))
    drawn = np.array([plain.recommend(observation, k) for _ in range(trials)], dtype=np.int64)
    logged = copy.deepcopy(pristine)
    logged.reset(np.random.default_rng(seed))
    for t in range(min(trials, 200)):
        slate = logged.recommend(observation, k)
        logged.propensities(observation, slate)
        if not np.array_equal(slate, drawn[t]):
            raise AssertionError(
                f"{label}: asking for propensities changed the slates (draw {t} gave "
                f"{slate.tolist()}, not {drawn[t].tolist()}); propensities must not draw from "
                "self.rng (give its Monte Carlo a generator of its own)"
            )
    counts = np.bincount(
        [index[s] for s in map(tuple, drawn.tolist())], minlength=len(slates)
    ).astype(np.float64)
    _check_slate_frequencies(label, counts, slates, np.exp(reports[0].joint))
    _check_position_frequencies(label, drawn, slates, reports[0], n)
    return rec


class _Report:
    """What `propensities` said about every ordered slate: arrays with one row per slate."""

    def __init__(self, m: int, k: int) -> None:
        self.joint = np.empty(m)
        self.prefix = np.empty((m, k))
        self.position = np.empty((m, k))
        self.samples = np.empty(m)


def _propensity_env(rec: Recommender, n: int, k: int) -> ShopEnv:
    from simshop_core.env import ShopEnv

    options = {**(rec.env_options or {}), "num_candidates": n, "slate_size": k}
    return ShopEnv(_catalog(250, 0), users=[_ProbeShopper()], **options)


def _ask_every_slate(
    rec: Recommender, observation: dict[str, Any], slates: np.ndarray, who: str
) -> _Report:
    from simshop_core.recommender import Propensities

    m, k = slates.shape
    report = _Report(m, k)
    for i, slate in enumerate(slates):
        p = rec.propensities(observation, slate.copy())
        what = f"{who}, slate {slate.tolist()}"
        if p is None:
            raise AssertionError(
                f"{who} returned None: the recommender reports no propensities, so its logs "
                "cannot serve off-policy evaluation (a deterministic recommender can be made "
                "loggable with simshop_core.propensity.EpsilonMixture)"
            )
        if not isinstance(p, Propensities):
            raise AssertionError(f"{what}: returned {type(p).__name__}, not Propensities")
        prefix = np.asarray(p.prefix_log_probs, dtype=np.float64)
        position = np.asarray(p.position_probs, dtype=np.float64)
        joint = float(p.slate_log_prob)
        for name, value in (("prefix_log_probs", prefix), ("position_probs", position)):
            if value.shape != (k,):
                raise AssertionError(f"{what}: {name} has shape {value.shape}; want ({k},)")
        logs = np.append(prefix, joint)
        if np.isnan(logs).any() or (logs > 1e-12).any():
            raise AssertionError(f"{what}: log-probabilities must be <= 0 or -inf, got {logs}")
        if (prefix[1:] > prefix[:-1] + 1e-12).any():
            raise AssertionError(f"{what}: prefix_log_probs must not increase, got {prefix}")
        if joint != prefix[-1] and not abs(joint - prefix[-1]) <= 1e-9 * max(1.0, -joint):
            raise AssertionError(
                f"{what}: slate_log_prob {joint!r} is not the last prefix log-prob {prefix[-1]!r}"
            )
        if np.isnan(position).any() or (position < 0).any() or (position > 1).any():
            raise AssertionError(f"{what}: position_probs must lie in [0, 1], got {position}")
        samples = p.samples
        if isinstance(samples, bool) or not isinstance(samples, int | np.integer) or samples < 0:
            raise AssertionError(f"{what}: samples must be an int >= 0, got {samples!r}")
        report.joint[i], report.prefix[i], report.position[i] = joint, prefix, position
        report.samples[i] = samples
    return report


def _monte_carlo_spread(p: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """The variance of a Monte Carlo estimate of p from ``samples`` draws (0 where exact); a
    floor of 1/samples keeps a tolerance for estimates of (near-)zero probabilities."""
    s = np.maximum(samples, 1)
    return np.where(samples > 0, (np.clip(p * (1 - p), 0, None) + 1 / s) / s, 0.0)


def _compare(
    got: np.ndarray, want: np.ndarray, samples: np.ndarray, slates: np.ndarray, what: str
) -> None:
    """Reported vs brute force: 1e-9 where exact, 5 standard errors where Monte Carlo."""
    tolerance = 5 * np.sqrt(_monte_carlo_spread(want, samples)) + 1e-9
    bad = np.flatnonzero(~(np.abs(got - want) <= tolerance))
    if len(bad):
        i = bad[0]
        how = f"Monte Carlo, {int(samples[i])} samples" if samples[i] > 0 else "exact"
        raise AssertionError(
            f"{what} for slate {slates[i].tolist()} is {float(got[i])!r}, but the joint "
            f"probabilities it covers sum to {float(want[i])!r} ({how}; tolerance "
            f"{tolerance[i]:.2g})"
        )


# One-sided 5-sigma: a deviation a correct recommender shows once in 3.5 million.
_ALPHA = 2.9e-7


def _binomial_outliers(
    counts: np.ndarray, trials: int, low: np.ndarray, high: np.ndarray
) -> np.ndarray:
    """Where ``counts`` out of ``trials`` is implausible for every probability in [low, high]:
    exact binomial tails (normal bounds fail for rare slates)."""
    too_few = np.frompyfunc(binomial_cdf, 3, 1)(counts, trials, np.clip(low, 0, 1)).astype(float)
    too_many = np.frompyfunc(binomial_at_least, 3, 1)(counts, trials, np.clip(high, 0, 1))
    too_many = too_many.astype(float)
    return np.flatnonzero(np.minimum(too_few, too_many) < _ALPHA)


def _chi_square(
    counts: np.ndarray, expected: np.ndarray, extra: np.ndarray | None = None
) -> tuple[float, int, float]:
    """Pearson's chi-square of counts against expected counts, the rare cells (expected < 5)
    pooled into one; ``extra`` adds a Monte Carlo variance (in counts²) to a cell's own.
    Returns (statistic, degrees of freedom, p-value)."""
    extra = np.zeros_like(expected) if extra is None else extra
    rare = expected < 5
    observed = np.append(counts[~rare], counts[rare].sum())
    predicted = np.append(expected[~rare], expected[rare].sum())
    variance = predicted + np.append(extra[~rare], extra[rare].sum())
    keep = predicted > 0
    if keep.sum() < 2:
        return 0.0, 0, 1.0
    statistic = float(((observed[keep] - predicted[keep]) ** 2 / variance[keep]).sum())
    df = int(keep.sum()) - 1
    return statistic, df, chi_square_sf(statistic, df)


def _check_slate_frequencies(
    label: str, counts: np.ndarray, slates: np.ndarray, p: np.ndarray
) -> None:
    """How often each slate was shown against its reported probability."""
    import math

    trials = int(counts.sum())
    where = f"in {trials} draws on one observation"
    expected = trials * p
    bad = _binomial_outliers(counts, trials, p, p)
    if len(bad):
        i = bad[0]
        raise AssertionError(
            f"{label} showed slate {slates[i].tolist()} {int(counts[i])} times {where}; its "
            f"reported probability {p[i]:.4g} predicts {expected[i]:.1f} "
            f"± {math.sqrt(expected[i] * (1 - p[i])):.1f}"
        )
    statistic, df, p_value = _chi_square(counts, expected)
    if p_value < 1e-6:
        raise AssertionError(
            f"{label}: the slates shown {where} do not follow the reported probabilities "
            f"(chi-square {statistic:.1f} on {df} df, p = {p_value:.2g})"
        )


def _check_position_frequencies(
    label: str, drawn: np.ndarray, slates: np.ndarray, report: _Report, n: int
) -> None:
    """How often each item was shown at each position against its reported marginal (taken
    from the first slate that puts it there; a Monte Carlo one is allowed its own error):
    per item, and a chi-square over the items of each position."""
    trials = len(drawn)
    for i in range(slates.shape[1]):
        items, first = np.unique(slates[:, i], return_index=True)
        marginal = report.position[first, i]
        spread = _monte_carlo_spread(marginal, report.samples[first])
        error = 5 * np.sqrt(spread)
        counts = np.bincount(drawn[:, i], minlength=n)[items]
        bad = _binomial_outliers(counts, trials, marginal - error, marginal + error)
        if len(bad):
            j = bad[0]
            raise AssertionError(
                f"{label} showed item {items[j]} at position {i} in {counts[j] / trials:.2%} "
                f"of {trials} draws on one observation; its reported marginal is "
                f"{marginal[j]:.2%}"
            )
        statistic, df, p_value = _chi_square(
            counts.astype(np.float64), trials * marginal, trials**2 * spread
        )
        if p_value < 1e-6:
            raise AssertionError(
                f"{label}: the items shown at position {i} in {trials} draws on one "
                "observation do not follow the reported marginals "
                f"(chi-square {statistic:.1f} on {df} df, p = {p_value:.2g})"
            )
