"""A model file never runs code: ppo / a2c models are plain data (metadata JSON and tensors
read with ``weights_only=True``), SimShop 0.2's pickled stable-baselines3 zips are refused in
one line and converted without unpickling anything.

The malicious files here are real: a copy of the 0.2 model with one extra cloudpickled entry
in ``data`` whose payload touches a marker file, the way stable-baselines3's ``load`` would
run it (checked by `test_the_payload_is_real`).
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("stable_baselines3")

import torch
from click.testing import CliRunner

from simshop_cli.main import cli
from simshop_core import ShopEnv
from simshop_recommenders.a2c import A2CRecommender
from simshop_recommenders.ppo.model_file import (
    FORMAT_VERSION,
    METADATA_NAME,
    WEIGHTS_NAME,
    model_spaces,
)
from simshop_recommenders.ppo.recommender import DEFAULT_MODEL, PPORecommender
from simshop_recommenders.ppo.wrapper import flat_observation_space

REPO = Path(__file__).resolve().parent.parent
#: The shipped ppo model as simshop-recommenders 0.2 saved it (stable-baselines3's zip).
LEGACY_COMMIT = "a98d3ac"


class Touch:
    """Unpickling this touches ``path``: what a crafted model's payload would do."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (Path(self.path),))


def legacy_model(tmp_path: Path, name: str) -> Path:
    """The shipped 0.2 model of ``name`` (from git history), a stable-baselines3 zip."""
    member = f"simshop_recommenders/src/simshop_recommenders/models/{name}_default.zip"
    try:
        raw = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{LEGACY_COMMIT}:{member}"],
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("needs the git history holding simshop 0.2's models")
    path = tmp_path / f"{name}_0.2.zip"
    path.write_bytes(raw)
    return path


def with_payload(source: Path, target: Path, marker: Path) -> Path:
    """``source`` with one extra cloudpickled entry in ``data`` that touches ``marker``."""
    cloudpickle = pytest.importorskip("cloudpickle")
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            raw = old.read(info)
            if info.filename == "data":
                data = json.loads(raw)
                data["evil"] = {
                    ":type:": "<class 'object'>",
                    ":serialized:": base64.b64encode(cloudpickle.dumps(Touch(marker))).decode(),
                }
                raw = json.dumps(data).encode()
            new.writestr(info, raw)
    return target


