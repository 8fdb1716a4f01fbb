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
from simshop_core.registry import Kind, _check_class
from simshop_core.user import Reaction, User

if TYPE_CHECKING:
    from simshop_core.catalog import Catalog
    from simshop_core.env import ShopEnv

__all__ = ["check_recommender", "check_user", "make_items"]

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
    """Check a shopper model against the contract (DESIGN §2) and return the instance checked.

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
    return user


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
    """Check a recommender against the contract (DESIGN §2) and return the instance checked.

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
    return rec


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
    problem = _check_class(kind, base, cls)
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
