"""The training contract: what `simshop train` and the app call, for any trainable
recommender, without importing the package that provides it.

A trainable recommender subclasses `Trainable`: it names the optional dependencies it needs
(``requires``) and the pip command that installs them (``install``), and implements `train`,
`save`, the classmethod `load` and `env_options`. ``NAME:PATH`` on the command line means
``cls.load(PATH, **params)``.
"""

from __future__ import annotations

import abc
import importlib.util
import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

from simshop_core.plugins import PluginError
from simshop_core.recommender import Recommender

if TYPE_CHECKING:
    from simshop_core.catalog import Catalog


class MissingDependencyError(PluginError):
    """An optional dependency of a plugin is not installed; the message says what to install."""


@dataclass
class TrainResult:
    """What one call to `Trainable.train` did."""

    timesteps: int  # the model's total, over all runs
    trained: int  # in this call
    seconds: float
    interrupted: bool = False
    checkpoints: list[Path] = field(default_factory=list)

    @property
    def steps_per_second(self) -> float:
        return self.trained / self.seconds if self.seconds > 0 else float("nan")


class Trainable(Recommender):
    """A recommender that `simshop train` can train, save and load."""

    trainable: ClassVar[bool] = True
    #: Modules that must be importable to load, run or train it (e.g. ``("torch",)``).
    requires: ClassVar[tuple[str, ...]] = ()
    #: Modules a metric log format of `train` needs besides (e.g. ``{"tensorboard":
    #: ("tensorboard",)}``); checked only when that format is asked for.
    log_format_requires: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    #: How to install them all, e.g. ``"pip install 'simshop-recommenders[ppo]'"``.
    install: ClassVar[str] = ""

    @classmethod
    def check_dependencies(cls, *, log_formats: Sequence[str] = ()) -> None:
        """Raise `MissingDependencyError`, one line naming ``install``, if a module of
        ``requires`` (or one the ``log_formats`` need) cannot be imported. It imports
        nothing, so callers run it first: before any work that a missing module would waste."""
        wanted = [*cls.requires]
        for log_format in log_formats:
            wanted += cls.log_format_requires.get(log_format, ())
        missing = [m for m in dict.fromkeys(wanted) if not _importable(m)]
        if missing:
            what = " and ".join(missing) if len(missing) < 3 else ", ".join(missing)
            verb = "is" if len(missing) == 1 else "are"
            how = f"; install it with: {cls.install}" if cls.install else ""
            raise MissingDependencyError(
                f"recommender {cls.name!r} needs {what}, which {verb} not installed{how}"
            )

    @classmethod
    @abc.abstractmethod
    def load(cls, path: str | os.PathLike[str], **params: Any) -> Self:
        """A saved model; a missing, corrupt or incompatible file is one clear error."""

    @abc.abstractmethod
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model, whole or not at all; return the path written."""

    @abc.abstractmethod
    def train(
        self,
        timesteps: int,
        *,
        users: str | Sequence[str] = "all",
        seed: int = 0,
        catalog: Catalog | str | os.PathLike[str] | None = None,
        env_options: dict[str, Any] | None = None,
        n_envs: int | None = None,
        run_dir: str | os.PathLike[str] | None = None,
        log_formats: Sequence[str] = ("csv", "tensorboard"),
        on_metrics: Callable[[dict[str, float], int], None] | None = None,
        progress: Callable[[int], None] | None = None,
        checkpoint_every: int = 0,
        stop: threading.Event | None = None,
    ) -> TrainResult:
        """Train until the model has seen ``timesteps`` env steps in total (a loaded model
        goes on from its own count). ``run_dir`` receives the metric logs and checkpoints
        (every ``checkpoint_every`` steps); ``on_metrics(scalars, step)`` feeds a tracker;
        ``progress(num_timesteps)`` is called as training goes; setting ``stop`` ends
        training between two steps with a checkpoint (``interrupted=True``)."""

    @property
    def num_timesteps(self) -> int:
        """Env steps trained so far (0 for a fresh model)."""
        return 0


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package, or a half-imported module
        return False


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """While active, the first SIGINT (Ctrl-C) or SIGTERM (what schedulers and ``timeout``
    send) sets the yielded event instead of killing the process, so training stops between
    two steps and saves; a second signal raises `KeyboardInterrupt`."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signal handlers can only be installed from the main thread
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
