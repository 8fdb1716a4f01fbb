"""The population engine: the scalar env is its N = 1 case, number for number;
shoppers are the same whatever N and their neighbours; batch forms and fallbacks."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import simshop_core
from simshop_core import Items, Reaction, ShopEnv, User
from simshop_core.items import ItemBatch
from simshop_core.population import Population
from simshop_core.spaces import SlateBatchSpace, check_slates, sample_slates
from simshop_core.streams import BatchRandom, Purpose, shopper_keys, small_uniforms, uniforms
from simshop_core.user import has_batch_form
from simshop_core.vector_env import ShopVectorEnv
from simshop_users import BrandLover, CheapSeeker, RandomChooser
from simshop_users.plugin import USERS


class NoisyPlugin(User):
    """A 0.1-style plugin: per-shopper `utility` only, drawing from its rng."""

    name = "noisy_plugin"

    def __init__(self) -> None:
        super().__init__(click_threshold=0.5, buy_threshold=0.8)

    def utility(self, items: Items, rng: np.random.Generator) -> np.ndarray:
        return np.clip(items["quality_score"] + rng.normal(0, 0.2, len(items)), 0, 1)


class Remembering(User):
    """Overrides `react` and keeps memory of its own: tires of clicking."""

    name = "remembering"

    def __init__(self) -> None:
        super().__init__(click_threshold=0.3, buy_threshold=0.6)
        self.clicks = 0

    def reset(self, rng: np.random.Generator) -> None:
        self.clicks = int(rng.integers(0, 2))

    def utility(self, items: Items, rng: np.random.Generator) -> np.ndarray:
        return np.full(len(items), max(0.0, 0.9 - 0.1 * self.clicks))

    def react(self, items: Items, rng: np.random.Generator) -> Reaction:
        u = self.utility(items, rng)
        clicked = (u >= self.click_threshold) & (rng.random(len(items)) < 0.5)
        self.clicks += int(clicked.sum())
        return Reaction(clicked, clicked & (rng.random(len(items)) < 0.3), u)


class Loyal(BrandLover):
    """A built-in's subclass that overrides `react`: played per shopper, through the `utility`
    that follows from the built-in's batch form."""

    name = "loyal"

    def react(self, items: Items, rng: np.random.Generator) -> Reaction:
        u = self.utility(items, rng)
        clicked = u >= self.click_threshold
        return Reaction(clicked, clicked & (rng.random(len(items)) < 0.5), u)


def plugin_users() -> list[User]:
    """Plugin shoppers: utility only, one overriding `react` with memory of its own, and a
    built-in's subclass overriding `react`."""
    return [NoisyPlugin(), Remembering(), Loyal()]


def slate_for(observation: dict[str, Any], k: int = 5) -> np.ndarray:
    """A deterministic recommender that reads the whole observation: it changes with the
    page, the history and the exposures, so any difference in them shows."""
    c = observation["candidates"]
    page = np.asarray(observation["session"]["page"])[..., None]
    score = c["popularity"] + 7.0 * c["times_shown"] - 3.0 * page * (c["category"] % 2)
    score = score + observation["history"]["price"].sum(axis=-1, keepdims=True) * c["brand"]
    return np.argsort(-score, axis=-1, kind="stable")[..., :k].astype(np.int64)


def flat(observation: dict[str, Any], row: int | None = None) -> dict[str, np.ndarray]:
    out = {"user_type": observation["user_type"]}
    for group in ("session", "candidates", "history"):
        for name, value in observation[group].items():
            out[f"{group}.{name}"] = value
    return {k: (v if row is None else v[row]) for k, v in out.items()}


