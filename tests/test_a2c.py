"""The a2c recommender: A2C (stable-baselines3) through ppo's training contract and policy."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("stable_baselines3")
from click.testing import CliRunner

from simshop_cli.main import cli
from simshop_core import make_recommender
from simshop_core.env import ShopEnv
from simshop_core.evaluation import evaluate
from simshop_recommenders.a2c import DEFAULT_MODEL, A2CRecommender
from simshop_recommenders.ppo import DEFAULT_MODEL as PPO_DEFAULT_MODEL
from simshop_recommenders.ppo import PPORecommender
from simshop_recommenders.ppo.policy import SlatePolicy
from simshop_recommenders.ppo.recommender import METADATA_NAME
from simshop_recommenders.ppo.settings import A2CSettings, PPOSettings

# Small and quick: two envs, 16 steps per update.
TINY = A2CSettings(n_envs=2, n_steps=16)
TINY_ARGS = ["--envs", "2", "--tracker", "none", "--eval-episodes", "0"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An a2c model trained for 512 steps, saved, and its run folder."""
    folder = tmp_path_factory.mktemp("a2c")
    recommender = A2CRecommender()
    result = recommender.train(
        512, seed=3, settings=TINY, run_dir=folder / "run", checkpoint_every=256
    )
    assert result.timesteps == 512 and result.trained == 512 and not result.interrupted
    return recommender.save(folder / "model.zip"), folder / "run"


