"""ShopEnv: the gymnasium contract, reproducibility, the reward, exposures and history."""

from __future__ import annotations

import re
import warnings
from typing import ClassVar

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simshop_core
from simshop_core import Items, User, generate_catalog
from simshop_core.env import OTHER, ShopEnv, SlateSpace

USERS = sorted(simshop_core.get_registry().users)


@pytest.fixture(scope="module")
def catalog():
    return generate_catalog()


class FixedUtility(User):
    """A scripted shopper: utility is a function of the product id, no randomness."""

    name = "fixed_utility"
    table: ClassVar[dict[int, float]] = {}

    def __init__(self, click_threshold: float = 0.5, buy_threshold: float = 0.8) -> None:
        super().__init__(click_threshold=click_threshold, buy_threshold=buy_threshold)

    def utility(self, items: Items, rng: np.random.Generator) -> np.ndarray:
        return np.array([self.table.get(int(p), 0.0) for p in items["product_id"]])


def rollout(env: ShopEnv, seed: int, episodes: int, action_seed: int) -> list:
    """Observations, rewards, flags and infos of several visits with seeded random slates."""
    actions = np.random.default_rng(action_seed)
    trace = []
    observation, info = env.reset(seed=seed)
    for episode in range(episodes):
        if episode:
            observation, info = env.reset()
        trace.append((observation, info))
        done = False
        while not done:
            slate = actions.permutation(env.num_candidates)[: env.slate_size]
            observation, reward, terminated, truncated, info = env.step(slate)
            trace.append((observation, reward, terminated, truncated, info))
            done = terminated or truncated
    return trace


# --- the gymnasium contract ----------------------------------------------------------------


def test_gymnasium_make_works_after_importing_simshop_core() -> None:
    env = gym.make("simshop/Shop-v1", users="all")
    observation, _ = env.reset(seed=0)
    assert env.observation_space.contains(observation)
    assert env.unwrapped.user_types == (*USERS, OTHER)


def test_gymnasium_env_checker_passes_without_warnings() -> None:
    from gymnasium.utils.env_checker import check_env

    env = gym.make("simshop/Shop-v1", users="all", render_mode="ansi").unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=False)


def test_stable_baselines3_env_checker_passes() -> None:
    from stable_baselines3.common.env_checker import check_env

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(ShopEnv(users="all"))
    # Expected: SB3 does not take nested Dicts; the ppo recommender flattens them itself.
    unexpected = [str(w.message) for w in caught if "Nested observation" not in str(w.message)]
    assert unexpected == []


def test_v0_is_gone_with_an_error_pointing_to_v1() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # gymnasium warns, then raises
        with pytest.raises(gym.error.DeprecatedEnv, match="simshop/Shop-v1"):
            gym.make("simshop/Shop-v0")


def test_action_space_samples_valid_ordered_slates_and_rejects_others() -> None:
    space = SlateSpace(10, 3, seed=0)
    samples = [space.sample() for _ in range(200)]
    for action in samples:
        assert space.contains(action) and action.shape == (3,) and len(set(action)) == 3
    # Ordered: the same items come in different orders.
    assert len({tuple(a) for a in samples}) > len({frozenset(a) for a in samples})
    assert not space.contains(np.array([1, 1, 2]))
    assert not space.contains(np.array([0, 1, 10]))
    assert isinstance(space, gym.spaces.MultiDiscrete)


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (np.arange(4), "shape \\(4,\\)"),
        (np.arange(6), "shape \\(6,\\)"),
        (np.array([0, 1, 2, 3, 3]), "repeated"),
        (np.array([0, 1, 2, 3, -1]), "-1"),
        (np.array([0, 1, 2, 3, 50]), "50"),
        (np.arange(5.0), "dtype float64"),
        (np.zeros(50, dtype=np.int8), "shape \\(50,\\)"),
        ([0, 1, 2, 3, 4.0], "dtype float64"),
    ],
)
def test_bad_actions_raise_value_errors_saying_what_was_expected(action, message) -> None:
    env = ShopEnv(users="cheap_seeker")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="ordered slate of 5 distinct integer") as caught:
        env.step(action)
    assert re.search(message, str(caught.value))


