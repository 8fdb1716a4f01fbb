"""`simshop sweep`: the grid's expansion, its rows against `evaluate`, and its files."""

from __future__ import annotations

import json
import math

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from simshop_cli.main import cli
from simshop_core import generate_catalog
from simshop_core.evaluation import CURVE_FIELDS, evaluate
from simshop_lab.sweep import expand_spec, expand_specs, parse_seeds, sweep


@pytest.fixture(scope="module")
def catalog():
    return generate_catalog()


def test_alternatives_expand_into_the_cross_product_in_written_order() -> None:
    assert expand_spec("popularity:explore=0.05|0.1|0.2") == [
        "popularity:explore=0.05",
        "popularity:explore=0.1",
        "popularity:explore=0.2",
    ]
    assert expand_spec("eg : epsilon=0.1|0.2 : explore=0|0.5") == [
        "eg:epsilon=0.1:explore=0",
        "eg:epsilon=0.1:explore=0.5",
        "eg:epsilon=0.2:explore=0",
        "eg:epsilon=0.2:explore=0.5",
    ]
    assert expand_spec("ppo:a.zip|b.zip:mode=greedy") == [
        "ppo:a.zip:mode=greedy",
        "ppo:b.zip:mode=greedy",
    ]
    assert expand_spec("random") == ["random"]
    # Comma-separated and repeated items, duplicates dropped by label (parameters sorted).
    assert expand_specs(["random,popularity:explore=0.1|0.1", "popularity:explore=0.1"]) == [
        "random",
        "popularity:explore=0.1",
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("random|popularity", "'|' separates values of a parameter, not names"),
        ("popularity:explore=0.1|", "an empty value in 'explore=0.1|'"),
    ],
)
def test_a_bad_alternative_is_one_line(spec, message) -> None:
    with pytest.raises(ValueError, match="^spec .*" + message.replace("|", r"\|")):
        expand_spec(spec)


def test_seeds_are_lists_and_inclusive_ranges() -> None:
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("7,0-2,2") == [0, 1, 2, 7]
    assert parse_seeds(3) == [3] and parse_seeds([5, 1]) == [1, 5]
    for bad, message in [
        ("4-1", "ends before it starts"),
        ("a", "bad seeds 'a'"),
        ("-1", "bad seeds"),
        ("0-99999999", "more than 10,000 seeds"),
        (f"{2**32}", "seed"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_seeds(bad)


def test_every_row_is_the_evaluate_cell_of_its_seed(catalog) -> None:
    """Two seeds in one run over two processes; each row equals `evaluate --seed S`'s cell
    (run alone, in this process, with only its own recommender besides the references)."""
    users = ["cheap_seeker", "brand_lover"]
    result = sweep(
        ["popularity:explore=0.05|0.3"], users, seeds="3-4", episodes=40, catalog=catalog, jobs=2
    )
    rows = result.records()
    assert len(rows) == 2 * 2 * 4  # seeds × shoppers × (oracle, random, two explores)
    assert [(r["seed"], r["user"]) for r in rows] == sorted((r["seed"], r["user"]) for r in rows)
    for seed in (3, 4):
        for explore in ("0.05", "0.3"):
            spec = f"popularity:explore={explore}"
            alone = evaluate([spec], users, episodes=40, seed=seed, catalog=catalog)
            for cell in alone.records():
                [row] = [
                    r
                    for r in rows
                    if (r["seed"], r["user"], r["recommender"])
                    == (seed, cell["user"], cell["recommender"])
                ]
                scalars = {k: v for k, v in cell.items() if k not in CURVE_FIELDS}
                assert {k: row[k] for k in scalars} == scalars  # a table holds no curves
    explored = [r for r in rows if r["recommender_name"] == "popularity"]
    assert sorted({r["param_explore"] for r in explored}) == [0.05, 0.3]
    assert all(r["param_explore"] is None for r in rows if r["recommender_name"] != "popularity")


def test_sweep_writes_parquet_csv_and_json_whole(tmp_path) -> None:
    runner = CliRunner()
    args = ["sweep", "-r", "popularity:explore=0.1|0.2", "-u", "familiarity_seeker"]
    args += ["--seeds", "0,5", "--episodes", "20"]
    result = runner.invoke(cli, [*args, "--output", str(tmp_path / "sweep.parquet")])
    assert result.exit_code == 0, result.output
    assert "popularity:explore=0.2" in result.output and "Wrote" in result.output
    frame = pd.read_parquet(tmp_path / "sweep.parquet")
    assert len(frame) == 2 * 4 and sorted(set(frame["seed"])) == [0, 5]
    assert frame["param_explore"].dtype == "float64"
    manifest = json.loads(pq.read_schema(tmp_path / "sweep.parquet").metadata[b"simshop"])
    assert manifest["master_seeds"] == [0, 5] and manifest["options"]["episodes"] == 20
    for suffix in (".csv", ".json"):
        again = runner.invoke(cli, [*args, "--output", str(tmp_path / f"sweep{suffix}")])
        assert again.exit_code == 0, again.output
    csv = pd.read_csv(tmp_path / "sweep.csv")
    assert csv["mean_reward"].tolist() == frame["mean_reward"].tolist()
    cells = json.loads((tmp_path / "sweep.json").read_text())["cells"]
    assert [c["mean_reward"] for c in cells] == frame["mean_reward"].tolist()
    assert all(c["param_explore"] is None or not math.isnan(c["param_explore"]) for c in cells)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "sweep.csv",
        "sweep.json",
        "sweep.parquet",
    ]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["-r", "random|popularity"], 1, "'|' separates values of a parameter, not names"),
        (["-r", "popularity", "--seeds", "4-1"], 2, "ends before it starts"),
        (["-r", "nosuch"], 1, "nosuch"),
        (["-r", "popularity:explore=0.1|x"], 1, "explore"),
        (["-r", "popularity", "--output", "OUT/sweep.xlsx"], 2, "unsupported suffix '.xlsx'"),
        (["-r", "popularity", "--scheduler", "tcp://h"], 2, "unknown scheduler 'tcp://h'"),
    ],
)
def test_sweep_bad_input_is_one_line(tmp_path, args, code, message) -> None:
    args = [a.replace("OUT", str(tmp_path)) for a in args]
    result = CliRunner().invoke(cli, ["sweep", "-u", "cheap_seeker", "--episodes", "5", *args])
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], lines
    assert list(tmp_path.iterdir()) == []
