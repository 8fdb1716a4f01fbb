"""The shopper kernel: each rule is one array function over N shoppers, and one shopper (N = 1,
as `ShopEnv` asks) gets the same numbers as the same shopper among N (as the engine asks)."""

from __future__ import annotations

import numpy as np
import pytest

from simshop_core import Items
from simshop_core.click_models import draw_columns, page_outcome
from simshop_core.dynamics import Churn, come_back
from simshop_core.history import empty, mask, oldest_first, remember
from simshop_core.pools import draw_pools, hidden_items
from simshop_core.streams import Purpose, shopper_keys, uniforms
from simshop_core.user import buy_probability, threshold_rule
from simshop_core.visit import EpisodeLimits, visit_ends
from simshop_users import CheapSeeker, FamiliaritySeeker


def test_remember_keeps_the_last_clicks_newest_last_for_one_or_many() -> None:
    rng = np.random.default_rng(0)
    n, k, length, padding = 40, 5, 4, 999
    rows, times, count = empty(n, length, padding)
    alone = [empty(1, length, padding) for _ in range(n)]
    expected: list[list[int]] = [[] for _ in range(n)]
    for _ in range(12):
        shown = rng.integers(0, 500, (n, k))
        seen = rng.integers(1, 9, (n, k))
        clicked = rng.random((n, k)) < 0.3
        changed = remember((rows, times), count, clicked, (shown[clicked], seen[clicked]))
        assert changed.tolist() == np.flatnonzero(clicked.any(axis=1)).tolist()
        for i in range(n):
            expected[i] += shown[i][clicked[i]].tolist()
            one_rows, one_times, one_count = alone[i]
            picked = clicked[i : i + 1]
            new = (shown[i : i + 1][picked], seen[i : i + 1][picked])
            remember((one_rows, one_times), one_count, picked, new)
    ordered = oldest_first(rows, count)
    for i in range(n):
        last = expected[i][-length:]
        assert ordered[i].tolist() == [padding] * (length - len(last)) + last
        assert oldest_first(alone[i][0], alone[i][2]).tolist() == [ordered[i].tolist()]
        assert count[i] == len(expected[i])
        for mine, theirs in zip((rows, times, count), alone[i], strict=True):
            np.testing.assert_array_equal(mine[i], theirs[0])
    np.testing.assert_array_equal(
        mask(np.array([0, 2, 9]), 4)[:, ::-1], [[0] * 4, [1, 1, 0, 0], [1] * 4]
    )


def test_visit_ends_is_the_same_rule_for_ints_and_arrays() -> None:
    limits = EpisodeLimits(pages=4, no_click_pages=2, clicks=3, buys=2)
    grid = np.array(np.meshgrid(range(4), range(5), range(4), range(1, 6))).reshape(4, -1)
    terminated, truncated = visit_ends(limits, *grid)
    assert not np.any(terminated & truncated)
    for j, (streak, clicks, buys, page) in enumerate(grid.T.tolist()):
        one = visit_ends(limits, streak, clicks, buys, page)
        assert one == (terminated[j], truncated[j])
        assert type(one[0]) is bool and type(one[1]) is bool


def test_buy_probability_one_formula_for_scalar_and_per_shopper_thresholds() -> None:
    u = np.array([[0.5, 0.7, 0.9], [0.2, 0.6, 1.0]])
    click, buy = np.array([[0.5], [0.6]]), np.array([[0.9], [0.6]])
    per_shopper = buy_probability(u, click, buy)
    np.testing.assert_array_equal(per_shopper[0], buy_probability(u[0], 0.5, 0.9))
    np.testing.assert_array_equal(per_shopper[1], [1.0, 1.0, 1.0])  # equal thresholds
    assert per_shopper[0, 0] == 0.0 and per_shopper[0, 2] == 1.0

    clicked, bought = threshold_rule(np.array([0.5, 0.3]), 0.4, 0.4, np.random.default_rng(0))
    assert clicked.tolist() == bought.tolist() == [True, False]  # a click is a buy


