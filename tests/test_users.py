"""The six built-in shopper models: formulas, defaults, reactions, registration."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from simshop_core import Items, User, get_registry
from simshop_core.catalog import BRANDS, COLORS
from simshop_core.testing import check_user, make_items
from simshop_users import (
    BrandLover,
    CheapSeeker,
    FamiliaritySeeker,
    FreshnessLooker,
    RandomChooser,
    ValueOptimizer,
)

# name, click threshold, buy threshold: the prototype's.
TABLE = {
    CheapSeeker: ("cheap_seeker", 0.72, 0.85),
    BrandLover: ("brand_lover", 0.30, 0.50),
    ValueOptimizer: ("value_optimizer", 0.70, 0.85),
    RandomChooser: ("random_chooser", 0.85, 0.97),
    FamiliaritySeeker: ("familiarity_seeker", 0.60, 0.80),
    FreshnessLooker: ("freshness_looker", 0.40, 0.65),
}
USERS = list(TABLE)


def items(**columns: object) -> Items:
    n = len(next(iter(columns.values())))  # type: ignore[arg-type]
    return Items.from_dict({"product_id": np.arange(1, n + 1), **columns})


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# --- class attributes and construction ---------------------------------------------------


@pytest.mark.parametrize("cls", USERS, ids=lambda c: c.__name__)
def test_name_description_and_default_thresholds(cls: type[User]) -> None:
    name, click, buy = TABLE[cls]
    user = cls()
    assert cls.name == name
    assert cls.description and "\n" not in cls.description
    assert (user.click_threshold, user.buy_threshold) == (click, buy)


@pytest.mark.parametrize("cls", USERS, ids=lambda c: c.__name__)
def test_thresholds_are_keyword_overrides(cls: type[User]) -> None:
    user = cls(click_threshold=0.1, buy_threshold=0.2)
    assert (user.click_threshold, user.buy_threshold) == (0.1, 0.2)
    with pytest.raises(TypeError):
        cls(0.1)  # type: ignore[misc]  # keyword-only, as in the base class
    with pytest.raises(ValueError, match="click_threshold <= buy_threshold"):
        cls(click_threshold=0.9, buy_threshold=0.5)


@pytest.mark.parametrize(
    ("cls", "bad"),
    [
        (CheapSeeker, {"pivot": 0.0}),
        (ValueOptimizer, {"scale": -1.0}),
        (FamiliaritySeeker, {"noise": -0.1}),
        (FreshnessLooker, {"decay": -0.01}),
        (BrandLover, {"noise": -0.1}),
        (BrandLover, {"brand_weights": {"BrandA": 1.5}}),
        (BrandLover, {"color_weights": {"Red": -0.1}}),
    ],
)
def test_bad_parameters_are_rejected(cls: type[User], bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad)).split("_")[0]):
        cls(**bad)


# --- formulas against hand-computed values -----------------------------------------------


def test_cheap_seeker_formula() -> None:
    shown = items(price=[40.0, 10.0, 120.0, 160.0])
    np.testing.assert_allclose(CheapSeeker().utility(shown, rng()), [0.5, 0.8, 0.25, 0.2])
    np.testing.assert_allclose(CheapSeeker(pivot=10.0).utility(shown, rng())[:2], [0.2, 0.5])


def test_value_optimizer_formula() -> None:
    # v = 50 · quality / price: 1, 5, 0, 0.25
    shown = items(quality_score=[0.5, 1.0, 0.0, 0.1], price=[25.0, 10.0, 10.0, 20.0])
    np.testing.assert_allclose(ValueOptimizer().utility(shown, rng()), [0.5, 5 / 6, 0.0, 0.2])
    np.testing.assert_allclose(ValueOptimizer(scale=25.0).utility(shown, rng())[0], 1 / 3)


def test_freshness_looker_formula() -> None:
    shown = items(days_since_release=[0.0, 200.0, 1000.0, 730.0])
    expected = [1.0, math.exp(-1.0), math.exp(-5.0), math.exp(-3.65)]
    np.testing.assert_allclose(FreshnessLooker().utility(shown, rng()), expected)
    np.testing.assert_allclose(FreshnessLooker(decay=0.01).utility(shown, rng())[1], math.exp(-2))


def test_familiarity_seeker_formula_without_noise() -> None:
    # n = times_shown + 1: first sight n = 1 → sigmoid(−3); the fourth sight → sigmoid(0).
    shown = items(times_shown=[0, 3, 4, 20])
    expected = [1 / (1 + math.exp(3)), 0.5, 1 / (1 + math.exp(-1)), 1 / (1 + math.exp(-17))]
    np.testing.assert_allclose(FamiliaritySeeker(noise=0.0).utility(shown, rng()), expected)
    np.testing.assert_allclose(
        FamiliaritySeeker(noise=0.0, midpoint=2.0).utility(shown, rng())[0], 1 / (1 + math.e)
    )


def test_familiarity_seeker_noise_is_normal_005_and_clipped() -> None:
    middle = FamiliaritySeeker().utility(items(times_shown=np.full(20_000, 3)), rng(1)) - 0.5
    assert abs(middle.mean()) < 0.002
    assert middle.std() == pytest.approx(0.05, abs=0.002)
    unseen = FamiliaritySeeker().utility(items(times_shown=np.zeros(20_000, int)), rng(2))
    assert unseen.min() == 0.0  # sigmoid(−3) ≈ 0.047 plus noise dips below 0: clipped
    assert unseen.max() <= 1.0


def test_random_chooser_is_uniform() -> None:
    values = RandomChooser().utility(items(price=np.ones(20_000)), rng(3))
    assert values.min() >= 0.0 and values.max() < 1.0
    assert values.mean() == pytest.approx(0.5, abs=0.01)
    assert values.std() == pytest.approx(math.sqrt(1 / 12), abs=0.01)


def test_brand_lover_formula_with_given_weights() -> None:
    user = BrandLover(
        brand_weights={"BrandA": 1.0, "BrandB": 0.5},
        color_weights={"Red": 1.0, "Blue": 0.0},
        noise=0.0,
    )
    shown = items(
        brand=["BrandA", "BrandB", "BrandZ", "BrandA"], color=["Red", "Blue", "Red", "Pink"]
    )
    # 0.7·brand + 0.3·colour; a brand or colour without a weight counts 0.
    np.testing.assert_allclose(user.utility(shown, rng()), [1.0, 0.35, 0.3, 0.7])


def test_brand_lover_noise_is_uniform_01_and_clipped() -> None:
    user = BrandLover(brand_weights={"A": 0.5}, color_weights={"C": 0.5})
    n = 20_000
    values = user.utility(items(brand=["A"] * n, color=["C"] * n), rng(4))
    assert values.min() >= 0.4 and values.max() <= 0.6
    assert values.mean() == pytest.approx(0.5, abs=0.002)
    top = BrandLover(brand_weights={"A": 1.0}, color_weights={"C": 1.0})
    assert top.utility(items(brand=["A"] * n, color=["C"] * n), rng(5)).max() == 1.0


def test_brand_lover_draws_fixed_weights_from_its_preference_seed() -> None:
    user = BrandLover()
    assert set(user.brand_weights) == set(BRANDS)
    assert set(user.color_weights) == set(COLORS)
    values = [*user.brand_weights.values(), *user.color_weights.values()]
    assert all(0.0 <= w <= 1.0 for w in values)
    # A few favourites, most brands near indifferent (Beta(0.25, 1) has median 1/16).
    assert np.median(list(user.brand_weights.values())) < 0.25
    assert max(user.brand_weights.values()) > 0.5
    # Fixed for the model: every shopper of the type shares them, whatever rng they get.
    again = BrandLover()
    again.reset(rng(99))
    assert again.brand_weights == user.brand_weights
    assert again.color_weights == user.color_weights
    assert BrandLover(preference_seed=1).brand_weights != user.brand_weights
    # Giving one dict leaves the other drawn as before.
    assert BrandLover(brand_weights={"BrandA": 1.0}).color_weights == user.color_weights


@pytest.mark.parametrize("seed", [-1, 2**32, 2**64, 0.5])
def test_brand_lover_preference_seed_takes_the_one_seed_range(seed: object) -> None:
    with pytest.raises(ValueError, match=r"preference_seed=.* must be an integer in \[0, 4,294"):
        BrandLover(preference_seed=seed)  # type: ignore[arg-type]
    assert BrandLover(preference_seed=2**32 - 1).brand_weights


# --- contract: reproducible, looks without touching ---------------------------------------


@pytest.mark.parametrize("cls", USERS, ids=lambda c: c.__name__)
def test_utility_is_reproducible_float64_in_unit_interval(cls: type[User]) -> None:
    shown = make_items(n=100, seed=2)
    first = cls().utility(shown, rng(7))
    again = cls().utility(shown, rng(7))
    assert first.dtype == np.float64 and first.shape == (100,)
    assert first.tobytes() == again.tobytes()
    assert np.all((first >= 0) & (first <= 1))


@pytest.mark.parametrize("cls", USERS, ids=lambda c: c.__name__)
def test_utility_changes_no_state(cls: type[User]) -> None:
    user = cls()
    user.reset(rng(0))
    before = copy.deepcopy(vars(user))
    user.utility(make_items(n=50, seed=3), rng(1))
    assert vars(user) == before


@pytest.mark.parametrize("cls", USERS, ids=lambda c: c.__name__)
def test_check_user_passes(cls: type[User]) -> None:
    assert isinstance(check_user(cls), cls)


# --- the reaction rule ---------------------------------------------------------------------


class Fixed(User):
    """Utilities given in advance, to test the default `react` rule."""

    name = "fixed"

    def __init__(self, values: list[float] | None = None) -> None:
        super().__init__(click_threshold=0.4, buy_threshold=0.8)
        self.values = np.asarray(values or [0.5], dtype=np.float64)

    def utility(self, items: Items, rng: np.random.Generator) -> np.ndarray:
        return self.values.copy()


def test_react_clicks_at_threshold_and_buys_with_linear_probability() -> None:
    user = Fixed([0.39, 0.4, 0.6, 0.8, 1.0])
    shown = items(price=np.ones(5))
    generator = rng(11)
    reactions = [user.react(shown, generator) for _ in range(4000)]
    clicked = np.array([r.clicked for r in reactions])
    bought = np.array([r.bought for r in reactions])
    assert np.all(clicked == [False, True, True, True, True])
    rate = bought.mean(axis=0)
    # p(buy) = clip((u − 0.4) / (0.8 − 0.4), 0, 1): 0, 0, 0.5, 1, 1
    assert rate[[0, 1]].tolist() == [0.0, 0.0]
    assert rate[2] == pytest.approx(0.5, abs=0.03)
    assert rate[[3, 4]].tolist() == [1.0, 1.0]


@pytest.mark.parametrize("cls", USERS, ids=lambda c: c.__name__)
def test_react_follows_the_rule_for_every_model(cls: type[User]) -> None:
    user = cls()
    shown = make_items(n=250, seed=4)
    user.reset(rng(0))
    reaction = user.react(shown, rng(5))
    assert reaction.clicked.dtype == bool and reaction.bought.dtype == bool
    assert len(reaction.clicked) == len(reaction.bought) == len(reaction.utility) == 250
    assert np.array_equal(reaction.clicked, reaction.utility >= user.click_threshold)
    assert not np.any(reaction.bought & ~reaction.clicked)
    assert np.all(reaction.bought[reaction.utility >= user.buy_threshold])
    again = cls()
    again.reset(rng(0))
    replay = again.react(shown, rng(5))
    assert np.array_equal(replay.bought, reaction.bought)
    assert replay.utility.tobytes() == reaction.utility.tobytes()


# --- registration ------------------------------------------------------------------------


def test_builtin_users_register_through_the_entry_point(fresh_plugin_manager: None) -> None:
    registry = get_registry()
    ours = {name: e for name, e in registry.users.items() if e.plugin == "simshop-users"}
    assert sorted(ours) == sorted(name for name, _, _ in TABLE.values())
    for cls, (name, _, _) in TABLE.items():
        assert ours[name].cls is cls
        assert ours[name].distribution == "simshop-users"
    assert not [e for e in registry.errors if e.plugin == "simshop-users"]
