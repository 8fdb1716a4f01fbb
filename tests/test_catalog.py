"""The catalog (DESIGN §4): reproducible generation, CSV/Parquet round trips, validation."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simshop_core.catalog import (
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
