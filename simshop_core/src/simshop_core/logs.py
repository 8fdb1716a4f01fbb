"""Per-page logs: one Parquet row per page, written whole or not at all.

A log is a folder of ``part-NNNNN.parquet`` files and nothing else, all with the one Arrow
schema `LOG_SCHEMA`; the run's metadata (env options, catalog hash, master seed, versions, …)
is JSON in every part's key-value metadata under ``b"simshop"``. Pages go into a `LogSink` as
columns, a whole batch of pages at a time, into preallocated NumPy blocks (one row per page);
when full it writes itself out as a `pyarrow.RecordBatch`, without Python rows. `LogWriter`
writes batches into a hidden folder beside the target and renames it into place on a clean
exit. Parallel workers each write their own part into ``LogWriter.temp_dir`` with
`PartWriter` (or `write_part`); parts are read in part-number order. `read_log`,
`read_log_table`, `read_log_arrays` and `read_log_metadata` read a log back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    import pandas as pd

    from simshop_core.recommender import Propensities

METADATA_KEY = b"simshop"
PART_PATTERN = re.compile(r"part-(\d+)\.parquet")


def _list(item: pa.DataType) -> pa.DataType:
    return pa.list_(pa.field("element", item, nullable=False))


#: The log's columns (the names are part of the plugin contract, see the README), in this
#: order. Only the four propensity columns can be null (a page whose recommender has no
#: propensities); list items are never null.
LOG_SCHEMA = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("seed", pa.int64(), nullable=False),
        pa.field("recommender", pa.string(), nullable=False),
        pa.field("shopper_type", pa.string(), nullable=False),
        pa.field("shopper_id", pa.int64(), nullable=False),
        pa.field("visit", pa.int64(), nullable=False),
        pa.field("page", pa.int64(), nullable=False),
        pa.field("candidate_ids", _list(pa.int64()), nullable=False),
        pa.field("slate", _list(pa.int64()), nullable=False),
        pa.field("clicked", _list(pa.bool_()), nullable=False),
        pa.field("bought", _list(pa.bool_()), nullable=False),
        pa.field("reward", pa.float64(), nullable=False),
        pa.field("terminated", pa.bool_(), nullable=False),
        pa.field("truncated", pa.bool_(), nullable=False),
        pa.field("slate_log_prob", pa.float64()),
        pa.field("prefix_log_probs", _list(pa.float64())),
        pa.field("position_probs", _list(pa.float64())),
        # 0: position_probs are exact; else the Monte Carlo sample count behind them.
        pa.field("propensity_samples", pa.int64()),
        pa.field("true_utility", _list(pa.float64()), nullable=False),
        pa.field("examine_prob", _list(pa.float64()), nullable=False),
        pa.field("click_prob", _list(pa.float64()), nullable=False),
    ]
)

_STRING_COLUMNS = ("run_id", "recommender", "shopper_type")
_SCALAR_COLUMNS = tuple(
    f.name for f in LOG_SCHEMA if not pa.types.is_list(f.type) and f.name not in _STRING_COLUMNS
)

# Parquet writer options, measured with benchmarks/log_throughput.py's pages (k=5, n=50; CPU
# time per page for the write alone):
# - snappy: the write is bound by encoding, not compressing, so snappy (~1.5-1.8 us, 135 B)
#   costs no more than lz4 (116 B) or none at all (707 B), and every Parquet reader has it,
#   where lz4 (LZ4_RAW) needs recent ones; zstd-1 takes ~2.9 us for 108 B.
# - dictionary encoding only for the three per-run strings (a few bytes a row group): on every
#   column it doubled the write time (~3.5 us) for 110 B.
# - statistics only for the scalar columns (for row-group skipping); they cost nothing
#   measurable.
# - row groups of ~65,536 pages (PartWriter gathers small batches): fast to scan, and a part
#   can still be read a piece at a time.
_WRITER_OPTIONS: dict[str, Any] = {
    "compression": "snappy",
    "use_dictionary": list(_STRING_COLUMNS),
    "write_statistics": list(_SCALAR_COLUMNS),
}
ROW_GROUP_PAGES = 65_536


# ---------------------------------------------------------------------------------------------
# Sink

#: The per-page columns a sink's ``append`` takes, by their log names: the rest of `LOG_SCHEMA`
#: is the run's constants (run_id, seed, recommender, shopper_type) and the propensities.
PAGE_COLUMNS = (
    "shopper_id",
    "visit",
    "page",
    "candidate_ids",
    "slate",
    "clicked",
    "bought",
    "reward",
    "terminated",
    "truncated",
    "true_utility",
    "examine_prob",
    "click_prob",
)


class LogSink:
    """Pages of one run (one recommender, one shopper type) on their way to a log.

    ``append(pages, propensities)`` copies a batch of pages, given as columns (one row per
    page), into preallocated NumPy columns; when they are full the sink hands them to
    ``write`` as a `pyarrow.RecordBatch` of `LOG_SCHEMA` (no Python rows) and starts afresh;
    `flush` hands over what is left. ``write`` is where batches go: `PartWriter.write`, or a
    list's ``append`` to keep them in memory.
    """

    def __init__(
        self,
        write: Callable[[pa.RecordBatch], None],
        run_id: str,
        seed: int,
        recommender: str,
        shopper_type: str,
        num_candidates: int,
        slate_size: int,
        capacity: int = 65_536,
    ) -> None:
        for name, value in (
            ("run_id", run_id),
            ("recommender", recommender),
            ("shopper_type", shopper_type),
        ):
            if not isinstance(value, str):
                raise ValueError(f"LogSink {name} must be a str, got {value!r}")
        for name, value, low in (
            ("seed", seed, None),
            ("num_candidates", num_candidates, 1),
            ("slate_size", slate_size, 1),
            ("capacity", capacity, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ValueError(f"LogSink {name} must be an int, got {value!r}")
            if low is not None and value < low:
                raise ValueError(f"LogSink {name} must be >= {low}, got {value}")
        if slate_size > num_candidates:
            raise ValueError(
                f"LogSink slate_size={slate_size} exceeds num_candidates={num_candidates}"
            )
        if (capacity + 1) * num_candidates >= 2**31:  # list offsets are int32
            raise ValueError(
                f"LogSink capacity={capacity} is too large: capacity * num_candidates must "
                f"stay below 2**31"
            )
        self.write = write
        self.run_id = run_id
        self.seed = int(seed)
        self.recommender = recommender
        self.shopper_type = shopper_type
        self.num_candidates = n = int(num_candidates)
        self.slate_size = k = int(slate_size)
        self.capacity = int(capacity)
        # List offsets are the same for every batch: row i spans [i*w, (i+1)*w).
        steps = np.arange(self.capacity + 1, dtype=np.int32)
        self._offsets_k = _arrow(steps * k)
        self._offsets_n = _arrow(steps * n)
        self._size = 0
        self._allocate()

    def _allocate(self) -> None:
        # Fresh arrays after a hand-over: np.empty only reserves memory, so rows cost nothing
        # until they are written.
        cap, k, n = self.capacity, self.slate_size, self.num_candidates
        self._columns: dict[str, np.ndarray] = {
            "shopper_id": np.empty(cap, np.int64),
            "visit": np.empty(cap, np.int64),
            "page": np.empty(cap, np.int64),
            "candidate_ids": np.empty((cap, n), np.int64),
            "slate": np.empty((cap, k), np.int64),
            "clicked": np.empty((cap, k), np.bool_),
            "bought": np.empty((cap, k), np.bool_),
            "reward": np.empty(cap, np.float64),
            "terminated": np.empty(cap, np.bool_),
            "truncated": np.empty(cap, np.bool_),
            "true_utility": np.empty((cap, k), np.float64),
            "examine_prob": np.empty((cap, k), np.float64),
            "click_prob": np.empty((cap, k), np.float64),
            "slate_log_prob": np.empty(cap, np.float64),
            "prefix_log_probs": np.empty((cap, k), np.float64),
            "position_probs": np.empty((cap, k), np.float64),
            "propensity_samples": np.empty(cap, np.int64),
        }
        self._has_propensities = np.empty(cap, np.bool_)

    def __len__(self) -> int:
        return self._size

    def append(self, pages: Mapping[str, Any], propensities: Propensities | None = None) -> None:
        """Add a batch of pages: ``pages`` maps each name of `PAGE_COLUMNS` to an array with
        one row per page (``candidate_ids`` (rows, num_candidates), the other lists
        (rows, slate_size)). ``propensities`` holds the rows' propensities with the same
        leading axis (a NaN ``slate_log_prob`` marks a row without any); None logs nulls.

        The rows are not checked one by one (the engine has checked them): a wrong width
        raises NumPy's broadcast ValueError."""
        rows = len(pages["shopper_id"])
        start = 0
        while start < rows:
            take = min(rows - start, self.capacity - self._size)
            source, target = slice(start, start + take), slice(self._size, self._size + take)
            for name in PAGE_COLUMNS:
                self._columns[name][target] = pages[name][source]
            if propensities is None:
                self._has_propensities[target] = False
            else:
                log_prob = np.asarray(propensities.slate_log_prob)[source]
                self._has_propensities[target] = ~np.isnan(log_prob)
                self._columns["slate_log_prob"][target] = log_prob
                self._columns["prefix_log_probs"][target] = propensities.prefix_log_probs[source]
                self._columns["position_probs"][target] = propensities.position_probs[source]
                self._columns["propensity_samples"][target] = np.asarray(propensities.samples)[
                    source
                ]
            self._size += take
            start += take
            if self._size == self.capacity:
                self.flush()

    def flush(self) -> None:
        """Hand the buffered pages to ``write`` (nothing when there are none)."""
        if self._size:
            self.write(self._record_batch())

    def _record_batch(self) -> pa.RecordBatch:
        """The buffered pages as a record batch of `LOG_SCHEMA`; the sink is empty after."""
        m = self._size
        columns = self._columns
        offsets_k = self._offsets_k[: m + 1]
        offsets_n = self._offsets_n[: m + 1]
        has = self._has_propensities[:m]
        missing = None if has.all() else ~has
        if missing is not None:  # defined values under the nulls, not leftover memory
            columns["slate_log_prob"][:m][missing] = np.nan
            columns["prefix_log_probs"][:m][missing] = np.nan
            columns["position_probs"][:m][missing] = np.nan
            columns["propensity_samples"][:m][missing] = 0
        valid = None if missing is None else has
        # A big batch takes the arrays themselves (zero copy) and the sink gets fresh ones; a
        # small one gets a copy of its rows, so that many small batches do not each hold (and
        # map) a whole buffer's worth of memory.
        hand_over = 2 * m >= self.capacity

        def taken(name: str) -> np.ndarray:
            return columns[name][:m] if hand_over else columns[name][:m].copy()

        def rows(name: str, valid: np.ndarray | None = None) -> pa.Array:
            return _arrow(taken(name), valid)

        def lists(name: str, offsets: pa.Array, valid: np.ndarray | None = None) -> pa.Array:
            values = _arrow(taken(name).reshape(-1))  # Arrow uses NumPy's memory
            nulls = None if valid is None else _arrow(~valid)
            type_ = LOG_SCHEMA.field(name).type
            return pa.ListArray.from_arrays(offsets, values, type=type_, mask=nulls)

        arrays = {
            "run_id": _repeat(self.run_id, m),
            "seed": _arrow(np.full(m, self.seed, np.int64)),
            "recommender": _repeat(self.recommender, m),
            "shopper_type": _repeat(self.shopper_type, m),
            "candidate_ids": lists("candidate_ids", offsets_n),
            "prefix_log_probs": lists("prefix_log_probs", offsets_k, valid),
            "position_probs": lists("position_probs", offsets_k, valid),
            "slate_log_prob": rows("slate_log_prob", valid),
            "propensity_samples": rows("propensity_samples", valid),
        }
        for name in PAGE_COLUMNS:
            if name not in arrays:
                arrays[name] = lists(name, offsets_k) if columns[name].ndim == 2 else rows(name)
        batch = pa.RecordBatch.from_arrays(
            [arrays[name] for name in LOG_SCHEMA.names], schema=LOG_SCHEMA
        )
        self._size = 0
        if hand_over:
            self._allocate()
        return batch