def rewrite(source: Path, target: Path, **members: bytes | None) -> Path:
    """``source`` with ``members`` replaced, added (bytes) or removed (None)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            if info.filename not in members:
                new.writestr(info, old.read(info))
        for name, raw in members.items():
            if raw is not None:
                new.writestr(name, raw)
    return target


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "payload-ran"


@pytest.fixture
def evil_ppo(tmp_path: Path, marker: Path) -> Path:
    return with_payload(legacy_model(tmp_path, "ppo"), tmp_path / "evil_ppo.zip", marker)


def invoke(*args: Any) -> Any:
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_one_line(result: Any) -> str:
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def test_the_payload_is_real(evil_ppo: Path, marker: Path) -> None:
    # What stable-baselines3's load does with every ":serialized:" entry of data.
    with zipfile.ZipFile(evil_ppo) as archive:
        entry = json.loads(archive.read("data"))["evil"][":serialized:"]
    pickle.loads(base64.b64decode(entry))
    assert marker.exists()


# --- loading refuses 0.2's format, whatever the route ---------------------------------------


def test_evaluate_refuses_a_malicious_model(evil_ppo: Path, marker: Path) -> None:
    result = invoke("evaluate", "-r", f"ppo:{evil_ppo}", "-u", "cheap_seeker", "--episodes", 2)
    line = assert_one_line(result)
    assert "simshop model convert" in line and str(evil_ppo) in line
    assert not marker.exists()


@pytest.mark.parametrize(
    "command",
    [
        ["abtest", "random", "ppo:{model}", "-n", "20"],
        ["sweep", "-r", "ppo:{model}", "-u", "cheap_seeker", "--episodes", "2"],
        ["sweep", "-r", "ppo:{model}", "-u", "cheap_seeker", "--episodes", "2", "--jobs", "2"],
    ],
)
def test_other_commands_refuse_a_malicious_model(
    evil_ppo: Path, marker: Path, tmp_path: Path, command: list[str]
) -> None:
    args = [part.format(model=evil_ppo) for part in command]
    if args[0] == "sweep":
        args += ["--output", str(tmp_path / "sweep.csv")]
    result = invoke(*args)
    assert "simshop model convert" in assert_one_line(result)
    assert not marker.exists()
    assert not (tmp_path / "sweep.csv").exists()


def test_evaluate_refuses_a_malicious_a2c_model(tmp_path: Path, marker: Path) -> None:
    evil = with_payload(legacy_model(tmp_path, "a2c"), tmp_path / "evil_a2c.zip", marker)
    result = invoke("evaluate", "-r", f"a2c:{evil}", "-u", "cheap_seeker", "--episodes", 2)
    assert "simshop model convert" in assert_one_line(result)
    assert not marker.exists()


def test_train_resume_refuses_a_malicious_model(
    evil_ppo: Path, marker: Path, tmp_path: Path
) -> None:
    result = invoke(
        "train",
        "--recommender",
        "ppo",
        "--timesteps",
        2_000_000,
        "--resume",
        evil_ppo,
        "--output",
        tmp_path / "out.zip",
        "--runs-dir",
        tmp_path / "runs",
    )
    assert "simshop model convert" in assert_one_line(result)
    assert not marker.exists()
    assert not (tmp_path / "out.zip").exists()


def test_the_apps_loader_refuses_a_malicious_model(evil_ppo: Path, marker: Path) -> None:
    from simshop_ui.session import Session

    # Picking models/evil.zip in the sidebar builds this session.
    with pytest.raises(ValueError, match="simshop model convert"):
        Session("cheap_seeker", f"ppo:{evil_ppo}")
    assert not marker.exists()


def test_python_load_refuses_a_malicious_model(evil_ppo: Path, marker: Path) -> None:
    with pytest.raises(ValueError, match="pickled 'data' could run code"):
        PPORecommender.load(evil_ppo)
    assert not marker.exists()


# --- the current format: exactly two members of plain data --------------------------------


def test_the_shipped_models_are_plain_data() -> None:
    for cls in (PPORecommender, A2CRecommender):
        with zipfile.ZipFile(cls.default_model) as archive:
            assert sorted(archive.namelist()) == sorted([METADATA_NAME, WEIGHTS_NAME])
            metadata = json.loads(archive.read(METADATA_NAME))
            weights = torch.load(
                io.BytesIO(archive.read(WEIGHTS_NAME)), weights_only=True, map_location="cpu"
            )
        assert metadata["format_version"] == FORMAT_VERSION
        assert set(weights) == {"policy", "optimizer", "spaces"}


@pytest.mark.parametrize(
    ("member", "raw"),
    [
        ("data", b"{}"),
        ("extra.pkl", pickle.dumps({"x": 1})),
        ("../escape", b""),
    ],
)
def test_any_other_member_is_refused(tmp_path: Path, member: str, raw: bytes) -> None:
    path = rewrite(DEFAULT_MODEL, tmp_path / "extra.zip", **{member: raw})
    with pytest.raises(ValueError) as caught:
        PPORecommender.load(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    assert "refused" in message or "simshop model convert" in message


def test_a_payload_in_the_weights_is_refused(tmp_path: Path, marker: Path) -> None:
    buffer = io.BytesIO()
    torch.save({"policy": {"x": Touch(marker)}, "optimizer": {}}, buffer)
    path = rewrite(DEFAULT_MODEL, tmp_path / "evil.zip", **{WEIGHTS_NAME: buffer.getvalue()})
    result = invoke("evaluate", "-r", f"ppo:{path}", "-u", "cheap_seeker", "--episodes", 2)
    line = assert_one_line(result)
    assert f"refused: {WEIGHTS_NAME} holds more than tensors" in line
    assert not marker.exists()


def test_a_plain_pickle_as_weights_is_refused(tmp_path: Path, marker: Path) -> None:
    raw = pickle.dumps(Touch(marker))
    path = rewrite(DEFAULT_MODEL, tmp_path / "evil.zip", **{WEIGHTS_NAME: raw})
    with pytest.raises(ValueError, match=f"{WEIGHTS_NAME}"):
        PPORecommender.load(path)
    assert not marker.exists()


def edited(tmp_path: Path, change: Any) -> Path:
    with zipfile.ZipFile(DEFAULT_MODEL) as archive:
        metadata = json.loads(archive.read(METADATA_NAME))
    change(metadata)
    return rewrite(
        DEFAULT_MODEL, tmp_path / "edited.zip", **{METADATA_NAME: json.dumps(metadata).encode()}
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda m: m["settings"].update(n_steps="abc"), "settings.n_steps is 'abc'"),
        (lambda m: m["settings"].update(evil=1), "settings.evil is not a PPO setting"),
        (lambda m: m.update(settings=[1]), "settings is not an object"),
        (lambda m: m.update(seed="0"), "seed is '0'"),
        (lambda m: m["training"].update(n_updates="x"), "training is not an object"),
        (lambda m: m["normalisation"].update(session_high=[1]), "session_high"),
        (lambda m: m["normalisation"]["vocab_sizes"].update(brand=99), "do not fit the network"),
        (lambda m: m["env_options"].update(slate_size=60), "slate_size is larger"),
        (lambda m: m["env_options"].update(catalog="x.csv"), "env option(s) catalog"),
        (lambda m: m.update(format_version=1), "simshop model convert"),
        (lambda m: m.update(format_version=99), "upgrade simshop-recommenders"),
    ],
)
def test_bad_metadata_is_one_line(tmp_path: Path, change: Any, expected: str) -> None:
    path = edited(tmp_path, change)
    with pytest.raises(ValueError) as caught:
        PPORecommender.load(path)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_missing_weights_are_one_line(tmp_path: Path) -> None:
    path = rewrite(DEFAULT_MODEL, tmp_path / "bare.zip", **{WEIGHTS_NAME: None})
    with pytest.raises(ValueError, match=f"no {WEIGHTS_NAME}"):
        PPORecommender.load(path)


def test_spaces_from_the_metadata_are_the_envs() -> None:
    recommender = PPORecommender()
    observation, action = model_spaces(recommender.metadata)
    env = ShopEnv(**recommender.env_options)
    expected = flat_observation_space(env.observation_space)
    for key, space in expected.spaces.items():
        assert np.array_equal(observation[key].low, space.low), key
        assert np.array_equal(observation[key].high, space.high), key
    assert action == env.action_space


def test_save_load_round_trip_keeps_weights_and_counters(tmp_path: Path) -> None:
    first = PPORecommender()
    path = first.save(tmp_path / "again.zip")
    second = PPORecommender.load(path)
    a, b = first.model.policy.state_dict(), second.model.policy.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    for attribute in ("num_timesteps", "_n_updates", "_total_timesteps"):
        assert getattr(first.model, attribute) == getattr(second.model, attribute)


# --- converting 0.2's models -------------------------------------------------------------


def test_convert_runs_nothing_and_keeps_the_policy(
    evil_ppo: Path, marker: Path, tmp_path: Path
) -> None:
    target = tmp_path / "converted.zip"
    result = invoke("model", "convert", evil_ppo, target)
    assert result.exit_code == 0, result.output
    assert not marker.exists()
    with zipfile.ZipFile(target) as archive:
        assert sorted(archive.namelist()) == sorted([METADATA_NAME, WEIGHTS_NAME])
    converted, shipped = PPORecommender.load(target, mode="greedy"), PPORecommender(mode="greedy")
    env = ShopEnv(**shipped.env_options)
    observation, _ = env.reset(seed=3)
    assert np.array_equal(converted.scores(observation), shipped.scores(observation))
    assert converted.num_timesteps == shipped.num_timesteps


def test_convert_refuses_a_payload_in_the_state_dicts(tmp_path: Path, marker: Path) -> None:
    raw = pickle.dumps({"x": Touch(marker)})
    path = rewrite(legacy_model(tmp_path, "a2c"), tmp_path / "evil.zip", **{"policy.pth": raw})
    line = assert_one_line(invoke("model", "convert", path, tmp_path / "out.zip"))
    assert "policy.pth" in line
    assert not marker.exists() and not (tmp_path / "out.zip").exists()


def test_convert_says_when_there_is_nothing_to_convert(tmp_path: Path) -> None:
    line = assert_one_line(invoke("model", "convert", DEFAULT_MODEL, tmp_path / "out.zip"))
    assert "already in the current format" in line
