"""Training, saving, loading and resuming the ppo recommender, through Python and the CLI."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("stable_baselines3")
from click.testing import CliRunner

from simshop_cli.main import cli
from simshop_core import User, hookimpl, make_recommender
from simshop_core.catalog import CatalogError, generate_catalog
from simshop_core.env import ShopEnv
from simshop_core.evaluation import evaluate
from simshop_recommenders.ppo import (
    DEFAULT_MODEL,
    PPORecommender,
    UnseenShopperWarning,
)
from simshop_recommenders.ppo.recommender import METADATA_NAME
from simshop_recommenders.ppo.training import PPOSettings

# Small and quick: two envs, one 256-step rollout per update.
TINY = PPOSettings(n_envs=2, n_steps=128, batch_size=128, n_epochs=2)
TINY_ARGS = ["--envs", "2", "--tracker", "none", "--eval-episodes", "0"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A model trained for 512 steps, saved, and its run folder."""
    folder = tmp_path_factory.mktemp("trained")
    recommender = PPORecommender()
    result = recommender.train(
        512, seed=3, settings=TINY, run_dir=folder / "run", checkpoint_every=256
    )
    assert result.timesteps == 512 and result.trained == 512 and not result.interrupted
    return recommender.save(folder / "model.zip"), folder / "run"


def an_observation(seed: int = 0) -> dict:
    observation, _ = ShopEnv(users=["cheap_seeker"]).reset(seed=seed)
    return observation


def test_train_writes_logs_and_checkpoints(trained: tuple[Path, Path]) -> None:
    _, run = trained
    assert (run / "progress.csv").read_text().startswith(("rollout/", "time/", "train/"))
    assert list(run.glob("events.out.tfevents.*"))
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "ppo_256_steps.zip",
        "ppo_512_steps.zip",
    ]


def test_saved_model_carries_its_metadata(trained: tuple[Path, Path]) -> None:
    path, _ = trained
    with zipfile.ZipFile(path) as archive:
        metadata = json.loads(archive.read(METADATA_NAME))
    assert metadata["format"] == "simshop-ppo"
    assert metadata["timesteps"] == 512
    assert metadata["seed"] == 3
    assert metadata["simshop_version"]
    options = metadata["env_options"]
    assert options["user_types"][-1] == "other" and options["slate_size"] == 5
    assert set(options["vocabularies"]) == {"category", "subcategory", "brand", "color"}
    assert set(metadata["normalisation"]["numeric"]) == {
        "price",
        "quality_score",
        "popularity",
        "days_since_release",
    }
    assert path.stat().st_size < 2_000_000


def test_load_gives_the_same_recommendations(trained: tuple[Path, Path]) -> None:
    path, _ = trained
    first, second = (
        PPORecommender.load(path, mode="greedy"),
        make_recommender(f"ppo:{path}:mode=greedy"),
    )
    assert first.num_timesteps == 512
    observation = an_observation()
    slate = first.recommend(observation, 5)
    assert len(set(slate.tolist())) == 5 and slate.dtype == np.int64
    np.testing.assert_array_equal(slate, second.recommend(observation, 5))
    np.testing.assert_array_equal(slate, np.argsort(-first.scores(observation))[:5])
    assert len(first.recommend(observation, 3)) == 3


def test_sampling_mode_draws_from_the_reset_rng(trained: tuple[Path, Path]) -> None:
    recommender = PPORecommender.load(trained[0])
    assert recommender.mode == "sample" and not recommender.deterministic  # the default
    observation = an_observation()
    recommender.reset(np.random.default_rng(5))
    first = [recommender.recommend(observation, 5).tolist() for _ in range(5)]
    recommender.reset(np.random.default_rng(5))
    assert first == [recommender.recommend(observation, 5).tolist() for _ in range(5)]
    assert len({tuple(s) for s in first}) > 1


def test_resume_keeps_the_step_count(trained: tuple[Path, Path], tmp_path: Path) -> None:
    checkpoint = trained[1] / "checkpoints" / "ppo_256_steps.zip"
    recommender = PPORecommender.load(checkpoint)
    assert recommender.num_timesteps == 256
    # Three envs instead of two: the rollout buffer is rebuilt for them.
    result = recommender.train(768, seed=3, n_envs=3, run_dir=tmp_path / "resumed")
    assert result.trained >= 512 and result.timesteps == 256 + result.trained
    saved = PPORecommender.load(recommender.save(tmp_path / "resumed.zip"))
    assert saved.num_timesteps == result.timesteps
    # Already at the budget: nothing more to do.
    assert saved.train(768).trained == 0


