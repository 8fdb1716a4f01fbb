"""Per-page logs: the schema, the columnar sink, whole-or-nothing writing and the readers."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from simshop_core.logs import (
    LOG_SCHEMA,
    METADATA_KEY,
    PAGE_COLUMNS,
    LogSink,
    LogWriter,
    PartWriter,
    check_log_target,
    read_log,
    read_log_arrays,
    read_log_metadata,
    read_log_table,
    write_part,
)
from simshop_core.recommender import Propensities

K, N = 5, 12
METADATA = {"env_options": {"click_model": "pbm", "slate_size": K}, "master_seed": 7, "git": None}
CONTRACT_COLUMNS = [
    "run_id", "seed", "recommender", "shopper_type", "shopper_id", "visit", "page",
    "candidate_ids", "slate", "clicked", "bought", "reward", "terminated", "truncated",
    "slate_log_prob", "prefix_log_probs", "position_probs", "propensity_samples",
    "true_utility", "examine_prob", "click_prob",
]  # fmt: skip
PROPENSITY_COLUMNS = ["slate_log_prob", "prefix_log_probs", "position_probs", "propensity_samples"]


def make_pages(rng: np.random.Generator, count: int, with_propensities: str) -> list[dict]:
    """Random pages as `append` takes them; ``with_propensities`` is "all", "none" or "some"."""
    pages = []
    for i in range(count):
        clicked = rng.random(K) < 0.4
        has = {"all": True, "none": False, "some": i % 3 != 1}[with_propensities]
        propensities = None
        if has:
            prefix = np.cumsum(np.log(rng.uniform(0.01, 1.0, K)))
            propensities = Propensities(
                float(prefix[-1]), prefix, rng.random(K), int(rng.choice([0, 1000]))
            )
        pages.append(
            {
                "shopper_id": int(rng.integers(0, 1000)),
                "visit": i // 3 + 1,
                "page": i % 3 + 1,
                "candidate_ids": rng.choice(250, N, replace=False),
                "slate": rng.permutation(N)[:K],
                "clicked": clicked,
                "bought": clicked & (rng.random(K) < 0.5),
                "reward": float(rng.normal()),
                "terminated": bool(i % 3 == 2),
                "truncated": bool(rng.random() < 0.1),
                "true_utility": rng.random(K),
                "examine_prob": 0.9 ** np.arange(K),
                "click_prob": rng.random(K),
                "propensities": propensities,
            }
        )
    return pages


def columns(pages: list[dict]) -> tuple[dict[str, np.ndarray], Propensities | None]:
    """The pages as a sink's batch: one column per name, one row per page."""
    stacked = {name: np.stack([np.asarray(p[name]) for p in pages]) for name in PAGE_COLUMNS}
    return stacked, Propensities.stack([p["propensities"] for p in pages], K)


def sink(capacity: int = 64, width: int = K, **constants) -> tuple[LogSink, list]:
    """A sink of ``capacity`` pages and the list its batches go to."""
    args = {"run_id": "run-1", "seed": 3, "recommender": "random", "shopper_type": "cheap_seeker"}
    batches: list[pa.RecordBatch] = []
    made = LogSink(
        batches.append, **{**args, **constants}, num_candidates=N, slate_size=width,
        capacity=capacity,
    )  # fmt: skip
    return made, batches


def fill(pages: list[dict], capacity: int = 64, **constants) -> list[pa.RecordBatch]:
    """The pages as record batches, through a LogSink of ``capacity``, appended in batches
    of 7 pages (so a batch may cross a full sink)."""
    made, batches = sink(capacity, **constants)
    for start in range(0, len(pages), 7):
        made.append(*columns(pages[start : start + 7]))
    made.flush()
    return batches


def write_log(directory: Path, batches: list[pa.RecordBatch]) -> Path:
    with LogWriter(directory, METADATA) as writer:
        for batch in batches:
            writer.write(batch)
    return directory