@pytest.mark.parametrize("click_model", ["threshold", "pbm", "cascade"])
def test_page_outcome_of_n_shoppers_is_each_shoppers_alone(click_model: str) -> None:
    n, k = 64, 5
    keys = shopper_keys(3, np.arange(n))
    counters = np.arange(n) % 7
    utility = np.random.default_rng(1).random((n, k))
    click, buy = np.linspace(0.2, 0.8, n)[:, None], np.full((n, 1), 0.9)
    examination = 1.0 / np.log2(np.arange(k) + 2.0) if click_model == "pbm" else None
    columns = draw_columns(click_model, k)
    draws = uniforms(keys, counters, Purpose.CLICK, columns)
    together = page_outcome(click_model, utility, click, buy, draws, examination)
    assert not np.any(together[1] & ~together[0])  # bought ⊆ clicked
    for i in range(n):
        one = uniforms(keys[i : i + 1], int(counters[i]), Purpose.CLICK, columns)
        alone = page_outcome(
            click_model, utility[i : i + 1], click[i, 0], buy[i, 0], one, examination
        )
        for a, b in zip(together, alone, strict=True):
            np.testing.assert_array_equal(a[i], b[0])
    if click_model == "cascade":
        assert np.all(together[0].sum(axis=1) <= 1)


def test_pools_are_distinct_avoid_hidden_items_and_do_not_depend_on_neighbours() -> None:
    keys = shopper_keys(5, np.arange(20))
    counters = np.arange(20)
    arrival = np.where(np.arange(300) % 3 == 0, 50.0, -np.inf)
    day = np.linspace(0.0, 100.0, 20)
    hidden = hidden_items(arrival, day)
    assert hidden is not None and hidden_items(None, day) is None
    pools = draw_pools(keys, counters, 300, 40, hidden)
    for i in range(20):
        assert len(set(pools[i].tolist())) == 40
        assert np.all(arrival[pools[i]] <= day[i])
        alone = draw_pools(keys[i : i + 1], int(counters[i]), 300, 40, hidden[i : i + 1])
        np.testing.assert_array_equal(alone[0], pools[i])


def test_churn_draws_are_each_shoppers_own() -> None:
    churn = Churn()
    keys = shopper_keys(2, np.arange(500))
    counters, clicks, buys = np.arange(500) % 11, np.arange(500) % 4, np.arange(500) % 2
    back = come_back(churn, keys, counters, clicks, buys)
    for i in (0, 17, 499):
        one = come_back(
            churn, keys[i : i + 1], counters[i : i + 1], clicks[i : i + 1], buys[i : i + 1]
        )
        assert one[0] == back[i]
    # More clicks and buys, more returns.
    p = churn.return_probability(clicks, buys)
    assert abs(back.mean() - p.mean()) < 0.06


def test_a_built_ins_utility_follows_from_its_batch_form() -> None:
    items = Items.from_dict(
        {"price": [10.0, 40.0, 160.0], "times_shown": [0, 3, 9], "brand": ["a", "b", "a"]}
    )
    np.testing.assert_array_equal(
        CheapSeeker().utility(items, np.random.default_rng(0)), [0.8, 0.5, 0.2]
    )
    noisy = FamiliaritySeeker(noise=0.05)
    a = noisy.utility(items, np.random.default_rng(4))
    n = np.array([1.0, 4.0, 10.0])
    expected = 1.0 / (1.0 + np.exp(4.0 - n)) + np.random.default_rng(4).normal(0.0, 0.05, 3)
    np.testing.assert_array_equal(a, np.clip(expected, 0.0, 1.0))


def test_shop_env_and_the_engine_take_one_validated_options_object() -> None:
    from simshop_core import ShopEnv
    from simshop_core.env_options import EnvOptions, env_option_names
    from simshop_core.population import Population

    env = ShopEnv(users="cheap_seeker", slate_size=3, click_model="pbm")
    assert isinstance(env.options, EnvOptions) and env.options.pbm_examination is not None
    population = Population(env.options, 4, seed=0)
    assert population.k == 3 and population.options is env.options
    assert (
        env_option_names()[:2] == ["catalog", "users"] and env_option_names()[-1] == "render_mode"
    )
    with pytest.raises(TypeError, match="ShopEnv got an unexpected keyword argument 'slate'"):
        ShopEnv(slate=3)
    with pytest.raises(ValueError, match=r"invalid ShopEnv option slate_size=0"):
        EnvOptions(slate_size=0)