def test_info_is_per_slate_position_in_any_order(catalog) -> None:
    env, ids = scripted_env(catalog)
    FixedUtility.table = {int(ids[7]): 0.9, int(ids[2]): 0.6}
    _, _, _, _, info = env.step(np.array([7, 0, 2, 9, 4]))
    assert info["slate"].tolist() == [7, 0, 2, 9, 4]
    assert info["product_ids"].tolist() == ids[[7, 0, 2, 9, 4]].tolist()
    assert info["clicked"].tolist() == [True, False, True, False, False]
    assert info["true_utility"].tolist() == [0.9, 0.0, 0.6, 0.0, 0.0]
    assert info["bought"][0]  # utility 0.9 >= the buy threshold 0.8: a certain buy


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_candidates": 0}, "num_candidates"),
        ({"num_candidates": 1000}, "must not exceed the catalog's 250"),
        ({"num_candidates": 5.0}, "must be an integer"),
        ({"click_model": "dbn"}, "click_model='dbn': must be one of 'threshold', 'pbm', 'cascade'"),
        ({"examination": [0.5] * 5}, "applies to click_model='pbm' only"),
        ({"click_model": "pbm", "examination": [1.0, 0.5]}, "want 5 probabilities"),
        ({"click_model": "pbm", "examination": [1, 0.5, 0.4, 0.3, 0]}, "in \\(0, 1\\]"),
        ({"slate_size": 0}, "slate_size"),
        ({"slate_size": 60}, "slate_size"),
        ({"n_last_clicks": 0}, "n_last_clicks"),
        ({"visits_per_shopper": 0}, "visits_per_shopper"),
        ({"candidate_pool": "always"}, "candidate_pool"),
        ({"reward_weights": {"clicks": 1.0}}, "reward_weights"),
        ({"limits": {"pages": 0}}, "limits.pages"),
        ({"users": "nobody"}, "unknown shopper model 'nobody'"),
        ({"users": []}, "no shopper models"),
        ({"render_mode": "human"}, "render_mode"),
    ],
)
def test_invalid_options_say_which_and_why(options, message) -> None:
    options = {"users": "all", **options}
    with pytest.raises(ValueError, match=message):
        ShopEnv(**options)


NAN = float("nan")

# Ill-typed or non-finite options (issue 9): one ValueError at construction, naming the option
# (and a dataclass's field) and what it accepts.
ILL_TYPED = [
    ({"limits": {"pages": 1.5}}, r"limits\.pages=1\.5: must be an integer in \[1, "),
    ({"limits": {"clicks": True}}, r"limits\.clicks=True: must be an integer .*not bool"),
    ({"limits": {"buys": 10**12}}, r"limits\.buys=1000000000000: must be an integer in"),
    ({"limits": [5]}, r"limits=\[5\]: want a dict with some of the keys buys, clicks"),
    ({"reward_weights": {"ctr": NAN}}, r"reward_weights\.ctr=nan: must be a finite number"),
    ({"reward_weights": {"btr": float("inf")}}, r"reward_weights\.btr=inf: must be a finite"),
    ({"reward_weights": {"ctr": "3"}}, r"reward_weights\.ctr='3': must be a number, not str"),
    ({"reward_weights": {"page": True}}, r"reward_weights\.page=True: must be a number"),
    ({"reward_weights": {"utility": 1e300}}, r"reward_weights\.utility=1e\+300: must lie in"),
    ({"reward_weights": 3}, r"reward_weights=3: want a dict"),
    ({"click_model": "pbm", "examination": [NAN] * 5}, r"examination=\[nan.*want 5 probab"),
    ({"click_model": "pbm", "examination": "abcde"}, r"examination='abcde': want 5"),
    ({"visits_per_shopper": True}, r"visits_per_shopper=True: must be an integer"),
    ({"visits_per_shopper": 10**10}, r"visits_per_shopper=10000000000: must not exceed"),
    ({"n_last_clicks": 10**5}, r"n_last_clicks=100000: must not exceed 1000"),
    ({"slate_size": 2.0}, r"slate_size=2\.0: must be an integer"),
    ({"user_types": 5}, r"user_types=5: must be a list of names"),
    ({"user_types": "cheap_seeker"}, r"user_types='cheap_seeker': must be a list of names"),
    ({"vocabularies": {"brand": 5}}, r"vocabularies=.*must be a dict of lists of names"),
]


@pytest.mark.parametrize(("options", "message"), ILL_TYPED, ids=[str(o) for o, _ in ILL_TYPED])
def test_ill_typed_options_are_one_value_error_naming_the_option(options, message) -> None:
    with pytest.raises(ValueError, match=r"^invalid ShopEnv option " + message) as caught:
        ShopEnv(users="cheap_seeker", **options)
    assert "\n" not in str(caught.value)


