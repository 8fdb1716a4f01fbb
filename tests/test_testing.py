"""`simshop_core.testing`: the checks catch what they promise to catch."""

from __future__ import annotations

import random
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from simshop_core import Items, Reaction, Recommender, User
from simshop_core.testing import check_recommender, check_user, make_items


class Good(User):
    name = "good"
    description = "A well-behaved shopper"

    def __init__(self, *, click_threshold: float = 0.5, buy_threshold: float = 0.7) -> None:
        super().__init__(click_threshold=click_threshold, buy_threshold=buy_threshold)
        self.seen = 0

    def reset(self, rng: np.random.Generator) -> None:
        self.seen = 0

    def utility(self, items: Items, rng: np.random.Generator) -> np.ndarray:
        boredom = min(self.seen / 100, 0.5)
        return np.clip(rng.random(len(items)) - boredom, 0.0, 1.0)

    def react(self, items: Items, rng: np.random.Generator) -> Reaction:
        reaction = super().react(items, rng)
        self.seen += len(items)
        return reaction


class GlobalRandom(Good):
    def utility(self, items: Items, rng: np.random.Generator) -> np.ndarray:
        return np.random.random(len(items))  # noqa: NPY002 - the bug under test


class PythonRandom(Good):
    def utility(self, items: Items, rng: np.random.Generator) -> np.ndarray:
        return np.array([random.random() for _ in range(len(items))])


class TouchesState(Good):
    def utility(self, items: Items, rng: np.random.Generator) -> np.ndarray:
        self.seen += 1
        return super().utility(items, rng)


class OutOfRange(Good):
    def utility(self, items: Items, rng: np.random.Generator) -> np.ndarray:
        return super().utility(items, rng) + 1.0


class WrongLength(Good):
    def utility(self, items: Items, rng: np.random.Generator) -> np.ndarray:
        return super().utility(items, rng)[:-1]


class Scalar(Good):
    def utility(self, items: Items, rng: np.random.Generator) -> np.ndarray:
        return np.float64(0.5)  # type: ignore[return-value]


class IntegerUtility(Good):
    def utility(self, items: Items, rng: np.random.Generator) -> np.ndarray:
        return np.ones(len(items), dtype=np.int64)


class BuysUnclicked(Good):
    def react(self, items: Items, rng: np.random.Generator) -> Reaction:
        reaction = super().react(items, rng)
        return Reaction(reaction.clicked, np.ones(len(items), dtype=bool), reaction.utility)


class IntReaction(Good):
    def react(self, items: Items, rng: np.random.Generator) -> Reaction:
        reaction = super().react(items, rng)
        return Reaction(reaction.clicked.astype(int), reaction.bought, reaction.utility)


class ForgetsNothing(Good):
    def reset(self, rng: np.random.Generator) -> None:
        pass  # memory survives a new shopper: the bug under test


class NeedsArgument(Good):
    def __init__(self, mood: str) -> None:
        super().__init__()


class SkipsSuper(Good):
    def __init__(self) -> None:
        self.seen = 0


class CamelName(Good):
    name = "CamelName"


class NoName(User):
    def utility(self, items: Items, rng: np.random.Generator) -> np.ndarray:
        return np.zeros(len(items))


class TwoLines(Good):
    description = "first line\nsecond line"


USER_FAILURES = [
    (GlobalRandom, "not reproducible"),
    (PythonRandom, "not reproducible"),
    (TouchesState, r"changed vars\(self\)\['seen'\]"),
    (OutOfRange, r"must lie in \[0, 1\]"),
    (WrongLength, r"shape \(49,\) for 50 items"),
    (Scalar, "not a np.ndarray"),
    (IntegerUtility, "want a float array"),
    (BuysUnclicked, "bought but not clicked"),
    (IntReaction, "must be a bool array"),
    (ForgetsNothing, "does not start afresh after reset"),
    (NeedsArgument, "give every __init__ parameter a default"),
    (SkipsSuper, r"call super\(\).__init__"),
    (CamelName, "snake_case"),
    (NoName, "has no name"),
    (TwoLines, "one line"),
]


def test_check_user_passes_a_good_user_and_returns_it() -> None:
    assert isinstance(check_user(Good), Good)
    instance = Good(click_threshold=0.2)
    assert check_user(instance, seed=3, n=20, pages=2) is instance


@pytest.mark.parametrize(
    ("cls", "message"), USER_FAILURES, ids=lambda x: getattr(x, "__name__", "")
)
def test_check_user_catches(cls: type[User], message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_user(cls)


def test_checks_restore_the_global_random_state() -> None:
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    check_user(Good)
    check_recommender(Ranked)
    after = np.random.get_state()  # noqa: NPY002
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1])
    assert random.getstate() == py_state


# --- recommenders --------------------------------------------------------------------------


class Ranked(Recommender):
    name = "ranked"

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        return np.argsort(observation["candidates"]["price"], kind="stable")[:k]


class Shuffled(Recommender):
    name = "shuffled"

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        return self.rng.permutation(len(observation["candidates"]["price"]))[:k]


class Repeats(Ranked):
    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        return np.zeros(k, dtype=np.int64)


class OutOfBounds(Ranked):
    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        return np.arange(k) + 48


class TooFew(Ranked):
    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        return np.arange(min(k, 2))


class AList(Ranked):
    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        return list(range(k))  # type: ignore[return-value]


class Floats(Ranked):
    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        return np.arange(k, dtype=np.float64)


class GlobalShuffle(Ranked):
    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        return np.random.permutation(50)[:k]  # noqa: NPY002 - the bug under test


class Mutates(Ranked):
    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        observation["candidates"]["times_shown"] += 1
        return super().recommend(observation, k)


class Oracle(Ranked):
    name = "oracle"


class NeedsModel(Ranked):
    def __init__(self, path: str) -> None:
        self.path = path


REC_FAILURES = [
    (Repeats, "repeated indices"),
    (OutOfBounds, r"must lie in \[0, 49\]"),
    (TooFew, r"shape \(2,\); want \(5,\)"),
    (AList, "not a np.ndarray"),
    (Floats, "want integer indices"),
    (GlobalShuffle, "not reproducible"),
    (Mutates, r"changed observation\['candidates'\]\['times_shown'\]"),
    (Oracle, "reserved name 'oracle'"),
    (NeedsModel, "no arguments"),
]


@pytest.mark.parametrize("cls", [Ranked, Shuffled])
def test_check_recommender_passes(cls: type[Recommender]) -> None:
    assert isinstance(check_recommender(cls, steps=5, ks=(1, 3, 50)), cls)


@pytest.mark.parametrize(("cls", "message"), REC_FAILURES, ids=lambda x: getattr(x, "__name__", ""))
def test_check_recommender_catches(cls: type[Recommender], message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_recommender(cls)


# --- make_items and import cost -----------------------------------------------------------


def test_make_items() -> None:
    items = make_items(n=30, seed=4)
    assert len(items) == 30
    assert {"price", "brand", "days_since_release", "times_shown"} <= set(items.columns)
    again = make_items(n=30, seed=4)
    for column in items.columns:
        assert np.array_equal(items[column], again[column]), column
    assert items["times_shown"].min() >= 0 and items["times_shown"].max() < 10
    assert make_items(n=30, seed=4, times_shown=2)["times_shown"].tolist() == [2] * 30
    assert not np.array_equal(make_items(n=30, seed=5)["price"], items["price"])


def test_importing_testing_is_cheap() -> None:
    code = (
        "import sys, simshop_core.testing; "
        "heavy = sorted({'pytest', 'pandas', 'torch'} & set(sys.modules)); assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
