"""Evaluation and A/B tests on Dask: a real LocalCluster gives the numbers of one process.

The tests that start their own cluster come first, before the module's shared one exists (two
clusters at once on two cores slow both)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import as_from_a_terminal

from simshop_cli.main import cli
from simshop_core import Recommender, generate_catalog
from simshop_core.evaluation import evaluate
from simshop_lab.sweep import sweep

pytestmark = pytest.mark.dask


@pytest.fixture(scope="module")
def catalog():
    return generate_catalog()


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of 2 worker processes, shared by this module's tests; its address is
    what `--scheduler tcp://HOST:PORT` takes."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.CRITICAL + 1,
    ) as local:
        yield local.scheduler_address


class Exploding(Recommender):
    """Picklable (a module-level class), so its cells go to the workers; it always raises."""

    name = "exploding"

    def recommend(self, observation, k):
        raise RuntimeError("boom")


class Cheapest(Recommender):
    name = "cheapest"

    def recommend(self, observation, k):
        return np.argsort(observation["candidates"]["price"], kind="stable")[:k]


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="POSIX process groups")
def test_ctrl_c_stops_the_cluster_with_one_line_and_no_files(tmp_path) -> None:
    """A terminal's Ctrl-C goes to the whole process group, Dask's workers included: only
    `Interrupted`, exit 130, no results file or log, and no worker left behind."""
    args = [sys.executable, "-m", "simshop_cli", "evaluate", "-r", "popularity"]
    args += ["-u", "cheap_seeker", "--episodes", "1000000", "--jobs", "2"]
    args += ["--scheduler", "local", "--output", str(tmp_path / "r.json")]
    args += ["--log", str(tmp_path / "log")]
    process = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=as_from_a_terminal,
    )
    try:
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob(".*/.part-*"))) < 2:  # both workers inside a block
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "evaluate did not start its blocks"
            time.sleep(0.05)
        time.sleep(0.5)
        os.killpg(process.pid, signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 130, stderr
    assert [line for line in stderr.splitlines() if line.strip()] == ["Interrupted"]
    assert stdout == ""
    assert list(tmp_path.iterdir()) == []
    assert _live_members(process.pid) == []  # no worker outlived the run


def test_cli_scheduler_local_gives_the_jobs_1_numbers(tmp_path) -> None:
    runner = CliRunner()
    base = ["evaluate", "-r", "popularity", "-u", "brand_lover", "--episodes", "30"]
    one = runner.invoke(cli, [*base, "--output", str(tmp_path / "one.json")])
    assert one.exit_code == 0, one.output
    local = [*base, "--jobs", "2", "--scheduler", "local", "--output", str(tmp_path / "dask.json")]
    dask = runner.invoke(cli, local)
    assert dask.exit_code == 0, dask.output
    cells = [json.loads((tmp_path / f).read_text())["cells"] for f in ("one.json", "dask.json")]
    assert cells[0] == cells[1] and len(cells[0]) == 3


def test_cli_abtest_scheduler_local_gives_the_jobs_1_numbers(tmp_path) -> None:
    runner = CliRunner()
    base = ["abtest", "random", "popularity", "--users", "cheap_seeker", "--shoppers", "60"]
    one = runner.invoke(cli, [*base, "--output", str(tmp_path / "one.json")])
    assert one.exit_code == 0, one.output
    local = [*base, "--jobs", "2", "--scheduler", "local", "--output", str(tmp_path / "dask.json")]
    dask = runner.invoke(cli, local)
    assert dask.exit_code == 0, dask.output
    results = [json.loads((tmp_path / f).read_text()) for f in ("one.json", "dask.json")]
    assert results[0] == results[1]
    assert results[0]["metrics"][0]["n_a"] + results[0]["metrics"][0]["n_b"] == 60


def test_dask_is_imported_only_for_a_scheduler() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from simshop_cli.main import cli\n"
        "import simshop_lab.sweep\n"
        "from simshop_core.evaluation import evaluate\n"
        "assert CliRunner().invoke(cli, ['list-plugins']).exit_code == 0\n"
        "evaluate('popularity', ['cheap_seeker'], episodes=5)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_missing_dask_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    args = ["evaluate", "-r", "popularity", "-u", "cheap_seeker", "--scheduler", "local"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: a scheduler needs dask.distributed, which is not installed: "
        "pip install 'simshop-core[dask]'"
    ]


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--scheduler", "nowhere"], 2, "unknown scheduler 'nowhere'; use 'local' or a Dask"),
        (["--scheduler", "tcp://127.0.0.1:1"], 1, "cannot connect to the Dask scheduler at"),
        (
            ["--scheduler", "tcp://127.0.0.1:1", "--log", "LOG"],
            1,
            "a per-page log cannot be written by the cluster at tcp://127.0.0.1:1",
        ),
    ],
)
def test_a_bad_scheduler_is_one_line(tmp_path, monkeypatch, extra, code, message) -> None:
    from simshop_core import scheduler

    monkeypatch.setattr(scheduler, "CONNECT_TIMEOUT", 0.5)
    extra = [str(tmp_path / "log") if item == "LOG" else item for item in extra]
    args = ["evaluate", "-r", "popularity", "-u", "cheap_seeker", "--episodes", "10", *extra]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], lines
    assert list(tmp_path.iterdir()) == []


def test_a_local_cluster_of_two_workers_gives_the_numbers_of_one_process(
    cluster, catalog, monkeypatch
) -> None:
    from simshop_core import blocks

    # Read where the run starts and carried to the workers in each cell (_Cell.block_shoppers).
    monkeypatch.setattr(blocks, "BLOCK_SHOPPERS", 4)  # 95 visits: 10 shoppers, 3 blocks
    args = ("random,popularity", ["brand_lover", "random_chooser"])
    one = evaluate(*args, episodes=95, seed=4, catalog=catalog)
    distributed = evaluate(*args, episodes=95, seed=4, catalog=catalog, scheduler=cluster)
    assert one.records() == distributed.records()
    assert {c.shoppers for c in one.cells} == {10} and len(one.cells) == 6


def test_a_plugin_error_on_a_worker_fails_its_cell_only(cluster, catalog) -> None:
    class Local(Cheapest):  # defined in a function: cannot go to a worker, runs here
        name = "local_cheapest"

    recommenders = [Exploding(), Local(), "popularity"]
    one = evaluate(recommenders, ["cheap_seeker"], episodes=30, seed=2, catalog=catalog)
    distributed = evaluate(
        recommenders, ["cheap_seeker"], episodes=30, seed=2, catalog=catalog, scheduler=cluster
    )
    assert one.records() == distributed.records()
    assert [(f.user, f.recommender) for f in distributed.failures] == [
        ("cheap_seeker", "exploding")
    ]
    assert "boom" in distributed.failures[0].error
    assert {c.recommender for c in distributed.cells} == {
        "local_cheapest",
        "oracle",
        "popularity",
        "random",
    }


def test_a_sweep_on_a_cluster_equals_one_in_process(cluster, catalog) -> None:
    args = (["popularity:explore=0.1|0.3"], ["familiarity_seeker"])
    here = sweep(*args, seeds="0-1", episodes=30, catalog=catalog)
    there = sweep(*args, seeds="0-1", episodes=30, catalog=catalog, scheduler=cluster)
    assert here.records() == there.records()
    assert len(here.frame) == 2 * 4


def _live_members(group: int, wait: float = 5.0) -> list[int]:
    """The processes of ``group`` still running (not zombies) after up to ``wait`` s."""
    import psutil

    deadline = time.monotonic() + wait
    while True:
        live = []
        for proc in psutil.process_iter(["pid", "status"]):
            try:
                if os.getpgid(proc.pid) == group and proc.status() != psutil.STATUS_ZOMBIE:
                    live.append(proc.pid)
            except (ProcessLookupError, psutil.Error):
                continue
        if not live or time.monotonic() > deadline:
            return live
        time.sleep(0.1)