def test_the_option_dataclasses_check_themselves() -> None:
    from simshop_core.env import EpisodeLimits, RewardWeights

    with pytest.raises(ValueError, match=r"invalid RewardWeights option ctr=nan: must be a finite"):
        RewardWeights(ctr=NAN)
    with pytest.raises(ValueError, match=r"invalid EpisodeLimits option pages=0: must be an int"):
        EpisodeLimits(pages=0)
    # Valid values of NumPy types are numbers too.
    weights = RewardWeights(ctr=np.float32(2.5), btr=np.int64(4))
    assert weights.page_reward(1, 1, 0.0, 0.0, 5, 1) == pytest.approx(2.5 / 5 + 4 / 5 - 0.1)
    env = ShopEnv(users="cheap_seeker", limits={"pages": np.int64(3)}, reward_weights=weights)
    assert env.limits.pages == 3 and env.reward_weights is weights


def test_step_before_reset_and_after_the_end_is_an_error() -> None:
    env = ShopEnv(users="cheap_seeker")
    with pytest.raises(RuntimeError, match="reset"):
        env.step(env.action_space.sample())
    env.reset(seed=0)
    done = False
    while not done:
        *_, terminated, truncated, _ = env.step(env.action_space.sample())
        done = terminated or truncated
    with pytest.raises(RuntimeError, match="reset"):
        env.step(env.action_space.sample())


# --- reproducibility -------------------------------------------------------------------------


@pytest.mark.parametrize("user", USERS)
def test_same_seed_same_actions_give_identical_trajectories(user, catalog) -> None:
    from gymnasium.utils.env_checker import data_equivalence

    first = rollout(ShopEnv(catalog, users=[user]), seed=7, episodes=25, action_seed=1)
    second = rollout(ShopEnv(catalog, users=[user]), seed=7, episodes=25, action_seed=1)
    assert data_equivalence(first, second, exact=True)
    other = rollout(ShopEnv(catalog, users=[user]), seed=8, episodes=25, action_seed=1)
    assert not data_equivalence(first, other)


def test_reset_with_the_same_seed_repeats_the_mixed_shopper_trajectory(catalog) -> None:
    from gymnasium.utils.env_checker import data_equivalence

    env = ShopEnv(catalog, users="all")
    first = rollout(env, seed=3, episodes=40, action_seed=2)
    again = rollout(env, seed=3, episodes=40, action_seed=2)
    assert data_equivalence(first, again, exact=True)
    types = {step[1]["user_type"] for step in first if len(step) == 2}
    assert len(types) > 1  # the mix really mixes


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    num_candidates=st.integers(1, 60),
    slate_fraction=st.floats(0.01, 1.0),
    n_last_clicks=st.integers(1, 8),
    visits=st.integers(1, 4),
    pool=st.sampled_from(["shopper", "session", "page"]),
    users=st.lists(st.sampled_from(USERS), min_size=1, max_size=3),
    action_seed=st.integers(0, 1000),
)
def test_observations_always_lie_in_the_observation_space(
    seed, num_candidates, slate_fraction, n_last_clicks, visits, pool, users, action_seed
) -> None:
    catalog = _small_catalog()
    slate_size = max(1, round(slate_fraction * num_candidates))
    env = ShopEnv(
        catalog,
        users=users,
        num_candidates=num_candidates,
        slate_size=slate_size,
        n_last_clicks=n_last_clicks,
        visits_per_shopper=visits,
        candidate_pool=pool,
    )
    for step in rollout(env, seed=seed, episodes=visits + 2, action_seed=action_seed):
        assert env.observation_space.contains(step[0]), step[0]


_SMALL: list = []


def _small_catalog():
    if not _SMALL:
        _SMALL.append(generate_catalog(n_items=80, seed=5))
    return _SMALL[0]


# --- the reward and the end of a visit --------------------------------------------------------


def scripted_env(catalog, **options) -> tuple[ShopEnv, np.ndarray]:
    env = ShopEnv(catalog, users=[FixedUtility()], user_types=["fixed_utility"], **options)
    env.reset(seed=0)
    ids = env.reset(seed=0)[0]["candidates"]["product_id"]
    return env, ids