def test_cli_train_end_to_end(tmp_path: Path) -> None:
    output = tmp_path / "models" / "ppo.zip"
    result = CliRunner().invoke(
        cli,
        [
            "train", "--recommender", "ppo", "--users", "all", "--timesteps", "512",
            "--seed", "1", "--output", str(output), "--envs", "2", "--eval-episodes", "4",
            "--runs-dir", str(tmp_path / "runs"), "--run-name", "smoke",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert PPORecommender.load(output).num_timesteps == 512
    run = tmp_path / "runs" / "smoke"
    assert (run / "progress.csv").is_file() and list(run.glob("events.out.tfevents.*"))
    for name in ("ppo", "popularity", "random", "oracle", "cheap_seeker"):
        assert name in result.stdout
    assert f"Saved {output}" in result.stdout


def test_cli_resume_continues_to_the_total(trained: tuple[Path, Path], tmp_path: Path) -> None:
    checkpoint = trained[1] / "checkpoints" / "ppo_256_steps.zip"
    output = tmp_path / "more.zip"
    result = CliRunner().invoke(
        cli,
        ["train", "--resume", str(checkpoint), "--timesteps", "512", "--output", str(output),
         "--runs-dir", str(tmp_path / "runs"), *TINY_ARGS],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "resuming at 256" in result.stderr
    assert PPORecommender.load(output).num_timesteps == 512


def test_train_refuses_a_recommender_that_cannot_learn(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["train", "--recommender", "popularity", "--output", str(tmp_path / "p.zip")]
    )
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Error: recommender 'popularity' cannot be trained; trainable: a2c, ppo"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--recommender", "nope"], "unknown recommender 'nope'"),
        (["--users", "nobody"], "unknown shopper model 'nobody'"),
        (["--output", "model.pt"], "has unsupported suffix"),
        (["--resume", "missing.zip"], "missing.zip: no such PPO model file"),
    ],
)
def test_train_errors_are_one_line(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["train", *args])
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_load_rejects_bad_files(tmp_path: Path, trained: tuple[Path, Path]) -> None:
    with pytest.raises(FileNotFoundError, match="no such PPO model file"):
        PPORecommender.load(tmp_path / "absent.zip")
    text = tmp_path / "text.zip"
    text.write_text("not a model")
    with pytest.raises(ValueError, match="not a zip archive"):
        PPORecommender.load(text)
    plain = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("data", "{}")
    with pytest.raises(ValueError, match=f"no {METADATA_NAME}"):
        PPORecommender.load(plain)


def rewrite_metadata(source: Path, target: Path, **changes: object) -> Path:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            data = old.read(item)
            if item.filename == METADATA_NAME:
                metadata = json.loads(data)
                for key, value in changes.items():
                    section, _, field = key.partition("__")
                    if field:
                        metadata[section][field] = value
                    else:
                        metadata[section] = value
                data = json.dumps(metadata).encode()
            new.writestr(item, data)
    return target


