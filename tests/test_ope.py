"""`simshop ope`: a log replayed on the engine, the target's arrays, the truths, support
checks, the command, and logs without a simulator."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from simshop_cli.main import cli
from simshop_core import generate_catalog
from simshop_core.evaluation import evaluate
from simshop_core.logs import PAGE_COLUMNS, LogSink, read_log_metadata, read_log_table, write_part
from simshop_core.propensity import uniform_propensities
from simshop_core.recommender import Propensities
from simshop_lab.ope.inputs import build_inputs
from simshop_lab.ope.replay import Replay, read_pages
from simshop_lab.ope.run import run_ope
from simshop_lab.ope.target import TargetPolicy
from simshop_lab.ope.truth import logged_metric, page_truth
from simshop_lab.ope.validate import validate

USERS = ["cheap_seeker", "value_optimizer"]  # utilities without noise: Monte Carlo is exact


@pytest.fixture(scope="module")
def catalog():
    return generate_catalog()


@pytest.fixture(scope="module")
def logs(tmp_path_factory, catalog):
    """Small logs under each click model: random and an ε-mixture of popularity log."""
    out = {}
    for model in ("pbm", "cascade", "threshold"):
        path = tmp_path_factory.mktemp("logs") / model
        evaluate(
            "random,popularity:explore=0.3",
            USERS,
            episodes=40,
            seed=5,
            catalog=catalog,
            env_options={"click_model": model},
            log=path,
        )
        out[model] = path
    return out


# --- replay -----------------------------------------------------------------------------------


@pytest.mark.parametrize("logger", ["random", "popularity:explore=0.3"])
def test_the_replay_shows_every_logged_page_once_in_its_logged_state(logs, catalog, logger) -> None:
    pages = read_pages(logs["pbm"], logger)
    replay = Replay(pages, catalog)
    seen = np.zeros(len(pages), dtype=int)
    for cell in replay.cells:
        for step in replay.steps(cell):
            seen[step.rows] += 1
            observation = step.population.observation()
            ids = observation["candidates"]["product_id"][step.active]
            assert np.array_equal(ids, pages.candidate_ids[step.rows])
            assert np.array_equal(step.population.page[step.active], pages.page[step.rows])
    assert (seen == 1).all()  # and every replayed outcome equalled the logged one (checked)


def test_a_replay_with_another_catalog_or_other_options_fails_with_one_line(logs, catalog) -> None:
    pages = read_pages(logs["pbm"], "random")
    with pytest.raises(ValueError, match=r"another catalog .*--catalog"):
        Replay(pages, generate_catalog(seed=1))
    meta = copy.deepcopy(pages.metadata)
    meta["options"]["env_options"]["click_model"] = "threshold"
    other = Replay(type(pages)(**{**vars(pages), "metadata": meta}), catalog)
    with pytest.raises(ValueError, match="replay of the log differs"):
        for cell in other.cells:
            for _ in other.steps(cell):
                pass


# --- truths -----------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["pbm", "cascade", "threshold"])
@pytest.mark.parametrize("metric", ["reward", "clicks", "buys"])
def test_the_page_truth_equals_monte_carlo_on_cloned_states(logs, catalog, model, metric) -> None:
    pages = read_pages(logs[model], "random")
    replay = Replay(pages, catalog)
    policy = TargetPolicy("popularity:explore=0.5", samples=4)
    policy.reset(np.random.default_rng(0))
    rng = np.random.default_rng(1)
    R = 400
    exact, simulated = [], []
    for cell in replay.cells:
        for t, step in enumerate(replay.steps(cell)):
            if t % 5:
                continue
            population, active = step.population, step.active
            chosen = policy.pages(population.observation(), active, pages.slate[step.rows])
            truth = page_truth(metric, population, active, chosen.slates)
            # Clones of each page's state, R per slate, with fresh click and buy draws.
            n, S, k = chosen.slates.shape
            clone = copy.deepcopy(population)
            clone.keep(np.repeat(np.flatnonzero(active), S * R))
            clone.key = rng.integers(0, 2**63, clone.size, dtype=np.uint64)
            slates = np.repeat(chosen.slates.reshape(n * S, k), R, axis=0)
            page = clone.step(slates)
            value = logged_metric(metric, page.reward, page.clicked, page.bought)
            exact.append(truth)
            simulated.append(value.reshape(n, S * R).mean(axis=1))
    exact, simulated = np.concatenate(exact), np.concatenate(simulated)
    assert len(exact) > 50
    # Per page: within 5 Monte Carlo standard errors (a bound on the metric's spread / √(SR)).
    bound = {"reward": 9.0, "clicks": 5.0, "buys": 5.0}[metric] / math.sqrt(4 * R)
    assert np.all(np.abs(exact - simulated) <= 5 * bound), np.abs(exact - simulated).max()
    assert abs(exact.mean() - simulated.mean()) < 2 * bound


def test_the_visit_truth_is_what_evaluate_reports_for_the_target(logs, catalog, tmp_path) -> None:
    result = run_ope(logs["pbm"], "popularity", "random", ["ips"], catalog=catalog)
    evaluation = evaluate(
        "popularity",
        USERS,
        episodes=40,
        seed=5,
        catalog=catalog,
        env_options={"click_model": "pbm"},
    )
    for user in USERS:
        cell = evaluation.cell(user, "popularity")
        row = result.row("ips", user)
        pages = cell.mean_length * cell.visits
        assert row["truth_visit"] == pytest.approx(cell.mean_reward * cell.visits / pages)


# --- the pipeline -----------------------------------------------------------------------------


def test_the_target_arrays_are_exact_for_closed_form_targets(logs, catalog) -> None:
    pages = read_pages(logs["pbm"], "random")
    inputs = build_inputs(pages, "random", "clicks", catalog=catalog, visit_truths=False)
    m, k = 50, 5
    joint = uniform_propensities(m, np.arange(k))
    assert np.allclose(inputs.target.slate_log_prob, joint.slate_log_prob)
    assert np.allclose(inputs.target.marginals, 1 / m)
    assert np.allclose(inputs.target.next_probs.sum(axis=2), 1.0)
    mixture = build_inputs(
        pages, "popularity:explore=0.2", "clicks", catalog=catalog, visit_truths=False
    )
    assert np.allclose(mixture.target.marginals.sum(axis=1), 1.0)
    assert np.allclose(mixture.target.marginals.sum(axis=2), 1.0 * k / m * 0.2 + 0.8 * (
        mixture.target.marginals.max(axis=2) > 0.5))  # fmt: skip
    assert np.allclose(mixture.target.next_probs.sum(axis=2), 1.0)
    # The page truth of a stochastic target is the mean over its sampled slates.
    assert np.isfinite(mixture.truth_page).all()
    assert inputs.log.logger.kind == "uniform"
    eps = build_inputs(
        read_pages(logs["pbm"], "popularity:explore=0.3"),
        "popularity",
        "clicks",
        catalog=catalog,
        visit_truths=False,
    )
    assert eps.log.logger.kind == "epsilon" and eps.log.logger.epsilon == 0.3
    # The base slate is popularity's: the logged slate is it wherever the logger's
    # propensity is above the uniform part alone.
    logged = eps.log.slate
    kept = eps.log.slate_log_prob > math.log(0.3) + joint.slate_log_prob + 1e-9
    assert kept.any() and np.array_equal(logged[kept], eps.log.logger.base_slate[kept])


def test_support_is_reported_and_marked(tmp_path, catalog) -> None:
    log = tmp_path / "log"
    evaluate(
        "popularity:explore=0.0", ["cheap_seeker"], episodes=20, seed=1, catalog=catalog, log=log
    )
    logger = "popularity:explore=0.0"
    result = run_ope(log, "random", logger, ["ips", "iips", "dm"], "clicks", catalog=catalog)
    assert result.support["all"].slate == 1.0 and result.support["all"].item == 1.0
    assert result.row("ips")["unsupported_share"] == 1.0
    assert result.row("iips")["unsupported_share"] == 1.0
    assert result.row("dm")["unsupported_share"] == 0.0
    assert any("never shows" in line for line in result.support["all"].warnings())
    same = run_ope(log, "popularity", logger, ["ips"], "clicks", catalog=catalog)
    assert same.support["all"].slate == 0.0 and not same.support["all"].warnings()
    # The command shows it as a yellow warning line.
    args = ["ope", "--log", str(log), "-t", "random", "--logger", logger, "-e", "ips"]
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 0, out.output
    assert "Warning: the target shows slates the logger never shows on 100.0%" in out.output


def test_same_seed_same_numbers(logs, catalog) -> None:
    kwargs = {"estimators": ["ips", "iips", "pi"], "metric": "clicks", "catalog": catalog}
    a = run_ope(logs["pbm"], "random", "popularity:explore=0.3", seed=3, **kwargs)
    b = run_ope(logs["pbm"], "random", "popularity:explore=0.3", seed=3, **kwargs)
    c = run_ope(logs["pbm"], "random", "popularity:explore=0.3", seed=4, **kwargs)
    assert a.records() == b.records()
    assert a.row("ips")["truth_page"] != c.row("ips")["truth_page"]  # the target's draws


def test_validate_reports_bias_rmse_and_coverage(logs, catalog) -> None:
    pages = read_pages(logs["pbm"], "random")
    rows, raw = validate(
        pages, "popularity", 3, estimators=["iips", "ips", "dm"], metric="clicks", catalog=catalog
    )
    assert [r["estimator"] for r in rows] == ["iips", "ips", "dm"]
    assert raw["estimate"].shape == (3, 3) and len(set(raw["truth"].tolist())) == 3
    iips = rows[0]
    assert 0 <= iips["coverage"] <= 1 and iips["rmse"] >= abs(iips["bias"])
    # dm gives no interval, so it has no coverage (not 0%), but a bias and an RMSE.
    dm = rows[2]
    assert math.isnan(dm["coverage"]) and math.isfinite(dm["rmse"])


# --- the command ------------------------------------------------------------------------------


def test_a_log_from_simshop_evaluate_round_trips_through_simshop_ope(tmp_path) -> None:
    log, out = tmp_path / "log", tmp_path / "ope.json"
    runner = CliRunner()
    made = runner.invoke(
        cli,
        ["evaluate", "-r", "random", "-u", "cheap_seeker,brand_lover", "--episodes", "20",
         "--seed", "2", "--env-option", "click_model=pbm", "--log", str(log)],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    args = ["ope", "--log", str(log), "--target", "popularity", "--metric", "clicks"]
    result = runner.invoke(cli, [*args, "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "truth page" in result.output and "iips" in result.output
    payload = json.loads(out.read_text())
    rows = payload["rows"]
    names = {"estimator", "estimate", "ci_low", "ci_high", "truth_page", "truth_visit"}
    assert names <= set(rows[0]) and {"ess", "max_weight", "shopper_type"} <= set(rows[0])
    assert {r["shopper_type"] for r in rows} == {"all", "cheap_seeker", "brand_lover"}
    assert len(rows) == 3 * 15
    pooled = [r for r in rows if r["shopper_type"] == "all"]
    assert len({r["truth_page"] for r in pooled}) == 1 and pooled[0]["truth_page"] > 0
    assert payload["manifest"]["logger"] == "random"
    csv = tmp_path / "ope.csv"
    again = runner.invoke(cli, [*args, "-e", "ips,iips", "--output", str(csv)])
    assert again.exit_code == 0, again.output
    assert csv.read_text().splitlines()[0].startswith("estimator,shopper_type,pages,estimate")


def _without(log, recommender, target) -> None:
    table = read_log_table(log)
    keep = pa.compute.not_equal(table.column("recommender"), recommender)
    write_part(
        target / "part-00000.parquet", table.filter(keep).to_batches(), read_log_metadata(log)
    )


def test_command_errors_are_one_line(logs, tmp_path) -> None:
    runner = CliRunner()
    base = ["ope", "--log", str(logs["pbm"])]
    no_props = tmp_path / "no_props"
    no_props.mkdir()
    table = read_log_table(logs["pbm"])
    oracle = pa.compute.equal(table.column("recommender"), "oracle")
    write_part(
        no_props / "part-00000.parquet",
        table.filter(oracle).to_batches(),
        read_log_metadata(logs["pbm"]),
    )
    cases = [
        (["ope", "--log", str(tmp_path / "missing"), "-t", "random"], "does not exist"),
        (["ope", "--log", str(no_props), "-t", "random"], "no pages with propensities"),
        ([*base, "-t", "random"], "several recommenders with propensities"),
        ([*base, "-t", "random", "--logger", "oracle"], "unknown logger 'oracle'"),
        ([*base, "-t", "nope", "--logger", "random"], "unknown recommender 'nope'"),
        ([*base, "-t", "random", "--logger", "random", "-e", "ips,nope"], "unknown estimator"),
        ([*base, "-t", "random", "--logger", "random", "-o", str(tmp_path / "a.txt")], ".txt"),
    ]
    for args, message in cases:
        result = runner.invoke(cli, args)
        assert result.exit_code != 0, args
        assert message in result.output, result.output
        assert "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "a.txt").exists()


# --- a log without a simulator ----------------------------------------------------------------


def _real_log(path, features: bool) -> None:
    """A tiny hand-made log as the Open Bandit Dataset importer writes it: uniform-random
    slates of 2 out of 4 items, real clicks, no simulator truth."""
    rng = np.random.default_rng(0)
    batches: list = []
    sink = LogSink(batches.append, "obd", 0, "random", "all", num_candidates=4, slate_size=2)
    ids = np.array([11, 12, 13, 14])
    click_rate = {11: 0.5, 12: 0.1, 13: 0.1, 14: 0.3}
    for i in range(400):
        slate = rng.permutation(4)[:2]
        clicked = np.array([rng.random() < click_rate[ids[j]] for j in slate])
        nan = np.full(2, np.nan)
        values = (
            i + 1, 1, 1, ids, slate, clicked, np.zeros(2, bool), float(clicked.sum()), True,
            False, nan, nan, nan,
        )  # fmt: skip
        page = {name: np.asarray(v)[None] for name, v in zip(PAGE_COLUMNS, values, strict=True)}
        sink.append(page, Propensities.stack([uniform_propensities(4, slate)], 2))
    meta = {"source": "obd", "campaign": "all", "policy": "random"}
    if features:
        meta["item_context"] = {  # as the OBD importer keeps item_context.csv
            "item_id": [11, 12, 13, 14],
            "item_feature_0": [1.0, -0.5, 0.2, 0.0],
            "item_feature_1": ["7f3a", "7f3a", "01b2", "9c4d"],
        }
    path.mkdir()
    sink.flush()
    write_part(path / "part-00000.parquet", batches, meta)


def test_a_real_log_has_no_truth_and_takes_only_targets_without_observations(tmp_path) -> None:
    plain, featured = tmp_path / "plain", tmp_path / "featured"
    _real_log(plain, features=False)
    _real_log(featured, features=True)
    result = run_ope(plain, "random", metric="clicks")
    ips = result.row("ips")
    # The target is the logger: every weight is 1, and the estimate is the logged mean.
    assert ips["estimate"] == pytest.approx(read_pages(plain).clicked.sum(axis=1).mean())
    assert ips["truth_page"] is None or math.isnan(ips["truth_page"])
    assert math.isnan(result.row("dm")["estimate"])  # no features: refused with a note
    assert any("item features" in note for note in result.notes)
    with pytest.raises(ValueError, match="needs item features"):
        run_ope(plain, "random", estimators=["dm"], metric="clicks")
    with pytest.raises(ValueError, match="only 'random'"):
        run_ope(plain, "popularity", metric="clicks")
    dm = run_ope(featured, "random", estimators=["dm", "dr"], metric="clicks")
    assert math.isfinite(dm.row("dm")["estimate"])
    assert dm.manifest["item_features"] == [
        "item_feature_0", "item_feature_1=01b2", "item_feature_1=7f3a", "item_feature_1=9c4d"
    ]  # fmt: skip
    shown = CliRunner().invoke(cli, ["ope", "--log", str(plain), "-t", "random", "-e", "ips"])
    assert shown.exit_code == 0, shown.output
    assert "n/a" in shown.output


def test_validate_needs_a_simulator_log(tmp_path) -> None:
    _real_log(tmp_path / "real", features=False)
    args = ["ope", "--log", str(tmp_path / "real"), "-t", "random", "--validate", "3"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: --validate needs a simulator log: a real log cannot be drawn again"
    )