def assert_same_observation(scalar: dict[str, Any], batch: dict[str, Any], row: int) -> None:
    a, b = flat(scalar), flat(batch, row)
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def play_both(users: Any, steps: int, num_envs: int = 6, **options: Any) -> int:
    """Step the vector env and, shopper by shopper, the scalar env with the same slates;
    everything must be equal. Returns the pages compared."""
    # A scalar env keeps one instance per shopper model: give each its own.
    fresh = users if callable(users) else (lambda: users)
    venv = ShopVectorEnv(num_envs, users=fresh(), **options)
    scalar = {i: ShopEnv(users=fresh(), **options) for i in range(num_envs)}
    observation, info = venv.reset(seed=11)
    current = {}
    for i, env in scalar.items():
        obs_i, _ = env.reset(seed=11, options={"shopper": i})
        current[i] = i
        assert_same_observation(obs_i, observation, i)
    pages = 0
    for _ in range(steps):
        slates = slate_for(observation)
        observation, reward, terminated, truncated, info = venv.step(slates)
        shown = info.get("_page", np.ones(num_envs, dtype=bool))
        for i, env in scalar.items():
            shopper = int(info["shopper_id"][i]) - 1
            if not shown[i]:  # the vector env started a new visit here
                if shopper != current[i]:
                    obs_i, _ = env.reset(options={"shopper": shopper})
                    current[i] = shopper
                else:
                    obs_i, _ = env.reset()
                assert_same_observation(obs_i, observation, i)
                continue
            obs_i, r, te, tr, inf = env.step(slates[i])
            pages += 1
            assert inf["shopper_id"] == shopper + 1
            assert (r, te, tr) == (reward[i], terminated[i], truncated[i])
            for name in ("clicked", "bought", "true_utility", "examine_prob", "click_prob"):
                np.testing.assert_array_equal(inf[name], info[name][i], err_msg=name)
            if not (te or tr):
                assert_same_observation(obs_i, observation, i)
    return pages


@pytest.mark.parametrize("click_model", ["threshold", "pbm", "cascade"])
@pytest.mark.parametrize("users", ["all", "cheap_seeker", "familiarity_seeker,brand_lover"])
def test_scalar_env_equals_the_engine(users: str, click_model: str) -> None:
    assert play_both(users, 120, click_model=click_model) > 400


@pytest.mark.parametrize("pool", ["session", "page"])
def test_scalar_env_equals_the_engine_with_changing_pools(pool: str) -> None:
    assert play_both("all", 80, candidate_pool=pool, visits_per_shopper=3) > 250


@pytest.mark.parametrize("click_model", ["threshold", "pbm", "cascade"])
def test_plugins_without_a_batch_form_run_one_shopper_at_a_time(click_model: str) -> None:
    def users() -> list[User]:
        return [NoisyPlugin(), Remembering(), CheapSeeker()]

    assert not has_batch_form(NoisyPlugin()) and not has_batch_form(Remembering())
    assert play_both(users, 80, click_model=click_model, visits_per_shopper=2) > 250


#: Shopper dynamics (`simshop_core.dynamics`), each on with values that act often.
DYNAMICS: dict[str, dict[str, Any]] = {
    "fatigue": {"fatigue": {"item": 0.4, "page": 0.1}},
    "seasonality": {"seasonality": {"amplitude": 0.8}, "calendar": {"days_per_shopper": 20}},
    "budget": {"budget": {"amount": 60}},
    "budget_per_visit": {"budget": {"amount": 40, "spread": 0.2, "per": "visit"}},
    "churn": {"churn": True},
    "cold_start": {"cold_start": {"share": 0.5, "arrival_days": 40}},
    "all": {
        "fatigue": True,
        "seasonality": True,
        "budget": True,
        "churn": True,
        "cold_start": True,
        "calendar": {"days_per_shopper": 3},
    },
}


@pytest.mark.parametrize(("pool", "click_model"), [("shopper", "pbm"), ("page", "cascade")])
@pytest.mark.parametrize("dynamic", sorted(DYNAMICS))
def test_scalar_env_equals_the_engine_with_dynamics(
    dynamic: str, pool: str, click_model: str
) -> None:
    options = DYNAMICS[dynamic]
    pages = play_both(
        "all", 50, click_model=click_model, candidate_pool=pool, visits_per_shopper=3, **options
    )
    assert pages > 200