@pytest.fixture(scope="module")
def ppo_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ppo model (the shipped one if built, else a tiny one)."""
    if PPO_DEFAULT_MODEL.is_file():
        return PPO_DEFAULT_MODEL
    recommender = PPORecommender()
    recommender.train(256, settings=PPOSettings(n_envs=2, n_steps=128, batch_size=128))
    return recommender.save(tmp_path_factory.mktemp("ppo") / "ppo.zip")


def an_observation(seed: int = 0) -> dict:
    observation, _ = ShopEnv(users=["cheap_seeker"]).reset(seed=seed)
    return observation


def test_a2c_trains_sb3_a2c_on_ppos_policy(trained: tuple[Path, Path]) -> None:
    import torch
    from stable_baselines3 import A2C

    path, run = trained
    model = A2CRecommender.load(path).model
    assert isinstance(model, A2C) and type(model.policy) is SlatePolicy
    assert isinstance(model.policy.optimizer, torch.optim.RMSprop)  # SB3's A2C default
    assert (model.n_envs, model.n_steps) == (2, 16)
    assert (run / "progress.csv").read_text().startswith(("rollout/", "time/", "train/"))
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "a2c_256_steps.zip",
        "a2c_512_steps.zip",
    ]


def test_saved_model_says_it_is_a2c(trained: tuple[Path, Path]) -> None:
    with zipfile.ZipFile(trained[0]) as archive:
        metadata = json.loads(archive.read(METADATA_NAME))
    assert (metadata["format"], metadata["algorithm"]) == ("simshop-a2c", "A2C")
    assert metadata["timesteps"] == 512 and metadata["seed"] == 3
    assert metadata["settings"] == asdict(TINY)
    assert metadata["env_options"]["slate_size"] == 5


def test_load_gives_identical_slates(trained: tuple[Path, Path], tmp_path: Path) -> None:
    path = trained[0]
    first = A2CRecommender.load(path)
    # Saved again and loaded: the same network, so the same scores and slates.
    second = A2CRecommender.load(first.save(tmp_path / "again.zip"))
    observation = an_observation()
    np.testing.assert_array_equal(first.scores(observation), second.scores(observation))
    slates = []
    for recommender in (first, second):
        recommender.reset(np.random.default_rng(7))
        slates.append([recommender.recommend(observation, 5).tolist() for _ in range(6)])
    assert slates[0] == slates[1]
    assert len({tuple(s) for s in slates[0]}) > 1  # sampling mode: the slates vary
    greedy = A2CRecommender.load(path, mode="greedy")
    np.testing.assert_array_equal(
        greedy.recommend(observation, 5), np.argsort(-first.scores(observation))[:5]
    )


def test_a2c_path_through_the_registry(trained: tuple[Path, Path]) -> None:
    path = trained[0]
    recommender = make_recommender(f"a2c:{path}:mode=greedy")
    assert isinstance(recommender, A2CRecommender) and recommender.mode == "greedy"
    assert recommender.num_timesteps == 512
    result = evaluate([f"a2c:{path}"], users="cheap_seeker", episodes=3, seed=0)
    cell = result.cell("cheap_seeker", f"a2c:{path}")
    assert cell.visits == 3 and np.isfinite(cell.mean_reward)


def test_resume_keeps_the_step_count_with_other_envs(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    recommender = A2CRecommender.load(trained[1] / "checkpoints" / "a2c_256_steps.zip")
    assert recommender.num_timesteps == 256
    # Three envs instead of two: A2C's rollout buffer is rebuilt for them too.
    result = recommender.train(512, seed=3, n_envs=3)
    assert result.trained >= 256 and result.timesteps == 256 + result.trained
    assert recommender.model.n_envs == 3


def test_the_other_agents_model_is_one_clear_line(
    trained: tuple[Path, Path], ppo_model: Path
) -> None:
    with pytest.raises(ValueError, match="a SimShop ppo model, which a2c cannot load") as info:
        A2CRecommender.load(ppo_model)
    assert str(info.value) == (
        f"{ppo_model}: a SimShop ppo model, which a2c cannot load (use ppo:{ppo_model})"
    )
    with pytest.raises(ValueError, match="a SimShop a2c model, which ppo cannot load"):
        PPORecommender.load(trained[0])
    with pytest.raises(ValueError, match="which a2c cannot load"):
        make_recommender(f"a2c:{ppo_model}")


@pytest.mark.parametrize("command", ["evaluate", "train"])
def test_the_other_agents_model_on_the_command_line(
    command: str, trained: tuple[Path, Path], ppo_model: Path, tmp_path: Path
) -> None:
    if command == "evaluate":
        args = ["evaluate", "-r", f"a2c:{ppo_model}", "--users", "cheap_seeker", "--episodes", "1"]
        expected = f"a SimShop ppo model, which a2c cannot load (use ppo:{ppo_model})"
    else:
        args = ["train", "--recommender", "ppo", "--resume", str(trained[0]),
                "--timesteps", "1024", "--output", str(tmp_path / "x.zip"),
                "--runs-dir", str(tmp_path / "runs"), *TINY_ARGS]  # fmt: skip
        expected = f"a SimShop a2c model, which ppo cannot load (use a2c:{trained[0]})"
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr


def test_settings_of_the_other_algorithm_are_refused() -> None:
    with pytest.raises(ValueError, match="a2c takes A2CSettings, got PPOSettings"):
        A2CRecommender().train(64, settings=PPOSettings())
    with pytest.raises(ValueError, match=r"unknown A2C setting\(s\) \['clip_range'\]"):
        A2CSettings().replace(clip_range=0.2)


def test_cli_train_a2c_end_to_end(tmp_path: Path) -> None:
    output = tmp_path / "a2c.zip"
    result = CliRunner().invoke(
        cli,
        ["train", "--recommender", "a2c", "--users", "cheap_seeker,brand_lover",
         "--timesteps", "256", "--seed", "1", "--output", str(output),
         "--runs-dir", str(tmp_path / "runs"), "--run-name", "smoke", *TINY_ARGS],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"Saved {output}" in result.stdout
    assert "Training a2c on cheap_seeker, brand_lover" in " ".join(result.stderr.split())
    loaded = A2CRecommender.load(output)
    assert loaded.num_timesteps >= 256 and loaded.metadata["settings"]["n_envs"] == 2
    assert (tmp_path / "runs" / "smoke" / "progress.csv").is_file()


def test_training_is_reproducible_under_a_seed() -> None:
    observation = an_observation(seed=5)
    scores = []
    for _ in range(2):
        recommender = A2CRecommender()
        recommender.train(256, seed=11, settings=TINY)
        scores.append(recommender.scores(observation))
    np.testing.assert_array_equal(scores[0], scores[1])


@pytest.mark.skipif(not DEFAULT_MODEL.is_file(), reason="the default a2c model is not built")
def test_the_default_model_loads_on_first_use() -> None:
    recommender = make_recommender("a2c")
    assert recommender._model is None  # nothing loaded by the registry
    assert recommender.metadata["format"] == "simshop-a2c"  # loads it
    assert recommender.num_timesteps >= 1_000_000  # the README's budget
    assert recommender.env_options["slate_size"] == 5
    recommender.reset(np.random.default_rng(0))
    assert len(recommender.recommend(an_observation(), 5)) == 5


def test_list_plugins_shows_a2c_without_importing_torch() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from simshop_cli.main import cli\n"
        "result = CliRunner().invoke(cli, ['list-plugins'], env={'COLUMNS': '200'})\n"
        "assert result.exit_code == 0, result.output\n"
        "line = next(l for l in result.output.splitlines() if ' a2c ' in l)\n"
        "assert 'A2C agent' in line and 'RMSprop' in line, line\n"
        "heavy = {'torch', 'stable_baselines3'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
