"""A/B tests in simulation: assignment, the tests, mSPRT, power, calibration,
`run_abtest` and `simshop abtest`."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from scipy import stats

from simshop_cli.main import cli
from simshop_core import Recommender, User, hookimpl
from simshop_core.abtest import run_abtest
from simshop_core.abtest.assignment import assign, assignment_seed
from simshop_core.abtest.calibration import curve_grid, outcome
from simshop_core.abtest.metrics import ShopperValues, shopper_values
from simshop_core.abtest.power import analytic_power, shoppers_needed
from simshop_core.abtest.sequential import msprt
from simshop_core.abtest.stats import (
    clopper_pearson,
    compare,
    impression_z_pvalue,
    running,
    sample_ratio,
)
from simshop_core.blocks import Visits


def values_of(
    reward: np.ndarray | None = None,
    impressions: np.ndarray | None = None,
    clicks: np.ndarray | None = None,
    buys: np.ndarray | None = None,
) -> ShopperValues:
    """Per-shopper values for the statistics alone (unused columns are zeros)."""
    n = len(next(v for v in (reward, impressions, clicks, buys) if v is not None))
    zero = np.zeros(n, dtype=np.int64)
    return ShopperValues(
        reward=np.zeros(n) if reward is None else reward,
        visits=np.full(n, 10),
        impressions=np.full(n, 50) if impressions is None else impressions,
        clicks=zero if clicks is None else clicks,
        buys=zero if buys is None else buys,
    )


# --- assignment ------------------------------------------------------------------------------


def test_the_hash_split_is_stable_and_near_the_split():
    ids = np.arange(200_000)
    for split in (0.5, 0.2):
        in_b = assign(ids, seed=7, split=split)
        # binomial: 5 standard deviations
        assert abs(in_b.mean() - split) < 5 * math.sqrt(split * (1 - split) / len(ids))
    in_b = assign(ids, seed=7)
    # A returning shopper sees the same arm: whatever the others, their number or order.
    some = np.array([199_999, 3, 12_345, 3])
    assert np.array_equal(assign(some, seed=7), in_b[some])
    assert np.array_equal(assign(ids[::-1], seed=7), in_b[::-1])
    # Another seed is another split, and the split is not the shoppers' streams' seed.
    assert 0.4 < (assign(ids, seed=8) != in_b).mean() < 0.6
    assert assignment_seed(7) != 7
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        assign(ids, seed=7, split=1.0)


def test_sample_ratio_mismatch_flags_a_skewed_split():
    skewed = sample_ratio(5_300, 4_700, 0.5)
    assert skewed.mismatch and skewed.p_value < 1e-6
    expected = 5_000
    assert skewed.chi2 == pytest.approx(2 * (300**2) / expected)
    fine = sample_ratio(5_030, 4_970, 0.5)
    assert not fine.mismatch
    # Against the planned split, not against 50/50.
    assert not sample_ratio(8_000, 2_020, 0.2).mismatch
    assert sample_ratio(5_010, 5_010, 0.2).mismatch


def test_shopper_values_sum_a_shoppers_visits():
    visits = Visits(
        shopper=np.array([0, 0, 1, 1, 2]),
        reward=np.array([1.0, 3.0, 2.0, 2.0, -1.0]),
        length=np.array([2, 4, 1, 1, 3]),
        clicks=np.array([1, 2, 0, 0, 3]),
        buys=np.array([0, 1, 0, 0, 2]),
    )
    v = shopper_values(visits, 3, slate_size=5)
    assert v.reward.tolist() == [2.0, 2.0, -1.0]  # mean visit reward per shopper
    assert v.impressions.tolist() == [30, 10, 15]
    assert v.clicks.tolist() == [3, 0, 3] and v.buys.tolist() == [1, 0, 2]
    assert v.numerator("conversion").tolist() == [1.0, 0.0, 1.0]
    assert v.mean("ctr") == pytest.approx(6 / 55)  # a ratio of sums, not a mean of ratios
    with pytest.raises(ValueError, match="exactly the shoppers"):
        shopper_values(visits, 4, slate_size=5)


# --- the fixed-horizon tests against hand computations --------------------------------------


def test_welch_agrees_with_a_hand_computation_and_scipy():
    rng = np.random.default_rng(0)
    y = rng.gamma(2.0, 1.5, size=300)
    in_b = rng.random(300) < 0.4
    y[in_b] += 0.3
    c = compare("reward", values_of(reward=y), in_b)
    a, b = y[~in_b], y[in_b]
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    t = (b.mean() - a.mean()) / math.sqrt(va + vb)
    assert c.test == "welch"
    assert c.difference == pytest.approx(b.mean() - a.mean())
    assert c.p_value == pytest.approx(2 * stats.t.sf(abs(t), df))
    assert c.p_value == pytest.approx(stats.ttest_ind(b, a, equal_var=False).pvalue)
    half = stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    assert (c.ci_low, c.ci_high) == pytest.approx((c.difference - half, c.difference + half))
    assert c.relative_lift == pytest.approx((b.mean() - a.mean()) / a.mean())


def test_delta_method_agrees_with_a_hand_computation():
    rng = np.random.default_rng(1)
    impressions = rng.integers(5, 60, size=400)
    clicks = rng.binomial(impressions, rng.beta(2, 6, size=400))
    in_b = rng.random(400) < 0.5
    c = compare("ctr", values_of(impressions=impressions, clicks=clicks), in_b)

    def ratio_and_variance(y: np.ndarray, x: np.ndarray) -> tuple[float, float]:
        n, r = len(y), y.sum() / x.sum()
        cov = np.cov(np.vstack([y, x]), ddof=1)
        var = (cov[0, 0] - 2 * r * cov[0, 1] + r**2 * cov[1, 1]) / (n * x.mean() ** 2)
        return r, var

    ra, va = ratio_and_variance(clicks[~in_b], impressions[~in_b])
    rb, vb = ratio_and_variance(clicks[in_b], impressions[in_b])
    z = (rb - ra) / math.sqrt(va + vb)
    assert c.test == "delta"
    assert (c.mean_a, c.mean_b) == pytest.approx((ra, rb))
    assert c.p_value == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert c.ci_high - c.difference == pytest.approx(stats.norm.ppf(0.975) * math.sqrt(va + vb))


def test_two_proportion_z_agrees_with_a_hand_computation():
    bought = np.r_[np.ones(120), np.zeros(380), np.ones(150), np.zeros(350)].astype(np.int64)
    in_b = np.r_[np.zeros(500, bool), np.ones(500, bool)]
    c = compare("conversion", values_of(buys=bought), in_b)
    pa, pb, pooled = 120 / 500, 150 / 500, 270 / 1000
    z = (pb - pa) / math.sqrt(pooled * (1 - pooled) * (2 / 500))
    assert c.test == "two_proportion_z"
    assert c.p_value == pytest.approx(2 * stats.norm.sf(z))
    se = math.sqrt(pa * (1 - pa) / 500 + pb * (1 - pb) / 500)  # the interval's: unpooled
    assert c.ci_low == pytest.approx(pb - pa - stats.norm.ppf(0.975) * se)


def test_running_estimates_equal_the_fixed_test_on_each_prefix():
    rng = np.random.default_rng(2)
    y = rng.normal(size=500)
    in_b = rng.random(500) < 0.5
    r = running("reward", values_of(reward=y), in_b)
    p = r.p_value()
    for n in (10, 137, 500):
        c = compare("reward", values_of(reward=y[:n]), in_b[:n])
        assert r.difference[n - 1] == pytest.approx(c.difference)
        assert p[n - 1] == pytest.approx(c.p_value)
    assert np.isnan(r.difference[0])  # one arm is still empty


def test_delta_methods_aa_false_positive_rate_is_near_alpha_where_impression_z_is_not():
    """Clicks cluster by shopper (each has a click rate of their own): counting impressions
    as independent rejects a true null far too often; shoppers as units does not."""
    rng = np.random.default_rng(3)
    replicates, n = 400, 600
    delta_rejects = impression_rejects = 0
    for _ in range(replicates):
        impressions = rng.integers(20, 80, size=n)
        clicks = rng.binomial(impressions, rng.beta(1.0, 4.0, size=n))
        in_b = rng.random(n) < 0.5
        c = compare("ctr", values_of(impressions=impressions, clicks=clicks), in_b)
        delta_rejects += c.p_value < 0.05
        p = impression_z_pvalue(
            clicks[~in_b].sum(),
            impressions[~in_b].sum(),
            clicks[in_b].sum(),
            impressions[in_b].sum(),
        )
        impression_rejects += p < 0.05
    low, high = clopper_pearson(delta_rejects, replicates, 0.99)
    assert low <= 0.05 <= high, delta_rejects / replicates
    assert impression_rejects / replicates > 0.3


def test_clopper_pearson_matches_the_closed_forms():
    low, high = clopper_pearson(0, 10)
    assert low == 0.0 and high == pytest.approx(1 - 0.025 ** (1 / 10))
    low, high = clopper_pearson(10, 10)
    assert high == 1.0 and low == pytest.approx(0.025 ** (1 / 10))
    low, high = clopper_pearson(10, 200)
    assert low < 0.05 < high


# --- mSPRT -----------------------------------------------------------------------------------


def test_msprt_p_value_is_non_increasing_and_matches_its_confidence_sequence():
    rng = np.random.default_rng(4)
    y = rng.normal(size=3000)
    in_b = rng.random(3000) < 0.5
    y[in_b] += 0.15
    seq = msprt(running("reward", values_of(reward=y), in_b), alpha=0.05, tau=0.2)
    assert np.all(np.diff(seq.p_value) <= 0)
    assert np.all((seq.p_value >= 0) & (seq.p_value <= 1))
    assert seq.stopped_at is not None and seq.p_value[seq.stopped_at - 1] <= 0.05
    outside = (seq.cs_low > 0) | (seq.cs_high < 0)
    assert np.array_equal(outside, seq.p_value <= 0.05)  # p ≤ α exactly when 0 is outside
    assert np.all(seq.cs_low[seq.shoppers > 100] <= seq.cs_high[seq.shoppers > 100])


def test_msprt_keeps_alpha_under_continuous_peeking_where_naive_peeking_does_not():
    rng = np.random.default_rng(5)
    replicates, n = 300, 2000
    grid = curve_grid(n)
    msprt_hits = peek_hits = fixed_hits = 0
    for _ in range(replicates):
        y = rng.normal(size=n)
        in_b = rng.random(n) < 0.5
        o = outcome(running("reward", values_of(reward=y), in_b), 0.05, 50, grid)
        msprt_hits += o.msprt
        peek_hits += o.peeking
        fixed_hits += o.p_value < 0.05
    assert msprt_hits / replicates <= 0.05 + 0.02  # ≤ α, with Monte Carlo slack
    assert peek_hits / replicates > 0.12  # 40 looks: far above α
    assert peek_hits > fixed_hits


# --- power -----------------------------------------------------------------------------------


def test_shoppers_needed_is_the_textbook_formula_and_gives_the_power():
    n = shoppers_needed(4.0, 4.0, mde=0.2, alpha=0.05, power=0.8)
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert n == math.ceil(z**2 * (4.0 / 0.5 + 4.0 / 0.5) / 0.04)
    assert analytic_power(4.0, 4.0, 0.2, np.array([n]))[0] == pytest.approx(0.8, abs=1e-3)
    assert shoppers_needed(4.0, 4.0, mde=0.2, split=0.2) > n  # an unequal split costs


# --- run_abtest ------------------------------------------------------------------------------


def test_random_vs_popularity_on_cheap_seeker_is_detected_and_the_ci_covers_the_truth():
    result = run_abtest("random", "popularity", users="cheap_seeker", shoppers=2000, seed=0)
    primary = result.primary()
    assert primary["p_value"] < 0.001
    m = result.primary_metric
    assert m.ci_low <= m.true_difference <= m.ci_high
    assert {r.metric for r in result.metrics} == {"reward", "ctr", "btr", "buys", "conversion"}
    assert result.sample_ratio.n_a + result.sample_ratio.n_b == 2000


def test_aa_test_has_zero_true_effect_and_same_seed_same_numbers():
    kwargs: dict[str, Any] = {"users": "all", "shoppers": 400, "seed": 3, "sequential": True}
    first = run_abtest("popularity", "popularity", **kwargs)
    assert all(m.true_difference == 0 for m in first.metrics)
    again = run_abtest("popularity", "popularity", **kwargs)
    drop = ("manifest",)
    assert {k: v for k, v in first.to_dict().items() if k not in drop} == {
        k: v for k, v in again.to_dict().items() if k not in drop
    }
    other = run_abtest("popularity", "popularity", **{**kwargs, "seed": 4})
    assert other.primary()["difference"] != first.primary()["difference"]


def test_truth_is_the_arms_over_all_shoppers_and_the_estimate_their_assigned_halves():
    from simshop_core.abtest import run as run_module

    setup = run_module._setup("random", "popularity", "cheap_seeker", None, None, 3)
    ((a, b),) = run_module._play_arms(setup, [11], 300, 1, None)
    result = run_abtest("random", "popularity", "cheap_seeker", 300, 11, visits=3)
    in_b = assign(np.arange(300), 11)
    m = result.primary_metric
    assert m.true_a == pytest.approx(a.reward.mean()) and m.true_b == pytest.approx(b.reward.mean())
    assert m.mean_a == pytest.approx(a.reward[~in_b].mean())
    assert m.mean_b == pytest.approx(b.reward[in_b].mean())
    assert (a.visits == 3).all()


def test_calibration_reports_false_positive_rate_for_aa_and_power_for_ab():
    aa = run_abtest("random", "random", users="cheap_seeker", shoppers=200, seed=1, calibrate=4)
    assert aa.calibration is not None and aa.calibration.kind == "false_positive_rate"
    assert "false_positive_rate" in aa.primary() and "power" not in aa.primary()
    low, high = aa.primary()["false_positive_rate_ci"]
    assert 0.0 <= low <= aa.primary()["false_positive_rate"] <= high <= 1.0
    ab = run_abtest(
        "random", "popularity", users="cheap_seeker", shoppers=200, seed=1, calibrate=4, mde=1.0
    )
    assert ab.calibration is not None and ab.calibration.kind == "power"
    assert ab.primary()["power"] == 1.0  # a huge effect, 200 shoppers
    assert ab.power is not None and ab.power.shoppers_needed is not None
    assert [p.analytic is not None for p in ab.calibration.curve] == [True] * len(
        ab.calibration.curve
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": 0.0}, "strictly between 0 and 1"),
        ({"metric": "revenue"}, "unknown metric 'revenue'"),
        ({"alpha": 0.7}, "alpha=0.7 must lie strictly between 0 and 0.5"),
        ({"mde": 0.0}, "mde=0.0 must not be 0"),
        ({"shoppers": 1}, "shoppers=1"),
        ({"env_options": {"colour": 1}}, "unknown env option 'colour'"),
    ],
)
def test_bad_arguments_are_one_line_value_errors(kwargs, message):
    args = {"users": "cheap_seeker", "shoppers": 100, **kwargs}
    with pytest.raises(ValueError, match=message) as info:
        run_abtest("random", "popularity", **args)
    assert "\n" not in str(info.value)


# --- the command -----------------------------------------------------------------------------


def invoke(*args: Any) -> Result:
    return CliRunner().invoke(cli, ["abtest", *map(str, args)])


def assert_one_line_error(result: Result) -> str:
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    return lines[0]


def test_cli_writes_the_primary_object_and_a_plot(tmp_path):
    out, plot = tmp_path / "ab.json", tmp_path / "ab.png"
    result = invoke(
        "random", "popularity", "-u", "cheap_seeker", "-n", 600, "--seed", 2, "--sequential",
        "--mde", 0.5, "--output", out, "--plot", plot,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "p_value" in result.output and "mSPRT" in result.output
    payload = json.loads(out.read_text())
    api = run_abtest(
        "random", "popularity", "cheap_seeker", 600, 2, sequential=True, mde=0.5
    ).to_dict()
    assert payload["primary"] == api["primary"]
    assert payload["primary"]["p_value"] < 0.001
    assert payload["sequential"]["stopped_at"] == api["sequential"]["stopped_at"] is not None
    assert plot.read_bytes()[:4] == b"\x89PNG"
    csv = tmp_path / "ab.csv"
    assert invoke("random", "random", "-u", "cheap_seeker", "-n", 100, "-o", csv).exit_code == 0
    assert csv.read_text().splitlines()[0].startswith("metric,test,n_a,n_b")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--split", 1.5], "--split"),
        (["--metric", "revenue"], "--metric"),
        (["--users", "nobody"], "unknown shopper model 'nobody'"),
        (["--output", "r.txt"], "unsupported suffix '.txt'"),
        (["--output", "/proc/nowhere/r.json"], "is not a writable folder"),
        (["--env-option", "colour=1"], "unknown env option 'colour'"),
    ],
)
def test_cli_errors_are_one_line(args, message):
    line = assert_one_line_error(invoke("random", "popularity", "-n", 50, *args))
    assert message in line


def test_cli_metric_choices_are_cores():
    from simshop_cli.abtest_cmd import METRIC_CHOICES
    from simshop_core.abtest import METRICS

    assert METRIC_CHOICES == METRICS  # repeated so that `simshop --help` need not import core


def test_cli_unknown_recommender_is_one_line_naming_the_choices():
    line = assert_one_line_error(invoke("random", "nope", "-n", 50))
    assert "unknown recommender 'nope'" in line and "popularity" in line


class CheapFirstLearner(Recommender):
    """Cheapest candidates first, after a page of learning: `update` makes it a learner."""

    name = "abtest_cheap_learner"

    def reset(self, rng: np.random.Generator) -> None:
        super().reset(rng)
        self.pages = 0

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        price = observation["candidates"]["price"]
        order = np.argsort(price) if self.pages else np.argsort(-price)
        return order[:k].astype(np.int64)

    def update(self, feedback: Any) -> None:
        self.pages += 1


class LikesTheCheap(User):
    name = "abtest_likes_the_cheap"

    def __init__(self, *, click_threshold: float = 0.5, buy_threshold: float = 0.8) -> None:
        super().__init__(click_threshold=click_threshold, buy_threshold=buy_threshold)

    def utility(self, items: Any, rng: np.random.Generator) -> np.ndarray:
        return 30.0 / (30.0 + np.asarray(items["price"]))


class LearnerPlugin:
    @hookimpl
    def register_users(self, register: Any) -> None:
        register(LikesTheCheap)

    @hookimpl
    def register_recommenders(self, register: Any) -> None:
        register(CheapFirstLearner)


def test_a_learner_and_in_process_plugins_play_every_shopper_here(register_plugin):
    register_plugin(LearnerPlugin(), "abtest-learner-plugin")
    kwargs: dict[str, Any] = {"users": "abtest_likes_the_cheap", "shoppers": 60, "visits": 2}
    one = run_abtest("random", "abtest_cheap_learner", seed=1, **kwargs)
    # Registered in this process only: with --jobs the work stays here, same numbers.
    two = run_abtest("random", "abtest_cheap_learner", seed=1, jobs=2, **kwargs)
    assert {k: v for k, v in one.to_dict().items() if k != "manifest"} == {
        k: v for k, v in two.to_dict().items() if k != "manifest"
    }
    m = one.primary_metric
    assert m.n_a + m.n_b == 60 and m.true_difference > 0  # cheap first beats random here


def test_jobs_do_not_change_the_numbers():
    kwargs: dict[str, Any] = {"users": "cheap_seeker,brand_lover", "shoppers": 300, "seed": 9}
    one = run_abtest("random", "popularity", **kwargs).to_dict()
    two = run_abtest("random", "popularity", jobs=2, **kwargs).to_dict()
    one.pop("manifest")
    two.pop("manifest")
    assert one == two


# --- the app's A/B page ----------------------------------------------------------------------


def test_app_ab_page_shows_the_numbers_run_abtest_gives():
    import pandas as pd
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from simshop_ui import APP_PATH
    from simshop_ui import abtest as ab_page

    st.cache_resource.clear()
    try:
        app = AppTest.from_file(str(APP_PATH), default_timeout=120)
        app.run()
        app.selectbox(key="ab_a").set_value("random")
        app.selectbox(key="ab_b").set_value("popularity")
        app.multiselect(key="ab_users").set_value(["cheap_seeker"])
        app.number_input(key="ab_shoppers").set_value(300)
        app.number_input(key="ab_seed").set_value(4)
        app.run()
        command = [c.value for c in app.code if "simshop abtest" in c.value]
        assert command == [
            "simshop abtest random popularity --users cheap_seeker --shoppers 300 --seed 4 "
            "--metric reward --sequential"
        ]
        app.button(key="ab_run").click().run()
        assert not app.exception, [e.value for e in app.exception]
        result = run_abtest("random", "popularity", ["cheap_seeker"], 300, 4, sequential=True)
        shown = [d.value for d in app.dataframe if "true_difference" in d.value.columns]
        assert len(shown) == 1
        expected = ab_page.metrics_frame(result)
        pd.testing.assert_frame_equal(
            shown[0].reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False
        )
        charts = [c for c in app.get("vega_lite_chart") if "cs_low" in c.proto.spec]
        assert len(charts) == 1  # the running difference with its confidence sequence
    finally:
        st.cache_resource.clear()
