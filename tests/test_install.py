"""Installing a plugin for real, and what `simshop list-plugins` imports, in fresh processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "simshop-example-plugin"
HEAVY = ("torch", "stable_baselines3", "streamlit", "wandb")


def simshop_command() -> list[str]:
    """The installed console script, or ``python -m simshop_cli`` if there is none."""
    script = Path(sys.executable).parent / "simshop"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "simshop_cli"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIMSHOP_", "PYTHON"))}
    return {**env, **extra}


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory) -> Path:
    """The example plugin, pip-installed for real into a folder of its own (put it on
    PYTHONPATH to use it)."""
    assert (EXAMPLE / "pyproject.toml").is_file(), f"{EXAMPLE} is missing"
    tmp_path = tmp_path_factory.mktemp("example")
    # Build from a copy so that setuptools' egg-info and build/ never land in the repo.
    source = tmp_path / "src"
    shutil.copytree(
        EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    )
    target = tmp_path / "site"
    pip = run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",  # offline: everything it needs is already installed
            "--disable-pip-version-check",
            "--quiet",
            "--target",
            str(target),
            str(source),
        ],
        env=clean_env(),
        cwd=tmp_path,
    )
    assert pip.returncode == 0, pip.stderr
    return target


def test_pip_installed_example_plugin_is_listed(installed_example, tmp_path):
    env = clean_env(PYTHONPATH=str(installed_example))
    result = run([*simshop_command(), "list-plugins", "--json"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    [plugin] = [p for p in report["plugins"] if p["distribution"] == "simshop-example-plugin"]
    assert plugin["name"] == "simshop-example-plugin"
    assert plugin["version"]
    assert "example_impulse_buyer" in {u["name"] for u in plugin["users"]}
    recommenders = {r["name"]: r for r in plugin["recommenders"]}
    assert {"example_cheapest_first", "example_click_chaser"} <= set(recommenders)
    assert recommenders["example_click_chaser"]["parameters"][0]["name"] == "prior"
    assert report["errors"] == []


def _evaluate(installed: Path, cwd: Path, *args: str, **env: str) -> dict:
    out = cwd / f"results-{len(list(cwd.iterdir()))}.json"
    result = run(
        [*simshop_command(), "evaluate", *args, "--output", str(out)],
        clean_env(PYTHONPATH=str(installed), **env),
        cwd,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    cells = json.loads(out.read_text())["cells"]
    return {(c["user"], c["recommender"]): c for c in cells} | {
        "output": result.stdout + result.stderr
    }


def test_an_outside_learner_learns_the_same_for_any_jobs_and_order(installed_example, tmp_path):
    common = ("--users", "cheap_seeker,brand_lover", "--episodes", "60", "--seed", "4")
    one = _evaluate(installed_example, tmp_path, "-r", "example_click_chaser", *common)
    two = _evaluate(
        installed_example,
        tmp_path,
        "-r",
        "popularity,example_click_chaser,example_cheapest_first",
        *common,
        "--jobs",
        "2",
    )
    for user in ("cheap_seeker", "brand_lover"):
        key = (user, "example_click_chaser")
        assert one[key] == two[key]
        # It learns: from the same start (cheapest first) it ends somewhere else.
        assert two[key]["mean_reward"] != two[(user, "example_cheapest_first")]["mean_reward"]


def test_core_stands_without_the_recommenders_package(installed_example, tmp_path):
    found = _evaluate(
        installed_example,
        tmp_path,
        "-r",
        "example_click_chaser",
        "-u",
        "cheap_seeker",
        "--episodes",
        "20",
        SIMSHOP_LOAD_PLUGINS="simshop-users,simshop-example-plugin",
    )
    assert set(found) - {"output"} == {
        ("cheap_seeker", "example_click_chaser"),
        ("cheap_seeker", "oracle"),
    }
    assert found[("cheap_seeker", "oracle")]["normalised_score"] is None
    assert "example_click_chaser" in found["output"]
    assert "normalised scores are unavailable" in found["output"]


# Runs `list-plugins` in-process in a fresh interpreter and reports what got imported.
IMPORTS_PROBE = textwrap.dedent(
    """
    import json, sys
    import simshop_core
    from click.testing import CliRunner
    from simshop_cli.main import cli

    # Importing loads no plugin: that happens on first use.
    loaded_on_import = simshop_core.get_plugin_manager.cache_info().currsize
    result = CliRunner().invoke(cli, ["list-plugins"])
    print(json.dumps({
        "exit_code": result.exit_code,
        "output": result.output,
        "loaded_on_import": loaded_on_import,
        "modules": sorted({name.split(".")[0] for name in sys.modules}),
    }))
    """
)


@pytest.fixture(scope="module")
def probe() -> dict:
    result = run([sys.executable, "-c", IMPORTS_PROBE], clean_env(), ROOT)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_list_plugins_imports_no_heavy_dependency(probe):
    assert probe["exit_code"] == 0, probe["output"]
    assert "random" in probe["output"]  # the plugins really were loaded and listed
    assert not set(HEAVY) & set(probe["modules"])


def test_list_plugins_does_not_import_pandas(probe):
    assert "pandas" not in probe["modules"]  # slow to import, and nothing there needs it


def test_importing_loads_no_plugins(probe):
    assert probe["loaded_on_import"] == 0


def test_simshop_command_imports_no_heavy_dependency(tmp_path):
    # Python's own import profiler, on the real console script: one line per imported module.
    result = run(
        [*simshop_command(), "list-plugins"], clean_env(PYTHONPROFILEIMPORTTIME="1"), tmp_path
    )
    assert result.returncode == 0, result.stderr
    imported = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert {"simshop_cli", "simshop_core", "pluggy"} <= imported  # the profile is really there
    assert not set(HEAVY) & imported
    assert "pandas" not in imported


def test_core_needs_neither_scipy_nor_the_lab(tmp_path):
    # simshop-core is what a plugin pins: it lists no SciPy and no simshop-lab, and every one
    # of its modules imports, and the propensity check runs, with both made unimportable.
    import tomllib

    meta = tomllib.loads((ROOT / "simshop_core" / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = " ".join(meta["project"]["dependencies"])
    for extra in meta["project"]["optional-dependencies"].values():
        requirements += " " + " ".join(extra)
    assert "scipy" not in requirements and "simshop-lab" not in requirements
    # Nor does core or a plugin import the lab, even lazily inside a function.
    for package in ("simshop_core", "simshop_users", "simshop_recommenders", "examples"):
        for path in sorted((ROOT / package).rglob("*.py")):
            assert "simshop_lab" not in path.read_text(encoding="utf-8"), path
    code = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        sys.modules["scipy"] = sys.modules["simshop_lab"] = None  # import raises ImportError
        import simshop_core
        from simshop_core.testing import check_propensities
        from simshop_recommenders.baselines import RandomRecommender
        modules = [m.name for m in pkgutil.walk_packages(simshop_core.__path__, "simshop_core.")]
        for name in modules:
            importlib.import_module(name)
        check_propensities(RandomRecommender, n=5, k=3, trials=2000)
        print(len(modules))
        """
    )
    result = run([sys.executable, "-c", code], clean_env(), tmp_path)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 30  # the walk really saw the package