@pytest.mark.parametrize("click_model", ["threshold", "pbm", "cascade"])
@pytest.mark.parametrize("user", [cls.name for cls in USERS])
def test_each_built_in_equals_the_engine_with_every_dynamic(user: str, click_model: str) -> None:
    pages = play_both(user, 40, click_model=click_model, visits_per_shopper=3, **DYNAMICS["all"])
    assert pages > 150


#: Every dynamic alone, and the candidate pools drawn per visit and per page.
VARIANTS: dict[str, dict[str, Any]] = {
    **DYNAMICS,
    "session": {"candidate_pool": "session"},
    "page": {"candidate_pool": "page"},
}


@pytest.mark.parametrize("click_model", ["threshold", "pbm", "cascade"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_plugin_shoppers_equal_the_engine(variant: str, click_model: str) -> None:
    assert not any(has_batch_form(user) for user in plugin_users())
    options = VARIANTS[variant]
    pages = play_both(plugin_users, 30, click_model=click_model, visits_per_shopper=2, **options)
    assert pages > 100


def test_plugins_without_a_batch_form_get_the_dynamics() -> None:
    def users() -> list[User]:
        return [NoisyPlugin(), Remembering(), CheapSeeker()]

    assert play_both(users, 60, visits_per_shopper=2, **DYNAMICS["all"]) > 200


def test_memory_of_a_plugin_shopper_is_per_shopper() -> None:
    prototype = Remembering()
    venv = ShopVectorEnv(4, users=[prototype])
    venv.reset(seed=3)
    for _ in range(10):
        venv.step(venv.action_space.sample())
    assert prototype.clicks == 0  # the shared object is never played
    instances = venv.population._instances
    assert len({id(u) for u in instances}) == 4


def play_shoppers(
    num_envs: int, shoppers: list[int], steps: int, **options: Any
) -> dict[int, list[Any]]:
    """Each shopper's pages when shoppers ``shoppers`` fill a population of ``num_envs``."""
    env = ShopEnv(users="all", **options)
    population = Population(env.options, num_envs, seed=21)
    population.arrive(np.arange(num_envs), np.array(shoppers))
    log: dict[int, list[Any]] = {s: [] for s in shoppers}
    for _ in range(steps):
        page = population.step(slate_for(population.observation()))
        for row, shopper in enumerate(shoppers):
            log[shopper].append(
                (page.reward[row], page.clicked[row].tolist(), page.true_utility[row].tolist())
            )
        done = np.flatnonzero(page.done)
        population.next_visit(done[population.visits_left[done] > 0])
    return log


@pytest.mark.parametrize("dynamic", [None, "all"])
def test_a_shopper_is_the_same_whatever_its_neighbours(dynamic: str | None) -> None:
    options = DYNAMICS[dynamic] if dynamic else {}
    alone = {s: play_shoppers(1, [s], 30, **options)[s] for s in (0, 5, 9)}
    crowd = play_shoppers(10, list(range(10)), 30, **options)
    reordered = play_shoppers(3, [9, 0, 5], 30, **options)
    for s in (0, 5, 9):
        assert alone[s] == crowd[s] == reordered[s]


def test_make_vec_gives_the_native_engine() -> None:
    venv = gym.make_vec(
        "simshop/Shop-v1", num_envs=16, vectorization_mode="vector_entry_point", users="all"
    )
    assert isinstance(venv.unwrapped, ShopVectorEnv)
    observation, _ = venv.reset(seed=0)
    assert observation in venv.observation_space
    for _ in range(30):
        actions = venv.action_space.sample()
        assert actions in venv.action_space
        observation, _, terminated, truncated, _ = venv.step(actions)
        assert observation in venv.observation_space
        assert not (terminated & truncated).any()
    assert venv.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP


def test_autoreset_next_step_starts_the_next_visit() -> None:
    venv = ShopVectorEnv(32, users="all")
    venv.reset(seed=1)
    ended = None
    for _ in range(20):
        observation, reward, terminated, truncated, info = venv.step(venv.action_space.sample())
        if ended is not None and ended.any():
            assert (reward[ended] == 0).all()
            assert not info["_page"][ended].any()
            assert (observation["session"]["page"][ended] == 1).all()
        ended = terminated | truncated


def test_observations_copy_or_reuse_buffers() -> None:
    fresh = ShopVectorEnv(4, users="cheap_seeker")
    reused = ShopVectorEnv(4, users="cheap_seeker", copy=False)
    a, _ = fresh.reset(seed=0)
    b, _ = reused.reset(seed=0)
    a2, *_ = fresh.step(slate_for(a))
    b2, *_ = reused.step(slate_for(b))
    assert not np.shares_memory(a["candidates"]["times_shown"], a2["candidates"]["times_shown"])
    assert np.shares_memory(b["candidates"]["times_shown"], b2["candidates"]["times_shown"])
    np.testing.assert_array_equal(a2["candidates"]["times_shown"], b2["candidates"]["times_shown"])


def test_bad_actions_are_one_clear_error() -> None:
    venv = ShopVectorEnv(3, users="cheap_seeker")
    venv.reset(seed=0)
    good = np.tile(np.arange(5), (3, 1))
    with pytest.raises(ValueError, match="row 1 is"):
        venv.step(np.array([[0, 1, 2, 3, 4], [0, 0, 1, 2, 3], [0, 1, 2, 3, 4]]))
    with pytest.raises(ValueError, match="shape"):
        venv.step(good[:2])
    with pytest.raises(ValueError, match="dtype"):
        venv.step(good.astype(float))
    with pytest.raises(ValueError, match="row 2 is"):
        venv.step(np.array([[0, 1, 2, 3, 4], [0, 1, 2, 3, 4], [0, 1, 2, 3, 50]]))
    with pytest.raises(ValueError, match="num_envs"):
        ShopVectorEnv(0)


def test_batched_slate_space_samples_valid_slates() -> None:
    space = SlateBatchSpace(500, 8, 5, seed=0)
    sample = space.sample()
    assert sample.shape == (500, 5) and sample in space
    assert check_slates(sample, 8, 5, 500) is sample
    assert np.array([[0, 0, 1, 2, 3]] * 500) not in space
    # Uniform over ordered slates: every candidate equally likely at every position.
    draws = sample_slates(np.random.default_rng(1), 40_000, 8, 3)
    counts = np.stack([np.bincount(draws[:, j], minlength=8) for j in range(3)])
    assert np.abs(counts / 40_000 - 1 / 8).max() < 0.01


def test_streams_small_path_equals_the_vectorised_one() -> None:
    keys = shopper_keys(7, np.arange(20))
    columns = np.arange(12)
    batch = uniforms(keys, np.arange(20) * 3, Purpose.CLICK, columns)
    for i in range(20):
        alone = small_uniforms(keys[i], i * 3, Purpose.CLICK, columns.tolist())
        assert alone == batch[i].tolist()
        assert (uniforms(keys[i : i + 1], i * 3, Purpose.CLICK, columns)[0] == batch[i]).all()


def test_streams_are_uniform_and_independent() -> None:
    from scipy import stats

    keys = shopper_keys(0, np.arange(2000))
    u = uniforms(keys, np.zeros(2000, dtype=np.int64), Purpose.UTILITY, np.arange(50))
    assert stats.kstest(u.ravel(), "uniform").pvalue > 1e-3
    assert abs(np.corrcoef(u[:, 0], u[:, 1])[0, 1]) < 0.1
    assert abs(np.corrcoef(u[:-1, 0], u[1:, 0])[0, 1]) < 0.1
    other = shopper_keys(1, np.arange(2000))
    assert not np.intersect1d(keys, other).size


def test_batch_random_normal_has_the_right_moments() -> None:
    keys = shopper_keys(0, np.arange(20_000))
    rng = BatchRandom(keys, np.zeros(20_000, dtype=np.int64), np.zeros((20_000, 1), np.int64))
    z = rng.normal(1.0, 2.0)
    assert abs(z.mean() - 1.0) < 0.05 and abs(z.std() - 2.0) < 0.05


def test_batch_forms_match_the_per_shopper_formulas() -> None:
    from simshop_users.plugin import USERS

    env = ShopEnv(users="all")
    population = Population(env.options, 1, seed=0)
    rows = np.arange(30).reshape(6, 5)
    times = np.arange(30).reshape(6, 5) % 7
    items = ItemBatch(env.catalog.columns, rows, times, population._codes)
    keys = shopper_keys(0, np.arange(6))
    for cls in USERS:
        user = cls()
        assert has_batch_form(user)
        u = user.batch_utility(items, BatchRandom(keys, np.zeros(6, np.int64), rows % 50))
        assert u.shape == (6, 5) and (u >= 0).all() and (u <= 1).all()
        if cls.__name__ in ("CheapSeeker", "ValueOptimizer", "FreshnessLooker"):
            for i in range(6):  # no noise: the same numbers as `utility`
                expected = user.utility(items.row(i), np.random.default_rng(0))
                np.testing.assert_allclose(u[i], expected, rtol=0, atol=1e-15)


def test_a_subclass_that_changes_utility_loses_the_batch_form() -> None:
    class Pickier(RandomChooser):
        name = "pickier"

        def utility(self, items: Items, rng: np.random.Generator) -> np.ndarray:
            return np.zeros(len(items))

    assert has_batch_form(RandomChooser()) and not has_batch_form(Pickier())


def test_a_bad_batch_form_names_its_plugin() -> None:
    class Broken(CheapSeeker):
        name = "broken_batch"

        def batch_utility(self, items: ItemBatch, rng: BatchRandom) -> np.ndarray:
            return np.full(items.shape, 1.5)

    venv = ShopVectorEnv(2, users=[Broken()])
    venv.reset(seed=0)
    with pytest.raises(simshop_core.PluginRuntimeError, match=r"broken_batch.*batch_utility"):
        venv.step(venv.action_space.sample())


def test_check_user_checks_the_batch_form() -> None:
    from simshop_core.testing import check_user
    from simshop_users.plugin import USERS

    for cls in USERS:
        check_user(cls)

    class Leaky(CheapSeeker):
        """Its rows depend on the batch: the mean of all prices leaks in."""

        name = "leaky"

        def batch_utility(self, items: ItemBatch, rng: BatchRandom) -> np.ndarray:
            price = items["price"]
            return np.clip(self.pivot / (self.pivot + price) * 0 + price.mean() / 1e4, 0, 1)

    with pytest.raises(AssertionError, match="alone than among others"):
        check_user(Leaky)


def test_check_recommender_checks_the_batch_form() -> None:
    from simshop_core.testing import check_recommender
    from simshop_recommenders.baselines import PopularityRecommender, RandomRecommender

    check_recommender(PopularityRecommender)
    check_recommender(RandomRecommender)

    class Upside(PopularityRecommender):
        name = "upside"

        def recommend_batch(self, observations, k):  # the least popular: not recommend's
            popularity = observations["candidates"]["popularity"]
            return np.argsort(popularity, axis=1, kind="stable")[:, :k]

    with pytest.raises(AssertionError, match="other slates than recommend"):
        check_recommender(Upside)


@pytest.mark.parametrize(("n", "k"), [(50, 5), (8, 3), (5, 5)])
def test_sampled_slates_are_uniform_over_ordered_slates(n: int, k: int) -> None:
    from itertools import permutations

    from scipy import stats

    draws = sample_slates(np.random.default_rng(2), 60_000, n, k)
    assert check_slates(draws, n, k, 60_000) is draws
    if n <= 8:  # every ordered slate equally likely: a chi-square test over all of them
        index = {s: i for i, s in enumerate(permutations(range(n), k))}
        counts = np.bincount([index[tuple(r)] for r in draws.tolist()], minlength=len(index))
        assert stats.chisquare(counts).pvalue > 1e-3
    else:
        for j in range(k):
            counts = np.bincount(draws[:, j], minlength=n)
            assert stats.chisquare(counts).pvalue > 1e-3