def expected_arrays(pages: list[dict]) -> dict[str, np.ndarray]:
    """What read_log_arrays should give for ``pages``, built without the module under test."""
    out: dict[str, np.ndarray] = {"seed": np.full(len(pages), 3, np.int64)}
    for name, dtype in (
        ("shopper_id", np.int64),
        ("visit", np.int64),
        ("page", np.int64),
        ("reward", np.float64),
        ("terminated", np.bool_),
        ("truncated", np.bool_),
    ):
        out[name] = np.array([p[name] for p in pages], dtype)
    for name, dtype in (
        ("candidate_ids", np.int64),
        ("slate", np.int64),
        ("clicked", np.bool_),
        ("bought", np.bool_),
        ("true_utility", np.float64),
        ("examine_prob", np.float64),
        ("click_prob", np.float64),
    ):
        out[name] = np.stack([p[name] for p in pages]).astype(dtype)
    props = [p["propensities"] for p in pages]
    nan_row = np.full(K, np.nan)
    out["slate_log_prob"] = np.array([np.nan if q is None else q.slate_log_prob for q in props])
    out["prefix_log_probs"] = np.stack(
        [nan_row if q is None else q.prefix_log_probs for q in props]
    )
    out["position_probs"] = np.stack([nan_row if q is None else q.position_probs for q in props])
    out["propensity_samples"] = np.array([-1 if q is None else q.samples for q in props], np.int64)
    return out


# --- schema ----------------------------------------------------------------------------------


def test_the_schema_has_the_design_columns_and_only_propensities_are_nullable() -> None:
    assert LOG_SCHEMA.names == CONTRACT_COLUMNS
    nullable = [f.name for f in LOG_SCHEMA if f.nullable]
    assert nullable == [
        "slate_log_prob",
        "prefix_log_probs",
        "position_probs",
        "propensity_samples",
    ]
    types = {f.name: f.type for f in LOG_SCHEMA}
    assert types["run_id"] == types["recommender"] == types["shopper_type"] == pa.string()
    for name in ("seed", "shopper_id", "visit", "page", "propensity_samples"):
        assert types[name] == pa.int64()
    for name in ("reward", "slate_log_prob"):
        assert types[name] == pa.float64()
    assert types["terminated"] == types["truncated"] == pa.bool_()
    for name, item in (
        ("candidate_ids", pa.int64()),
        ("slate", pa.int64()),
        ("clicked", pa.bool_()),
        ("bought", pa.bool_()),
        ("prefix_log_probs", pa.float64()),
        ("position_probs", pa.float64()),
        ("true_utility", pa.float64()),
        ("examine_prob", pa.float64()),
        ("click_prob", pa.float64()),
    ):
        assert pa.types.is_list(types[name]) and types[name].value_type == item


# --- round trip ------------------------------------------------------------------------------


@pytest.mark.parametrize("with_propensities", ["some", "all", "none"])
def test_pages_round_trip_exactly_through_arrays(tmp_path: Path, with_propensities: str) -> None:
    pages = make_pages(np.random.default_rng(1), 150, with_propensities)
    log = write_log(tmp_path / "log", fill(pages, capacity=64))  # 3 batches, one partial
    got = read_log_arrays(log)
    want = expected_arrays(pages)
    assert got.keys() == want.keys()
    for name, array in want.items():
        assert got[name].dtype == array.dtype, name
        assert got[name].shape == array.shape, name
        np.testing.assert_array_equal(got[name], array, err_msg=name)


def test_pages_round_trip_through_pandas_with_nulls_where_no_propensities(tmp_path: Path) -> None:
    pages = make_pages(np.random.default_rng(2), 40, "some")
    frame = read_log(write_log(tmp_path / "log", fill(pages)))
    assert list(frame.columns) == CONTRACT_COLUMNS
    assert len(frame) == len(pages)
    for name in ("seed", "shopper_id", "visit", "page"):
        assert frame[name].dtype == np.int64
    assert frame["reward"].dtype == frame["slate_log_prob"].dtype == np.float64
    assert frame["terminated"].dtype == frame["truncated"].dtype == np.bool_
    assert frame["propensity_samples"].dtype == pd.Int64Dtype()
    assert (frame["run_id"] == "run-1").all() and (frame["recommender"] == "random").all()
    assert (frame["shopper_type"] == "cheap_seeker").all()
    for row, page in zip(frame.itertuples(index=False), pages, strict=True):
        assert row.shopper_id == page["shopper_id"] and row.reward == page["reward"]
        for name in ("candidate_ids", "slate", "clicked", "bought", "true_utility", "click_prob"):
            cell = getattr(row, name)
            assert cell.dtype == page[name].dtype, name
            np.testing.assert_array_equal(cell, page[name])
        q = page["propensities"]
        if q is None:
            assert np.isnan(row.slate_log_prob) and row.propensity_samples is pd.NA
            assert row.prefix_log_probs is None and row.position_probs is None
        else:
            assert row.slate_log_prob == q.slate_log_prob
            assert row.propensity_samples == q.samples
            np.testing.assert_array_equal(row.prefix_log_probs, q.prefix_log_probs)
            np.testing.assert_array_equal(row.position_probs, q.position_probs)


