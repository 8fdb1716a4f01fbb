"""Where tasks run: this process, spawned worker processes, or Dask.

The cell runner's unit of work is a (cell, block) task (`simshop_core.runner.run_cells`).
`Executor` is all it needs of whatever runs them: ``submit(fn, *args) -> future``,
``as_completed(futures)`` and ``share(obj)`` (an object every task takes, sent once).
`executor` yields one: without a scheduler, a pool of spawned worker processes
(`worker_pool`); with one, `dask_executor` over a `dask.distributed.Client`: ``"local"``
starts a `LocalCluster` of worker processes on this machine and closes it afterwards, an
address (``tcp://HOST:PORT``) connects to a running cluster. Every task carries its own
seeds, so the numbers do not depend on where it ran.

Dask is an optional dependency (``pip install 'simshop-core[dask]'``), imported only when a
scheduler is asked for: this module's top level imports the standard library only.
"""

from __future__ import annotations

import contextlib
import re
import signal
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

LOCAL = "local"
DASK_INSTALL = "pip install 'simshop-core[dask]'"
#: Seconds to wait for a running scheduler to answer, and for it to have a worker.
CONNECT_TIMEOUT = 5.0
#: A Dask address: PROTOCOL://HOST:PORT (tcp, tls, ws, wss, ucx) or a bare HOST:PORT.
_ADDRESS = re.compile(r"^(?:(tcp|tls|ws|wss|ucx)://)?(\[[0-9A-Fa-f:.]+\]|[\w.-]+):(\d{1,5})$")
_SCHEDULER_HELP = "use 'local' or a Dask scheduler address such as tcp://HOST:PORT"


@dataclass
class Executor:
    """Runs tasks somewhere: ``submit(fn, *args)`` returns a future (with ``result()``),
    ``as_completed`` yields futures as they finish, ``share(obj)`` returns what to pass to
    ``submit`` in place of a large object every task takes."""

    submit: Callable[..., Any]
    as_completed: Callable[[Iterable[Any]], Iterator[Any]]
    share: Callable[[Any], Any] = field(default=lambda obj: obj)


@contextlib.contextmanager
def executor(scheduler: str | None, workers: int) -> Iterator[Executor]:
    """Dask's workers with a ``scheduler`` (none started when ``workers`` is 0: no task goes
    away), else ``workers`` spawned processes (`worker_pool`)."""
    if scheduler is not None and workers > 0:
        with dask_executor(scheduler, workers) as dask:
            yield dask
        return
    with worker_pool(workers if scheduler is None else 0) as submit:
        yield Executor(submit, as_completed)


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[Callable[..., Future[Any]]]:
    """Yield ``submit`` for a pool of ``workers`` spawned processes (none: nothing to submit).

    Ctrl-C belongs to this process alone: the workers start with SIGINT blocked (they inherit
    the mask while they are spawned, so not even their start-up prints a traceback), and on
    any exception here — KeyboardInterrupt included — they are terminated and joined before
    it propagates, so no worker outlives the run or writes to a log being cleaned up.
    """
    if workers < 1:
        yield _no_submit
        return
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # safe with torch's threads
    pool = ProcessPoolExecutor(workers, mp_context=context)

    def submit(fn: Callable[..., Any], *args: Any) -> Future[Any]:
        # submit spawns the workers; an interrupt meanwhile is delivered once unblocked.
        blocked = block_sigint()
        try:
            return pool.submit(fn, *args)
        finally:
            restore_sigint(blocked)

    try:
        yield submit
    except BaseException:
        _stop_pool(pool)
        raise
    pool.shutdown(wait=True)


def _no_submit(fn: Callable[..., Any], *args: Any) -> Future[Any]:
    raise RuntimeError("no worker processes were started")


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop the workers now: cancel what has not started, terminate what has. ``_processes``
    is private, but the executor has no public way to stop a running task (before 3.14)."""
    blocked = block_sigint()  # a second Ctrl-C must not cut the clean-up short
    try:
        processes = list((getattr(pool, "_processes", None) or {}).values())
        for process in processes:
            process.terminate()
        for process in processes:
            process.join()
        pool.shutdown(wait=True, cancel_futures=True)
    finally:
        restore_sigint(blocked)


def check_scheduler(scheduler: str | None) -> str | None:
    """``None``, ``"local"`` or a Dask scheduler address, checked (without importing Dask);
    anything else is a one-line ValueError."""
    if scheduler is None:
        return None
    if not isinstance(scheduler, str):
        raise ValueError(f"scheduler must be a string, got {scheduler!r}; {_SCHEDULER_HELP}")
    text = scheduler.strip()
    if text == LOCAL:
        return LOCAL
    match = _ADDRESS.match(text)
    if match is None or not 0 < int(match.group(3)) < 65536:
        raise ValueError(f"unknown scheduler {scheduler!r}; {_SCHEDULER_HELP}")
    return text


def require_dask() -> None:
    """Raise a one-line ModuleNotFoundError saying what to install when Dask is missing."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ModuleNotFoundError(
            f"a scheduler needs dask.distributed, which is not installed: {DASK_INSTALL}"
        ) from None


