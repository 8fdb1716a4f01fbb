"""The catalog: reproducible generation, CSV/Parquet round trips, validation."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simshop_core.catalog import (
    CATEGORICAL_COLUMNS,
    DEFAULT_REFERENCE_DATE,
    SUBCATEGORIES,
    Catalog,
    CatalogError,
    generate_catalog,
    load_catalog,
)

CATEGORIES = {"Electronics", "Clothing", "Home", "Sports", "Beauty", "Books", "Toys"}
BRANDS = {f"Brand{letter}" for letter in "ABCDEFGHIJKLMNO"}
COLORS = {"White", "Black", "Red", "Blue", "Green", "Yellow"}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return generate_catalog(250, seed=0)


# --- generation ----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_same_seed_gives_byte_identical_files(tmp_path: Path, suffix: str) -> None:
    a = generate_catalog(100, seed=7).save(tmp_path / f"a{suffix}")
    b = generate_catalog(100, seed=7).save(tmp_path / f"b{suffix}")
    c = generate_catalog(100, seed=8).save(tmp_path / f"c{suffix}")
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_generation_does_not_depend_on_the_process(tmp_path: Path) -> None:
    # A fresh interpreter with another hash seed writes the same bytes: nothing hangs on hash().
    here = generate_catalog(60, seed=3).save(tmp_path / "here.csv")
    there = tmp_path / "there.csv"
    code = (
        "from simshop_core import generate_catalog; "
        f"generate_catalog(60, seed=3).save({str(there)!r})"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    assert here.read_bytes() == there.read_bytes()


def test_vocabularies(catalog: Catalog) -> None:
    columns = catalog.columns
    assert set(columns["category"]) == CATEGORIES
    assert set(columns["brand"]) == BRANDS
    assert set(columns["color"]) == COLORS
    pairs = set(zip(columns["category"].tolist(), columns["subcategory"].tolist(), strict=True))
    assert pairs == {(c, s) for c, subs in SUBCATEGORIES.items() for s in subs}
    assert all(len(subs) == 3 for subs in SUBCATEGORIES.values()) and len(SUBCATEGORIES) == 7
    assert len(set(columns["subcategory"])) == 21


def test_value_ranges(catalog: Catalog) -> None:
    columns = catalog.columns
    assert len(catalog) == 250
    assert np.array_equal(columns["product_id"], np.arange(1, 251))
    assert columns["price"].min() > 0
    assert columns["quality_score"].min() >= 0 and columns["quality_score"].max() <= 1
    popularity = columns["popularity"]
    assert popularity.min() >= 0 and np.all(popularity == np.round(popularity))
    # popularity ~ Poisson(20 + 80·quality): strongly tied to quality
    assert np.corrcoef(popularity, columns["quality_score"])[0, 1] > 0.8
    days = columns["days_since_release"]
    assert days.min() >= 0 and days.max() <= 731
    names = zip(columns["name"], columns["brand"], strict=True)
    assert all(name.startswith(brand) for name, brand in names)


def test_reference_date_is_fixed_stored_and_used(tmp_path: Path) -> None:
    assert generate_catalog(5).reference_date == DEFAULT_REFERENCE_DATE
    reference = dt.date(2023, 6, 1)
    catalog = generate_catalog(40, seed=1, reference_date=reference)
    expected = (np.datetime64(reference) - catalog.release_date).astype(np.float64)
    assert np.array_equal(catalog.columns["days_since_release"], expected)
    for suffix in (".csv", ".parquet"):
        loaded = Catalog.load(catalog.save(tmp_path / f"c{suffix}"))
        assert loaded.reference_date == reference
        assert np.array_equal(loaded.columns["days_since_release"], expected)


def test_without_reference_date_column_the_default_is_used(tmp_path: Path) -> None:
    path = generate_catalog(10, seed=2, reference_date=dt.date(2024, 1, 1)).save(tmp_path / "c.csv")
    frame = pd.read_csv(path, dtype=str).drop(columns="reference_date")
    frame.to_csv(path, index=False)
    loaded = Catalog.load(path)
    assert loaded.reference_date == DEFAULT_REFERENCE_DATE
    expected = (np.datetime64(DEFAULT_REFERENCE_DATE) - loaded.release_date).astype(float)
    assert np.array_equal(loaded.columns["days_since_release"], expected)


def test_generate_rejects_no_items() -> None:
    with pytest.raises(ValueError, match="n_items"):
        generate_catalog(0)


# --- round trips --------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_round_trip(tmp_path: Path, catalog: Catalog, suffix: str) -> None:
    loaded = load_catalog(str(catalog.save(tmp_path / "sub" / f"catalog{suffix}")))
    assert loaded.reference_date == catalog.reference_date
    for name, column in catalog.columns.items():
        assert np.array_equal(loaded.columns[name], column), name
    assert np.array_equal(loaded.release_date, catalog.release_date)
    assert np.array_equal(loaded.description, catalog.description)


def test_load_catalog_passes_catalogs_through(catalog: Catalog) -> None:
    assert load_catalog(catalog) is catalog
    assert len(load_catalog()) == 250


def test_columns_are_read_only(catalog: Catalog) -> None:
    with pytest.raises(ValueError):
        catalog.columns["price"][0] = 1.0


# --- validation ---------------------------------------------------------------------------


def bad_catalog(
    tmp_path: Path, edit: Callable[[pd.DataFrame], object], suffix: str = ".csv"
) -> Path:
    """A valid 5-row catalog file after ``edit`` has changed its raw (string) frame."""
    good = generate_catalog(5, seed=0).save(tmp_path / f"good{suffix}")
    if suffix == ".csv":
        frame = pd.read_csv(good, dtype=str, keep_default_na=False)
    else:
        frame = pd.read_parquet(good)
    result = edit(frame)
    frame = result if isinstance(result, pd.DataFrame) else frame
    path = tmp_path / f"bad{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def put(column: str, row: int, value: object) -> Callable[[pd.DataFrame], None]:
    def edit(frame: pd.DataFrame) -> None:
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value

    return edit


# (edit, column, 1-based row, what the message says)
CSV_CASES = [
    (put("price", 2, "abc"), "price", 3, "not a finite number"),
    (put("price", 2, ""), "price", 3, "missing value"),
    (put("price", 1, "nan"), "price", 2, "missing value"),
    (put("price", 2, "0"), "price", 3, "must be positive"),
    (put("price", 4, "-3.5"), "price", 5, "must be positive"),
    (put("quality_score", 2, "1.5"), "quality_score", 3, r"within \[0, 1\]"),
    (put("quality_score", 0, "-0.1"), "quality_score", 1, r"within \[0, 1\]"),
    (put("popularity", 3, "-1"), "popularity", 4, "must not be negative"),
    (put("popularity", 3, "many"), "popularity", 4, "not a finite number"),
    (put("product_id", 2, "1"), "product_id", 3, "duplicate"),
    (put("product_id", 1, "2.5"), "product_id", 2, "not an integer"),
    (put("release_date", 2, "yesterday"), "release_date", 3, "not a date"),
    (put("release_date", 2, "2030-01-01"), "release_date", 3, "after the reference date"),
    (put("reference_date", 3, "2020-01-01"), "reference_date", 4, "same date"),
    (put("name", 1, ""), "name", 2, "empty value"),
    (put("brand", 4, "  "), "brand", 5, "empty value"),
]


@pytest.mark.parametrize(
    ("edit", "column", "row", "what"), CSV_CASES, ids=[f"{c[1]}-{c[3]}" for c in CSV_CASES]
)
def test_bad_values_name_column_and_row(
    tmp_path: Path, edit: Callable[[pd.DataFrame], None], column: str, row: int, what: str
) -> None:
    with pytest.raises(CatalogError, match=rf"column '{column}', row {row}: .*{what}"):
        Catalog.load(bad_catalog(tmp_path, edit))


def test_nan_in_parquet_names_column_and_row(tmp_path: Path) -> None:
    path = bad_catalog(tmp_path, put("price", 2, np.nan), suffix=".parquet")
    with pytest.raises(CatalogError, match=r"column 'price', row 3: missing value"):
        Catalog.load(path)


def test_bad_value_in_parquet(tmp_path: Path) -> None:
    path = bad_catalog(tmp_path, put("quality_score", 1, 2.0), suffix=".parquet")
    with pytest.raises(CatalogError, match=r"column 'quality_score', row 2: .*within"):
        Catalog.load(path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_missing_column(tmp_path: Path, suffix: str) -> None:
    path = bad_catalog(tmp_path, lambda f: f.drop(columns=["price", "brand"]), suffix)
    with pytest.raises(CatalogError, match=r"missing column\(s\) brand, price"):
        Catalog.load(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(CatalogError, match="empty"):
        Catalog.load(path)


def test_header_only_file(tmp_path: Path) -> None:
    path = bad_catalog(tmp_path, lambda f: f.iloc[0:0])
    with pytest.raises(CatalogError, match="no rows"):
        Catalog.load(path)


def test_unreadable_parquet(tmp_path: Path) -> None:
    path = tmp_path / "junk.parquet"
    path.write_text("this is not parquet")
    with pytest.raises(CatalogError, match="cannot be read as parquet"):
        Catalog.load(path)


@pytest.mark.parametrize("name", ["catalog.json", "catalog"])
def test_unknown_extension(tmp_path: Path, catalog: Catalog, name: str) -> None:
    (tmp_path / name).write_text("product_id\n1\n")
    with pytest.raises(CatalogError, match="unsupported catalog format"):
        Catalog.load(tmp_path / name)
    with pytest.raises(CatalogError, match="unsupported catalog format"):
        catalog.save(tmp_path / "out" / name)
    assert not (tmp_path / "out" / name).exists()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="does not exist"):
        Catalog.load(tmp_path / "nowhere.csv")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_failed_save_leaves_no_partial_file(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    path = tmp_path / f"catalog{suffix}"
    previous = generate_catalog(5, seed=9).save(path).read_bytes()

    def half_written(self: pd.DataFrame, target: str, *args: object, **kwargs: object) -> None:
        Path(target).write_text("product_id,na")  # a partial write, then the disk fills up
        raise OSError("No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_written)
    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_written)
    with pytest.raises(OSError, match="No space left"):
        catalog.save(path)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    assert path.read_bytes() == previous  # the old file is untouched


# --- values the env cannot represent (issue 9) ---------------------------------------------

# (column, value as written in a CSV, what the message says)
UNREPRESENTABLE = [
    ("price", "1e39", "outside [0.01, 10,000,000]"),  # inf as float32
    ("price", "1e-320", "outside [0.01, 10,000,000]"),  # subnormal: 0 as float32
    ("price", "0.001", "outside [0.01, 10,000,000]"),
    ("price", "10000000.5", "outside [0.01, 10,000,000]"),
    ("price", "inf", "not a finite number"),
    ("popularity", "1e308", "outside [0, 1,000,000,000]"),
    ("popularity", "1000000001", "outside [0, 1,000,000,000]"),
    ("popularity", "-inf", "not a finite number"),
    ("product_id", "12345678901234567890", "does not fit in 64 bits"),  # read as uint64
    ("product_id", "9223372036854775808", "does not fit in 64 bits"),  # 2**63
    ("product_id", "123456789012345678901234567", "does not fit in 64 bits"),  # read as float
    ("product_id", "-7", "is negative"),
]


@pytest.mark.parametrize(
    ("column", "value", "what"), UNREPRESENTABLE, ids=[f"{c}={v}" for c, v, _ in UNREPRESENTABLE]
)
def test_values_the_env_cannot_represent_are_refused(
    tmp_path: Path, column: str, value: str, what: str
) -> None:
    expected = rf"column '{column}', row 3: '{re.escape(value)}' .*{re.escape(what)}"
    with pytest.raises(CatalogError, match=expected):
        Catalog.load(bad_catalog(tmp_path, put(column, 2, value)))


@pytest.mark.parametrize(
    ("column", "value", "what"), UNREPRESENTABLE, ids=[f"{c}={v}" for c, v, _ in UNREPRESENTABLE]
)
def test_frames_are_checked_like_files(column: str, value: str, what: str) -> None:
    frame = generate_catalog(5, seed=0).to_frame()
    typed = float(value) if column != "product_id" or abs(float(value)) >= 2**64 else int(value)
    frame[column] = frame[column].astype(object)
    frame.loc[1, column] = typed
    with pytest.raises(CatalogError, match=rf"column '{column}', row 2: .*{re.escape(what)}"):
        Catalog.from_frame(frame)


def test_a_message_is_one_line_naming_column_and_row(tmp_path: Path) -> None:
    with pytest.raises(CatalogError) as info:
        Catalog.load(bad_catalog(tmp_path, put("price", 4, "1e39")))
    message = str(info.value)
    assert "\n" not in message
    assert message.endswith("column 'price', row 5: '1e39' is outside [0.01, 10,000,000]")


def test_typed_parquet_values_are_checked(tmp_path: Path) -> None:
    path = bad_catalog(tmp_path, put("popularity", 3, 1e308), suffix=".parquet")
    with pytest.raises(CatalogError, match=r"column 'popularity', row 4: 1e\+308 is outside"):
        Catalog.load(path)

    def uint64_ids(frame: pd.DataFrame) -> None:
        frame["product_id"] = np.arange(1, 6, dtype=np.uint64)
        frame.loc[2, "product_id"] = np.uint64(2**64 - 1)

    path = bad_catalog(tmp_path, uint64_ids, suffix=".parquet")
    with pytest.raises(CatalogError, match=r"column 'product_id', row 3: .*64 bits"):
        Catalog.load(path)


def test_ids_that_a_float_column_may_have_rounded_are_refused(tmp_path: Path) -> None:
    # One id written as "4.0" makes pandas read the column as floats, and 2**53 + 1 as 2**53.
    def edit(frame: pd.DataFrame) -> None:
        frame.loc[1, "product_id"] = str(2**53 + 1)
        frame.loc[3, "product_id"] = "4.0"

    with pytest.raises(CatalogError, match=r"row 2: '9007199254740993' cannot be read exactly"):
        Catalog.load(bad_catalog(tmp_path, edit))


def test_the_bounds_themselves_are_accepted_and_the_env_stays_finite(tmp_path: Path) -> None:
    from simshop_core import ShopEnv

    def extremes(frame: pd.DataFrame) -> None:
        frame.loc[0, ["product_id", "price", "popularity"]] = [str(2**63 - 1), "0.01", "0"]
        frame.loc[1, ["product_id", "price", "popularity"]] = ["0", "10000000", "1000000000"]

    catalog = Catalog.load(bad_catalog(tmp_path, extremes))
    assert catalog.columns["product_id"][0] == 2**63 - 1  # exact, not wrapped or rounded
    assert "9223372036854775807" in catalog.save(tmp_path / "again.csv").read_text()
    env = ShopEnv(catalog, users="all", num_candidates=5, slate_size=5)
    for box in env.observation_space["candidates"].values():
        assert np.all(np.isfinite(box.low)) and np.all(np.isfinite(box.high))
    env.reset(seed=0)
    for _ in range(30):  # every shopper model, on the extreme prices and popularities
        observation, reward, terminated, truncated, _ = env.step(np.arange(5))
        assert np.isfinite(reward)
        assert env.observation_space.contains(observation)
        if terminated or truncated:
            env.reset()


@pytest.mark.parametrize(
    ("n_items", "what"),
    [
        (0, "n_items=0"),
        (10**12, "n_items=1000000000000"),
        (2.5, "n_items=2.5"),
        (True, "n_items=True"),
    ],
)
def test_generate_refuses_absurd_sizes_naming_n_items(n_items: object, what: str) -> None:
    with pytest.raises(ValueError, match=rf"{what} must .*1,000,000"):
        generate_catalog(n_items)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "3"])
def test_generate_refuses_seeds_outside_the_one_range(seed: object) -> None:
    with pytest.raises(ValueError, match=r"seed=.* must .*4,294,967,295"):
        generate_catalog(5, seed=seed)  # type: ignore[arg-type]


def test_generate_takes_the_largest_seed() -> None:
    assert len(generate_catalog(3, seed=2**32 - 1)) == 3


@pytest.mark.parametrize("value", ["1e39", "1e-320", "12345678901234567890"])
def test_cli_validate_is_one_error_line(tmp_path: Path, value: str) -> None:
    column = "product_id" if len(value) > 10 else "price"
    path = bad_catalog(tmp_path, put(column, 2, value))
    result = subprocess.run(
        [sys.executable, "-m", "simshop_cli", "catalog", "validate", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: {path}: column {column!r}, row 3: {value!r} ")
    assert "Traceback" not in result.stderr


# --- large catalogs: a size check and lean strings ----------------------------------------


def test_text_columns_are_object_arrays_not_fixed_width(catalog: Catalog) -> None:
    # '<U106' holds 424 bytes per description whatever its length.
    for name in ("name", *CATEGORICAL_COLUMNS):
        assert catalog.columns[name].dtype == object, name
        assert all(type(v) is str for v in catalog.columns[name][:50])
    assert catalog.description.dtype == object and not catalog.description.flags.writeable
    # A categorical value is one object however many rows hold it.
    brands = catalog.columns["brand"]
    assert len({id(v) for v in brands}) == len(set(brands.tolist()))


def test_a_loaded_catalog_shares_its_categorical_strings(tmp_path: Path, catalog: Catalog) -> None:
    path = catalog.save(tmp_path / "c.csv")
    loaded = Catalog.load(path)
    colors = loaded.columns["color"]
    assert colors.dtype == object and len({id(v) for v in colors}) == len(set(colors.tolist()))
    assert loaded.fingerprint() == catalog.fingerprint()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_catalog_past_the_maximum_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, catalog: Catalog, suffix: str
) -> None:
    import simshop_core.catalog as catalog_module

    path = catalog.save(tmp_path / f"c{suffix}")
    # The same rule at a smaller limit (a file of a million rows would take a minute).
    monkeypatch.setattr(catalog_module, "MAX_ITEMS", len(catalog) - 1)
    monkeypatch.setattr(catalog_module, "_CSV_CHUNK_ROWS", 7)
    with pytest.raises(CatalogError) as caught:
        Catalog.load(path)
    message = str(caught.value)
    assert message == (
        f"{path}: more than {len(catalog) - 1:,} rows; a catalog holds at most "
        f"{len(catalog) - 1:,} items"
    )
    monkeypatch.setattr(catalog_module, "MAX_ITEMS", len(catalog))
    assert Catalog.load(path).fingerprint() == catalog.fingerprint()  # the limit itself is fine


def test_reading_in_chunks_gives_the_same_catalog_and_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, catalog: Catalog
) -> None:
    import simshop_core.catalog as catalog_module

    path = catalog.save(tmp_path / "c.csv")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[200, "price"] = "abc"
    frame.loc[230, "product_id"] = "1.5"
    frame.to_csv(tmp_path / "bad.csv", index=False)
    whole = Catalog.load(path)
    with pytest.raises(CatalogError) as whole_error:
        Catalog.load(tmp_path / "bad.csv")
    monkeypatch.setattr(catalog_module, "_CSV_CHUNK_ROWS", 17)
    assert Catalog.load(path).fingerprint() == whole.fingerprint()
    with pytest.raises(CatalogError) as chunked_error:
        Catalog.load(tmp_path / "bad.csv")
    assert str(chunked_error.value) == str(whole_error.value)
    assert "column 'product_id', row 231: '1.5' is not an integer" in str(whole_error.value)
    # Dates too: mixed forms parse alike by chunks, and the first bad one is the same row.
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[5, "release_date"] = "2024-02-03T10:30:00"
    frame.loc[40, "release_date"] = "20240203"
    dated = tmp_path / "dated.csv"
    frame.to_csv(dated, index=False)
    monkeypatch.setattr(catalog_module, "_CSV_CHUNK_ROWS", 10**6)
    whole = Catalog.load(dated)
    monkeypatch.setattr(catalog_module, "_CSV_CHUNK_ROWS", 17)
    assert Catalog.load(dated).fingerprint() == whole.fingerprint()
    frame.loc[120, "release_date"] = "2024-13-45"
    frame.to_csv(dated, index=False)
    with pytest.raises(CatalogError, match=r"'release_date', row 121: '2024-13-45' is not a date"):
        Catalog.load(dated)


def test_ids_past_int64_read_in_chunks_are_still_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, catalog: Catalog
) -> None:
    import simshop_core.catalog as catalog_module

    frame = pd.read_csv(catalog.save(tmp_path / "c.csv"), dtype=str, keep_default_na=False)
    frame.loc[240, "product_id"] = str(2**64 - 5)  # one chunk reads uint64, the others int64
    frame.to_csv(tmp_path / "big.csv", index=False)
    monkeypatch.setattr(catalog_module, "_CSV_CHUNK_ROWS", 50)
    with pytest.raises(CatalogError, match=r"row 241: .* does not fit in 64 bits"):
        Catalog.load(tmp_path / "big.csv")


def test_running_out_of_memory_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, catalog: Catalog
) -> None:
    import simshop_core.catalog as catalog_module

    path = catalog.save(tmp_path / "c.csv")

    def no_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(catalog_module, "validate_frame", no_memory)
    with pytest.raises(CatalogError, match=r"c\.csv: not enough memory to load this catalog"):
        Catalog.load(path)
