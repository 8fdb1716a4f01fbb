"""The slate agents' model file: plain data only, so that loading one never runs code from it.

A model (or checkpoint) is a zip of exactly two members:

- ``simshop_metadata.json``: the format (``simshop-ppo``, ``simshop-a2c``), versions, the env
  options, shoppers, seed, settings, the catalog's normalisation statistics and the training
  counters (steps, updates);
- ``weights.pt``: the policy's and its optimizer's state dicts, nothing but tensors, numbers
  and strings, read with ``torch.load(..., weights_only=True)``.

The network is rebuilt from SimShop's own classes (`SlatePolicy` under stable-baselines3's
``PPO`` or ``A2C``) from the settings, env options and statistics, and the weights are put
in. Any other member, a non-tensor object in the weights or a metadata value of the wrong
type is refused in one line.

stable-baselines3's own zip (the format of simshop-recommenders 0.2) unpickles its ``data``
member when loaded, and a crafted file runs code then; it is never loaded. `convert_legacy`
(``simshop model convert OLD NEW``) reads only what needs no unpickling — the SimShop
metadata, the plain numbers of ``data`` (its pickled entries stay undecoded) and the state
dicts, with ``weights_only=True`` — and writes this format.

Light to import (no torch at module level): registering the recommenders stays cheap.
"""

from __future__ import annotations

import errno
import io
import json
import os
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simshop_core.files import atomic_path
from simshop_core.registry import describe_exception

if TYPE_CHECKING:
    from gymnasium import spaces as gym_spaces
    from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

    from simshop_recommenders.ppo.agent import SlateAgentRecommender
    from simshop_recommenders.ppo.settings import AgentSettings

METADATA_NAME = "simshop_metadata.json"
WEIGHTS_NAME = "weights.pt"
FORMAT_PREFIX = "simshop-"  # a model's format is this and the recommender's name
#: 1: stable-baselines3's zip plus the metadata (0.2, pickles: converted, never loaded);
#: 2: the metadata and the weights only.
FORMAT_VERSION = 2
#: A member larger than this (uncompressed) is refused before it is read: the shipped
#: models' weights are ~0.1 MB, so this leaves room for far wider networks, not zip bombs.
MAX_MEMBER_BYTES = 256 * 2**20
#: The training counters stable-baselines3 keeps, as the metadata holds them.
COUNTERS = {
    "num_timesteps": "num_timesteps",
    "total_timesteps": "_total_timesteps",
    "num_timesteps_at_start": "_num_timesteps_at_start",
    "n_updates": "_n_updates",
    "episode_num": "_episode_num",
    "progress_remaining": "_current_progress_remaining",
}
#: The members of stable-baselines3's zip (0.2's format) that conversion reads.
LEGACY_POLICY, LEGACY_OPTIMIZER, LEGACY_DATA = "policy.pth", "policy.optimizer.pth", "data"
CONVERT_HINT = "convert it with `simshop model convert OLD NEW`, which runs nothing from it"


# --- reading -------------------------------------------------------------------------------


def read_members(
    path: str | os.PathLike[str], agent: type[SlateAgentRecommender], *, legacy: bool = False
) -> dict[str, bytes]:
    """The members of a model file, checked to be exactly this format's (``legacy``: 0.2's
    stable-baselines3 zip, for conversion); problems are one-line errors."""
    path = Path(path)
    label = agent.algorithm
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, f"no such {label} model file", str(path))
    if not path.is_file():
        raise ValueError(f"{path}: not a file")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = [info.filename for info in infos]
            if METADATA_NAME not in names:
                raise ValueError(
                    f"{path}: not a SimShop {label} model (no {METADATA_NAME}; save models "
                    f"with `simshop train` or {agent.__name__}.save)"
                )
            if not legacy and LEGACY_DATA in names:
                raise ValueError(
                    f"{path}: a stable-baselines3 model file (SimShop 0.2's format), whose "
                    f"pickled '{LEGACY_DATA}' could run code, so it is not loaded; {CONVERT_HINT}"
                )
            wanted = (METADATA_NAME, LEGACY_DATA, LEGACY_POLICY, LEGACY_OPTIMIZER)
            if legacy:
                names = [name for name in names if name in wanted]
            else:
                extra = sorted(set(names) - {METADATA_NAME, WEIGHTS_NAME})
                if extra:
                    raise ValueError(
                        f"{path}: refused: a SimShop model file holds only {METADATA_NAME} "
                        f"and {WEIGHTS_NAME}, this one also {', '.join(map(repr, extra[:3]))}"
                    )
                if len(names) != len(set(names)):
                    raise ValueError(f"{path}: refused: a member appears twice in the zip")
            for info in infos:
                if info.filename in names and info.file_size > MAX_MEMBER_BYTES:
                    raise ValueError(
                        f"{path}: refused: member {info.filename!r} unpacks to "
                        f"{info.file_size:,} bytes (the limit is {MAX_MEMBER_BYTES:,})"
                    )
            return {name: archive.read(name) for name in names}
    except zipfile.BadZipFile as exc:
        if "CRC" in str(exc) or "Bad magic" in str(exc):
            raise ValueError(f"{path}: corrupt model file ({exc})") from None
        raise ValueError(f"{path}: not a SimShop {label} model (not a zip archive)") from None
    except (zlib.error, EOFError, OSError) as exc:  # a damaged member
        raise ValueError(f"{path}: corrupt model file ({describe_exception(exc)})") from None