def test_a_log_without_any_propensities_keeps_the_typed_schema(tmp_path: Path) -> None:
    pages = make_pages(np.random.default_rng(3), 20, "none")
    log = write_log(tmp_path / "log", fill(pages))
    (part,) = log.iterdir()
    assert pq.read_schema(part).equals(LOG_SCHEMA)
    table = read_log_table(log)
    assert table.schema.equals(LOG_SCHEMA)
    for name in PROPENSITY_COLUMNS:
        assert table.column(name).null_count == len(pages)
        assert table.column(name).type == LOG_SCHEMA.field(name).type


# --- the sink --------------------------------------------------------------------------------


def test_the_sink_fills_writes_itself_and_starts_empty(tmp_path: Path) -> None:
    pages = make_pages(np.random.default_rng(4), 10, "some")
    made, batches = sink(capacity=4)
    made.append(*columns(pages[:5]))  # full at 4: written, one page left
    assert len(batches) == 1 and batches[0].num_rows == 4 and len(made) == 1
    first = batches[0]
    snapshot = first.to_pydict()
    made.append(*columns(pages[5:10]))  # must not write into the batch handed over
    assert first.to_pydict() == snapshot
    assert [b.num_rows for b in batches] == [4, 4] and len(made) == 2
    made.flush()
    assert len(made) == 0 and [b.num_rows for b in batches] == [4, 4, 2]
    ids = [i for b in batches for i in b.column("shopper_id").to_pylist()]
    assert ids == [p["shopper_id"] for p in pages]
    made.flush()  # nothing left: nothing written
    assert len(batches) == 3 and all(b.schema.equals(LOG_SCHEMA) for b in batches)


def test_a_small_batch_is_a_copy_that_later_pages_do_not_touch() -> None:
    pages = make_pages(np.random.default_rng(18), 10, "some")
    made, batches = sink(capacity=64)
    made.append(*columns(pages[:3]))
    made.flush()  # 3 of 64 rows: copied, the sink keeps its arrays
    small = batches[0]
    snapshot = small.to_pydict()
    made.append(*columns(pages[3:]))
    assert small.to_pydict() == snapshot
    assert small.column("shopper_id").to_pylist() == [p["shopper_id"] for p in pages[:3]]
    made.flush()
    assert batches[1].column("visit").to_pylist() == [p["visit"] for p in pages[3:]]


def test_a_wrong_width_is_refused() -> None:
    made, _ = sink()
    page = make_pages(np.random.default_rng(5), 1, "all")[0]
    pages, chance = columns([page])
    with pytest.raises(ValueError):
        made.append({**pages, "slate": np.arange(K + 1)[None]}, chance)
    with pytest.raises(ValueError):
        made.append({**pages, "candidate_ids": np.arange(N - 1)[None]}, chance)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"slate_size": 13}, "exceeds num_candidates"),
        ({"capacity": 0}, "capacity must be >= 1"),
        ({"run_id": 5}, "run_id must be a str"),
        ({"seed": 1.5}, "seed must be an int"),
        ({"capacity": 2**30}, "too large"),
    ],
)
def test_the_sink_refuses_bad_constants(kwargs: dict, message: str) -> None:
    args = {"run_id": "r", "seed": 0, "recommender": "x", "shopper_type": "y"}
    args |= {"num_candidates": N, "slate_size": K, **kwargs}
    with pytest.raises(ValueError, match=message):
        LogSink(list().append, **args)


# --- parts and metadata ----------------------------------------------------------------------