def _arrow(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """A 1-d NumPy array as an Arrow array on its memory (bools bit-packed), nulls where
    ``valid`` is False. Arrow's own ``pa.array`` would import pandas (a second or so, once)."""
    n = len(values)
    nulls = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    if values.dtype == np.bool_:
        data = pa.py_buffer(np.packbits(values, bitorder="little"))
        return pa.Array.from_buffers(pa.bool_(), n, [nulls, data])
    data = pa.py_buffer(np.ascontiguousarray(values))
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), n, [nulls, data])


def _repeat(text: str, n: int) -> pa.Array:
    """``text`` ``n`` times, as an Arrow string array."""
    raw = text.encode()
    offsets = np.arange(n + 1, dtype=np.int32) * len(raw)
    return pa.Array.from_buffers(
        pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(raw * n)]
    )


# ---------------------------------------------------------------------------------------------
# Writing


def _encode_metadata(metadata: Mapping[str, Any]) -> bytes:
    if not isinstance(metadata, Mapping):
        raise ValueError(f"log metadata must be a dict, got {type(metadata).__name__}")

    def plain(value: Any) -> Any:  # NumPy scalars and arrays, paths -> JSON values
        if isinstance(value, np.generic | np.ndarray):
            return value.tolist()
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        raise TypeError(f"{type(value).__name__} is not JSON-serialisable")

    try:
        text = json.dumps(dict(metadata), sort_keys=True, default=plain, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"log metadata must be JSON-serialisable: {e}") from None
    return text.encode("utf-8")


