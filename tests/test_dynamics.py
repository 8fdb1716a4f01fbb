"""Shopper dynamics (`simshop_core.dynamics`, docs/dynamics.md): each option moves the numbers the
way its formula says, all of them off is today's env number for number, and the same seed
gives the same numbers. (The scalar env equals the engine with each one on:
tests/test_population.py, ``DYNAMICS``.)"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from simshop_core import Recommender, ShopEnv
from simshop_core.dynamics import ColdStart, Dynamics, Fatigue, afford
from simshop_core.env_options import check_env_options
from simshop_core.evaluation import evaluate
from simshop_core.recommender import Feedback
from simshop_core.registry import make_recommender
from simshop_core.rollout import Page, rollout
from simshop_core.specs import parse_env_options

EXCLUDED = ("catalog", "users", "render_mode")


class Fixed(Recommender):
    """The same slate every page: candidates 0 … k−1 (every page after the first repeats)."""

    name = "fixed"

    def recommend(self, observation: dict, k: int) -> np.ndarray:
        return np.arange(k)


class Priciest(Recommender):
    """The k most expensive candidates: bad for a cheap seeker."""

    name = "priciest"

    def recommend(self, observation: dict, k: int) -> np.ndarray:
        return np.argsort(-observation["candidates"]["price"], kind="stable")[:k]


class Cheapest(Recommender):
    """The k cheapest candidates: a cheap seeker clicks and buys a lot."""

    name = "cheapest"

    def recommend(self, observation: dict, k: int) -> np.ndarray:
        return np.argsort(observation["candidates"]["price"], kind="stable")[:k]


class PriciestLearner(Priciest):
    """Priciest, played as a learner (it overrides `update`: one page at a time)."""

    name = "priciest_learner"

    def update(self, feedback: Feedback) -> None:
        pass


def pages(
    users: str, recommender: Recommender, visits: int, seed: int = 0, **options: Any
) -> tuple[ShopEnv, list[Page]]:
    env = ShopEnv(users=users, **options)
    recommender.reset(np.random.default_rng(seed))
    return env, list(rollout(env, recommender, visits, seed=seed))


# --- all off is today's env ---------------------------------------------------------------


def test_all_off_is_todays_env_number_for_number() -> None:
    # Pinned on main's code before the dynamics existed (evaluation on the engine, and the
    # scalar env's rollout), with the dynamics' options given as off explicitly.
    off = dict.fromkeys(("fatigue", "seasonality", "budget", "churn", "cold_start", "calendar"))
    result = evaluate(
        "popularity",
        users="cheap_seeker,brand_lover,familiarity_seeker",
        episodes=90,
        seed=5,
        env_options={
            "visits_per_shopper": 4,
            "candidate_pool": "session",
            "click_model": "pbm",
            **off,
        },
    )
    got = {(c.user, c.recommender): (c.visits, c.mean_reward, c.ctr, c.btr) for c in result.cells}
    assert got == {
        ("brand_lover", "oracle"): (90, 19.277738003369496, 0.5888235294117647, 0.5876470588235294),
        ("brand_lover", "popularity"): (
            90,
            6.433762988093963,
            0.22434514637904468,
            0.15285053929121725,
        ),
        ("brand_lover", "random"): (90, 7.614651242700763, 0.18355795148247978, 0.1334231805929919),
        ("cheap_seeker", "oracle"): (
            90,
            15.504067878095855,
            0.5894428152492669,
            0.38299120234604106,
        ),
        ("cheap_seeker", "popularity"): (
            90,
            1.2458942386414695,
            0.09016786570743406,
            0.030695443645083934,
        ),
        ("cheap_seeker", "random"): (
            90,
            3.448296052123598,
            0.09846153846153846,
            0.04376068376068376,
        ),
        ("familiarity_seeker", "oracle"): (
            90,
            10.257062263092545,
            0.2779279279279279,
            0.2581081081081081,
        ),
        ("familiarity_seeker", "popularity"): (
            90,
            9.026556758129376,
            0.2660332541567696,
            0.24038004750593825,
        ),
        ("familiarity_seeker", "random"): (90, -0.7278364334924838, 0.0, 0.0),
    }
    env = ShopEnv(users="all", click_model="cascade", **off)
    recommender = make_recommender("random")
    recommender.reset(np.random.default_rng(1))
    totals = [0.0, 0, 0]
    for page in rollout(env, recommender, 40, seed=9):
        totals[0] += page.reward
        totals[1] += int(page.clicked.sum())
        totals[2] += int(page.bought.sum())
    assert totals == [258.5451987635093, 234, 178]
    assert env.dynamics == Dynamics()


def test_dynamics_leave_the_spaces_and_the_trained_layout_alone() -> None:
    plain = ShopEnv(users="all")
    moving = ShopEnv(
        users="all", fatigue=True, seasonality=True, budget=True, churn=True, cold_start=True
    )
    assert moving.observation_space == plain.observation_space
    assert moving.action_space == plain.action_space
    assert moving.env_options == plain.env_options  # what a saved model rebuilds its env from


# --- each moves the numbers its way -----------------------------------------------------------


def repeat_clicks(page_list: list[Page]) -> int:
    """Clicks on items this shopper had been shown before."""
    return sum(
        int(np.sum(p.clicked & (p.observation["candidates"]["times_shown"][p.slate] > 0)))
        for p in page_list
    )


def test_fatigue_lowers_repeat_clicks() -> None:
    _, off = pages("cheap_seeker,value_optimizer", Fixed(), 150, seed=2)
    _, on = pages("cheap_seeker,value_optimizer", Fixed(), 150, seed=2, fatigue={"item": 0.3})
    assert repeat_clicks(off) > 100
    assert repeat_clicks(on) < 0.6 * repeat_clicks(off)
    # The first page of the first visit has no exposures and no pages seen: untouched.
    assert on[0].info["true_utility"].tolist() == off[0].info["true_utility"].tolist()


def test_attention_falls_with_pages_seen_in_a_visit() -> None:
    # Fresh items every page, no item fatigue: only the page factor exp(−page·(p − 1)) acts;
    # one visit per shopper, so every first page is drawn at the same place of its streams.
    options = {"candidate_pool": "page", "limits": {"no_click_pages": 10}, "visits_per_shopper": 1}
    _, off = pages("random_chooser", Fixed(), 200, seed=4, **options)
    fatigue = {"item": 0.0, "page": 0.15}
    _, on = pages("random_chooser", Fixed(), 200, seed=4, fatigue=fatigue, **options)

    def clicks_by_page(page_list: list[Page], first: bool) -> int:
        return sum(int(p.clicked.sum()) for p in page_list if (p.info["page"] == 1) == first)

    assert clicks_by_page(on, True) == clicks_by_page(off, True)  # page 1: factor 1
    assert clicks_by_page(on, False) < 0.6 * clicks_by_page(off, False)
    later = [p for p in on if p.info["page"] == 4]
    assert max(max(p.info["true_utility"]) for p in later) <= math.exp(-0.15 * 3)


def spending(env: ShopEnv, page_list: list[Page], key: str) -> dict[tuple[int, ...], float]:
    """What each shopper (``key="shopper"``) or visit (``"visit"``) spent."""
    price = dict(
        zip(env.catalog.columns["product_id"].tolist(), env.catalog.columns["price"], strict=True)
    )
    spent: dict[tuple[int, ...], float] = {}
    for p in page_list:
        who = (
            (p.info["shopper_id"],) if key == "shopper" else (p.info["shopper_id"], p.info["visit"])
        )
        bought = p.info["product_ids"][p.bought].tolist()
        spent[who] = spent.get(who, 0.0) + sum(price[i] for i in bought)
    return spent


@pytest.mark.parametrize("per", ["shopper", "visit"])
def test_budgets_cap_spending(per: str) -> None:
    users = "cheap_seeker,value_optimizer"
    env, off = pages(users, Cheapest(), 200, seed=3)
    budget = {"amount": 25.0, "spread": 0.0, "per": per}
    env_on, on = pages(users, Cheapest(), 200, seed=3, budget=budget)
    spent_off, spent_on = spending(env, off, per), spending(env_on, on, per)
    assert max(spent_off.values()) > 60  # without a budget they spend far more
    assert max(spent_on.values()) <= 25.0
    assert sum(spent_on.values()) < 0.7 * sum(spent_off.values())
    # Clicks are the shopper's; only buys that do not fit are dropped.
    assert [p.clicked.tolist() for p in on[:30]] == [p.clicked.tolist() for p in off[:30]]


def test_drawn_budgets_spread_around_the_amount() -> None:
    env = ShopEnv(users="cheap_seeker", budget={"amount": 100.0, "spread": 0.5})
    drawn = []
    for shopper in range(300):
        env.reset(seed=1, options={"shopper": shopper})
        drawn.append(float(env._budget))
    assert 50.0 <= min(drawn) < 60.0 and 140.0 < max(drawn) <= 150.0
    assert abs(np.mean(drawn) - 100.0) < 5.0


def test_afford_takes_buys_top_first_while_they_fit() -> None:
    bought = np.array([[True, True, False, True], [True, False, True, True]])
    price = np.array([[30.0, 30.0, 5.0, 10.0], [50.0, 1.0, 60.0, 2.0]])
    kept, left = afford(bought, price, np.array([45.0, 55.0]))
    assert kept.tolist() == [[True, False, False, True], [True, False, False, True]]
    assert left.tolist() == [5.0, 3.0]


def test_churn_with_bad_recommendations_shortens_stays() -> None:
    options = {"churn": True, "visits_per_shopper": 10}
    episodes = 600
    result = evaluate(
        [Priciest()], users="cheap_seeker", episodes=episodes, seed=7, env_options=options
    )
    cells = {c.recommender: c for c in result.cells}
    bad, good = cells["priciest"], cells["oracle"]
    assert bad.shoppers == good.shoppers == 60  # the same shoppers, fewer visits
    assert bad.visits / bad.shoppers < 3.0 < good.visits / good.shoppers <= 10
    plain = evaluate([Priciest()], users="cheap_seeker", episodes=episodes, seed=7)
    assert all(c.visits == episodes for c in plain.cells)


def test_a_learners_cell_keeps_its_shoppers_under_churn() -> None:
    # A learner's cell (scalar env, one page at a time) and the same recommender's blocks
    # (population engine) hold the same shoppers, who leave at the same visits.
    options = {"churn": {"intercept": -1.0}, "visits_per_shopper": 5}
    result = evaluate(
        [Priciest(), PriciestLearner()],
        users="cheap_seeker",
        episodes=103,
        seed=2,
        env_options=options,
    )
    cells = {c.recommender: c for c in result.cells}
    learner, blocks = cells["priciest_learner"], cells["priciest"]
    assert learner.shoppers == 21  # ⌈103 / 5⌉, as the blocks of the cell hold
    assert learner.shoppers <= learner.visits < 103
    numbers = ("visits", "shoppers", "mean_reward", "ctr", "btr", "mean_length")
    assert [getattr(learner, n) for n in numbers] == [getattr(blocks, n) for n in numbers]
    # Delayed feedback (--learner-batch) on the engine: the same shoppers leave at the same
    # visits (the cell's visits come in another order, so compare order-free numbers).
    batched = evaluate(
        [PriciestLearner()],
        users="cheap_seeker",
        episodes=103,
        seed=2,
        env_options=options,
        learner_batch=4,
    ).cell("cheap_seeker", "priciest_learner")
    assert (batched.visits, batched.shoppers) == (learner.visits, learner.shoppers)
    assert batched.mean_reward == pytest.approx(learner.mean_reward, rel=1e-12)


def test_seasonality_moves_category_shares_with_the_calendar() -> None:
    env = ShopEnv(users="random_chooser")
    codes = env.catalog.codes("category")
    n_categories = len(env.catalog.vocabulary("category"))

    def share_of_category_0(first_day: float, seasonality: Any) -> float:
        options = {"calendar": {"first_day": first_day, "days_per_shopper": 0.0}}
        env, page_list = pages(
            "random_chooser", make_recommender("random"), 300, seed=5,
            seasonality=seasonality, **options,
        )  # fmt: skip
        ids = env.catalog.columns["product_id"].tolist()
        row_of = {pid: r for r, pid in enumerate(ids)}
        clicked = [row_of[i] for p in page_list for i in p.info["product_ids"][p.clicked].tolist()]
        return float(np.mean(codes[clicked] == 0))

    peak, trough = 365 * 0.25, 365 * 0.75  # category 0's factor: 1 + a·sin(2π·day/365)
    season = {"amplitude": 0.8}
    assert share_of_category_0(peak, season) > 1.5 * share_of_category_0(trough, season)
    assert share_of_category_0(peak, None) == share_of_category_0(trough, None)  # no calendar
    assert share_of_category_0(peak, season) > 1 / n_categories


def test_cold_start_hides_then_reveals_items_with_no_popularity_or_exposures() -> None:
    cold = {"share": 0.3, "arrival_days": 60.0, "ramp_days": 20.0}
    env = ShopEnv(
        users="cheap_seeker",
        candidate_pool="session",
        cold_start=cold,
        calendar={"days_per_shopper": 1.0, "days_between_visits": 5.0},
    )
    arrival = ColdStart(**cold).arrivals(env.catalog.columns["days_since_release"])
    popularity = env.catalog.columns["popularity"]
    row_of = {pid: r for r, pid in enumerate(env.catalog.columns["product_id"].tolist())}
    new_seen, zero_popularity = 0, 0
    for shopper in range(0, 90, 3):
        observation, _ = env.reset(seed=4, options={"shopper": shopper})
        for visit in range(1, 4):
            if visit > 1:
                observation, _ = env.reset()
            day = shopper + 5.0 * (visit - 1)
            candidates = observation["candidates"]
            rows = np.array([row_of[i] for i in candidates["product_id"].tolist()])
            assert np.all(arrival[rows] <= day)  # hidden until its arrival day
            ramp = np.clip((day - arrival[rows]) / 20.0, 0.0, 1.0)
            np.testing.assert_array_equal(
                candidates["popularity"],
                (env.options.features.floats[2, rows] * ramp).astype(np.float32),
            )
            fresh = arrival[rows] > day - 5.0  # arrived since the last visit: never shown
            assert np.all(candidates["times_shown"][fresh] == 0)
            new_seen += int(np.sum(np.isfinite(arrival[rows])))
            zero_popularity += int(np.sum(candidates["popularity"] == 0))
            env.step(np.arange(5))
    assert new_seen > 100  # revealed over time
    assert zero_popularity > 0  # an item on its arrival day has no popularity yet
    assert np.all(popularity[np.isneginf(arrival)] >= 0)
    day0, _ = ShopEnv(users="cheap_seeker", cold_start=cold).reset(seed=4)
    rows = [row_of[i] for i in day0["candidates"]["product_id"].tolist()]
    assert np.all(np.isneginf(arrival[rows]))  # shopper 0 on day 0 sees no new item


# --- reproducible, and bad values are one line ----------------------------------------------

ALL_ON = {
    "fatigue": True,
    "seasonality": True,
    "budget": True,
    "churn": True,
    "cold_start": True,
}


def test_same_seed_same_numbers_with_every_dynamic_on() -> None:
    def run() -> list[tuple[Any, ...]]:
        result = evaluate("popularity", users="all", episodes=60, seed=3, env_options=ALL_ON)
        return [(c.user, c.recommender, c.visits, c.mean_reward, c.ctr) for c in result.cells]

    first = run()
    assert first == run()
    plain = evaluate("popularity", users="all", episodes=60, seed=3)
    assert first != [(c.user, c.recommender, c.visits, c.mean_reward, c.ctr) for c in plain.cells]


def test_env_options_on_the_command_line() -> None:
    options = parse_env_options(
        ["fatigue.item=0.5", "churn=true", "budget.per=visit", "cold_start={}"]
    )
    check_env_options(options, exclude=EXCLUDED)
    env = ShopEnv(users="cheap_seeker", **options)
    assert env.dynamics.fatigue == Fatigue(item=0.5)
    assert env.dynamics.budget is not None and env.dynamics.budget.per == "visit"
    assert env.dynamics.churn is not None and env.dynamics.cold_start == ColdStart()
    assert ShopEnv(users="cheap_seeker", fatigue=False).dynamics.fatigue is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fatigue": {"item": -1}}, "invalid ShopEnv option fatigue.item=-1: must be at least 0"),
        ({"fatigue": {"carry": 2}}, "invalid ShopEnv option fatigue.carry=2: must lie in [0, 1]"),
        ({"fatigue": {"speed": 1}}, "fatigue: unknown key(s) speed; known: carry, item, page"),
        ({"fatigue": "yes"}, "invalid ShopEnv option fatigue='yes': want true/false, or a dict"),
        ({"budget": {"per": "day"}}, "budget.per='day': must be 'shopper' or 'visit'"),
        ({"churn": {"buys": float("nan")}}, "churn.buys=nan: must be a finite number"),
        ({"seasonality": {"period": 0}}, "seasonality.period=0: must be above 0"),
        ({"cold_start": {"share": 1}}, "cold_start.share=1: must lie in [0, 1)"),
        ({"cold_start": {"share": 0.9}}, "cold_start.share=0.9: leaves 25 items at the start"),
        ({"calendar": {"days_per_shopper": -1}}, "calendar.days_per_shopper=-1: must be at"),
    ],
)
def test_bad_values_are_one_clear_line(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as error:
        ShopEnv(users="cheap_seeker", **options)
    text = str(error.value)
    assert message in text and "\n" not in text


# --- the app ----------------------------------------------------------------------------------


def test_the_app_offers_the_dynamics() -> None:
    from streamlit.testing.v1 import AppTest

    from simshop_ui import APP_PATH, choices, compare

    assert choices.env_options("default", ["churn", "fatigue"]) == {"churn": True, "fatigue": True}
    assert choices.env_options("pbm") == {"click_model": "pbm"}
    with pytest.raises(ValueError, match="unknown shopper dynamic 'mood'; accepted: fatigue"):
        choices.env_options("default", ["mood"])
    command = compare.cli_command(["cheap_seeker"], ["random"], 5, 0, {"budget": True})
    assert command.endswith("--env-option budget=true")

    app = AppTest.from_file(str(APP_PATH), default_timeout=60)
    app.run()
    assert app.multiselect(key="dynamics").options == list(choices.DYNAMICS_OPTIONS)
    assert app.session_state["session"].env.dynamics == Dynamics()
    app.multiselect(key="dynamics").set_value(["budget", "cold_start"]).run()
    assert not app.exception and not app.error
    dynamics = app.session_state["session"].env.dynamics
    assert dynamics.budget is not None and dynamics.cold_start is not None
    assert dynamics.fatigue is None