def test_several_parts_one_from_another_process_read_back_in_part_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    batches = [fill(make_pages(rng, 30, "some"))[0] for _ in range(3)]
    target = tmp_path / "log"
    context = multiprocessing.get_context("spawn")
    with LogWriter(target, METADATA) as writer:
        writer.write(batches[2], part=2)
        with ProcessPoolExecutor(1, mp_context=context) as pool:
            path = writer.part_path(1)
            pool.submit(write_part, path, [batches[1]], writer.metadata).result()
        writer.write(batches[0])  # part 0
        assert not target.exists()
    assert sorted(p.name for p in target.iterdir()) == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    got = read_log_table(target)
    assert got.equals(pa.Table.from_batches(batches))
    for part in target.iterdir():
        assert (
            pq.read_schema(part).metadata[METADATA_KEY]
            == pq.read_schema(target / "part-00000.parquet").metadata[METADATA_KEY]
        )


def test_a_part_handed_to_a_worker_is_not_written_by_the_orchestrator(tmp_path: Path) -> None:
    batch = fill(make_pages(np.random.default_rng(7), 5, "all"))[0]
    with (
        pytest.raises(ValueError, match="handed to a worker"),
        LogWriter(tmp_path / "log", METADATA) as writer,
    ):
        writer.part_path(0)
        writer.write(batch)
    assert list(tmp_path.iterdir()) == []


def test_metadata_round_trips_and_is_in_every_part(tmp_path: Path) -> None:
    metadata = {**METADATA, "catalog_hash": "ab12", "seed": np.int64(5), "path": Path("/x/y")}
    batch = fill(make_pages(np.random.default_rng(8), 5, "all"))[0]
    with LogWriter(tmp_path / "log", metadata) as writer:
        writer.write(batch, part=0)
        writer.write(batch, part=1)
    want = {**METADATA, "catalog_hash": "ab12", "seed": 5, "path": "/x/y"}
    assert read_log_metadata(tmp_path / "log") == want
    assert writer.metadata == want


def test_metadata_that_is_not_json_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="JSON"):
        LogWriter(tmp_path / "log", {"bad": object()})
    with pytest.raises(ValueError, match="JSON"):
        LogWriter(tmp_path / "log", {"nan": float("nan")})
    assert list(tmp_path.iterdir()) == []


def test_a_log_with_no_pages_still_reads_back(tmp_path: Path) -> None:
    with LogWriter(tmp_path / "log", METADATA):
        pass
    assert [p.name for p in (tmp_path / "log").iterdir()] == ["part-00000.parquet"]
    assert read_log_metadata(tmp_path / "log") == METADATA
    frame = read_log(tmp_path / "log")
    assert len(frame) == 0 and list(frame.columns) == CONTRACT_COLUMNS


# --- whole or not at all ---------------------------------------------------------------------


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_an_error_inside_the_block_leaves_no_folder_and_no_temporary(
    tmp_path: Path, error: type[BaseException]
) -> None:
    batch = fill(make_pages(np.random.default_rng(9), 5, "all"))[0]
    with pytest.raises(error), LogWriter(tmp_path / "log", METADATA) as writer:
        writer.write(batch)
        write_part(writer.part_path(3), [batch], writer.metadata)
        assert writer.temp_dir.parent == tmp_path and writer.temp_dir.name.startswith(".")
        raise error
    assert list(tmp_path.iterdir()) == []


def test_an_empty_folder_is_filled_and_a_missing_parent_is_made(tmp_path: Path) -> None:
    batch = fill(make_pages(np.random.default_rng(10), 5, "all"))[0]
    (tmp_path / "empty").mkdir()
    write_log(tmp_path / "empty", [batch])
    write_log(tmp_path / "a" / "b" / "log", [batch])
    assert read_log_table(tmp_path / "empty").equals(read_log_table(tmp_path / "a" / "b" / "log"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "empty"]
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "empty").stat().st_mode & 0o777 == 0o777 & ~umask
    assert (tmp_path / "empty" / "part-00000.parquet").stat().st_mode & 0o777 == 0o666 & ~umask


