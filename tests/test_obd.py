"""The Open Bandit Dataset importer (simshop data obd) and the OBP slate-feedback export.

The real download runs in `test_real_obd_sample`: it uses the user's OBD cache when it is
complete, else downloads obp 0.5.7's sdist (its pinned SHA-256 checked) once per test session
into a temporary folder (~10 s; PyPI must be reachable). The other download tests serve a
locally built archive through a monkeypatched urlopen: no network. Set SIMSHOP_NO_NETWORK=1
to skip the real one when there is no cache.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import urllib.error
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from simshop_cli.main import cli
from simshop_core.logs import (
    LogSink,
    LogWriter,
    read_log,
    read_log_arrays,
    read_log_metadata,
)
from simshop_core.recommender import Propensities
from simshop_lab.data import obd
from simshop_lab.data.obp_export import (
    load_obp_feedback,
    obp_feedback_from_log,
    save_obp_feedback,
    to_obp_slate_feedback,
)

N_ITEMS = 4


def obd_csv(path: Path, rows: list[tuple[int, int, int, float]], n_items: int = N_ITEMS) -> Path:
    """An OBD-format log CSV (the real files' columns: an unnamed index, timestamp, item_id,
    position, click, propensity_score, 4 hashed user features, n_items affinities)."""
    frame = pd.DataFrame(rows, columns=["item_id", "position", "click", "propensity_score"])
    frame.insert(
        0, "timestamp", [f"2019-11-24 00:00:{i:02d}.000000+00:00" for i in range(len(rows))]
    )
    for j in range(4):
        frame[f"user_feature_{j}"] = "81ce123cbb5bd8ce818f60fb3586bba5"
    for j in range(n_items):
        frame[f"user-item_affinity_{j}"] = 0.0
    frame.to_csv(path)
    return path


def item_context_csv(path: Path, n_items: int = N_ITEMS) -> Path:
    frame = pd.DataFrame(
        {
            "item_id": np.arange(n_items),
            "item_feature_0": np.linspace(-1, 1, n_items),
            "item_feature_1": [["a", "b", "a", "c"][i % 4] for i in range(n_items)],
            "item_feature_2": ["x"] * n_items,
            "item_feature_3": [["p", "q", "q", "p"][i % 4] for i in range(n_items)],
        }
    )
    frame.to_csv(path)
    return path


ROWS = [(2, 1, 0, 0.25), (0, 3, 1, 0.5), (3, 2, 0, 0.125), (2, 2, 1, 0.0625)]


@pytest.fixture
def tiny_log(tmp_path: Path) -> Path:
    return obd.write_obd_log(
        "bts",
        obd_csv(tmp_path / "all.csv", ROWS),
        item_context_csv(tmp_path / "item_context.csv"),
        tmp_path / "log",
        n_items=N_ITEMS,
    )


def test_obd_rows_become_one_item_pages(tiny_log: Path) -> None:
    frame = read_log(tiny_log)
    assert len(frame) == len(ROWS)
    items, positions, clicks, pscores = (np.array(c) for c in zip(*ROWS, strict=True))
    assert [s.tolist() for s in frame["slate"]] == [[i] for i in items]
    assert all(c.tolist() == list(range(N_ITEMS)) for c in frame["candidate_ids"])
    np.testing.assert_array_equal(frame["page"], positions)
    np.testing.assert_array_equal(frame["visit"], 1)
    np.testing.assert_array_equal(frame["shopper_id"], np.arange(len(ROWS)))
    assert [c.tolist() for c in frame["clicked"]] == [[bool(c)] for c in clicks]
    np.testing.assert_array_equal(frame["reward"], clicks)
    assert not any(b.any() for b in frame["bought"])
    np.testing.assert_allclose(np.stack(frame["position_probs"])[:, 0], pscores)
    np.testing.assert_allclose(frame["slate_log_prob"], np.log(pscores))
    np.testing.assert_allclose(np.stack(frame["prefix_log_probs"])[:, 0], np.log(pscores))
    assert (frame["propensity_samples"] == obd.BTS_PROPENSITY_SAMPLES).all()
    for column in ("true_utility", "examine_prob", "click_prob"):
        assert np.isnan(np.stack(frame[column])).all()
    assert set(frame["recommender"]) == {"obd_bts"}
    assert set(frame["shopper_type"]) == {"obd"}

    meta = read_log_metadata(tiny_log)
    assert {k: meta[k] for k in ("source", "policy", "campaign", "license", "logger")} == {
        "source": "obd",
        "policy": "bts",
        "campaign": "all",
        "license": "CC BY 4.0",
        "logger": "other",
    }
    assert meta["n_items"] == N_ITEMS and meta["slate_size"] == 1 and meta["truth"] is False
    assert meta["item_context"]["item_id"] == list(range(N_ITEMS))


def test_slate_log_and_item_features(tiny_log: Path) -> None:
    log = obd.obd_slate_log(tiny_log)
    assert log.slate.shape == (4, 1) and log.n_candidates == N_ITEMS
    assert log.logger.kind == "other"
    # item_feature_0, then one-hot: 3 categories of feature_1, 1 of feature_2, 2 of feature_3.
    assert log.item_features.shape == (4, N_ITEMS, 1 + 3 + 1 + 2)
    np.testing.assert_array_equal(log.item_features[:, :, 1:].sum(axis=2), 3)
    np.testing.assert_allclose(log.position_probs[:, 0], [r[3] for r in ROWS])


def test_uniform_and_marginal_targets(tiny_log: Path) -> None:
    log = obd.obd_slate_log(tiny_log)
    target = obd.uniform_target(log, np.random.default_rng(0), n_slates=4000)
    np.testing.assert_allclose(target.position_probs, 1 / N_ITEMS)
    np.testing.assert_allclose(target.slate_log_prob, np.log(1 / N_ITEMS))
    assert target.marginals.shape == (4, N_ITEMS, 1)
    counts = np.bincount(target.slates.reshape(-1), minlength=N_ITEMS) / target.slates.size
    np.testing.assert_allclose(counts, 1 / N_ITEMS, atol=0.02)

    # Per-page marginals: page i shows only item i % 2 -> that is what is drawn and weighed.
    probs = np.zeros((4, N_ITEMS))
    probs[np.arange(4), np.arange(4) % 2] = 1.0
    target = obd.marginal_target(log, probs, np.random.default_rng(1), n_slates=8)
    assert (target.slates[:, :, 0] == (np.arange(4) % 2)[:, None]).all()
    expected = probs[np.arange(4), log.slate[:, 0]]
    np.testing.assert_array_equal(target.position_probs[:, 0], expected)
    assert np.isneginf(target.slate_log_prob[expected == 0]).all()
    with pytest.raises(ValueError, match="summing to 1"):
        obd.marginal_target(log, np.full(N_ITEMS, 0.5), np.random.default_rng(0))


def test_estimators_read_the_obd_log(tiny_log: Path) -> None:
    from simshop_lab.ope.estimators import estimate

    log = obd.obd_slate_log(tiny_log)
    target = obd.uniform_target(log, np.random.default_rng(0))
    pscore = np.array([r[3] for r in ROWS])
    click = np.array([r[2] for r in ROWS], float)
    w = (1 / N_ITEMS) / pscore
    for metric in ("clicks", "reward"):  # the same on OBD: the reward is the click
        ips = estimate("ips", log, target, metric)
        assert ips.estimate == pytest.approx(np.mean(w * click))
        snips = estimate("snips", log, target, metric)
        assert snips.estimate == pytest.approx(np.sum(w * click) / np.sum(w))
        assert estimate("iips", log, target, metric).estimate == pytest.approx(ips.estimate)
    with pytest.raises(ValueError, match="uniform or epsilon logger"):
        estimate("pi", log, target, "clicks")


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ([(4, 1, 0, 0.5)], "item_id"),
        ([(1, 4, 0, 0.5)], "position"),
        ([(1, 1, 2, 0.5)], "click"),
        ([(1, 1, 0, 0.0)], "propensity_score"),
    ],
)
def test_bad_rows_are_one_clear_error_and_write_nothing(
    tmp_path: Path, rows: list, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        obd.write_obd_log(
            "random",
            obd_csv(tmp_path / "all.csv", rows),
            item_context_csv(tmp_path / "ic.csv"),
            tmp_path / "log",
            n_items=N_ITEMS,
        )
    assert not (tmp_path / "log").exists()


def test_missing_column_is_named(tmp_path: Path) -> None:
    path = obd_csv(tmp_path / "all.csv", ROWS)
    pd.read_csv(path, index_col=0).drop(columns="propensity_score").to_csv(path)
    with pytest.raises(ValueError, match=r"lacks column.*propensity_score"):
        obd.read_obd_csv(path, N_ITEMS)
    with pytest.raises(ValueError, match="unknown OBD policy"):
        obd.csv_paths(tmp_path, "ts")


def test_empirical_marginals(tmp_path: Path) -> None:
    marginals = obd.empirical_position_marginals(obd_csv(tmp_path / "a.csv", ROWS), N_ITEMS)
    expected = np.zeros((N_ITEMS, 3))
    expected[2, 0] = 1.0  # position 1: item 2 once
    expected[[3, 2], 1] = 0.5  # position 2: items 3 and 2
    expected[0, 2] = 1.0
    np.testing.assert_array_equal(marginals, expected)


# ---------------------------------------------------------------------------------------------
# The OBP export


def append_page(sink: LogSink, propensities: Propensities | None = None, **page: Any) -> None:
    """One page into a sink, as a batch of one."""
    columns = {name: np.asarray(value)[None] for name, value in page.items()}
    sink.append(columns, Propensities.stack([propensities], len(page["slate"])))


def _slate_log(tmp_path: Path) -> Path:
    """A k = 3 log with two recommenders, candidates that differ per page, and one without
    propensities."""
    rng = np.random.default_rng(3)
    n, k, pages = 6, 3, 5
    meta = {"source": "test"}
    with LogWriter(tmp_path / "log", meta) as writer:
        for name, with_props in (("uniform", True), ("popularity", False)):
            buf = LogSink(writer.write, "r", 0, name, "t", n, k)
            for page in range(pages):
                slate = rng.permutation(n)[:k]
                probs = rng.uniform(0.1, 0.9, k)
                prefix = np.log(np.cumprod(probs))
                append_page(
                    buf,
                    shopper_id=page,
                    visit=1,
                    page=1,
                    candidate_ids=100 + rng.permutation(20)[:n],
                    slate=slate,
                    clicked=rng.random(k) < 0.5,
                    bought=rng.random(k) < 0.2,
                    reward=1.0,
                    terminated=False,
                    truncated=False,
                    true_utility=np.zeros(k),
                    examine_prob=np.ones(k),
                    click_prob=np.full(k, 0.5),
                    propensities=Propensities(prefix[-1], prefix, probs) if with_props else None,
                )
            buf.flush()
    return tmp_path / "log"


def test_obp_feedback_shapes_and_propensities(tmp_path: Path) -> None:
    log = _slate_log(tmp_path)
    arrays = read_log_arrays(log, columns=None)
    rec = read_log_arrays(log, ["recommender"])["recommender"]
    arrays = {name: a[rec == "uniform"] for name, a in arrays.items()}
    fb = obp_feedback_from_log(log, metric="buys")  # the only logger with propensities
    n, k = arrays["slate"].shape
    assert fb["n_rounds"] == n and fb["len_list"] == k
    for key in ("slate_id", "action", "reward", "position", "pscore", "pscore_item_position",
                "pscore_cascade"):  # fmt: skip
        assert fb[key].shape == (n * k,), key
    assert fb["context"].shape == (n, 0)
    np.testing.assert_array_equal(fb["slate_id"], np.repeat(np.arange(n), k))
    np.testing.assert_array_equal(fb["position"], np.tile(np.arange(k), n))
    # Actions name the shown products; propensities come back exactly.
    shown = np.take_along_axis(arrays["candidate_ids"], arrays["slate"], axis=1)
    np.testing.assert_array_equal(fb["action_ids"][fb["action"]], shown.reshape(-1))
    assert fb["n_unique_action"] == len(np.unique(arrays["candidate_ids"]))
    np.testing.assert_allclose(np.log(fb["pscore"][::k]), arrays["slate_log_prob"])
    np.testing.assert_allclose(np.log(fb["pscore_cascade"]).reshape(n, k),
                               arrays["prefix_log_probs"])  # fmt: skip
    np.testing.assert_allclose(fb["pscore_item_position"].reshape(n, k), arrays["position_probs"])
    np.testing.assert_array_equal(fb["reward"].reshape(n, k), arrays["bought"])
    # OBP's SIPS on the dict (its formula: Σ w·r over rows / number of slates) is the IPS
    # estimate of the slate clicks.
    w = 0.5 / fb["pscore"]
    np.testing.assert_allclose(
        (w * fb["reward"]).sum() / len(np.unique(fb["slate_id"])),
        np.mean(0.5 / np.exp(arrays["slate_log_prob"]) * arrays["bought"].sum(axis=1)),
    )

    path = save_obp_feedback(fb, tmp_path / "fb.npz")
    back = load_obp_feedback(path)
    assert back.keys() == fb.keys()
    assert back["n_rounds"] == n and isinstance(back["n_rounds"], int)
    assert back["action_context"] is None
    for key, value in fb.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(back[key], value)


def test_obp_export_refuses_pages_without_propensities(tmp_path: Path) -> None:
    log = _slate_log(tmp_path)
    with pytest.raises(ValueError, match="no pages with propensities"):
        obp_feedback_from_log(log, logger="popularity")
    with pytest.raises(ValueError, match="no propensities"):
        to_obp_slate_feedback(read_log_arrays(log))
    with pytest.raises(ValueError, match="clicks or buys"):
        obp_feedback_from_log(log, metric="reward")  # type: ignore[arg-type]


def test_obp_export_of_an_obd_log_keeps_the_obd_position(tiny_log: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["data", "export-obp", "--log", str(tiny_log), "-o", str(tmp_path / "o.npz")]
    )
    assert result.exit_code == 0, result.output
    fb = load_obp_feedback(tmp_path / "o.npz")
    np.testing.assert_array_equal(fb["position"], [r[1] - 1 for r in ROWS])
    np.testing.assert_array_equal(fb["action"], [r[0] for r in ROWS])
    np.testing.assert_allclose(fb["pscore_item_position"], [r[3] for r in ROWS])
    assert fb["len_list"] == 3 and fb["n_unique_action"] == N_ITEMS
    assert fb["action_context"].shape == (N_ITEMS, 7)


# ---------------------------------------------------------------------------------------------
# The download


def _fake_sdist(directory: Path, files: dict[str, bytes]) -> Path:
    path = directory / obd.OBP_SDIST_NAME
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"obp-{obd.OBP_VERSION}/obp/dataset/obd/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _fake_fetch(monkeypatch: pytest.MonkeyPatch, calls: list, archive: Path | None = None,
                error: Exception | None = None) -> None:  # fmt: skip
    """urllib's urlopen, as obd calls it: serves ``archive`` (a locally built file) for any
    URL, or raises ``error``; no network."""

    def urlopen(url: str, timeout: float) -> Any:
        calls.append(url)
        if error is not None:
            raise error
        assert archive is not None
        return archive.open("rb")

    monkeypatch.setattr("urllib.request.urlopen", urlopen)


def _fake_files(tmp_path: Path) -> dict[str, bytes]:
    csv = obd_csv(tmp_path / "src.csv", ROWS).read_bytes()
    context = item_context_csv(tmp_path / "ic.csv").read_bytes()
    return {name: (context if "item_context" in name else csv) for name in obd.CACHE_FILES}


def _trust(monkeypatch: pytest.MonkeyPatch, archive: Path | None, files: dict[str, bytes]) -> None:
    """Pin ``archive`` and ``files`` as if they were obp's real ones."""
    if archive is not None:
        monkeypatch.setattr(
            obd, "OBP_SDIST_SHA256", hashlib.sha256(archive.read_bytes()).hexdigest()
        )
    digests = {name: hashlib.sha256(files[name]).hexdigest() for name in obd.CACHE_FILES}
    monkeypatch.setattr(obd, "CACHE_FILES", digests)