def parse_metadata(
    path: Path, raw: bytes, agent: type[SlateAgentRecommender], *, legacy: bool = False
) -> dict[str, Any]:
    """The metadata JSON, checked to describe a model of ``agent`` in this format (``legacy``:
    in 0.2's), with every value SimShop reads of the right type."""
    try:
        metadata = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{path}: corrupt model metadata ({exc})") from None
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: corrupt model metadata (not a JSON object)")
    expected = agent.model_format()
    found = metadata.get("format")
    if isinstance(found, str) and found.startswith(FORMAT_PREFIX) and found != expected:
        # Another agent's model (a ppo zip given to a2c, say): say whose and how to load it.
        other = found.removeprefix(FORMAT_PREFIX)
        raise ValueError(
            f"{path}: a SimShop {other} model, which {agent.name} cannot load (use {other}:{path})"
        )
    if found != expected:
        raise ValueError(
            f"{path}: not a SimShop {agent.algorithm} model (metadata format is not {expected})"
        )
    version = metadata.get("format_version")
    if not _is_int(version):
        raise ValueError(f"{path}: corrupt model metadata (format_version is {version!r})")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path}: model format version {version!r} is newer than this simshop-recommenders "
            f"reads (up to {FORMAT_VERSION}); upgrade simshop-recommenders"
        )
    if version < FORMAT_VERSION and not legacy:
        raise ValueError(
            f"{path}: a model in format version {version} (SimShop 0.2); {CONVERT_HINT}"
        )
    missing = [k for k in ("env_options", "normalisation", "timesteps") if k not in metadata]
    if missing:
        raise ValueError(f"{path}: corrupt model metadata (missing {', '.join(missing)})")
    problem = _metadata_problem(metadata, agent, check_counters=not legacy)
    if problem:
        raise ValueError(f"{path}: corrupt model metadata ({problem})")
    _check_env_options(path, metadata)
    return metadata


def read_weights(path: Path, raw: bytes, member: str = WEIGHTS_NAME) -> Any:
    """A member of tensors, unpickled with ``weights_only=True``: an object of any other class
    (the way a pickle runs code) is refused in one line."""
    import pickle
    import warnings

    import torch

    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols: not the user's
            warnings.simplefilter("ignore")
            return torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = str(exc).strip().splitlines()
        detail = next((line for line in reason if "GLOBAL" in line or "Unsupported" in line), "")
        raise ValueError(
            f"{path}: refused: {member} holds more than tensors and numbers"
            + (f" ({detail.strip()})" if detail else "")
        ) from None
    except Exception as exc:  # a truncated or non-torch member: torch raises many kinds
        raise ValueError(f"{path}: corrupt {member} ({describe_exception(exc)})") from None