def test_an_occupied_target_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    (tmp_path / "file").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        LogWriter(tmp_path / "full", METADATA)
    with pytest.raises(ValueError, match="is a file"):
        LogWriter(tmp_path / "file", METADATA)
    with pytest.raises(ValueError, match="is a file"):
        check_log_target(tmp_path / "file" / "log")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "full"]
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_parent_is_refused_up_front(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(PermissionError, match="not writable"):
            LogWriter(locked / "log", METADATA)
    finally:
        locked.chmod(0o700)


def test_a_parent_this_process_cannot_write_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # as for a user without rights
    with pytest.raises(PermissionError, match=r"cannot write the log folder .*: .* not writable"):
        LogWriter(tmp_path / "new" / "log", METADATA)
    assert list(tmp_path.iterdir()) == []


def test_a_stray_file_or_a_foreign_part_aborts_the_commit(tmp_path: Path) -> None:
    batch = fill(make_pages(np.random.default_rng(11), 5, "all"))[0]
    with (
        pytest.raises(ValueError, match="other than part"),
        LogWriter(tmp_path / "log", METADATA) as writer,
    ):
        writer.write(batch)
        (writer.temp_dir / "notes.txt").write_text("x")
    with (
        pytest.raises(ValueError, match="another run's metadata"),
        LogWriter(tmp_path / "log", METADATA) as writer,
    ):
        write_part(writer.part_path(1), [batch], {"another": "run"})
    assert list(tmp_path.iterdir()) == []


def test_a_part_writer_that_fails_leaves_nothing(tmp_path: Path) -> None:
    batch = fill(make_pages(np.random.default_rng(12), 5, "all"))[0]
    with pytest.raises(RuntimeError), PartWriter(tmp_path / "part-00000.parquet", {}) as part:
        part.write(batch)
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="part-NNNNN"):
        PartWriter(tmp_path / "data.parquet", {})


def test_a_batch_with_another_schema_is_refused(tmp_path: Path) -> None:
    batch = fill(make_pages(np.random.default_rng(13), 5, "all"))[0]
    with (
        pytest.raises(ValueError, match="log schema"),
        LogWriter(tmp_path / "log", METADATA) as writer,
    ):
        writer.write(batch.drop_columns(["reward"]))
    assert list(tmp_path.iterdir()) == []


# --- reader errors ---------------------------------------------------------------------------


def test_the_readers_refuse_what_is_not_a_log(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        read_log(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no part"):
        read_log(tmp_path / "empty")

    batch = fill(make_pages(np.random.default_rng(14), 5, "all"))[0]
    log = write_log(tmp_path / "log", [batch])
    (log / "README.txt").write_text("x")
    with pytest.raises(ValueError, match=r"other than part-<number>\.parquet: README\.txt"):
        read_log_arrays(log)
    (log / "README.txt").unlink()

    pq.write_table(pa.table({"x": [1, 2]}), log / "part-00001.parquet")
    with pytest.raises(ValueError, match=r"part-00001\.parquet has another schema"):
        read_log_metadata(log)
    (log / "part-00001.parquet").write_bytes(b"not parquet")
    with pytest.raises(ValueError, match=r"part-00001\.parquet is not a Parquet file"):
        read_log_table(log)
    (log / "part-00001.parquet").unlink()

    with pytest.raises(ValueError, match="unknown log column"):
        read_log_arrays(log, columns=["slate", "utility"])


def test_parts_of_different_runs_or_widths_are_refused(tmp_path: Path) -> None:
    batch = fill(make_pages(np.random.default_rng(15), 5, "all"))[0]
    log = write_log(tmp_path / "log", [batch])
    write_part(log / "part-00001.parquet", [batch], {"another": "run"})
    with pytest.raises(ValueError, match="different run metadata"):
        read_log_metadata(log)

    wide, written = sink(width=K + 1)
    page = make_pages(np.random.default_rng(16), 1, "none")[0]
    for name in ("slate", "clicked", "bought", "true_utility", "examine_prob", "click_prob"):
        page[name] = np.resize(page[name], K + 1)
    wide.append(*columns([page]))
    wide.flush()
    write_part(log / "part-00002.parquet", written, METADATA)
    with pytest.raises(ValueError, match="'slate' has rows of different lengths"):
        read_log_arrays(log)
    assert len(read_log(log)) == 11  # the frame takes lists of any length


def test_read_log_arrays_can_give_string_columns(tmp_path: Path) -> None:
    log = write_log(tmp_path / "log", fill(make_pages(np.random.default_rng(17), 5, "all")))
    got = read_log_arrays(log, columns=["recommender", "slate"])
    assert list(got) == ["recommender", "slate"]
    assert got["recommender"].tolist() == ["random"] * 5 and got["slate"].shape == (5, K)