@contextlib.contextmanager
def dask_executor(scheduler: str, workers: int) -> Iterator[Executor]:
    """An `Executor` over Dask: ``scheduler`` ``"local"`` starts a `LocalCluster` of
    ``workers`` processes (one thread each, no dashboard, quiet logs), an address connects
    to a running cluster (``workers`` is then the cluster's business).

    Ctrl-C belongs to this process: a local cluster's processes ignore SIGINT
    (`_sigint_ignored`). On leaving — an error or KeyboardInterrupt included — the
    unfinished tasks are cancelled and the client and cluster closed (a local cluster's
    workers are stopped) before anything propagates, so no task outlives the run.
    """
    scheduler = check_scheduler(scheduler) or LOCAL
    cluster: Any = None
    client: Any = None
    submitted: list[Any] = []
    try:
        require_dask()
        import logging

        from distributed import Client, LocalCluster
        from distributed import as_completed as dask_as_completed

        if scheduler == LOCAL:
            with _sigint_ignored(), warnings.catch_warnings():  # the workers inherit "ignore"
                # Its HTTP server (health checks; no dashboard) moves off a busy port 8787.
                warnings.filterwarnings("ignore", message="Port .* is already in use")
                cluster = LocalCluster(
                    n_workers=max(1, workers),
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",  # never listen beyond this machine
                    dashboard_address=None,
                    silence_logs=logging.CRITICAL + 1,  # not even the shutdown's
                )
            client = Client(cluster, set_as_default=False)
        else:
            client = _connect(Client, scheduler)

        def submit(fn: Callable[..., Any], *args: Any) -> Any:
            # pure=False: no hashing of big arguments for a key; every task is run.
            future = client.submit(fn, *args, pure=False)
            submitted.append(future)
            return future

        def share(obj: Any) -> Any:
            return client.scatter(obj, broadcast=True, hash=False)

        def as_completed(futures: Iterable[Any]) -> Iterator[Any]:
            return iter(dask_as_completed(list(futures), loop=client.loop))

        yield Executor(submit, as_completed, share)
    finally:
        _close(client, cluster, submitted)


def _connect(client_type: Any, address: str) -> Any:
    """A client of the running cluster at ``address``; a one-line ConnectionError when it
    does not answer, or has no worker, within `CONNECT_TIMEOUT`."""
    try:
        client = client_type(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(
            f"cannot connect to the Dask scheduler at {address} within {CONNECT_TIMEOUT:g} s"
        ) from exc
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        client.close()
        raise ConnectionError(
            f"the Dask scheduler at {address} has no workers (waited {CONNECT_TIMEOUT:g} s)"
        ) from exc
    return client


def _close(client: Any, cluster: Any, submitted: list[Any]) -> None:
    """Cancel what is left, close the client and stop a local cluster; a second Ctrl-C must
    not cut this short."""
    blocked = block_sigint()
    try:
        if client is not None:
            with contextlib.suppress(Exception):
                unfinished = [f for f in submitted if not f.done()]
                if unfinished:
                    client.cancel(unfinished)
            with contextlib.suppress(Exception):
                client.close()
        if cluster is not None:
            cluster.close()
    finally:
        restore_sigint(blocked)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while a local cluster starts: its worker processes inherit the ignored
    disposition (a blocked mask does not survive Dask's spawning), so a terminal's Ctrl-C,
    sent to the whole process group, reaches this process alone. A Ctrl-C during these few
    seconds is lost; the run can be interrupted as soon as they are over."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (and Ctrl-C goes to it)
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def block_sigint() -> Any:
    if not hasattr(signal, "pthread_sigmask"):  # Windows has no signal masks
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def restore_sigint(previous: Any) -> None:
    if previous is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