def load_model(
    path: str | os.PathLike[str], agent: type[SlateAgentRecommender]
) -> tuple[OnPolicyAlgorithm, dict[str, Any]]:
    """The stable-baselines3 model and metadata of a model file, rebuilt from SimShop's classes."""
    path = Path(path)
    members = read_members(path, agent)
    metadata = parse_metadata(path, members[METADATA_NAME], agent)
    if WEIGHTS_NAME not in members:
        raise ValueError(f"{path}: corrupt model file (no {WEIGHTS_NAME})")
    weights = read_weights(path, members[WEIGHTS_NAME])
    if not isinstance(weights, dict) or not all(
        isinstance(weights.get(key), dict) for key in ("policy", "optimizer", "spaces")
    ):
        raise ValueError(f"{path}: corrupt {WEIGHTS_NAME} (not the policy, optimizer and spaces)")
    spaces = _spaces_from_tensors(path, weights["spaces"])
    model = build_model(path, agent, metadata, weights["policy"], weights["optimizer"], spaces)
    return model, metadata


def build_model(
    path: Path,
    agent: type[SlateAgentRecommender],
    metadata: dict[str, Any],
    policy_state: Mapping[str, Any],
    optimizer_state: Mapping[str, Any],
    spaces: tuple[gym_spaces.Dict, Any],
) -> OnPolicyAlgorithm:
    """`new_model` on ``spaces`` from the metadata, with these weights and counters."""
    settings = agent.settings_class().replace(**metadata["settings"])
    model = new_model(
        agent, settings, metadata["normalisation"], seed=metadata["seed"], spaces=spaces
    )
    try:
        model.set_parameters(
            {"policy": dict(policy_state), "policy.optimizer": dict(optimizer_state)},
            exact_match=True,
            device="cpu",
        )
    except Exception as exc:  # missing keys, wrong shapes, a malformed optimizer state
        first = describe_exception(exc).splitlines()[0]
        raise ValueError(
            f"{path}: the weights do not fit the network its metadata describes ({first})"
        ) from None
    counters = metadata.get("training", {})
    for key, attribute in COUNTERS.items():
        if key in counters:
            setattr(model, attribute, counters[key])
    model.num_timesteps = int(metadata["timesteps"])
    return model


def new_model(
    agent: type[SlateAgentRecommender],
    settings: AgentSettings,
    stats: dict[str, Any],
    *,
    seed: int | None,
    env: Any = None,
    spaces: tuple[gym_spaces.Dict, Any] | None = None,
) -> OnPolicyAlgorithm:
    """A stable-baselines3 algorithm training `SlatePolicy`, on ``env`` (training) or on
    ``spaces`` (observation, action: loading a model, which has no env)."""
    from simshop_recommenders.ppo.policy import SlatePolicy

    policy_kwargs = {
        "head_dim": settings.head_dim,
        "features_extractor_kwargs": {
            "stats": stats,
            "item_dim": settings.item_dim,
            "context_dim": settings.context_dim,
        },
    }
    kwargs = {
        "policy_kwargs": policy_kwargs,
        "seed": seed,
        "device": "cpu",
        "verbose": 0,
        **settings.algorithm_kwargs(),
    }
    algorithm = agent.algorithm_class()
    if env is not None:
        return algorithm(SlatePolicy, env, **kwargs)
    assert spaces is not None
    model = algorithm(SlatePolicy, None, _init_setup_model=False, **kwargs)
    model.observation_space, model.action_space = spaces
    model.n_envs = settings.n_envs
    model._setup_model()
    return model


def model_spaces(metadata: dict[str, Any]) -> tuple[gym_spaces.Dict, Any]:
    """The flat observation space and slate action space of the env a model was trained in,
    from its metadata (the same bounds as the env's: see `flat_observation_space`)."""
    from simshop_core.spaces import SlateSpace
    from simshop_recommenders.ppo.wrapper import flat_space

    options, stats = metadata["env_options"], metadata["normalisation"]
    observation = flat_space(
        n_user_types=len(options["user_types"]),
        session_high=stats["session_high"],
        num_candidates=options["num_candidates"],
        n_last_clicks=options["n_last_clicks"],
        times_shown_high=stats["times_shown_max"],
        vocab_sizes=stats["vocab_sizes"],
    )
    return observation, SlateSpace(options["num_candidates"], options["slate_size"])


