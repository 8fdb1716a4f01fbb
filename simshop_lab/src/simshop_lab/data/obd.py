"""The Open Bandit Dataset's small sample as SimShop logs, for `simshop ope`.

The Open Bandit Dataset (Saito et al., NeurIPS 2021 Datasets and Benchmarks; ZOZO, Inc.,
CC BY 4.0) holds real fashion e-commerce logs from ZOZOTOWN: three items are recommended in a
box, by a uniform-random policy on some traffic and by Bernoulli Thompson sampling on the rest,
at the same time (24-30 Nov 2019), with the logging policy's propensity of each shown item.
Its small sample (10,000 rows per policy and campaign) ships inside the ``obp`` source
distribution; `fetch_obd` downloads that archive from PyPI with the standard library, checks
its pinned SHA-256 before reading it (nothing of it is built or run: ``obp`` itself cannot
be installed on Python 3.11), and keeps only the CSVs of campaign "all" in a cache, whose
files are checked against their SHA-256 every time they are used.

The mapping (one OBD row -> one logged page), decided here and written into each log's
metadata under ``"mapping"``:

- an OBD row is one item shown at one position of the 3-item box, with its click. Rows of one
  impression are not kept together in the sample (its 10,000 rows are drawn from all
  impressions), so a row becomes one page whose slate is that single item (k = 1);
- ``candidate_ids`` are the 80 item ids 0..79 (OBD's action space), so ``slate`` = [item_id];
- ``page`` is the OBD position, 1 (top) to 3: a one-item slate has no position of its own;
  ``visit`` is 1;
- ``shopper_id`` is the row number in the CSV: OBD has no user ids (its user features are
  hashed categories, not identities), so every page is its own shopper and CIs that cluster by
  shopper treat rows as independent; ``shopper_type`` is "obd";
- ``position_probs`` = [propensity_score], OBD's P(this item at this position) under the
  logging policy; ``slate_log_prob`` and ``prefix_log_probs`` = log(propensity_score), which is
  the probability of the one-item slate; ``propensity_samples`` is 0 for the random policy
  (exact 1/80) and `BTS_PROPENSITY_SAMPLES` for Bernoulli TS, whose propensities ZOZOTOWN
  computed by Monte Carlo (every logged value is a multiple of 1/200,000);
- ``clicked`` = [click], ``reward`` = click; ``bought`` = [False]: OBD has no purchases, so
  the metric ``buys`` means nothing on these logs; ``terminated`` True, ``truncated`` False;
- ``true_utility``, ``examine_prob``, ``click_prob`` = [NaN]: real logs have no simulator
  truth (the schema does not allow nulls there);
- ``recommender`` is "obd_random" or "obd_bts"; ``run_id`` "obd-<policy>-all"; ``seed`` 0.

Timestamps and the per-row user features / user-item affinities are not in the log (its
schema is fixed); the item features are, as JSON in the metadata (``"item_context"``), and
`obd_item_features` turns them into a numeric matrix for reward models.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simshop_core.logs import (
    LogSink,
    LogWriter,
    check_log_target,
    read_log_arrays,
    read_log_metadata,
)
from simshop_core.recommender import Propensities
from simshop_core.reward import RewardWeights
from simshop_lab.ope.data import Logger, SlateLog, Target

if TYPE_CHECKING:
    import pandas as pd

OBP_VERSION = "0.5.7"
#: obp 0.5.7's source archive on PyPI and its SHA-256 (PyPI's own digest of the file): the
#: download is checked against it before anything of it is read.
OBP_SDIST_NAME = f"obp-{OBP_VERSION}.tar.gz"
OBP_SDIST_URL = (
    "https://files.pythonhosted.org/packages/5c/c8/"
    f"3b511884a171091638d00a4255f11a635f33e0600094c255ec820f7a052f/{OBP_SDIST_NAME}"
)
OBP_SDIST_SHA256 = "3060d67fedfcfadf1e7a6f2608987f74412b5eb74d2c567edeb147595c68f2a0"
OBP_SDIST_MAX_BYTES = 16 * 2**20  # the archive is 1.3 MB
OBD_POLICIES = ("random", "bts")
OBD_CAMPAIGN = "all"
OBD_LICENSE = "CC BY 4.0"
N_ITEMS = 80  # campaign "all"
N_POSITIONS = 3
#: ZOZOTOWN's Monte Carlo draws behind the Bernoulli-TS propensities, inferred from the logged
#: values (all multiples of 1/200,000; OBD does not state it).
BTS_PROPENSITY_SAMPLES = 200_000
#: The columns read from an OBD log CSV (the real files have 84 more: user features and
#: user-item affinities, which the SimShop log has no place for).
CSV_COLUMNS = ("timestamp", "item_id", "position", "click", "propensity_score")
ITEM_CONTEXT_COLUMNS = ("item_id", "item_feature_0", "item_feature_1", "item_feature_2",
                        "item_feature_3")  # fmt: skip
#: The files kept from the sdist, relative to the cache, with their SHA-256 (obp 0.5.7):
#: a changed archive is an error, not silently different data.
CACHE_FILES: dict[str, str] = {
    "random/all/all.csv": "7168295b6e0a9eabcf3392320a5dd434e542b68e705d5cd9491499af589812f1",
    "random/all/item_context.csv": (
        "eba04cc23d5f130a93ff174c5392986882b94c3839433cb8143870eaa6221358"
    ),
    "bts/all/all.csv": "0ad874e4dbf6902f0845dd478ad8dde5ef6903583d3ffaace78411bdad064106",
    "bts/all/item_context.csv": (
        "5d4359ba1cfa3ae88f0f1bae66bd633859fe6323817183632ee57b83539d9153"
    ),
}
#: An OBD page's reward is its click, which is ctr·CTR with k = 1 and no other term: with these
#: weights the estimators' metric "reward" is "clicks" (no remainder for a reward model).
OBD_REWARD_WEIGHTS = RewardWeights(ctr=1.0, btr=0.0, utility=0.0, repeat=0.0, no_click=0.0,
                                   page=0.0)  # fmt: skip
_SDIST_PREFIX = f"obp-{OBP_VERSION}/obp/dataset/obd/"
MAPPING = {
    "page": "one OBD row: the one item shown at one position of ZOZOTOWN's 3-item box",
    "slate": "[item_id]; candidate_ids are the item ids 0..79",
    "page_number": "the OBD position, 1 (top) to 3",
    "shopper_id": "the CSV row number: OBD has no user ids",
    "position_probs": "[propensity_score] = P(this item at this position) under the logger",
    "slate_log_prob": "log(propensity_score)",
    "clicked": "[click]; reward = click; bought = [False] (OBD has no purchases)",
    "truth": "true_utility, examine_prob, click_prob are NaN (real logs have no truth)",
}


class ObdDownloadError(OSError):
    """The OBD sample could not be downloaded (no network, not the pinned archive, …)."""


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/simshop/obd``, or ``~/.cache/simshop/obd``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "simshop" / "obd"


def csv_paths(cache_dir: str | os.PathLike[str], policy: str) -> tuple[Path, Path]:
    """The (log CSV, item context CSV) of ``policy`` in the cache."""
    _check_policy(policy)
    root = Path(cache_dir) / policy / OBD_CAMPAIGN
    return root / f"{OBD_CAMPAIGN}.csv", root / "item_context.csv"


def cache_complete(cache_dir: str | os.PathLike[str]) -> bool:
    """Whether every OBD file is in the cache, each checked against its SHA-256 (on every use:
    files are written whole, but a cache folder is only a folder); a file that is there but is
    not the expected one is a `ValueError` in one line, never data."""
    cache = Path(cache_dir)
    complete = True
    for name, expected in CACHE_FILES.items():
        path = cache / name
        if not path.is_file():
            complete = False
            continue
        digest = _sha256_file(path)
        if digest != expected:
            raise ValueError(
                f"{path} is not the OBD file SimShop expects (SHA-256 {digest[:12]}…, expected "
                f"{expected[:12]}…); remove it to download the sample again"
            )
    return complete


def fetch_obd(
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    url: str | None = None,
    timeout: float = 600.0,
) -> Path:
    """The cache folder holding the verified OBD CSVs, downloading obp's sdist once if needed.

    Fetches ``url`` (default `OBP_SDIST_URL`, obp 0.5.7's source archive on PyPI) with the
    standard library into a temporary folder, checks the archive's SHA-256 against
    `OBP_SDIST_SHA256` before reading anything of it, and copies only the CSVs of
    `CACHE_FILES` out of it (each checked against its own SHA-256, each written whole).
    Nothing of the archive is built, installed or run. A failed download is an
    `ObdDownloadError` with one line saying why; a cached file that is not the expected one,
    a `ValueError`.
    """
    cache = default_cache_dir() if cache_dir is None else Path(cache_dir).expanduser()
    if cache.exists() and not cache.is_dir():
        raise ValueError(f"OBD cache {cache} is a file: pass a folder as --cache-dir")
    if cache_complete(cache):
        return cache
    with tempfile.TemporaryDirectory(prefix="simshop-obd-") as tmp:
        archive = _download(url or OBP_SDIST_URL, Path(tmp) / OBP_SDIST_NAME, timeout)
        found = _extract(archive)
        cache.mkdir(parents=True, exist_ok=True)  # only now: a failed download leaves nothing
        _write_cache(found, cache)
    return cache


def _download(url: str, target: Path, timeout: float) -> Path:
    """``url`` saved as ``target``, hashed while it streams; any other archive than the
    pinned one is refused before it is opened."""
    import urllib.error
    import urllib.request

    what = f"could not download {OBP_SDIST_NAME} (the OBD sample)"
    hint = "check the network, or put the CSVs in --cache-dir"
    digest = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, target.open("wb") as out:
            while chunk := response.read(1 << 16):
                size += len(chunk)
                if size > OBP_SDIST_MAX_BYTES:
                    raise ObdDownloadError(
                        f"{what}: {url} sends more than {OBP_SDIST_MAX_BYTES:,} bytes, which is "
                        "not the pinned archive"
                    )
                digest.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as e:
        raise ObdDownloadError(f"{what}: {url} answered HTTP {e.code} ({hint})") from None
    except urllib.error.URLError as e:
        raise ObdDownloadError(f"{what}: {e.reason} ({hint})") from None
    except TimeoutError:
        raise ObdDownloadError(f"{what}: no answer within {timeout:.0f} s ({hint})") from None
    except (OSError, ValueError) as e:  # a broken connection, a malformed URL
        if isinstance(e, ObdDownloadError):
            raise
        raise ObdDownloadError(f"{what}: {e} ({hint})") from None
    found = digest.hexdigest()
    if found != OBP_SDIST_SHA256:
        raise ObdDownloadError(
            f"{what}: {url} gave a file with SHA-256 {found[:12]}…, not the pinned "
            f"{OBP_SDIST_SHA256[:12]}… of obp {OBP_VERSION}; nothing of it was used"
        )
    return target


def _extract(archive: Path) -> dict[str, bytes]:
    """The `CACHE_FILES` of the (verified) archive, each checked against its SHA-256: read
    from regular-file members of exactly those names, never extracted by their own paths."""
    wanted = {_SDIST_PREFIX + name: name for name in CACHE_FILES}
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                name = wanted.get(member.name)
                if name is None or not member.isfile():
                    continue
                if member.size > OBP_SDIST_MAX_BYTES * 8:
                    raise ObdDownloadError(f"{archive.name}: {name} is too large")
                handle = tar.extractfile(member)
                assert handle is not None  # a regular file has contents
                found[name] = handle.read()
    except (OSError, tarfile.TarError, EOFError) as e:
        if isinstance(e, ObdDownloadError):
            raise
        raise ObdDownloadError(f"{archive.name} is not a readable archive: {e}") from None
    missing = sorted(set(CACHE_FILES) - set(found))
    if missing:
        raise ObdDownloadError(f"{archive.name} lacks the OBD file(s) {', '.join(missing)}")
    for name, data in found.items():
        digest = hashlib.sha256(data).hexdigest()
        if digest != CACHE_FILES[name]:
            raise ObdDownloadError(f"{archive.name}: {name} is not the expected file "
                                   f"(SHA-256 {digest[:12]}…)")  # fmt: skip
    return found


def _write_cache(found: Mapping[str, bytes], cache: Path) -> None:
    for name, data in found.items():  # each file whole: a temporary name, then a rename
        target = cache / name
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# Reading the CSVs


def _check_policy(policy: str) -> None:
    if policy not in OBD_POLICIES:
        raise ValueError(f"unknown OBD policy {policy!r}; the policies are random, bts")


def read_obd_csv(path: str | os.PathLike[str], n_items: int = N_ITEMS) -> pd.DataFrame:
    """An OBD log CSV's `CSV_COLUMNS`, checked: ids in 0..n_items-1, positions 1..3, clicks
    0/1, propensities in (0, 1]."""
    import pandas as pd

    path = Path(path)
    try:
        frame = pd.read_csv(path, usecols=lambda c: c in CSV_COLUMNS)
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise ValueError(f"cannot read the OBD log {path}: {e}") from None
    missing = [c for c in CSV_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"OBD log {path} lacks column(s) {', '.join(missing)}; an OBD log "
                         f"has {', '.join(CSV_COLUMNS)}")  # fmt: skip
    checks = (
        ("item_id", lambda s: s.between(0, n_items - 1), f"integers 0..{n_items - 1}"),
        ("position", lambda s: s.between(1, N_POSITIONS), f"integers 1..{N_POSITIONS}"),
        ("click", lambda s: s.isin((0, 1)), "0 or 1"),
        ("propensity_score", lambda s: (s > 0) & (s <= 1), "in (0, 1]"),
    )
    for column, ok, accepted in checks:
        values = frame[column]
        if column != "propensity_score" and not pd.api.types.is_integer_dtype(values):
            raise ValueError(f"OBD log {path}: column {column} must hold {accepted}")
        bad = ~ok(values)
        if bad.any():
            row = int(np.argmax(bad.to_numpy()))
            raise ValueError(f"OBD log {path}: {column} = {values.iloc[row]!r} in row {row}; "
                             f"it must be {accepted}")  # fmt: skip
    return frame


def read_item_context(path: str | os.PathLike[str], n_items: int = N_ITEMS) -> pd.DataFrame:
    """An OBD ``item_context.csv``: one row per item id 0..n_items-1, in id order."""
    import pandas as pd

    path = Path(path)
    try:
        frame = pd.read_csv(path, usecols=lambda c: c in ITEM_CONTEXT_COLUMNS)
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise ValueError(f"cannot read the OBD item context {path}: {e}") from None
    missing = [c for c in ITEM_CONTEXT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"OBD item context {path} lacks column(s) {', '.join(missing)}")
    frame = frame.sort_values("item_id").reset_index(drop=True)
    if not np.array_equal(frame["item_id"].to_numpy(), np.arange(n_items)):
        raise ValueError(f"OBD item context {path} must list each item id 0..{n_items - 1} once")
    return frame[list(ITEM_CONTEXT_COLUMNS)]


# ---------------------------------------------------------------------------------------------
# Writing a log


def obd_metadata(policy: str, item_context: pd.DataFrame, n_items: int = N_ITEMS) -> dict:
    """The Parquet key-value metadata of an OBD log (see the module docstring)."""
    from simshop_core import __version__

    _check_policy(policy)
    return {
        "source": "obd",
        "policy": policy,
        "campaign": OBD_CAMPAIGN,
        "license": OBD_LICENSE,
        "dataset": "Open Bandit Dataset, small sample (ZOZO, Inc.), shipped in the obp sdist",
        "dataset_url": "https://research.zozo.com/data.html",
        "citation": "Saito, Aihara, Matsutani, Narita. Open Bandit Dataset and Pipeline: "
        "Towards Realistic and Reproducible Off-Policy Evaluation. NeurIPS 2021 "
        "Datasets and Benchmarks.",
        "obp_version": OBP_VERSION,
        "logger": {"random": "uniform", "bts": "other"}[policy],
        "n_items": n_items,
        "n_positions": N_POSITIONS,
        "slate_size": 1,
        "metrics": ["clicks", "reward"],
        "truth": False,
        "mapping": MAPPING,
        "item_context": {c: item_context[c].tolist() for c in ITEM_CONTEXT_COLUMNS},
        "simshop_core": __version__,
    }


def write_obd_log(
    policy: str,
    csv: str | os.PathLike[str],
    item_context_csv: str | os.PathLike[str],
    output: str | os.PathLike[str],
    n_items: int = N_ITEMS,
) -> Path:
    """Write one policy's OBD rows as a SimShop log folder at ``output`` (whole or not at all).

    ``n_items`` is 80 for the real files; a smaller value serves hand-made test files.
    """
    _check_policy(policy)
    target = check_log_target(output)  # before reading: a bad target is a quick error
    frame = read_obd_csv(csv, n_items)
    items = read_item_context(item_context_csv, n_items)
    item = frame["item_id"].to_numpy(np.int64)
    position = frame["position"].to_numpy(np.int64)
    click = frame["click"].to_numpy(np.int64).astype(bool)
    pscore = frame["propensity_score"].to_numpy(np.float64)
    samples = 0 if policy == "random" else BTS_PROPENSITY_SAMPLES
    rows = len(frame)
    nan = np.full((rows, 1), np.nan)
    pages = {
        "shopper_id": np.arange(rows),
        "visit": np.ones(rows, np.int64),
        "page": position,
        "candidate_ids": np.broadcast_to(np.arange(n_items, dtype=np.int64), (rows, n_items)),
        "slate": item[:, None],
        "clicked": click[:, None],
        "bought": np.zeros((rows, 1), bool),
        "reward": click.astype(np.float64),
        "terminated": np.ones(rows, bool),
        "truncated": np.zeros(rows, bool),
        "true_utility": nan,
        "examine_prob": nan,
        "click_prob": nan,
    }
    log_p = np.log(pscore)
    propensities = Propensities(
        slate_log_prob=log_p,
        prefix_log_probs=log_p[:, None],
        position_probs=pscore[:, None],
        samples=np.full(rows, samples, np.int64),
    )
    with LogWriter(target, obd_metadata(policy, items, n_items)) as writer:
        sink = LogSink(
            writer.write,
            run_id=f"obd-{policy}-{OBD_CAMPAIGN}",
            seed=0,
            recommender=f"obd_{policy}",
            shopper_type="obd",
            num_candidates=n_items,
            slate_size=1,
            capacity=max(rows, 1),
        )
        sink.append(pages, propensities)
        sink.flush()
    return target


def convert_obd(
    cache_dir: str | os.PathLike[str],
    output: str | os.PathLike[str],
    policies: Sequence[str] = OBD_POLICIES,
    n_items: int = N_ITEMS,
) -> dict[str, Path]:
    """Write ``output/<policy>`` for each policy from the cached CSVs; {policy: log folder}."""
    for policy in policies:
        _check_policy(policy)
        check_log_target(Path(output) / policy)
    if not cache_complete(cache_dir):  # every use checks the cached files' SHA-256
        raise ValueError(
            f"the OBD cache {cache_dir} lacks some of the sample's files; run `simshop data obd` "
            "to download them"
        )
    written = {}
    for policy in policies:
        csv, context = csv_paths(cache_dir, policy)
        written[policy] = write_obd_log(policy, csv, context, Path(output) / policy, n_items)
    return written


# ---------------------------------------------------------------------------------------------
# For the estimators


def is_obd_log(metadata: Mapping[str, Any]) -> bool:
    return metadata.get("source") == "obd"


def obd_item_features(metadata: Mapping[str, Any]) -> np.ndarray:
    """float (m, F): item_feature_0 (numeric, as OBD standardised it) and a one-hot column
    per category of item_feature_1..3 (hashed categories), from an OBD log's metadata."""
    context = metadata.get("item_context")
    if not is_obd_log(metadata) or not isinstance(context, Mapping):
        raise ValueError("not an OBD log: its metadata has no source 'obd' and item_context")
    columns = [np.asarray(context["item_feature_0"], np.float64)[:, None]]
    for name in ITEM_CONTEXT_COLUMNS[2:]:
        _, codes = np.unique(np.asarray(context[name], dtype=object).astype(str),
                             return_inverse=True)  # fmt: skip
        columns.append(np.eye(codes.max() + 1)[codes])
    return np.hstack(columns)


def obd_slate_log(directory: str | os.PathLike[str]) -> SlateLog:
    """The estimators' input for an OBD log folder (one logger, k = 1, m = 80)."""
    metadata = read_log_metadata(directory)
    if not is_obd_log(metadata):
        raise ValueError(f"{directory} is not an OBD log (its metadata has no source 'obd')")
    arrays = read_log_arrays(directory)
    n = len(arrays["reward"])
    features = obd_item_features(metadata)
    logger = Logger(kind="uniform") if metadata["logger"] == "uniform" else Logger(kind="other")
    return SlateLog(
        slate=arrays["slate"],
        n_candidates=int(metadata["n_items"]),
        clicked=arrays["clicked"],
        bought=arrays["bought"],
        reward=arrays["reward"],
        shopper=arrays["shopper_id"],
        shopper_type=np.full(n, "obd", dtype=object),
        slate_log_prob=arrays["slate_log_prob"],
        prefix_log_probs=arrays["prefix_log_probs"],
        position_probs=arrays["position_probs"],
        # The same items on every page: a broadcast view, not N copies.
        item_features=np.broadcast_to(features, (n, *features.shape)),
        logger=logger,
        reward_weights=OBD_REWARD_WEIGHTS,
    )


def marginal_target(
    log: SlateLog, marginals: np.ndarray, rng: np.random.Generator, n_slates: int = 16
) -> Target:
    """A one-item target on a k = 1 log that shows candidate j with probability
    ``marginals[j]`` (float (m,): the same on every page) or ``marginals[i, j]`` (float
    (N, m): page i's own distribution, e.g. by the page's OBD position); rows sum to 1."""
    m, n = log.n_candidates, len(log.reward)
    if log.slate.shape[1] != 1:
        raise ValueError(f"marginal_target is for one-item slates, the log has k = "
                         f"{log.slate.shape[1]}")  # fmt: skip
    probs = (
        np.broadcast_to(np.asarray(marginals, np.float64), (n, m))
        if np.ndim(marginals) == 1
        else np.asarray(marginals, np.float64)
    )
    if probs.shape != (n, m) or np.any(probs < 0) or not np.allclose(probs.sum(axis=1), 1):
        raise ValueError(f"target marginals must be (m,) or (pages, m) = (…, {m}) "
                         f"probabilities summing to 1 per page")  # fmt: skip
    p = np.take_along_axis(probs, log.slate, axis=1)  # (N, 1)
    with np.errstate(divide="ignore"):
        log_p = np.log(p)
    # Inverse-CDF draws, all pages at once.
    cdf = np.cumsum(probs, axis=1)
    u = rng.random((n, n_slates)) * cdf[:, -1:]
    drawn = np.minimum((cdf[:, None, :] <= u[:, :, None]).sum(axis=2), m - 1)
    return Target(
        slate_log_prob=log_p[:, 0],
        prefix_log_probs=log_p,
        position_probs=p,
        marginals=probs[:, :, None],
        slates=drawn[:, :, None],
        next_probs=probs[:, None, :],  # k = 1: position 0 has no prefix to condition on
    )


def uniform_target(log: SlateLog, rng: np.random.Generator, n_slates: int = 16) -> Target:
    """OBD's uniform-random policy as a target: each of the m items with probability 1/m."""
    return marginal_target(log, np.full(log.n_candidates, 1.0 / log.n_candidates), rng, n_slates)


def empirical_position_marginals(csv: str | os.PathLike[str], n_items: int = N_ITEMS) -> np.ndarray:
    """float (n_items, 3): how often each item was shown at each position in an OBD log, per
    position (columns sum to 1) — the time-averaged action distribution of its policy."""
    frame = read_obd_csv(csv, n_items)
    counts = np.zeros((n_items, N_POSITIONS))
    np.add.at(counts, (frame["item_id"].to_numpy(), frame["position"].to_numpy() - 1), 1.0)
    totals = counts.sum(axis=0, keepdims=True)
    return counts / np.where(totals > 0, totals, 1.0)