def test_reward_matches_a_hand_computation_on_a_scripted_page(catalog) -> None:
    env, ids = scripted_env(catalog)
    # Five candidates: utilities 0.9 (click, certain buy), 0.6 (click), 0.3, 0.2, 0.1.
    FixedUtility.table = dict(zip(ids[:5].tolist(), [0.9, 0.6, 0.3, 0.2, 0.1], strict=True))
    _, reward, *_, info = env.step(np.array([0, 1, 2, 3, 4]))
    clicks, buys = info["clicked"].sum(), info["bought"].sum()
    assert clicks == 2 and info["bought"][0]
    expected = 3 * clicks / 5 + 5 * buys / 5 + np.mean([0.9, 0.6, 0.3, 0.2, 0.1]) - 0 - 0 - 0.1
    assert reward == pytest.approx(expected)

    # Page 2 repeats two items (one repeat each) and gets no click.
    FixedUtility.table = {}
    _, reward, *_, info = env.step(np.array([0, 1, 5, 6, 7]))
    assert info["clicked"].sum() == 0
    assert reward == pytest.approx(0 + 0 + 0 - 0.1 * (2 / 5) - 0.1 - 0.1 * 2)


def test_custom_reward_weights_are_used(catalog) -> None:
    env, ids = scripted_env(catalog, reward_weights={"ctr": 0, "btr": 0, "utility": 2, "page": 0})
    FixedUtility.table = dict.fromkeys(ids[:5].tolist(), 0.4)
    _, reward, *_ = env.step(np.array([0, 1, 2, 3, 4]))
    assert reward == pytest.approx(2 * 0.4 - 0.1)  # the no-click penalty keeps its default