def part_name(part: int) -> str:
    """The file name of part number ``part``: ``part-00000.parquet``, ``part-00001.parquet``…"""
    if isinstance(part, bool) or not isinstance(part, int | np.integer) or part < 0:
        raise ValueError(f"a log part number is an int >= 0, got {part!r}")
    return f"part-{int(part):05d}.parquet"


class PartWriter:
    """One part file of a log, written whole or not at all.

    It writes to a hidden name beside ``path`` and renames it on `close` (or a clean exit of
    the ``with`` block), so a worker that dies never leaves a half part. Small batches are
    gathered into row groups of ~`ROW_GROUP_PAGES` pages. A worker process gets ``path`` from
    `LogWriter.part_path` and ``metadata`` from `LogWriter.metadata`.
    """

    def __init__(self, path: str | os.PathLike[str], metadata: Mapping[str, Any]) -> None:
        self.path = Path(path)
        if not PART_PATTERN.fullmatch(self.path.name):
            raise ValueError(f"a log part is named part-NNNNN.parquet, got {self.path.name!r}")
        schema = LOG_SCHEMA.with_metadata({METADATA_KEY: _encode_metadata(metadata)})
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        os.close(fd)
        self._tmp = Path(tmp)
        try:
            self._writer: pq.ParquetWriter | None = pq.ParquetWriter(
                self._tmp, schema, **_WRITER_OPTIONS
            )
        except BaseException:
            self._tmp.unlink(missing_ok=True)
            raise
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self.rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        """Add a record batch of `LOG_SCHEMA` (from a `LogSink`)."""
        if self._writer is None:
            raise ValueError(f"log part {self.path.name} is already closed")
        if not isinstance(batch, pa.RecordBatch):
            raise ValueError(f"a log part takes pyarrow RecordBatches, got {type(batch).__name__}")
        if not batch.schema.equals(LOG_SCHEMA):
            raise ValueError(f"record batch does not have the log schema: {_diff(batch.schema)}")
        if batch.num_rows == 0:
            return
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        self.rows += batch.num_rows
        if self._pending_rows >= ROW_GROUP_PAGES:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            table = pa.Table.from_batches(self._pending, schema=LOG_SCHEMA)
            self._writer.write_table(table, row_group_size=ROW_GROUP_PAGES)
            self._pending, self._pending_rows = [], 0

    def close(self) -> Path:
        """Finish the file and move it to ``path``; return ``path``."""
        if self._writer is None:
            raise ValueError(f"log part {self.path.name} is already closed")
        try:
            self._flush()
            self._writer.close()
            self._writer = None
            self._tmp.chmod(0o666 & ~_umask())  # mkstemp makes 0600; parts are ordinary files
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Drop the part: nothing is left behind."""
        if self._writer is not None:
            try:
                self._writer.close()
            finally:
                self._writer = None
        self._pending = []
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_part(
    path: str | os.PathLike[str],
    batches: Iterable[pa.RecordBatch],
    metadata: Mapping[str, Any],
) -> Path:
    """Write ``batches`` as one part file at ``path``, whole or not at all (for a worker)."""
    with PartWriter(path, metadata) as part:
        for batch in batches:
            part.write(batch)
    return part.path


def check_log_target(directory: str | os.PathLike[str]) -> Path:
    """``directory`` as an absolute path if a log can be written there, else one clear error.

    A log needs a new folder or an empty one, in a parent folder this process can write to
    (missing parents are created when the log starts). Call it before long work starts.
    """
    path = Path(directory).expanduser().absolute()
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise ValueError(f"log folder {path} is a file: a log needs a new or empty folder")
        if any(path.iterdir()):
            raise ValueError(f"log folder {path} is not empty: a log needs a new or empty folder")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"cannot write the log folder {path}: {parent} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write the log folder {path}: {parent} is not writable")
    return path


class LogWriter:
    """Writes a log folder whole or not at all; use it as a context manager.

    The target is checked when the writer is made (`check_log_target`). Inside the ``with``
    block everything goes to the hidden folder `temp_dir` beside the target; a clean exit
    checks the parts (log schema, this run's metadata) and renames the folder into place; an
    exception (KeyboardInterrupt included) removes it and leaves the target untouched. A log
    with no pages gets one empty part, so it still reads back with its metadata.

    ``write(batch, part)`` writes into part ``part`` (default 0) from this process. Parallel
    workers each write their own part with `PartWriter` / `write_part` at ``part_path(i)``,
    with ``metadata``, before the block ends; give each a distinct number (e.g. its block
    index: parts read back in number order, so the row order does not depend on scheduling).
    """

    def __init__(self, directory: str | os.PathLike[str], metadata: Mapping[str, Any]) -> None:
        self.directory = check_log_target(directory)
        self._metadata_json = _encode_metadata(metadata)
        self.metadata: dict[str, Any] = json.loads(self._metadata_json)
        self._temp_dir: Path | None = None
        self._parts: dict[int, PartWriter] = {}
        self._handed_out: set[int] = set()
        self._state = "new"

    @property
    def temp_dir(self) -> Path:
        """The hidden folder the parts go to while the log is being written."""
        if self._temp_dir is None:
            raise ValueError("LogWriter.temp_dir exists only inside its `with` block")
        return self._temp_dir

    def part_path(self, part: int) -> Path:
        """Where part number ``part`` goes, for a worker's `PartWriter`/`write_part`."""
        name = part_name(part)
        if part in self._parts:
            raise ValueError(f"log part {part} is already written by this LogWriter")
        self._handed_out.add(int(part))
        return self.temp_dir / name

    def write(self, batch: pa.RecordBatch, part: int | None = None) -> None:
        """Write a record batch of `LOG_SCHEMA` into part ``part`` (None: part 0)."""
        part = 0 if part is None else part
        writer = self._parts.get(part)
        if writer is None:
            name = part_name(part)
            if part in self._handed_out:
                raise ValueError(f"log part {part} was handed to a worker (part_path)")
            writer = self._parts[int(part)] = PartWriter(self.temp_dir / name, self.metadata)
        writer.write(batch)

    def __enter__(self) -> Self:
        if self._state != "new":
            raise ValueError("a LogWriter writes one log: make a new one")
        self._state = "open"
        self.directory = check_log_target(self.directory)  # again: time may have passed
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        self._temp_dir = Path(
            tempfile.mkdtemp(dir=self.directory.parent, prefix=f".{self.directory.name}.")
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self._commit()
        finally:
            self._state = "closed"
            for writer in self._parts.values():
                writer.abort()  # no-op for closed parts
            if self._temp_dir is not None:
                shutil.rmtree(self._temp_dir, ignore_errors=True)
                self._temp_dir = None

    def _commit(self) -> None:
        for writer in self._parts.values():
            writer.close()
        temp = self.temp_dir
        for entry in list(temp.iterdir()):
            if entry.name.startswith(".") and entry.is_file():  # a dead worker's unfinished part
                entry.unlink()
        parts = _check_parts(temp, f"log folder {self.directory}")
        if not parts:
            write_part(temp / part_name(0), [], self.metadata)
        for part in parts:
            if (pq.read_schema(part).metadata or {}).get(METADATA_KEY) != self._metadata_json:
                raise ValueError(f"log part {part.name} has another run's metadata")
        temp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; a log is an ordinary folder
        if os.name == "nt" and self.directory.is_dir():
            self.directory.rmdir()  # Windows cannot rename onto an (empty) folder
        try:
            os.replace(temp, self.directory)
        except OSError as e:
            raise OSError(f"cannot move the log into {self.directory}: {e.strerror}") from None
        self._temp_dir = None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---------------------------------------------------------------------------------------------
# Reading


def _part_key(path: Path) -> tuple[int, str]:
    return int(PART_PATTERN.fullmatch(path.name).group(1)), path.name


def _check_parts(directory: Path, what: str) -> list[Path]:
    """The part files of a log folder in part order, after checking their names and schemas."""
    entries = list(directory.iterdir())
    others = sorted(p.name for p in entries if not PART_PATTERN.fullmatch(p.name))
    if others:
        shown = ", ".join(others[:3]) + (", …" if len(others) > 3 else "")
        raise ValueError(f"{what} holds files other than part-<number>.parquet: {shown}")
    parts = sorted(entries, key=_part_key)
    for part in parts:
        try:
            schema = pq.read_schema(part)
        except (OSError, pa.ArrowException) as e:
            raise ValueError(f"{what}: {part.name} is not a Parquet file ({e})") from None
        if not schema.equals(LOG_SCHEMA):
            raise ValueError(f"{what}: {part.name} has another schema: {_diff(schema)}")
    return parts


def _diff(schema: pa.Schema) -> str:
    """The first difference between ``schema`` and `LOG_SCHEMA`, in a few words."""
    for i, field in enumerate(LOG_SCHEMA):
        if i >= len(schema):
            return f"column {field.name!r} is missing"
        other = schema.field(i)
        if not other.equals(field):
            return f"column {i} is {other}, expected {field}"
    return f"extra column {schema.field(len(LOG_SCHEMA)).name!r}"


def log_parts(directory: str | os.PathLike[str]) -> list[Path]:
    """The part files of a log, in part order; a folder that is not a log is a ValueError."""
    path = Path(directory)
    if not path.is_dir():
        raise ValueError(f"log folder {path} does not exist or is not a folder")
    parts = _check_parts(path, f"log folder {path}")
    if not parts:
        raise ValueError(f"log folder {path} has no part-*.parquet files")
    return parts


def read_log_table(
    directory: str | os.PathLike[str], columns: Sequence[str] | None = None
) -> pa.Table:
    """The log as one Arrow table (all parts, in part order), schema `LOG_SCHEMA`."""
    parts = log_parts(directory)
    if columns is not None:
        unknown = [c for c in columns if c not in LOG_SCHEMA.names]
        if unknown:
            raise ValueError(
                f"unknown log column(s) {', '.join(map(repr, unknown))}; the columns are "
                f"{', '.join(LOG_SCHEMA.names)}"
            )
    tables = [pq.ParquetFile(part).read(columns=columns) for part in parts]
    return pa.concat_tables(tables).replace_schema_metadata(None)


def read_log(directory: str | os.PathLike[str]) -> pd.DataFrame:
    """The log as a pandas frame, one row per page.

    List columns hold a NumPy array per row (None where a propensity column is null);
    ``slate_log_prob`` is NaN where null and ``propensity_samples`` is a nullable ``Int64``
    column (<NA> where null), so dtypes do not depend on which pages had propensities.
    """
    import pandas as pd

    table = read_log_table(directory)
    frame = table.to_pandas()
    frame["propensity_samples"] = table.column("propensity_samples").to_pandas(
        types_mapper={pa.int64(): pd.Int64Dtype()}.get
    )
    return frame


def read_log_arrays(
    directory: str | os.PathLike[str], columns: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Log columns as NumPy arrays, one row per page (default: every non-string column).

    Scalar columns are 1-D; list columns are 2-D, ``(pages, k)`` per slate position and
    ``(pages, n)`` for ``candidate_ids``. Nulls, where a page has no propensities: NaN in the
    float columns (``slate_log_prob``, rows of ``prefix_log_probs`` and ``position_probs``)
    and -1 in ``propensity_samples``. String columns, when asked for, are object arrays. A list
    column whose rows differ in length (a folder mixing slate sizes) is a ValueError. With no
    pages, list columns have shape ``(0, 0)``.
    """
    if columns is None:
        columns = [name for name in LOG_SCHEMA.names if name not in _STRING_COLUMNS]
    table = read_log_table(directory, columns)
    out = {name: _to_numpy(name, table.column(name)) for name in columns}
    # A propensity column that is null on every page has no width of its own: it is k.
    unsized = [name for name, array in out.items() if array.ndim == 2 and array.shape[1] == 0]
    if unsized and table.num_rows:
        if "slate" not in out:
            out["slate"] = _to_numpy("slate", read_log_table(directory, ["slate"]).column(0))
        for name in unsized:
            out[name] = np.full(out["slate"].shape, np.nan)
        out = {name: out[name] for name in columns}
    return out


def _to_numpy(name: str, column: pa.ChunkedArray) -> np.ndarray:
    """One column as NumPy: nulls as NaN (floats) or -1 (ints); lists as 2-D rows."""
    array = column.combine_chunks()
    if not pa.types.is_list(array.type):
        if array.null_count:
            array = array.fill_null(np.nan if pa.types.is_floating(array.type) else -1)
        return array.to_numpy(zero_copy_only=False)
    valid = array.is_valid().to_numpy(zero_copy_only=False)
    lengths = np.diff(array.offsets.to_numpy())[valid]
    if len(lengths) == 0:  # no pages, or null on every page: the width is unknown here
        return np.full((len(array), 0), np.nan)
    width = int(lengths[0])
    if np.any(lengths != width):
        raise ValueError(
            f"log column {name!r} has rows of different lengths ({lengths.min()}..{lengths.max()})"
            f": read it with read_log"
        )
    values = array.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)
    if valid.all():
        return values
    out = np.full((len(array), width), np.nan)
    out[valid] = values
    return out


def read_log_metadata(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The run metadata the log was written with (the same in every part)."""
    found: dict[bytes, str] = {}
    for part in log_parts(directory):
        raw = (pq.read_schema(part).metadata or {}).get(METADATA_KEY)
        if raw is None:
            raise ValueError(f"log part {part} has no SimShop metadata (key {METADATA_KEY!r})")
        found.setdefault(raw, part.name)
    if len(found) > 1:
        names = " and ".join(list(found.values())[:2])
        raise ValueError(f"log parts {names} hold different run metadata: not one log")
    return json.loads(next(iter(found)))
