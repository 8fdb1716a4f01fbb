"""How a plugin author tests a SimShop plugin: the contract checks, then your own behaviour."""

from __future__ import annotations

import numpy as np

from simshop_core.testing import check_recommender, check_user, make_items
from simshop_example_plugin import (
    CheapestFirst,
    ClickChaser,
    ImpulseBuyer,
    register_recommenders,
    register_users,
)


def test_impulse_buyer_meets_the_contract() -> None:
    # Utilities in [0, 1], reproducible under a seed, utility() changes nothing, reset works.
    check_user(ImpulseBuyer)


def test_cheapest_first_meets_the_contract() -> None:
    # k distinct in-range indices for several k, reproducible after reset.
    check_recommender(CheapestFirst)


def test_click_chaser_meets_the_contract() -> None:
    # Also checks that it forgets what it learnt on reset.
    check_recommender(ClickChaser)


def test_hooks_register_the_classes() -> None:
    users: list[type] = []
    recommenders: list[type] = []
    register_users(users.append)
    register_recommenders(recommenders.append)
    assert users == [ImpulseBuyer]
    assert recommenders == [CheapestFirst, ClickChaser]


def test_buying_tires_the_shopper_until_reset() -> None:
    items = make_items(n=50, seed=0)
    user = ImpulseBuyer(noise=0.0)  # no noise: utilities compare exactly
    user.reset(np.random.default_rng(0))
    fresh = user.utility(items, np.random.default_rng(0))
    reaction = user.react(items, np.random.default_rng(0))
    assert reaction.bought.any() and user.fatigue > 0
    tired = user.utility(items, np.random.default_rng(0))
    assert np.all(tired <= fresh) and np.any(tired < fresh)
    user.reset(np.random.default_rng(1))  # a new shopper: full wallet, fresh patience
    assert np.array_equal(user.utility(items, np.random.default_rng(0)), fresh)


def test_never_buys_beyond_the_budget() -> None:
    items = make_items(n=50, seed=1)
    user = ImpulseBuyer(budget=40.0, click_threshold=0.0, buy_threshold=0.0)  # buys every click
    rng = np.random.default_rng(0)
    user.reset(rng)
    for _ in range(5):
        user.react(items, rng)
    assert 0 < user.spent <= 40.0


def test_cheapest_first_picks_the_cheapest() -> None:
    observation = {"candidates": {"price": np.array([30.0, 5.0, 12.0, 5.0], dtype=np.float32)}}
    assert CheapestFirst().recommend(observation, 3).tolist() == [1, 3, 2]


def test_click_chaser_learns_from_clicks_per_position() -> None:
    from simshop_core import Feedback

    observation = {
        "candidates": {
            "product_id": np.array([10, 11, 12, 13]),
            "price": np.array([5.0, 6.0, 7.0, 8.0], dtype=np.float32),
        }
    }
    rec = ClickChaser()
    rec.reset(np.random.default_rng(0))
    assert rec.recommend(observation, 2).tolist() == [0, 1]  # nothing learnt: cheapest first
    slate = np.array([3, 2])  # product 13 on top, then 12; only the second was clicked
    rec.update(
        Feedback(
            observation,
            slate,
            np.array([False, True]),
            np.array([False, False]),
            1.0,
            observation,
            False,
            False,
        )
    )
    assert rec.recommend(observation, 2).tolist() == [2, 0]  # 12 (clicked) leads, 13 drops
    rec.reset(np.random.default_rng(0))
    assert rec.recommend(observation, 2).tolist() == [0, 1]