def test_three_pages_without_a_click_terminate(catalog) -> None:
    env, _ = scripted_env(catalog)
    FixedUtility.table = {}
    flags = [env.step(np.array([0, 1, 2, 3, 4]))[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (True, False)]


def test_ten_pages_truncate_and_never_both(catalog) -> None:
    env, ids = scripted_env(catalog, limits={"clicks": 11})
    # One click per page keeps the visit going: page limits are truncation, not termination.
    FixedUtility.table = {int(ids[0]): 0.55}
    flags = [env.step(np.array([0, 1, 2, 3, 4]))[2:4] for _ in range(10)]
    assert flags[:9] == [(False, False)] * 9
    assert flags[9] == (False, True)
    # The 10th click on the 10th page: terminated, and then not also truncated.
    env, ids = scripted_env(catalog)
    flags = [env.step(np.array([0, 1, 2, 3, 4]))[2:4] for _ in range(10)]
    assert flags[9] == (True, False)


def test_click_and_buy_limits_terminate(catalog) -> None:
    env, ids = scripted_env(catalog, limits={"buys": 5})
    FixedUtility.table = dict.fromkeys(ids[:5].tolist(), 1.0)
    *_, terminated, truncated, info = env.step(np.array([0, 1, 2, 3, 4]))
    assert info["total_buys"] == 5 and terminated and not truncated

    env, ids = scripted_env(catalog)  # default: 10 clicks (and so at most 10 buys)
    FixedUtility.table = dict.fromkeys(ids[:10].tolist(), 0.6)
    assert not env.step(np.array([0, 1, 2, 3, 4]))[2]
    *_, terminated, _, info = env.step(np.array([5, 6, 7, 8, 9]))
    assert info["total_clicks"] == 10 and terminated


# --- shoppers, exposures, candidates and history ----------------------------------------------


def test_exposures_count_per_shopper_and_reset_with_the_next_one(catalog) -> None:
    env, ids = scripted_env(catalog, visits_per_shopper=2)
    FixedUtility.table = {}
    observation, *_ = env.step(np.array([0, 1, 2, 3, 4]))
    assert observation["candidates"]["times_shown"][:6].tolist() == [1, 1, 1, 1, 1, 0]
    observation, info = env.reset()  # the same shopper's second visit
    assert info["visit"] == 2 and info["shopper_id"] == 1
    assert observation["candidates"]["times_shown"][:5].tolist() == [1] * 5
    assert observation["candidates"]["product_id"].tolist() == ids.tolist()  # pool kept
    observation, info = env.reset()  # visits used up: a new shopper, memory empty
    assert info["shopper_id"] == 2 and info["visit"] == 1
    assert observation["candidates"]["times_shown"].sum() == 0


def test_familiarity_seeker_sees_its_exposures_across_visits(catalog) -> None:
    env = ShopEnv(catalog, users=["familiarity_seeker"], visits_per_shopper=10)
    env.reset(seed=1)
    before = env.true_utility()
    for _ in range(2):
        env.step(np.array([0, 1, 2, 3, 4]))
    after = env.true_utility()
    assert np.all(after[:5] > before[:5] + 0.1)  # sigmoid(n − 4) rises with exposure


def test_candidate_pool_modes(catalog) -> None:
    def pools(mode: str) -> list[list[int]]:
        env = ShopEnv(catalog, users=["random_chooser"], candidate_pool=mode, visits_per_shopper=3)
        seen = [env.reset(seed=0)[0]["candidates"]["product_id"].tolist()]
        seen.append(env.step(env.action_space.sample())[0]["candidates"]["product_id"].tolist())
        seen.append(env.reset()[0]["candidates"]["product_id"].tolist())
        return seen

    shopper, session, page = pools("shopper"), pools("session"), pools("page")
    assert shopper[0] == shopper[1] == shopper[2]
    assert session[0] == session[1] != session[2]
    assert page[0] != page[1]
    # The pool is drawn with the env's RNG: not the catalog's first rows.
    assert shopper[0] != list(range(1, 51))


def test_history_keeps_the_last_clicks_newest_last_and_clears_for_a_new_shopper(catalog) -> None:
    env, ids = scripted_env(catalog, n_last_clicks=3, visits_per_shopper=1)
    observation = env.reset(seed=0)[0]
    assert observation["history"]["mask"].tolist() == [0, 0, 0]
    FixedUtility.table = {int(ids[2]): 0.6, int(ids[4]): 0.6}
    observation, *_ = env.step(np.array([0, 1, 2, 3, 4]))
    assert observation["history"]["mask"].tolist() == [0, 1, 1]
    assert observation["history"]["product_id"].tolist() == [0, ids[2], ids[4]]
    assert observation["history"]["times_shown"].tolist() == [0, 1, 1]
    FixedUtility.table = {int(ids[7]): 0.6, int(ids[8]): 0.6}
    observation, *_ = env.step(np.array([5, 6, 7, 8, 9]))
    assert observation["history"]["product_id"].tolist() == [ids[4], ids[7], ids[8]]
    assert observation["history"]["mask"].tolist() == [1, 1, 1]
    assert observation["history"]["price"][0] == pytest.approx(
        observation["candidates"]["price"][4]
    )
    observation, _ = env.reset()  # one visit per shopper: the next one remembers nothing
    assert observation["history"]["mask"].tolist() == [0, 0, 0]


def test_session_fields_and_info(catalog) -> None:
    env, ids = scripted_env(catalog)
    FixedUtility.table = {int(ids[0]): 0.9}
    observation, _, _, _, info = env.step(np.array([0, 1, 2, 3, 4]))
    session = {k: int(v) for k, v in observation["session"].items()}
    assert session == {"visit": 1, "page": 2, "clicks": 1, "buys": 1, "no_click_streak": 0}
    assert info["product_ids"].tolist() == ids[:5].tolist()
    assert info["ctr"] == 0.2 and info["btr"] == 0.2
    assert info["total_clicks"] == 1 and info["user_type"] == "fixed_utility"


def test_an_unknown_shopper_type_shows_as_other(catalog) -> None:
    env = ShopEnv(catalog, users=["cheap_seeker"], user_types=["brand_lover"])
    observation, _ = env.reset(seed=0)
    assert env.user_types == ("brand_lover", OTHER)
    assert observation["user_type"].tolist() == [0.0, 1.0]


def test_true_utility_does_not_disturb_the_session(catalog) -> None:
    from gymnasium.utils.env_checker import data_equivalence

    plain = rollout(ShopEnv(catalog, users=["random_chooser"]), 4, 5, 0)
    env = ShopEnv(catalog, users=["random_chooser"])
    original_step = env.step

    def peeking_step(action):
        env.true_utility()
        return original_step(action)

    env.step = peeking_step
    assert data_equivalence(rollout(env, 4, 5, 0), plain, exact=True)


def test_render_ansi_shows_the_page(catalog) -> None:
    env = ShopEnv(catalog, users=["cheap_seeker"], render_mode="ansi")
    env.reset(seed=0)
    assert "no page shown yet" in env.render()
    env.step(env.action_space.sample())
    text = env.render()
    assert "cheap_seeker" in text and "reward" in text and len(text.splitlines()) == 7


def test_an_env_of_user_instances_loads_no_plugins(catalog, fresh_plugin_manager) -> None:
    from simshop_core.plugins import get_plugin_manager

    env = ShopEnv(catalog, users=[FixedUtility()])
    env.reset(seed=0)
    env.step(np.arange(5))
    assert env.user_types == ("fixed_utility", OTHER)
    assert get_plugin_manager.cache_info().currsize == 0