def test_download_failure_is_one_line_and_nonzero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list = []
    _fake_fetch(monkeypatch, calls, error=urllib.error.URLError("Name or service not known"))
    result = CliRunner().invoke(
        cli, ["data", "obd", "--cache-dir", str(tmp_path / "c"), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 1 and calls == [obd.OBP_SDIST_URL]
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: could not download obp-0.5.7.tar.gz (the OBD sample)")
    assert "Name or service not known" in lines[0] and "--cache-dir" in lines[0]
    assert not (tmp_path / "c").exists() and not (tmp_path / "o").exists()


def test_download_timeout_and_http_errors_are_download_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_fetch(monkeypatch, [], error=TimeoutError())
    with pytest.raises(obd.ObdDownloadError, match="no answer within 5 s"):
        obd.fetch_obd(tmp_path, timeout=5)
    gone = urllib.error.HTTPError(obd.OBP_SDIST_URL, 404, "Not Found", None, None)  # type: ignore[arg-type]
    _fake_fetch(monkeypatch, [], error=gone)
    with pytest.raises(obd.ObdDownloadError, match="answered HTTP 404"):
        obd.fetch_obd(tmp_path)


def test_an_archive_that_is_not_the_pinned_one_is_never_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _fake_files(tmp_path)
    archive = _fake_sdist(tmp_path, files)
    _trust(monkeypatch, None, files)  # the CSVs would pass: only the archive's pin stops it
    opened: list = []
    monkeypatch.setattr(obd.tarfile, "open", lambda *a, **k: opened.append(a))
    _fake_fetch(monkeypatch, [], archive)
    with pytest.raises(obd.ObdDownloadError, match="not the pinned 3060d67fedfc"):
        obd.fetch_obd(tmp_path / "cache")
    assert opened == [] and not (tmp_path / "cache").exists()


def test_an_oversized_download_is_cut_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(obd, "OBP_SDIST_MAX_BYTES", 100)
    big = tmp_path / "big.tar.gz"
    big.write_bytes(b"x" * 1000)
    _fake_fetch(monkeypatch, [], big)
    with pytest.raises(obd.ObdDownloadError, match="more than 100 bytes"):
        obd.fetch_obd(tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_download_extracts_the_csvs_once_and_checks_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _fake_files(tmp_path)
    archive = _fake_sdist(tmp_path, {**files, "random/men/men.csv": b"not wanted"})
    monkeypatch.setattr(obd, "OBP_SDIST_SHA256", hashlib.sha256(archive.read_bytes()).hexdigest())
    calls: list = []
    _fake_fetch(monkeypatch, calls, archive)
    # The real digests reject the fake files, and nothing lands in the cache.
    with pytest.raises(obd.ObdDownloadError, match="not the expected file"):
        obd.fetch_obd(tmp_path / "cache")
    assert not any((tmp_path / "cache").rglob("*.csv"))

    _trust(monkeypatch, archive, files)
    cache = obd.fetch_obd(tmp_path / "cache")
    assert sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*.csv")) == sorted(files)
    assert obd.fetch_obd(tmp_path / "cache") == cache and len(calls) == 2  # cached: no download
    written = obd.convert_obd(cache, tmp_path / "out", ["random"], n_items=N_ITEMS)
    assert list(written) == ["random"]
    meta = read_log_metadata(written["random"])
    assert meta["policy"] == "random" and meta["logger"] == "uniform"
    # Every use checks the cache again: a file changed since is refused, not converted.
    csv, _ = obd.csv_paths(cache, "bts")
    csv.write_bytes(csv.read_bytes() + b"0,1,1,0.5\n")
    with pytest.raises(ValueError, match="is not the OBD file SimShop expects"):
        obd.convert_obd(cache, tmp_path / "out2", ["bts"], n_items=N_ITEMS)
    with pytest.raises(ValueError, match="remove it to download the sample again"):
        obd.fetch_obd(cache)
    assert len(calls) == 2 and not (tmp_path / "out2").exists()


def test_archive_members_are_read_by_exact_name_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _fake_files(tmp_path)
    archive = tmp_path / obd.OBP_SDIST_NAME
    prefix = f"obp-{obd.OBP_VERSION}/obp/dataset/obd/"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in files.items():
            if name == "bts/all/all.csv":  # a link where a wanted file should be
                link = tarfile.TarInfo(prefix + name)
                link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tar.addfile(link)
                continue
            info = tarfile.TarInfo(prefix + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for evil in ("../../escaped.csv", "/tmp/absolute.csv", prefix + "../../../up.csv"):
            info = tarfile.TarInfo(evil)
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
    _trust(monkeypatch, archive, files)
    _fake_fetch(monkeypatch, [], archive)
    with pytest.raises(obd.ObdDownloadError, match=r"lacks the OBD file\(s\) bts/all/all.csv"):
        obd.fetch_obd(tmp_path / "cache" / "obd")
    assert not (tmp_path / "cache").exists()
    assert not list(tmp_path.rglob("escaped.csv")) and not list(tmp_path.rglob("up.csv"))


def test_a_fabricated_cache_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    for policy in obd.OBD_POLICIES:
        csv, context = obd.csv_paths(cache, policy)
        csv.parent.mkdir(parents=True)
        obd_csv(csv, [(79, 1, 1, 0.0125), (0, 2, 0, 0.0125)], n_items=80)
        item_context_csv(context, n_items=80)
    calls: list = []
    _fake_fetch(monkeypatch, calls, error=AssertionError("no download for a full cache"))
    result = CliRunner().invoke(
        cli, ["data", "obd", "--cache-dir", str(cache), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 1 and calls == []
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "is not the OBD file SimShop expects" in lines[0]
    assert not (tmp_path / "o").exists()


def test_cli_writes_both_logs_from_a_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    rows = [(79, 1, 1, 0.0125), (0, 2, 0, 0.0125)]
    files = {}
    for policy in obd.OBD_POLICIES:
        csv, context = obd.csv_paths(cache, policy)
        csv.parent.mkdir(parents=True)
        obd_csv(csv, rows, n_items=80)
        item_context_csv(context, n_items=80)
        for path in (csv, context):
            files[path.relative_to(cache).as_posix()] = path.read_bytes()
    _trust(monkeypatch, None, files)  # a cache of the expected files
    calls: list = []
    _fake_fetch(monkeypatch, calls, error=AssertionError("no download for a full cache"))
    result = CliRunner().invoke(
        cli, ["data", "obd", "--cache-dir", str(cache), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 0, result.output
    assert calls == []
    assert "2 pages of obd_random" in result.output and "2 pages of obd_bts" in result.output
    assert read_log_metadata(tmp_path / "o" / "random")["policy"] == "random"
    np.testing.assert_array_equal(read_log_arrays(tmp_path / "o" / "bts")["reward"], [1, 0])
    # An output that is not new or empty is refused before anything is downloaded.
    result = CliRunner().invoke(
        cli, ["data", "obd", "--cache-dir", str(tmp_path / "none"), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 1 and "is not empty" in result.output and calls == []


def test_default_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert obd.default_cache_dir() == tmp_path / "simshop" / "obd"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert obd.default_cache_dir() == Path.home() / ".cache" / "simshop" / "obd"


# ---------------------------------------------------------------------------------------------
# The real data


@pytest.fixture(scope="session")
def real_obd_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user's complete OBD cache, else a download into a per-session temporary folder."""
    if obd.cache_complete(obd.default_cache_dir()):
        return obd.default_cache_dir()
    if os.environ.get("SIMSHOP_NO_NETWORK"):
        pytest.skip("no OBD cache and SIMSHOP_NO_NETWORK is set")
    return obd.fetch_obd(tmp_path_factory.mktemp("obd-cache"))


def test_real_obd_sample(real_obd_cache: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["data", "obd", "--cache-dir", str(real_obd_cache), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 0, result.output
    assert "10,000 pages of obd_random" in result.output
    random = read_log_arrays(tmp_path / "o" / "random")
    bts = read_log_arrays(tmp_path / "o" / "bts")
    assert len(random["reward"]) == len(bts["reward"]) == 10_000
    np.testing.assert_allclose(random["position_probs"], 1 / 80)
    assert random["candidate_ids"].shape == (10_000, 80)
    assert set(np.unique(random["page"])) == {1, 2, 3}
    # ZOZOTOWN's Monte Carlo propensities: multiples of 1/200,000.
    counts = bts["position_probs"] * obd.BTS_PROPENSITY_SAMPLES
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-6)
    assert read_log_metadata(tmp_path / "o" / "bts")["license"] == "CC BY 4.0"
    assert obd.obd_slate_log(tmp_path / "o" / "bts").item_features.shape[:2] == (10_000, 80)