def test_load_rejects_inconsistent_metadata(tmp_path: Path, trained: tuple[Path, Path]) -> None:
    path = trained[0]
    wrong = rewrite_metadata(path, tmp_path / "wrong.zip", env_options__slate_size=3)
    with pytest.raises(ValueError, match="slate size is 5 but its metadata says 3"):
        PPORecommender.load(wrong)
    newer = rewrite_metadata(path, tmp_path / "newer.zip", format_version=99)
    with pytest.raises(ValueError, match="format version 99 is newer"):
        PPORecommender.load(newer)
    unknown = rewrite_metadata(path, tmp_path / "unknown.zip", env_options__teleport=True)
    with pytest.raises(ValueError, match=r"env option.*teleport"):
        PPORecommender.load(unknown)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format_version": "1"}, "format_version is '1'"),
        ({"env_options": [1, 2]}, "env_options is not an object"),
        ({"env_options__num_candidates": "50"}, "env_options.num_candidates is '50'"),
        ({"env_options__user_types": "cheap_seeker"}, "env_options.user_types is not a list"),
        ({"env_options__vocabularies": {"brand": 3}}, "env_options.vocabularies is not an object"),
        ({"normalisation": {}}, "normalisation needs numeric"),
        ({"timesteps": -5}, "timesteps is -5"),
    ],
)
def test_a_hand_edited_model_is_one_clear_error(
    tmp_path: Path, trained: tuple[Path, Path], changes: dict, message: str
) -> None:
    edited = rewrite_metadata(trained[0], tmp_path / "edited.zip", **changes)
    with pytest.raises(ValueError, match=f"corrupt model metadata \\({message}"):
        PPORecommender.load(edited)
    result = CliRunner().invoke(cli, ["evaluate", "-r", f"ppo:{edited}", "--episodes", "1"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_a_damaged_model_file_is_one_clear_error(
    tmp_path: Path, trained: tuple[Path, Path]
) -> None:
    data = bytearray(trained[0].read_bytes())
    with zipfile.ZipFile(trained[0]) as archive:
        info = archive.getinfo(METADATA_NAME)
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start, start + min(info.compress_size, 40)):
        data[i] ^= 0xFF  # garble the compressed metadata member
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupt model"):
        PPORecommender.load(damaged)


def catalog_with_unseen_brand(tmp_path: Path) -> Path:
    frame = generate_catalog(120, seed=1).to_frame()
    frame.loc[3, "brand"] = "BrandZ"
    path = tmp_path / "odd.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_catalog_with_an_unseen_brand_is_one_clear_error(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    path, odd = trained[0], catalog_with_unseen_brand(tmp_path)
    with pytest.raises(CatalogError, match=r"brand.*BrandZ"):
        evaluate([PPORecommender.load(path)], users="cheap_seeker", episodes=2, catalog=odd)
    result = CliRunner().invoke(
        cli,
        ["evaluate", "--recommenders", f"ppo:{path}", "--users", "cheap_seeker",
         "--episodes", "2", "--catalog", str(odd)],
    )  # fmt: skip
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "BrandZ" in result.stderr
    resumed = CliRunner().invoke(
        cli,
        ["train", "--resume", str(path), "--catalog", str(odd), "--timesteps", "1024",
         "--output", str(tmp_path / "x.zip"), "--runs-dir", str(tmp_path / "runs"), *TINY_ARGS],
    )  # fmt: skip
    assert resumed.exit_code == 1
    assert (
        resumed.stderr.strip()
        .splitlines()[-1]
        .startswith("Error: the catalog has brand value(s) the model never saw: BrandZ")
    )


def test_a_different_slate_size_is_one_clear_error(trained: tuple[Path, Path]) -> None:
    with pytest.raises(ValueError, match="slate_size=3 differs from the trained model's 5"):
        evaluate(
            [PPORecommender.load(trained[0])],
            users="cheap_seeker",
            episodes=2,
            env_options={"slate_size": 3},
        )


class ImpulseBuyer(User):
    name = "impulse_buyer"
    description = "A seventh shopper the model never met"

    def __init__(self, *, click_threshold: float = 0.5, buy_threshold: float = 0.7) -> None:
        super().__init__(click_threshold=click_threshold, buy_threshold=buy_threshold)

    def utility(self, items, rng):  # type: ignore[no-untyped-def]
        return 30.0 / (30.0 + items["price"])


class ImpulsePlugin:
    @hookimpl
    def register_users(self, register):  # type: ignore[no-untyped-def]
        register(ImpulseBuyer)


def test_a_seventh_shopper_is_other_to_the_model(trained: tuple[Path, Path], register_plugin):
    register_plugin(ImpulsePlugin(), "impulse-plugin")
    recommender = PPORecommender.load(trained[0])
    with pytest.warns(UnseenShopperWarning, match="impulse_buyer.*'other'"):
        result = evaluate([recommender], users="all", episodes=3, seed=0)
    assert result.cell("impulse_buyer", "ppo").visits == 3
    env = ShopEnv(users=["impulse_buyer"], **recommender.env_options)
    observation, _ = env.reset(seed=0)
    assert observation["user_type"][-1] == 1.0  # the 'other' slot
    assert len(recommender.recommend(observation, 5)) == 5


@pytest.mark.skipif(not DEFAULT_MODEL.is_file(), reason="the default model is not built yet")
def test_the_default_model_loads_on_first_use() -> None:
    recommender = make_recommender("ppo")
    assert recommender._model is None  # nothing loaded by the registry
    options = recommender.env_options
    assert options["num_candidates"] == 50 and options["slate_size"] == 5
    assert recommender.num_timesteps > 0
    recommender.reset(np.random.default_rng(0))  # the default mode samples from this rng
    assert len(recommender.recommend(an_observation(), 5)) == 5


def test_importing_the_ppo_plugin_imports_no_torch() -> None:
    code = (
        "import sys; from simshop_core import get_registry; r = get_registry(); "
        "assert 'ppo' in r.recommenders and r.recommenders['ppo'].trainable; "
        "heavy = {'torch', 'stable_baselines3', 'wandb'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def wait_for(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_signal_leaves_a_loadable_checkpoint(tmp_path: Path, signum: int) -> None:
    """Ctrl-C, and SIGTERM (what `timeout`, schedulers and `docker stop` send), stop training
    between two steps with a checkpoint named after the recommender, and exit with 130."""
    runs = tmp_path / "runs"
    process = subprocess.Popen(
        [sys.executable, "-m", "simshop_cli", "train", "--timesteps", "5000000",
         "--output", str(tmp_path / "never.zip"), "--runs-dir", str(runs),
         "--run-name", "stopped", "--checkpoint-every", "0", *TINY_ARGS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    try:
        progress = runs / "stopped" / "progress.csv"
        # progress.csv gets its first row after the first update: training is under way.
        assert wait_for(lambda: progress.is_file() and progress.stat().st_size > 0, 60)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    checkpoints = list((runs / "stopped" / "checkpoints").glob("ppo_*_steps_interrupted.zip"))
    assert len(checkpoints) == 1
    assert f"checkpoint saved to {checkpoints[0]}" in " ".join(stderr.split())
    assert "Traceback" not in stderr
    assert not (tmp_path / "never.zip").exists()
    resumed = PPORecommender.load(checkpoints[0])
    # At least the first rollout: 2 envs (TINY_ARGS) × the default steps per env.
    assert resumed.num_timesteps >= 2 * PPOSettings().n_steps


def wandb_records(path: Path) -> Iterator[Any]:
    """The records of an offline run's ``run-*.wandb`` file, read with W&B's own protobuf
    schema: what ``wandb sync`` would upload. The file is a LevelDB-style log (the format
    W&B documents for it): a 7-byte header (``:W&B``, magic, version), then 32 KiB blocks of
    chunks, each a 7-byte header (CRC, little-endian length, type: 1 full, 2 first, 3 middle,
    4 last) and its bytes; a block's tail shorter than a chunk header is padding."""
    from wandb.proto import wandb_internal_pb2

    block, data = 32768, path.read_bytes()
    assert data[:4] == b":W&B", data[:7]
    position, pending = 7, b""
    while position + 7 <= len(data):
        left = block - position % block
        if left < 7:
            position += left
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        if kind == 0:  # zero padding up to the next block
            position += left
            continue
        pending += data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def test_wandb_offline_logs_the_model_as_an_artifact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("wandb")
    for variable in ("WANDB_DIR", "WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"):
        monkeypatch.setenv(variable, str(tmp_path / "wandb-home"))  # nothing outside tmp
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    output = tmp_path / "m.zip"
    result = CliRunner().invoke(
        cli,
        ["train", "--timesteps", "256", "--envs", "2", "--tracker", "wandb",
         "--eval-episodes", "0", "--users", "cheap_seeker", "--output", str(output),
         "--runs-dir", str(tmp_path / "runs"), "--run-name", "tracked"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [run] = (tmp_path / "wandb-home" / "wandb").glob("offline-run-*")
    from google.protobuf.message import DecodeError

    [log] = run.glob("run-*.wandb")
    # W&B's service process writes the file after `finish` returns (an in-process CLI run
    # does not wait for it as a real exit does): read until its closing record is there.
    deadline = time.monotonic() + 60
    while True:
        try:
            records = list(wandb_records(log))
        except DecodeError:  # a record half written
            records = []
        kinds = [record.WhichOneof("record_type") for record in records]
        if (kinds and kinds[-1] == "exit") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "history" in kinds and kinds[-1] == "exit"  # SB3's scalars, then a clean finish
    [artifact] = [record.artifact for record in records if record.HasField("artifact")]
    assert (artifact.name, artifact.type) == ("ppo", "model")
    metadata = json.loads(artifact.metadata)
    assert metadata["timesteps"] == PPORecommender.load(output).num_timesteps
    assert metadata["users"] == ["cheap_seeker"] and metadata["seed"] == 0
    assert metadata["env_options"]["slate_size"] == 5
    # The manifest holds the saved model itself: staged for upload, byte for byte.
    [entry] = artifact.manifest.contents
    assert entry.path == "m.zip" and entry.size == output.stat().st_size
    staged = Path(entry.local_path)
    assert staged.is_relative_to(tmp_path) and staged.read_bytes() == output.read_bytes()
    assert entry.digest == base64.b64encode(hashlib.md5(output.read_bytes()).digest()).decode()


def test_training_is_reproducible_under_a_seed(tmp_path: Path) -> None:
    observation = an_observation(seed=5)
    scores = []
    for _ in range(2):
        recommender = PPORecommender()
        recommender.train(256, seed=11, settings=TINY)
        scores.append(recommender.scores(observation))
    np.testing.assert_array_equal(scores[0], scores[1])
