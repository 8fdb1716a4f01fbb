"""``simshop train``: train a trainable recommender, save it, and compare it.

It speaks only core's training contract (`simshop_core.training.Trainable`: ``train``,
``save``, ``load``), never a plugin package, so any trainable recommender works and a missing
optional dependency is one line naming what to install. Metrics go to a run folder
(``runs/<name>/``: ``progress.csv``, TensorBoard event files, checkpoints in
``checkpoints/``); ``--tracker wandb`` also logs to Weights & Biases — offline unless
``WANDB_MODE`` says otherwise, the saved model as a ``model`` artifact — and imports wandb only
then. Ctrl-C or SIGTERM stops between two steps, saves a checkpoint and exits with 130;
``--resume`` continues from it. The plugins (and torch) are imported inside the command, so
``simshop --help`` stays quick.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import json
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from simshop_cli.options import (
    MAX_ENVS,
    MAX_EPISODES,
    MAX_TIMESTEPS,
    catalog_option,
    env_option_option,
    seed_option,
    suffix_check,
    users_option,
)

if TYPE_CHECKING:
    from simshop_core.registry import Registry
    from simshop_core.training import Trainable, TrainResult

TRACKERS = ("none", "tensorboard", "wandb")
INTERRUPTED_EXIT_CODE = 130  # the shell's code for "stopped by SIGINT"
WANDB_INSTALL = "pip install 'simshop-recommenders[wandb]'"
#: Free space --output's file system must have before training starts. A ppo model is ~1 MB;
#: a disk with less than this left would most likely fail the save at the end of the run.
MIN_FREE_BYTES = 16 * 2**20
_FORMATS = {
    "none": ("csv",),
    "tensorboard": ("csv", "tensorboard"),
    "wandb": ("csv", "tensorboard"),
}


@click.command()
@click.option(
    "--recommender", "-r", default="ppo", show_default=True, help="A trainable recommender."
)
@users_option("Comma-separated shopper models to train against, or 'all'.")
@click.option(
    "--timesteps",
    type=click.IntRange(1, MAX_TIMESTEPS),
    default=1_000_000,
    show_default=True,
    help="Total environment steps; with --resume, training continues up to this total.",
)
@seed_option()
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    callback=suffix_check(".zip"),
    help="Where to save the trained model (.zip)  [default: models/RECOMMENDER.zip]",
)
@click.option(
    "--envs",
    "n_envs",
    type=click.IntRange(1, MAX_ENVS),
    default=None,
    help="Shoppers stepped side by side in this process (default: the recommender's "
    "own; ppo: 128, on the population engine).",
)
@click.option(
    "--tracker",
    type=click.Choice(TRACKERS),
    default="tensorboard",
    show_default=True,
    help="Metrics: progress.csv always; TensorBoard event files; or those plus W&B, with "
    "the saved model as a W&B model artifact (offline unless WANDB_MODE is set).",
)
@click.option(
    "--resume",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    callback=suffix_check(".zip"),
    help="Continue training a saved model or checkpoint (its step count carries on).",
)
@click.option(
    "--eval-episodes",
    type=click.IntRange(0, MAX_EPISODES),
    default=200,
    show_default=True,
    help="Visits per (shopper, recommender) cell in the final comparison; 0 skips it.",
)
@catalog_option
@env_option_option
@click.option(
    "--runs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs"),
    show_default=True,
    help="Where run folders (logs and checkpoints) go.",
)
@click.option("--run-name", default=None, help="Run folder name (default: recommender-time).")
@click.option(
    "--checkpoint-every",
    type=click.IntRange(min=0),
    default=100_000,
    show_default=True,
    help="Save a checkpoint every N environment steps (0: only on Ctrl-C).",
)
@click.pass_context
def train(
    ctx: click.Context,
    recommender: str,
    users: str,
    timesteps: int,
    seed: int,
    output: Path | None,
    n_envs: int | None,
    tracker: str,
    resume: Path | None,
    eval_episodes: int,
    catalog: Path | None,
    env_options: dict[str, Any],
    runs_dir: Path,
    run_name: str | None,
    checkpoint_every: int,
) -> None:
    """Train a recommender against the shopper models, save it, and compare it.

    At the end the model is evaluated beside random, popularity and the oracle (the same
    table as `simshop evaluate`). Ctrl-C (or SIGTERM) saves a checkpoint and exits; continue
    with --resume CHECKPOINT (and the same --timesteps).
    """
    from simshop_cli.console import stderr, warn
    from simshop_cli.registry import load_registry
    from simshop_core.catalog import load_catalog
    from simshop_core.env_options import check_env_options
    from simshop_core.training import Trainable

    registry = load_registry()
    entry = registry.get("recommender", recommender)
    if not entry.trainable or not issubclass(entry.cls, Trainable):
        raise click.ClickException(
            f"recommender {entry.name!r} cannot be trained; trainable: {_trainable(registry)}"
        )
    # Everything that could fail is checked before any training time is spent.
    entry.cls.check_dependencies(log_formats=_FORMATS[tracker])
    if tracker == "wandb" and importlib.util.find_spec("wandb") is None:
        raise click.ClickException(
            f"--tracker wandb needs wandb, which is not installed: {WANDB_INSTALL}"
        )
    output = output if output is not None else Path("models") / f"{entry.name}.zip"
    check_writable(ctx, output, "--output", resume)
    user_names = registry.expand("user", users)
    check_env_options(env_options, exclude=("catalog", "users", "render_mode"))
    loaded_catalog = load_catalog(catalog)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = entry.cls.load(resume) if resume is not None else entry.cls()
        if resume is not None:
            model.env_options  # noqa: B018 - warns about shoppers the model never saw
    for warning in caught:
        warn(str(warning.message))
    run_dir = _run_dir(runs_dir, run_name or f"{entry.name}-{_timestamp()}")
    console = stderr()
    start = model.num_timesteps
    console.print(
        f"Training {entry.name} on {', '.join(user_names)} up to {timesteps:,} steps "
        f"(seed {seed}{f', resuming at {start:,}' if resume else ''}); run folder {run_dir}",
        soft_wrap=True,
    )
    config = {
        "recommender": entry.name,
        "users": user_names,
        "timesteps": timesteps,
        "seed": seed,
        "output": str(output),
        "envs": n_envs,
        "resume": str(resume) if resume else None,
        "eval_episodes": eval_episodes,
        "catalog": str(catalog) if catalog else None,
        "env_options": env_options,
        "checkpoint_every": checkpoint_every,
    }
    tracking = _start_tracker(tracker, run_dir, config)
    try:
        result = _train_with_progress(
            model,
            timesteps=timesteps,
            start=start,
            users=user_names,
            seed=seed,
            catalog=loaded_catalog,
            env_options=env_options,
            n_envs=n_envs,
            run_dir=run_dir,
            log_formats=_FORMATS[tracker],
            on_metrics=tracking.log if tracking else None,
            checkpoint_every=checkpoint_every,
        )
    except KeyboardInterrupt:  # a second Ctrl-C: stop now, but still leave a checkpoint
        path = _emergency_checkpoint(model, run_dir)
        _finish_tracker(tracking, exit_code=INTERRUPTED_EXIT_CODE)
        console.print(f"Interrupted; checkpoint: {path}" if path else "Interrupted")
        ctx.exit(INTERRUPTED_EXIT_CODE)
    except BaseException:
        _finish_tracker(tracking, exit_code=1)
        raise
    if result.interrupted:
        checkpoint = result.checkpoints[-1] if result.checkpoints else None
        _finish_tracker(tracking, exit_code=INTERRUPTED_EXIT_CODE)
        console.print(
            f"Interrupted at {result.timesteps:,} steps; checkpoint saved to {checkpoint} "
            f"(continue with --resume {checkpoint})",
            soft_wrap=True,
        )
        ctx.exit(INTERRUPTED_EXIT_CODE)

    try:
        _save(model, output, run_dir)
        click.echo(
            f"Saved {output} ({result.timesteps:,} steps; this run {result.trained:,} steps in "
            f"{result.seconds:.0f} s, {result.steps_per_second:,.0f} steps/s)"
        )
        if tracking:
            tracking.log_model(output, model, result, config)
        if eval_episodes:
            evaluation = _evaluate(model, user_names, eval_episodes, seed, loaded_catalog)
            from simshop_cli.results import print_results

            print_results(evaluation)
            if tracking:
                tracking.log_table(evaluation)
    except KeyboardInterrupt:
        _finish_tracker(tracking, exit_code=INTERRUPTED_EXIT_CODE)
        console.print(f"Interrupted after training; the model is saved at {output}")
        ctx.exit(INTERRUPTED_EXIT_CODE)
    except BaseException:
        _finish_tracker(tracking, exit_code=1)
        raise
    _finish_tracker(tracking, exit_code=0)


def _save(model: Trainable, output: Path, run_dir: Path) -> None:
    """Save to ``output``; should that fail after all (the disk filled up while training),
    the trained model still goes to the run folder and the error says where."""
    try:
        model.save(output)
    except OSError as exc:
        rescue = run_dir / "checkpoints" / f"{model.name}_{model.num_timesteps}_steps_final.zip"
        try:
            model.save(rescue)
        except OSError:
            raise exc from None
        reason = exc.strerror or str(exc)
        raise click.ClickException(
            f"cannot save to {output} ({reason}); the trained model is at {rescue}"
        ) from exc


def _train_with_progress(
    model: Trainable, *, timesteps: int, start: int, **kwargs: Any
) -> TrainResult:
    from simshop_cli.progress import steps_bar
    from simshop_core.training import stop_on_signals

    with stop_on_signals() as stop, steps_bar("Training", timesteps, start) as report:
        return model.train(timesteps, progress=report, stop=stop, **kwargs)


def _evaluate(model: Any, users: list[str], episodes: int, seed: int, catalog: Any) -> Any:
    from simshop_cli.progress import progress_bar
    from simshop_core import get_registry
    from simshop_core.evaluation import evaluate as run_evaluation
    from simshop_core.evaluation import recommender_specs

    # The references (random, oracle) come with every comparison; popularity if installed.
    recommenders = [model, *(["popularity"] if "popularity" in get_registry().recommenders else [])]
    cells = len(users) * len(recommender_specs(recommenders))
    with progress_bar("Evaluating", total=cells * episodes) as advance:
        return run_evaluation(
            recommenders, users, episodes=episodes, seed=seed, catalog=catalog, progress=advance
        )


def _emergency_checkpoint(model: Trainable, run_dir: Path) -> Path | None:
    steps = model.num_timesteps
    if not steps:
        return None
    path = run_dir / "checkpoints" / f"{model.name}_{steps}_steps_interrupted.zip"
    try:
        return model.save(path)
    except Exception:  # nothing trained yet, or the model is mid-update: no checkpoint
        return None


def check_writable(ctx: click.Context, path: Path, option: str, resume: Path | None = None) -> None:
    """Fail now, not after hours of training: ``path``'s folder must exist or be creatable
    (no file in the way), take a new file, and have room for a model. The folders it makes to
    find out are removed again."""

    def bad(reason: str) -> click.BadParameter:
        return click.BadParameter(f"cannot save to {path}: {reason}", ctx, param_hint=f"'{option}'")

    folder = path.absolute().parent
    missing: list[Path] = []
    existing = folder
    while not existing.exists():  # the nearest folder that is there already
        missing.append(existing)
        existing = existing.parent
    if not existing.is_dir():
        raise bad(f"{existing} is a file, not a folder")
    try:
        for new in reversed(missing):
            new.mkdir()
        # A real write (os.access says yes to root, or on a read-only mount, regardless).
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{path.name}.", suffix=".check"):
            pass
    except OSError as exc:
        raise bad(exc.strerror or str(exc)) from None
    finally:
        for new in missing:  # deepest first
            with contextlib.suppress(OSError):
                new.rmdir()
    needed = max(MIN_FREE_BYTES, 2 * resume.stat().st_size if resume and resume.is_file() else 0)
    free = shutil.disk_usage(existing).free
    if free < needed:
        raise bad(f"only {free / 2**20:.1f} MB free there (need at least {needed / 2**20:.0f})")


def _trainable(registry: Registry) -> str:
    names = sorted(name for name, e in registry.recommenders.items() if e.trainable)
    return ", ".join(names) or "none installed"


def _timestamp() -> str:
    return dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def _run_dir(root: Path, name: str) -> Path:
    """Create ``root/name``, or ``root/name-2`` … if taken, and return it. ``mkdir`` without
    ``exist_ok`` is atomic, so two runs started together (same --run-name, same second) never
    share a run folder."""
    root.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        path = root / (name if n == 1 else f"{name}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            n += 1
            continue
        return path


# --- Weights & Biases ----------------------------------------------------------------------


class _Wandb:
    """A W&B run: the scalars as they are logged, the saved model as a ``model`` artifact,
    then the evaluation table."""

    def __init__(self, run: Any) -> None:
        self.run = run

    def log(self, scalars: dict[str, float], step: int) -> None:
        self.run.log(scalars, step=step)

    def log_model(
        self, path: Path, model: Trainable, result: TrainResult, config: dict[str, Any]
    ) -> None:
        """The saved model, named after the recommender so that each run's model is a new
        version of the same artifact; the metadata says how it was trained."""
        import wandb

        metadata = {
            **config,
            "timesteps": result.timesteps,
            "trained": result.trained,
            "seconds": result.seconds,
            "steps_per_second": result.steps_per_second,
            "env_options": model.env_options,
        }
        artifact = wandb.Artifact(
            name=artifact_name(model.name),
            type="model",
            description=f"{model.name} model saved by `simshop train` ({path.name})",
            # Through JSON: W&B metadata must be JSON, and env options may hold tuples.
            metadata=json.loads(json.dumps(metadata, default=str)),
        )
        artifact.add_file(str(path), name=path.name)
        self.run.log_artifact(artifact)

    def log_table(self, result: Any) -> None:
        import wandb

        frame = result.to_frame()
        self.run.log({"evaluation": wandb.Table(dataframe=frame)})
        for cell in result.cells:
            self.run.summary[f"eval/{cell.user}/{cell.recommender}/mean_reward"] = cell.mean_reward


def artifact_name(name: str) -> str:
    """A W&B artifact name (letters, digits, ``-``, ``_`` and ``.`` only)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "model"


def _start_tracker(tracker: str, run_dir: Path, config: dict[str, Any]) -> _Wandb | None:
    if tracker != "wandb":
        return None
    # Offline unless the user says otherwise: no login prompt, no network needed.
    os.environ.setdefault("WANDB_MODE", "offline")
    try:
        import wandb
    except ImportError:
        raise click.ClickException(f"--tracker wandb needs wandb: {WANDB_INSTALL}") from None
    run_dir.mkdir(parents=True, exist_ok=True)
    run = wandb.init(
        project=os.environ.get("WANDB_PROJECT", "simshop"),
        name=run_dir.name,
        dir=os.environ.get("WANDB_DIR") or str(run_dir),
        config={**config, "run_dir": str(run_dir)},
    )
    return _Wandb(run)


def _finish_tracker(tracking: _Wandb | None, exit_code: int) -> None:
    if tracking is not None:
        tracking.run.finish(exit_code=exit_code)
