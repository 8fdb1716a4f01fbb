"""`SlateAgentRecommender`: what the ``ppo`` and ``a2c`` recommenders share, light to import.

Both are a stable-baselines3 on-policy actor-critic algorithm (``PPO``, ``A2C``) training
the same `SlatePolicy` (candidate scorer, Plackett–Luce slates) with the same features
extractor on the same engine `VecEnv`; a subclass names only the algorithm, its settings
class, its model format and its default model (`simshop_recommenders.ppo.recommender.
PPORecommender`, `simshop_recommenders.a2c.A2CRecommender`).

This module imports neither torch nor stable-baselines3: registering the classes (and so
``simshop list-plugins``) stays cheap. They are imported inside the methods that need them,
and a shipped default model is loaded on first use, so ``make_recommender("ppo")`` works
out of the box. Each of those methods first calls core's ``check_dependencies()``, so
without the ``[ppo]`` extra the user reads one line naming it, not a ``ModuleNotFoundError``.

A saved model is plain data (`simshop_recommenders.ppo.model_file`): ``simshop_metadata.json``
— its format (``simshop-ppo``, ``simshop-a2c``: a model of one is refused by the other in one
line), the SimShop version, the env options it was trained with (shopper vocabulary, slate
size, candidate count, catalog vocabularies, …), the shoppers, seed, steps trained,
hyperparameters and the normalisation statistics of the catalog — and the weights as tensors.
Loading one never runs code from it.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

from simshop_core.recommender import Propensities
from simshop_core.training import Trainable, TrainResult

if TYPE_CHECKING:
    import threading

    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

    from simshop_core.catalog import Catalog

from simshop_recommenders.ppo.model_file import (
    FORMAT_PREFIX,
    FORMAT_VERSION,
    METADATA_NAME,
    metadata_json,
    parse_metadata,
    read_members,
)
from simshop_recommenders.ppo.settings import AgentSettings

MODELS = Path(__file__).resolve().parent.parent / "models"  # the shipped default models


class UnseenShopperWarning(UserWarning):
    """Shopper models installed now that the model never saw: it sees them as ``other``."""


class SlateAgentRecommender(Trainable):
    """An SB3 actor-critic algorithm over Plackett–Luce slates (subclassed by ppo and a2c).

    ``Cls()`` uses the shipped default model, loaded when first needed; ``Cls.load(path)``
    a saved one; ``train(...)`` trains from scratch, or goes on training a loaded model with
    its step count intact.
    """

    #: What a subclass sets: the SB3 algorithm ("PPO", "A2C"; also the label in messages),
    #: its settings class, and the shipped default model (absent: train one first).
    algorithm: ClassVar[str]
    settings_class: ClassVar[type[AgentSettings]]
    default_model: ClassVar[Path]
    # Loading, running and training need torch and SB3; SB3's TensorBoard writer needs
    # tensorboard besides, checked only when that log format is asked for. One extra has all.
    requires = ("torch", "stable_baselines3")
    log_format_requires: ClassVar[Mapping[str, tuple[str, ...]]] = {"tensorboard": ("tensorboard",)}
    install = "pip install 'simshop-recommenders[ppo]'"

    def __init__(self, *, mode: str = "sample") -> None:
        """``mode="sample"`` (default): draw the Plackett–Luce slate from the reset rng — the
        policy the agent trained, and it has propensities, so its logs serve off-policy evaluation;
        ``"greedy"``: show the k highest scores (deterministic, no propensities). Greedy
        decoding is not the trained policy: it repeats the same items where the sampled
        policy varies them, and scores lower (see the README's figures)."""
        if mode not in ("greedy", "sample"):
            raise ValueError(f"{self.name} mode must be 'greedy' or 'sample', got {mode!r}")
        self.mode = mode
        self.rng: np.random.Generator | None = None
        self._propensity_rng: np.random.Generator | None = None
        # The last observation scored and its scores: propensities reuse them.
        self._scored: tuple[dict[str, Any], np.ndarray] | None = None
        self._model: OnPolicyAlgorithm | None = None
        self._metadata: dict[str, Any] | None = None
        self._path: Path | None = None
        self._warned_unseen = False

    # --- loading -----------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str], **params: Any) -> Self:
        """A saved model, run with the recommender parameters ``params`` (e.g. ``mode``);
        a missing, corrupt or inconsistent file is one clear error."""
        cls.check_dependencies()
        recommender = cls(**params)
        recommender._load(Path(path))
        return recommender

    def _load(self, path: Path) -> None:
        # Every load (a saved model, or the shipped one on first use) comes through here: the
        # file is plain data, and the network is rebuilt from SimShop's classes (`model_file`).
        self.check_dependencies()
        from simshop_recommenders.ppo.model_file import load_model

        model, metadata = load_model(path, type(self))
        _check_consistent(path, model, metadata)
        self._model, self._metadata, self._path = model, metadata, path

    @classmethod
    def convert(cls, source: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
        """Write a model saved by SimShop 0.2 (stable-baselines3's zip) in the current format,
        reading only its JSON and weights: nothing in ``source`` is unpickled or run."""
        cls.check_dependencies()
        from simshop_recommenders.ppo.model_file import convert_legacy

        return convert_legacy(source, target, cls)

    @classmethod
    def algorithm_class(cls) -> type[OnPolicyAlgorithm]:
        """The stable-baselines3 class (imported here, not at registration)."""
        import stable_baselines3

        return getattr(stable_baselines3, cls.algorithm)

    @classmethod
    def model_format(cls) -> str:
        return FORMAT_PREFIX + cls.name

    def _ensure_loaded(self) -> OnPolicyAlgorithm:
        if self._model is None:
            if not self.default_model.is_file():
                raise ValueError(
                    f"the default {self.algorithm} model {self.default_model} is missing; train "
                    f"one with `simshop train --recommender {self.name}` and pass it as "
                    f"{self.name}:PATH"
                )
            self._load(self.default_model)
        assert self._model is not None
        return self._model

    @property
    def model(self) -> OnPolicyAlgorithm:
        """The stable-baselines3 model (loading the default one if none is loaded)."""
        return self._ensure_loaded()

    @property
    def metadata(self) -> dict[str, Any]:
        self._ensure_loaded()
        assert self._metadata is not None
        return copy.deepcopy(self._metadata)

    @property
    def num_timesteps(self) -> int:
        return int(self._model.num_timesteps) if self._model is not None else 0

    @property
    def env_options(self) -> dict[str, Any]:
        """The options of the env the model was trained in (evaluation builds its env so)."""
        self._ensure_loaded()
        assert self._metadata is not None
        options = copy.deepcopy(self._metadata["env_options"])
        self._warn_unseen_shoppers(options["user_types"])
        return options

    def _warn_unseen_shoppers(self, user_types: Sequence[str]) -> None:
        if self._warned_unseen:
            return
        from simshop_core import user_names

        unseen = sorted(set(user_names()) - set(user_types))
        if unseen:
            self._warned_unseen = True
            warnings.warn(
                f"the {self.name} model was trained without shopper model(s) "
                f"{', '.join(unseen)}; "
                "it sees them as 'other'",
                UnseenShopperWarning,
                stacklevel=3,
            )

    # --- acting ------------------------------------------------------------------------------

    @property
    def deterministic(self) -> bool:
        """True in ``greedy`` mode; setting it False switches to ``sample`` mode."""
        return self.mode == "greedy"

    @deterministic.setter
    def deterministic(self, value: bool) -> None:
        self.mode = "greedy" if value else "sample"

    def reset(self, rng: np.random.Generator) -> None:
        """Draw slates from ``rng``; the Monte Carlo part of `propensities` draws from a child
        generator of its own, so logging propensities never changes the slates."""
        super().reset(rng)
        try:
            self._propensity_rng = rng.spawn(1)[0]  # leaves rng's own stream untouched
        except (TypeError, ValueError):  # a generator without a seed sequence
            self._propensity_rng = np.random.default_rng(rng.integers(2**63))
        self._scored = None

    def recommend(self, observation: dict[str, Any], k: int) -> np.ndarray:
        """The k highest-scoring candidates (``greedy``), or a Plackett–Luce draw from
        ``softmax(scores)`` by Gumbel-top-k with the reset rng (``sample``)."""
        scores = self._score(observation)
        if not 1 <= k <= len(scores):
            raise ValueError(f"slate size k must be between 1 and {len(scores)}, got {k}")
        if self.mode == "sample":
            if self.rng is None:
                raise RuntimeError(f"a sampling {type(self).__name__} needs reset(rng) first")
            scores = scores + self.rng.gumbel(size=len(scores))
        # A stable sort: equal scores go to the lower index, so a run is reproducible.
        return np.argsort(-scores, kind="stable")[:k].astype(np.int64)

    def recommend_batch(self, observations: dict[str, Any], k: int) -> np.ndarray:
        """`recommend` for N observations with one forward pass; rows are drawn in order
        with the same rng, so they are the slates `recommend` would give one by one."""
        scores = self.scores(observations, batch=True)
        scores.flags.writeable = False
        self._scored = (observations, scores)  # for `propensities_batch`
        n = scores.shape[1]
        if not 1 <= k <= n:
            raise ValueError(f"slate size k must be between 1 and {n}, got {k}")
        if self.mode == "sample":
            if self.rng is None:
                raise RuntimeError(f"a sampling {type(self).__name__} needs reset(rng) first")
            scores = scores + self.rng.gumbel(size=scores.shape)
        return np.argsort(-scores, axis=1, kind="stable")[:, :k].astype(np.int64)

    def propensities(self, observation: dict[str, Any], slate: np.ndarray) -> Propensities | None:
        """``sample`` mode: Plackett–Luce propensities of ``slate`` (joint and prefixes exact,
        marginals from position 2 on by Monte Carlo). ``greedy`` mode: None (deterministic)."""
        if self.mode != "sample":
            return None
        if self._propensity_rng is None:
            raise RuntimeError(f"a sampling {type(self).__name__} needs reset(rng) first")
        from simshop_core.propensity import plackett_luce_propensities

        return plackett_luce_propensities(
            self._scores_of(observation), slate, rng=self._propensity_rng
        )

    def propensities_batch(
        self, observations: dict[str, Any], slates: np.ndarray
    ) -> Propensities | None:
        """`propensities` of every row, of the scores `recommend_batch` drew the slates from
        (one forward pass for all). The Monte Carlo marginals still draw row after row from
        the one propensity generator (drawn at once they would not fit in memory)."""
        if self.mode != "sample":
            return None
        if self._propensity_rng is None:
            raise RuntimeError(f"a sampling {type(self).__name__} needs reset(rng) first")
        from simshop_core.propensity import plackett_luce_propensities

        scores = self._scores_of(observations, batch=True)
        return Propensities.stack(
            [
                plackett_luce_propensities(row, slate, rng=self._propensity_rng)
                for row, slate in zip(scores, slates, strict=True)
            ],
            slates.shape[1],
        )

    def _score(self, observation: dict[str, Any]) -> np.ndarray:
        """`scores`, remembered with the observation for `propensities` (always computed
        afresh here: an observation buffer may be reused for the next page)."""
        scores = self.scores(observation)
        scores.flags.writeable = False
        self._scored = (observation, scores)
        return scores

    def _scores_of(self, observation: dict[str, Any], batch: bool = False) -> np.ndarray:
        """The scores `recommend` (or `recommend_batch`) computed if ``observation`` is the
        object it saw last (the reference kept in the cache stops its id being reused), else
        a fresh forward pass."""
        if self._scored is not None and self._scored[0] is observation:
            return self._scored[1]
        return self.scores(observation, batch=batch)

    def scores(self, observation: dict[str, Any], batch: bool = False) -> np.ndarray:
        """One score per candidate for one env observation (float64); with ``batch``, for
        a batch of observations (leading N axis): (N, candidates)."""
        model = self._ensure_loaded()
        import torch as th

        from simshop_recommenders.ppo.wrapper import flatten_observation

        flat = flatten_observation(observation)
        space = model.observation_space
        for key in ("user_type", "candidates", "history"):
            expected = space[key].shape
            shape = flat[key].shape[1:] if batch else flat[key].shape
            if shape != expected:
                raise ValueError(
                    f"the observation's {key} has shape {shape}, the {self.name} model "
                    f"expects {expected}: build the env from the model's env_options"
                )
        with th.no_grad():
            tensors = {
                key: th.from_numpy(value) if batch else th.from_numpy(value).unsqueeze(0)
                for key, value in flat.items()
            }
            scores = model.policy.candidate_scores(tensors).double().numpy()
        return scores if batch else scores[0]

    # --- training ----------------------------------------------------------------------------

    def train(
        self,
        timesteps: int,
        *,
        users: str | Sequence[str] = "all",
        seed: int = 0,
        catalog: Catalog | str | os.PathLike[str] | None = None,
        env_options: dict[str, Any] | None = None,
        settings: AgentSettings | None = None,
        n_envs: int | None = None,
        run_dir: str | os.PathLike[str] | None = None,
        log_formats: Sequence[str] = ("csv", "tensorboard"),
        on_metrics: Callable[[dict[str, float], int], None] | None = None,
        progress: Callable[[int], None] | None = None,
        callbacks: Sequence[BaseCallback] = (),
        checkpoint_every: int = 0,
        stop: threading.Event | None = None,
    ) -> TrainResult:
        """Train until the model has seen ``timesteps`` env steps in total.

        A fresh instance trains a new model; one made by `load` goes on training that model
        (its env options, network, hyperparameters and step count carried over; only
        ``n_envs`` may change). ``settings`` is a ``settings_class`` (`PPOSettings`,
        `A2CSettings`); default: its defaults. ``timesteps`` is still the total, so re-running an
        interrupted command with ``--resume`` finishes its budget.
        ``run_dir`` receives SB3's logs (``log_formats``: "csv", "tensorboard") and, every
        ``checkpoint_every`` steps, a checkpoint in ``run_dir/checkpoints``.
        ``on_metrics(scalars, step)`` receives what SB3 logs (for trackers such as W&B),
        ``progress(num_timesteps)`` is called after every vectorised step, and setting
        ``stop`` ends training between two steps and saves a checkpoint
        (``interrupted=True`` in the result).
        """
        # Before any work: a missing module is one line naming the extra to install.
        self.check_dependencies(log_formats=log_formats if run_dir is not None else ())
        import torch as th

        from simshop_core.catalog import load_catalog
        from simshop_core.env import ShopEnv
        from simshop_recommenders.ppo.extractors import normalisation_stats
        from simshop_recommenders.ppo.model_file import new_model
        from simshop_recommenders.ppo.training import (
            CheckpointCallback,
            MetricsWriter,
            ProgressCallback,
            StopCallback,
            Stopwatch,
            VisitStatsCallback,
            make_logger,
            make_vec_env,
        )

        if timesteps < 1:
            raise ValueError(f"timesteps must be at least 1, got {timesteps}")
        if settings is not None and not isinstance(settings, self.settings_class):
            raise ValueError(
                f"{self.name} takes {self.settings_class.__name__}, got {type(settings).__name__}"
            )
        catalog = load_catalog(catalog)
        resuming = self._model is not None
        if resuming:
            assert self._metadata is not None
            options = _merge_options(self._metadata["env_options"], env_options or {})
            check_catalog(catalog, options["vocabularies"])
            saved = self._metadata.get("settings", {})
            settings = settings or self.settings_class().replace(**saved)
        else:
            options = dict(env_options or {})
            settings = settings or self.settings_class()
        if n_envs is not None:
            settings = settings.replace(n_envs=n_envs)
        # The env fills in every option (shopper vocabulary, catalog vocabularies, …).
        probe = ShopEnv(catalog, users=users, **options)
        options = probe.env_options
        venv = make_vec_env(
            catalog,
            users,
            options,
            settings.n_envs,
            chain_visits=settings.chain_visits,
            reward_scale=settings.reward_scale,
        )

        threads = th.get_num_threads()
        th.set_num_threads(max(1, settings.threads))
        logger = None  # made inside: closed on the way out however far the set-up got
        try:
            if resuming:
                model = self._model
                assert model is not None
                if venv.num_envs != model.n_envs:
                    _resize_rollout_buffer(model, venv.num_envs)
                model.set_env(venv, force_reset=True)
                # Not the first run's seed again: that would replay its shoppers.
                model.set_random_seed(seed + model.num_timesteps)
                stats = self._metadata["normalisation"]
            else:
                stats = normalisation_stats(probe)
                model = new_model(type(self), settings, stats, seed=seed, env=venv)
            self._model = model
            self._metadata = {
                "env_options": options,
                "users": sorted(set(probe.shopper_names)),
                "seed": seed if not resuming else self._metadata["seed"],
                "settings": asdict(settings),
                "normalisation": stats,
            }
            metadata_json(self._metadata)  # a value JSON cannot hold fails now, not at a save
            folder = Path(run_dir) if run_dir is not None else None
            writers = [MetricsWriter(on_metrics)] if on_metrics is not None else []
            logger = make_logger(folder, log_formats if folder else (), writers)
            model.set_logger(logger)
            extra: list[BaseCallback] = [VisitStatsCallback(), *callbacks]
            if progress is not None:
                extra.append(ProgressCallback(progress))
            checkpoints = None
            if checkpoint_every > 0 and folder is not None:
                checkpoints = CheckpointCallback(
                    checkpoint_every, lambda steps: self.save(self._checkpoint(folder, steps))
                )
                extra.append(checkpoints)
            if stop is not None:
                extra.append(StopCallback(stop))

            start = model.num_timesteps
            remaining = max(0, int(timesteps) - start)
            watch = Stopwatch()
            if remaining:
                # Logs after every rollout: PPO's default, where A2C's (every 100) would
                # leave a short run without a line of progress.csv.
                model.learn(
                    remaining, callback=extra, log_interval=1, reset_num_timesteps=not resuming
                )
            seconds = watch.seconds
        finally:
            th.set_num_threads(threads)
            venv.close()
            if logger is not None:
                logger.close()
        result = TrainResult(
            timesteps=model.num_timesteps,
            trained=model.num_timesteps - start,
            seconds=seconds,
            checkpoints=list(checkpoints.saved) if checkpoints else [],
        )
        if stop is not None and stop.is_set():
            result.interrupted = True
            if folder is not None:
                path = self._checkpoint(folder, model.num_timesteps, "interrupted")
                result.checkpoints.append(self.save(path))
        return result

    # --- saving ------------------------------------------------------------------------------

    def _checkpoint(self, folder: Path, steps: int, tag: str = "") -> Path:
        return folder / "checkpoints" / f"{self.name}_{steps}_steps{'_' + tag if tag else ''}.zip"

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model file (metadata and weights, plain data), whole or not at all."""
        model = self._ensure_loaded()
        assert self._metadata is not None
        import stable_baselines3
        import torch

        from simshop_core import __version__ as core_version
        from simshop_recommenders import __version__ as version
        from simshop_recommenders.ppo.model_file import training_counters, write_model
        from simshop_recommenders.ppo.wrapper import ITEM_COLUMNS

        metadata = {
            **self._metadata,
            "format": self.model_format(),
            "algorithm": self.algorithm,
            "format_version": FORMAT_VERSION,
            "simshop_version": core_version,
            "simshop_recommenders_version": version,
            "stable_baselines3_version": stable_baselines3.__version__,
            "torch_version": torch.__version__,
            "timesteps": int(model.num_timesteps),
            "item_columns": list(ITEM_COLUMNS),
            "saved_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        metadata["training"] = training_counters(model)
        path = write_model(path, metadata, model)
        self._metadata = metadata
        return path


# --- metadata and compatibility ------------------------------------------------------------


def _check_consistent(path: Path, model: Any, metadata: dict[str, Any]) -> None:
    """The network's spaces must be the ones the metadata's env options give."""
    options = metadata["env_options"]
    space = model.observation_space
    expected = {
        "shopper vocabulary size": (space["user_type"].shape[0], len(options["user_types"])),
        "candidate count": (space["candidates"].shape[0], options["num_candidates"]),
        "click history length": (space["history"].shape[0], options["n_last_clicks"]),
        "slate size": (len(model.action_space.nvec), options["slate_size"]),
    }
    for what, (network, declared) in expected.items():
        if network != declared:
            raise ValueError(
                f"{path}: inconsistent model: its network's {what} is {network} but its "
                f"metadata says {declared}"
            )


def check_catalog(catalog: Catalog, vocabularies: dict[str, Sequence[str]]) -> None:
    """A catalog with category, subcategory, brand or colour values the model never saw
    cannot be encoded: one line saying which."""
    for column, known in vocabularies.items():
        unseen = sorted(set(catalog.vocabulary(column)) - set(known))
        if unseen:
            shown = ", ".join(unseen[:5]) + (" …" if len(unseen) > 5 else "")
            raise ValueError(
                f"the catalog has {column} value(s) the model never saw: {shown} "
                f"(it knows {len(known)}: {', '.join(list(known)[:5])}"
                f"{' …' if len(known) > 5 else ''}); train a model on this catalog"
            )


def _merge_options(saved: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    for key, value in given.items():
        if key in saved and saved[key] != value:
            raise ValueError(f"env option {key}={value!r} differs from the model's {saved[key]!r}")
    return {**saved, **given}


def _resize_rollout_buffer(model: OnPolicyAlgorithm, n_envs: int) -> None:
    """A rollout buffer for another number of envs (SB3 sizes it when the model is built)."""
    model.n_envs = n_envs
    model.rollout_buffer = model.rollout_buffer_class(
        model.n_steps,
        model.observation_space,
        model.action_space,
        device=model.device,
        gamma=model.gamma,
        gae_lambda=model.gae_lambda,
        n_envs=n_envs,
        **model.rollout_buffer_kwargs,
    )


def read_metadata(
    path: str | os.PathLike[str], agent: type[SlateAgentRecommender]
) -> dict[str, Any]:
    """A model file's SimShop metadata, checked to be a model of ``agent`` in the current
    format; problems (another agent's model, 0.2's pickled format included) are one line."""
    members = read_members(path, agent)
    return parse_metadata(Path(path), members[METADATA_NAME], agent)
