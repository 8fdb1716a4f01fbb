"""Click models: what the shopper examines, the truth in info, and shoppers that override react."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

from simshop_core import Items, Reaction, User, generate_catalog
from simshop_core.click_models import default_examination
from simshop_core.env import ShopEnv
from simshop_core.plugins import PluginRuntimeError

SLATE = np.array([0, 1, 2, 3, 4])


@pytest.fixture(scope="module")
def catalog():
    return generate_catalog()


class ByPosition(User):
    """Utility set per candidate index of the first page (a scripted shopper, no randomness)."""

    name = "by_position"
    table: ClassVar[dict[int, float]] = {}

    def __init__(self, click_threshold: float = 0.5, buy_threshold: float = 0.8) -> None:
        super().__init__(click_threshold=click_threshold, buy_threshold=buy_threshold)

    def utility(self, items: Items, rng: np.random.Generator) -> np.ndarray:
        return np.array([self.table.get(int(p), 0.0) for p in items["product_id"]])


class Recording(ByPosition):
    """Overrides react: records how many items it was handed each time."""

    name = "recording"
    calls: ClassVar[list[int]] = []

    def react(self, items: Items, rng: np.random.Generator) -> Reaction:
        self.calls.append(len(items))
        return super().react(items, rng)


def env_with(catalog, user: User, utilities: list[float], **options) -> ShopEnv:
    env = ShopEnv(catalog, users=[user], user_types=[user.name], **options)
    ids = env.reset(seed=0)[0]["candidates"]["product_id"]
    type(user).table = dict(zip(ids[:5].tolist(), utilities, strict=True))
    return env


def test_the_default_pbm_examination_falls_strictly_and_top_is_examined_most() -> None:
    e = default_examination(5)
    assert e[0] == 1.0 and np.all(np.diff(e) < 0) and e[0] >= 1.5 * e[4]


def test_threshold_examines_everything_and_its_click_prob_is_the_click(catalog) -> None:
    env = env_with(catalog, ByPosition(), [0.9, 0.1, 0.6, 0.2, 0.3])
    info = env.step(SLATE)[4]
    assert info["examine_prob"].tolist() == [1.0] * 5
    assert info["clicked"].tolist() == [True, False, True, False, False]
    assert info["click_prob"].tolist() == [1.0, 0.0, 1.0, 0.0, 0.0]


def test_pbm_examines_each_position_as_often_as_its_probability(catalog) -> None:
    examination = [1.0, 0.8, 0.5, 0.3, 0.1]
    env = env_with(
        catalog,
        ByPosition(),
        [0.6] * 5,
        click_model="pbm",
        examination=examination,
        visits_per_shopper=1000,  # one shopper, one candidate pool, the whole run
        limits={"pages": 10, "clicks": 100, "buys": 100, "no_click_pages": 100},
    )
    pages, clicks = 0, np.zeros(5)
    while pages < 4000:
        _, _, terminated, truncated, info = env.step(SLATE)
        assert info["examine_prob"].tolist() == examination
        assert info["click_prob"].tolist() == examination  # every item is attractive
        clicks += info["clicked"]
        pages += 1
        if terminated or truncated:
            env.reset()
    rate = clicks / pages
    sigma = np.sqrt(np.array(examination) * (1 - np.array(examination)) / pages)
    assert np.all(np.abs(rate - examination) <= 5 * sigma + 1e-12), rate


def test_pbm_never_clicks_an_unexamined_item(catalog) -> None:
    env = env_with(catalog, ByPosition(), [0.9] * 5, click_model="pbm")
    for _ in range(30):
        _, _, terminated, truncated, info = env.step(SLATE)
        assert not np.any(info["clicked"] & (info["examine_prob"] == 0))
        assert np.all(info["bought"] <= info["clicked"])
        if terminated or truncated:
            env.reset()


def test_cascade_stops_at_the_first_click(catalog) -> None:
    env = env_with(catalog, ByPosition(), [0.1, 0.6, 0.9, 0.7, 0.2], click_model="cascade")
    info = env.step(SLATE)[4]
    assert info["clicked"].tolist() == [False, True, False, False, False]
    assert info["examine_prob"].tolist() == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert info["click_prob"].tolist() == [0.0, 1.0, 0.0, 0.0, 0.0]
    assert info["true_utility"].tolist() == [0.1, 0.6, 0.9, 0.7, 0.2]


def test_cascade_without_a_click_examines_the_whole_slate(catalog) -> None:
    env = env_with(catalog, ByPosition(), [0.1] * 5, click_model="cascade")
    info = env.step(SLATE)[4]
    assert not info["clicked"].any() and info["examine_prob"].tolist() == [1.0] * 5


@pytest.mark.parametrize("click_model", ["threshold", "pbm", "cascade"])
def test_a_shopper_that_overrides_react_is_handed_only_what_it_examined(
    catalog, click_model
) -> None:
    Recording.calls = []
    env = env_with(catalog, Recording(), [0.1, 0.6, 0.9, 0.7, 0.2], click_model=click_model)
    info = env.step(SLATE)[4]
    if click_model == "threshold":
        assert Recording.calls == [5]
    elif click_model == "cascade":
        assert Recording.calls == [1, 1]  # top-down, one at a time, until the click
        assert info["clicked"].tolist() == [False, True, False, False, False]
    else:  # pbm: one call with the examined items only (none examined: no call)
        examined = int(np.count_nonzero(info["examine_prob"] == 1.0))
        assert Recording.calls in ([], [len(Recording.calls) and Recording.calls[0]])
        assert sum(Recording.calls) <= 5 and (not Recording.calls or examined >= 1)
    # The truth covers every position, examined or not.
    assert info["true_utility"].tolist() == [0.1, 0.6, 0.9, 0.7, 0.2]


@pytest.mark.parametrize("click_model", ["threshold", "pbm", "cascade"])
def test_the_built_in_shoppers_run_under_every_click_model(catalog, click_model) -> None:
    env = ShopEnv(catalog, users="all", click_model=click_model)
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(200):
        _, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert np.isfinite(reward)
        assert np.all(info["clicked"] <= (info["examine_prob"] > 0))
        if terminated or truncated:
            env.reset()


class Broken(User):
    name = "broken"
    returns: ClassVar[object] = None

    def __init__(self, click_threshold: float = 0.5, buy_threshold: float = 0.8) -> None:
        super().__init__(click_threshold=click_threshold, buy_threshold=buy_threshold)

    def utility(self, items: Items, rng: np.random.Generator) -> np.ndarray:
        if isinstance(self.returns, Exception):
            raise self.returns
        return self.returns  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("returns", "message"),
    [
        (np.full(5, np.nan), "returned nan"),
        (np.full(5, 5.0), "returned 5.0"),
        (np.full(5, -0.5), "returned -0.5"),
        (np.zeros(4), "shape \\(4,\\) for 5 items"),
        (None, "returned NoneType"),
        (RuntimeError("boom"), "raised RuntimeError: boom"),
    ],
)
def test_a_misbehaving_shopper_is_named_in_one_line(catalog, returns, message) -> None:
    Broken.returns = returns
    env = ShopEnv(catalog, users=[Broken()], user_types=["broken"])
    env.reset(seed=0)
    with pytest.raises(PluginRuntimeError, match=message) as caught:
        env.step(SLATE)
    assert "Broken" in str(caught.value) and "utility" in str(caught.value)
    assert "\n" not in str(caught.value)
