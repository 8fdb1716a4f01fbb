"""Writing output files whole or not at all, and checking where they go before work starts."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; it replaces ``path`` only if the
    block finishes, so an error or Ctrl-C never leaves a half-written file.

    The temporary name ends with ``path``'s suffix, for writers that pick a format by suffix.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        tmp.chmod(0o666 & ~_umask())  # mkstemp makes 0600; outputs are ordinary files
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_results_path(
    path: str | os.PathLike[str], formats: tuple[str, ...] = (".json", ".csv")
) -> Path:
    """A results file we can write: one of ``formats`` by suffix, not a folder, in a folder
    that takes a new file (the nearest existing one, if the folders are still to be made).
    Called before a run, so that a bad path does not cost one."""
    path = Path(path)
    if path.suffix.lower() not in formats:
        raise ValueError(
            f"unsupported results format {path.suffix or '(none)'!r}; use {' or '.join(formats)}"
        )
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give a file name ending {' or '.join(formats)}")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    try:  # the one sure test of "writable" (permissions alone say nothing on /proc)
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError:
        raise ValueError(f"cannot write {path}: {parent} is not a writable folder") from None
    return path