def _spaces_from_tensors(path: Path, saved: dict[str, Any]) -> tuple[gym_spaces.Dict, Any]:
    """The observation and slate spaces stored with the weights (bounds as tensors)."""
    import numpy as np
    from gymnasium.spaces import Box, Dict

    from simshop_core.spaces import SlateSpace

    try:
        observation = Dict(
            {
                key: Box(bounds["low"].numpy(), bounds["high"].numpy(), dtype=np.float32)
                for key, bounds in saved["observation"].items()
            }
        )
        nvec = saved["slate"].numpy()
        if nvec.ndim != 1 or len(set(nvec.tolist())) != 1:
            raise ValueError(f"slate {nvec.tolist()} is not k equal candidate counts")
        return observation, SlateSpace(int(nvec[0]), len(nvec))
    except Exception as exc:  # a missing key, a non-tensor, mismatched bounds
        raise ValueError(
            f"{path}: corrupt {WEIGHTS_NAME} (its spaces: {describe_exception(exc)})"
        ) from None


# --- writing -------------------------------------------------------------------------------


def metadata_json(metadata: dict[str, Any]) -> str:
    """The metadata as standard JSON (no NaN or Infinity, which other readers refuse)."""
    try:
        return json.dumps(metadata, indent=2, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the model metadata cannot be saved as standard JSON: {exc}") from None


def training_counters(model: OnPolicyAlgorithm) -> dict[str, Any]:
    """stable-baselines3's training counters, as the metadata holds them."""
    return {key: getattr(model, attribute) for key, attribute in COUNTERS.items()}


def write_model(
    path: str | os.PathLike[str], metadata: dict[str, Any], model: OnPolicyAlgorithm
) -> Path:
    """Write a model file, whole or not at all: the metadata, and the policy's and optimizer's
    weights with the spaces' bounds (so that a hand-edited metadata shows as inconsistent)."""
    import torch

    observation = {
        key: {"low": torch.from_numpy(box.low), "high": torch.from_numpy(box.high)}
        for key, box in model.observation_space.spaces.items()
    }
    tensors = {
        "policy": model.policy.state_dict(),
        "optimizer": model.policy.optimizer.state_dict(),
        "spaces": {"observation": observation, "slate": torch.from_numpy(model.action_space.nvec)},
    }
    buffer = io.BytesIO()
    torch.save(tensors, buffer)
    text = metadata_json(metadata)
    path = Path(path)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(METADATA_NAME, text)
        archive.writestr(WEIGHTS_NAME, buffer.getvalue())
    return path


# --- 0.2's format ----------------------------------------------------------------------------


def convert_legacy(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    agent: type[SlateAgentRecommender],
) -> Path:
    """Write 0.2's model ``source`` (stable-baselines3's zip) as a model file ``target``,
    reading its metadata, the plain numbers of its ``data`` and its state dicts only."""
    source = Path(source)
    members = read_members(source, agent, legacy=True)
    metadata = parse_metadata(source, members[METADATA_NAME], agent, legacy=True)
    if metadata["format_version"] == FORMAT_VERSION:
        raise ValueError(f"{source}: already in the current format (nothing to convert)")
    for member in (LEGACY_POLICY, LEGACY_OPTIMIZER):
        if member not in members:
            raise ValueError(f"{source}: not a stable-baselines3 model file (no {member})")
    counters = {"num_timesteps": metadata["timesteps"]}
    try:
        data = json.loads(members.get(LEGACY_DATA, b"{}"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        data = {}
    for key, attribute in COUNTERS.items():
        value = data.get(attribute) if isinstance(data, dict) else None
        # Only plain numbers: a pickled entry is an object, and stays undecoded.
        if isinstance(value, int | float) and not isinstance(value, bool):
            counters[key] = value
    metadata["training"] = {**counters, "num_timesteps": metadata["timesteps"]}
    metadata["format_version"] = FORMAT_VERSION
    problem = _metadata_problem(metadata, agent, check_counters=True)
    if problem:
        raise ValueError(f"{source}: corrupt model metadata ({problem})")
    policy = read_weights(source, members[LEGACY_POLICY], LEGACY_POLICY)
    optimizer = read_weights(source, members[LEGACY_OPTIMIZER], LEGACY_OPTIMIZER)
    if not isinstance(policy, dict) or not isinstance(optimizer, dict):
        raise ValueError(f"{source}: corrupt state dicts (not dictionaries)")
    # 0.2's spaces are pickled: they are rebuilt from the metadata (the env's bounds), and
    # rebuilding checks that the weights fit the network before anything is written.
    model = build_model(source, agent, metadata, policy, optimizer, model_spaces(metadata))
    return write_model(target, metadata, model)


# --- checks ----------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _metadata_problem(
    metadata: dict[str, Any], agent: type[SlateAgentRecommender], *, check_counters: bool
) -> str | None:
    """What is wrong with the types of a model's metadata (None: nothing), so a hand-edited
    file is one clear line rather than a KeyError or TypeError later."""

    def strings(value: Any) -> bool:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)

    def number(value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    options = metadata["env_options"]
    if not isinstance(options, dict):
        return "env_options is not an object"
    for key in ("num_candidates", "slate_size", "n_last_clicks"):
        if not _is_int(options.get(key)) or options[key] < 1:
            return f"env_options.{key} is {options.get(key)!r}, not a positive integer"
    if options["slate_size"] > options["num_candidates"]:
        return "env_options.slate_size is larger than num_candidates"
    if not strings(options.get("user_types")) or not options["user_types"]:
        return "env_options.user_types is not a list of names"
    vocabularies = options.get("vocabularies")
    if not isinstance(vocabularies, dict) or not all(map(strings, vocabularies.values())):
        return "env_options.vocabularies is not an object of lists of names"
    stats = metadata["normalisation"]
    keys = ("numeric", "times_shown_max", "session_high", "vocab_sizes")
    if not isinstance(stats, dict) or any(k not in stats for k in keys):
        return f"normalisation needs {', '.join(keys)}"
    numeric = stats["numeric"]
    if not isinstance(numeric, dict) or not all(
        isinstance(v, list) and len(v) == 2 and all(map(number, v)) for v in numeric.values()
    ):
        return "normalisation.numeric is not an object of [mean, std] pairs"
    if not number(stats["times_shown_max"]):
        return "normalisation.times_shown_max is not a number"
    session = stats["session_high"]
    if not isinstance(session, list) or len(session) != 5 or not all(map(number, session)):
        return "normalisation.session_high is not a list of 5 numbers"
    sizes = stats["vocab_sizes"]
    if not isinstance(sizes, dict) or not all(_is_int(v) and v >= 0 for v in sizes.values()):
        return "normalisation.vocab_sizes is not an object of counts"
    if not _is_int(metadata["timesteps"]) or metadata["timesteps"] < 0:
        return f"timesteps is {metadata['timesteps']!r}"
    if not _is_int(metadata.get("seed")):
        return f"seed is {metadata.get('seed')!r}, not an integer"
    problem = _settings_problem(metadata.get("settings"), agent.settings_class())
    if problem:
        return problem
    if check_counters:
        counters = metadata.get("training")
        if not isinstance(counters, dict) or not all(
            key in COUNTERS and number(value) for key, value in counters.items()
        ):
            return f"training is not an object of the counters {', '.join(COUNTERS)}"
    return None


def _settings_problem(saved: Any, defaults: AgentSettings) -> str | None:
    """A saved settings object must name known settings with values of their type."""
    if not isinstance(saved, dict):
        return "settings is not an object"
    known = asdict(defaults)  # type: ignore[call-overload]
    for key, value in saved.items():
        if key not in known:
            return f"settings.{key} is not a {defaults.algorithm} setting"
        default = known[key]
        ok = (
            isinstance(value, bool)
            if isinstance(default, bool)
            else _is_int(value)
            if isinstance(default, int)
            else isinstance(value, int | float) and not isinstance(value, bool)
            if isinstance(default, float)
            else value is None or isinstance(value, str | int | float)
        )
        if not ok:
            return f"settings.{key} is {value!r}, not a {type(default).__name__}"
    return None


def _check_env_options(path: Path, metadata: dict[str, Any]) -> None:
    from simshop_core import __version__
    from simshop_core.env_options import env_option_names

    known = set(env_option_names(exclude=("catalog", "users")))
    unknown = sorted(set(metadata["env_options"]) - known)
    if unknown:
        raise ValueError(
            f"{path}: the model was trained with env option(s) {', '.join(unknown)} that "
            f"SimShop {__version__} does not know (saved by SimShop "
            f"{metadata.get('simshop_version', '?')})"
        )


__all__ = [
    "FORMAT_VERSION",
    "METADATA_NAME",
    "WEIGHTS_NAME",
    "convert_legacy",
    "load_model",
    "metadata_json",
    "model_spaces",
    "new_model",
    "read_members",
    "write_model",
]
