"""The product catalog: generated reproducibly, saved and loaded as CSV or Parquet, validated,
and held in memory as NumPy columns so that `Items` views and env steps are cheap.

Validation accepts only values the env can represent (its observations are float32 with
finite bounds taken from the catalog), and names the row and column of the first that is not:

- ``product_id``: an integer in [0, 2**63 - 1] (int64), unique. Negative ids are refused: an
  id is a label, and a negative one is almost always a 64-bit id that another tool wrapped.
- ``price``: in [`PRICE_MIN`, `PRICE_MAX`] = [0.01, 10,000,000] — a cent to ten million,
  so that no subnormal or zero price divides a utility into infinity and no price overflows
  float32.
- ``quality_score``: in [0, 1]. ``popularity``: in [0, `POPULARITY_MAX`] = [0, 1e9].
- ``release_date``: a date no later than the reference date.

Size: a catalog holds at most `MAX_ITEMS` (a million) items, generated or loaded; a larger
file is refused in one line after reading at most one chunk past the limit (a Parquet file by
its row count, before any row), and running out of memory while loading is one line too.
Names, descriptions and categorical values are object arrays of Python strings (equal
categorical values one shared object), not fixed-width ``<U`` arrays: loading and validating
a million items peaks at about 560 MB (``python benchmarks/catalog_memory.py``; 1.6 GB
with ``<U`` arrays).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simshop_core.bounds import MAX_ITEMS, check_int, check_seed
from simshop_core.files import atomic_path
from simshop_core.items import Items

if TYPE_CHECKING:
    import pandas as pd

#: A fixed default, never today's date, so a catalog means the same thing next year.
DEFAULT_REFERENCE_DATE = dt.date(2025, 1, 1)

SUBCATEGORIES: dict[str, tuple[str, str, str]] = {
    "Electronics": ("Phones", "Laptops", "Audio"),
    "Clothing": ("Shirts", "Trousers", "Shoes"),
    "Home": ("Kitchen", "Furniture", "Decor"),
    "Sports": ("Fitness", "Outdoor", "Team Sports"),
    "Beauty": ("Skincare", "Makeup", "Fragrance"),
    "Books": ("Fiction", "Non-fiction", "Comics"),
    "Toys": ("Puzzles", "Action Figures", "Board Games"),
}
BRANDS = tuple(f"Brand{chr(ord('A') + i)}" for i in range(15))
COLORS = ("White", "Black", "Red", "Blue", "Green", "Yellow")

CATEGORICAL_COLUMNS = ("category", "subcategory", "brand", "color")
REQUIRED_COLUMNS = (
    "product_id",
    "name",
    *CATEGORICAL_COLUMNS,
    "price",
    "quality_score",
    "popularity",
    "release_date",
)
#: The columns kept as text (names, descriptions and the categorical values).
TEXT_COLUMNS = ("name", "description", *CATEGORICAL_COLUMNS)
FILE_FORMATS = (".csv", ".parquet")
PRICE_MIN = 0.01
PRICE_MAX = 10_000_000.0
POPULARITY_MAX = 1e9
PRODUCT_ID_MAX = 2**63 - 1
#: Past this, a float64 no longer holds every integer: an id read as a float may have changed.
_EXACT_FLOAT_INT = 2**53


class CatalogError(ValueError):
    """A catalog that cannot be used; the message names the column and the row."""


class Catalog:
    """Products as NumPy columns plus the reference date that ``days_since_release`` counts from."""

    def __init__(
        self,
        frame: pd.DataFrame | dict[str, Any],
        reference_date: dt.date = DEFAULT_REFERENCE_DATE,
    ):
        """``frame``: the columns, as a validated DataFrame or a dict of arrays (no pandas
        needed: generating a catalog does not import it)."""

        def column(name: str, dtype: Any) -> np.ndarray:
            return np.asarray(frame[name]).astype(dtype)

        self.reference_date = reference_date
        release = column("release_date", "datetime64[D]")
        days = (np.datetime64(reference_date, "D") - release).astype(np.float64)
        self.columns: dict[str, np.ndarray] = {
            "product_id": column("product_id", np.int64),
            "name": _text(frame["name"]),
            **{c: _text(frame[c], shared=True) for c in CATEGORICAL_COLUMNS},
            "price": column("price", np.float64),
            "quality_score": column("quality_score", np.float64),
            "popularity": column("popularity", np.float64),
            "days_since_release": days,
        }
        for array in self.columns.values():
            array.flags.writeable = False
        self.release_date = release
        self.description = (
            _text(frame["description"])
            if "description" in frame
            else np.full(len(self.columns["product_id"]), "", dtype=object)
        )
        self.description.flags.writeable = False

    def __len__(self) -> int:
        return len(self.columns["product_id"])

    def __repr__(self) -> str:
        return f"Catalog({len(self)} items, reference_date={self.reference_date.isoformat()})"

    def items(
        self, index: np.ndarray | None = None, times_shown: np.ndarray | None = None
    ) -> Items:
        """An `Items` view of the rows at ``index`` (every row if None)."""
        return Items(self.columns, index, times_shown)

    def fingerprint(self) -> str:
        """A SHA-256 of the catalog's contents (columns and reference date), so a log or a
        results file can say exactly which catalog it came from."""
        digest = hashlib.sha256(self.reference_date.isoformat().encode())
        for name, values in self.columns.items():
            digest.update(name.encode())
            data = "\x1f".join(values.tolist()) if values.dtype == object else values
            digest.update(data.encode() if isinstance(data, str) else data.tobytes())
        return digest.hexdigest()

    def vocabulary(self, column: str) -> list[str]:
        """The distinct values of a categorical column, sorted."""
        return sorted(set(self.columns[column].tolist()))

    def codes(self, column: str, vocabulary: list[str] | None = None) -> np.ndarray:
        """Integer codes of a categorical column against ``vocabulary`` (default: its own)."""
        vocabulary = self.vocabulary(column) if vocabulary is None else vocabulary
        lookup = {value: code for code, value in enumerate(vocabulary)}
        values = self.columns[column]
        unknown = sorted(set(values.tolist()) - lookup.keys())
        if unknown:
            raise CatalogError(
                f"column {column!r} has values outside the expected vocabulary: "
                f"{', '.join(unknown[:5])}{' …' if len(unknown) > 5 else ''}"
            )
        return np.fromiter((lookup[v] for v in values), dtype=np.int64, count=len(values))

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(
            {
                "product_id": self.columns["product_id"],
                "name": self.columns["name"],
                "description": self.description,
                **{c: self.columns[c] for c in CATEGORICAL_COLUMNS},
                "price": self.columns["price"],
                "quality_score": self.columns["quality_score"],
                "popularity": _as_int_if_integral(self.columns["popularity"]),
                "release_date": pd.Series(self.release_date).dt.strftime("%Y-%m-%d"),
                "reference_date": self.reference_date.isoformat(),
            }
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write CSV or Parquet (by suffix), whole or not at all."""
        path = Path(path)
        suffix = _file_format(path)
        frame = self.to_frame()
        with atomic_path(path) as tmp:
            if suffix == ".csv":
                frame.to_csv(tmp, index=False, lineterminator="\n")
            else:
                frame.to_parquet(tmp, index=False)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Catalog:
        """Read and validate a CSV or Parquet catalog of at most `MAX_ITEMS` rows; any problem,
        a larger file or one that does not fit in memory included, is a `CatalogError`."""
        path = Path(path)
        suffix = _file_format(path)
        if not path.is_file():
            raise CatalogError(f"catalog file {str(path)!r} does not exist")
        try:
            raw = _read_csv(path) if suffix == ".csv" else _read_parquet(path)
            frame, reference_date = validate_frame(raw)
            del raw  # the raw strings go before the columns are built, and their memory too:
            _release_arrow_memory()  # pyarrow's allocator keeps freed pages otherwise
            return cls(frame, reference_date)
        except CatalogError as exc:
            raise CatalogError(f"{path}: {exc}") from None
        except MemoryError:
            raise CatalogError(
                f"{path}: not enough memory to load this catalog (about 600 MB per million "
                "items are needed)"
            ) from None

    @classmethod
    def from_frame(cls, raw: pd.DataFrame) -> Catalog:
        """Validate a frame of raw values (strings or typed) and build a catalog from it."""
        frame, reference_date = validate_frame(raw)
        return cls(frame, reference_date)

    def summary(self) -> dict[str, Any]:
        price = self.columns["price"]
        return {
            "items": len(self),
            "reference_date": self.reference_date.isoformat(),
            **{f"{c}_count": len(self.vocabulary(c)) for c in CATEGORICAL_COLUMNS},
            "price_min": float(price.min()),
            "price_median": float(np.median(price)),
            "price_max": float(price.max()),
            "quality_mean": float(self.columns["quality_score"].mean()),
            "popularity_mean": float(self.columns["popularity"].mean()),
            "days_since_release_max": float(self.columns["days_since_release"].max()),
        }


def _text(values: Any, shared: bool = False) -> np.ndarray:
    """Text as an object array of Python strings, not fixed-width ``<U`` (a million
    descriptions of up to 106 characters are 424 MB as ``<U106``); ``shared``: equal values
    are one object (a categorical column: 8 bytes a row plus its vocabulary)."""
    strings = map(_as_str, values)
    if shared:
        seen: dict[str, str] = {}
        strings = (seen.setdefault(v, v) for v in strings)
    return np.fromiter(strings, dtype=object, count=len(values))


def _as_str(value: Any) -> str:
    return value if type(value) is str else str(value)


def _as_int_if_integral(values: np.ndarray) -> np.ndarray:
    return values.astype(np.int64) if np.all(values == np.round(values)) else values


def generate_catalog(
    n_items: int = 250, seed: int = 0, reference_date: dt.date = DEFAULT_REFERENCE_DATE
) -> Catalog:
    """The prototype's catalog, reproducibly: the same seed gives the same catalog.

    ``n_items`` lies in [1, `MAX_ITEMS`] (a million) and ``seed`` in [0, 2**32 - 1]."""
    n_items = check_int("n_items", n_items, 1, MAX_ITEMS)
    seed = check_seed(seed)
    from faker import Faker  # imported here: only generation needs it

    rng = np.random.default_rng(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    categories = list(SUBCATEGORIES)
    category = rng.choice(categories, size=n_items)
    which = rng.integers(0, 3, size=n_items)
    subcategory = np.array(
        [SUBCATEGORIES[c][i] for c, i in zip(category, which, strict=True)], dtype=object
    )
    brand = rng.choice(BRANDS, size=n_items)
    color = rng.choice(COLORS, size=n_items)
    price = np.round(rng.lognormal(3.5, 0.75, size=n_items), 2).clip(min=0.01)
    quality = np.round(rng.uniform(0.0, 1.0, size=n_items), 4)
    popularity = rng.poisson(20 + 80 * quality).astype(np.int64)
    age_days = rng.integers(0, 731, size=n_items)
    release = np.datetime64(reference_date, "D") - age_days.astype("timedelta64[D]")
    names = [f"{b} {fake.word().title()} {sub}" for b, sub in zip(brand, subcategory, strict=True)]
    descriptions = [fake.sentence(nb_words=10) for _ in range(n_items)]
    frame = dict(
        {
            "product_id": np.arange(1, n_items + 1, dtype=np.int64),
            "name": names,
            "description": descriptions,
            "category": category,
            "subcategory": subcategory,
            "brand": brand,
            "color": color,
            "price": price,
            "quality_score": quality,
            "popularity": popularity,
            "release_date": release,
        }
    )
    return Catalog(frame, reference_date)


def load_catalog(source: Catalog | str | os.PathLike[str] | None = None) -> Catalog:
    """A `Catalog` as given, loaded from a path, or the default generated one."""
    if source is None:
        return generate_catalog()
    if isinstance(source, Catalog):
        return source
    return Catalog.load(source)


# --- validation --------------------------------------------------------------------------


def validate_frame(raw: pd.DataFrame) -> tuple[pd.DataFrame, dt.date]:
    """Parse and check every column; the first problem raises a `CatalogError`."""
    import pandas as pd

    if len(raw.columns) == 0 or len(raw) == 0:
        raise CatalogError("the catalog has no rows")
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise CatalogError(
            f"missing column(s) {', '.join(missing)}; required: {', '.join(REQUIRED_COLUMNS)}"
        )
    out = pd.DataFrame(index=raw.index)
    out["product_id"] = _parse_numeric(raw, "product_id", integer=True)
    for column in ("name", *CATEGORICAL_COLUMNS):
        out[column] = _parse_text(raw, column)
    if "description" in raw.columns:
        description = raw["description"]
        out["description"] = _as_text(description).where(description.notna(), "")
    out["price"] = _parse_numeric(raw, "price")
    out["quality_score"] = _parse_numeric(raw, "quality_score")
    out["popularity"] = _parse_numeric(raw, "popularity")
    out["release_date"] = _parse_dates(raw, "release_date")

    _check(raw, "price", out["price"] <= 0, "must be positive")
    _check_range(raw, out, "price", PRICE_MIN, PRICE_MAX)
    _check(
        raw,
        "quality_score",
        (out["quality_score"] < 0) | (out["quality_score"] > 1),
        "must be within [0, 1]",
    )
    _check(raw, "popularity", out["popularity"] < 0, "must not be negative")
    _check_range(raw, out, "popularity", 0, POPULARITY_MAX)
    _check(raw, "product_id", out["product_id"] < 0, "is negative; ids lie in [0, 2**63 - 1]")
    duplicated = out["product_id"].duplicated(keep="first")
    _check(out, "product_id", duplicated, "is a duplicate of an earlier row")

    reference_date = DEFAULT_REFERENCE_DATE
    if "reference_date" in raw.columns:
        ref = _parse_dates(raw, "reference_date")
        if ref.nunique() != 1:
            row = int(np.argmax((ref != ref.iloc[0]).to_numpy()))
            raise CatalogError(
                f"column 'reference_date', row {row + 1}: every row must carry the same date"
            )
        reference_date = ref.iloc[0].date()
    future = out["release_date"] > pd.Timestamp(reference_date)
    _check(out, "release_date", future, f"is after the reference date {reference_date}")
    return out, reference_date


def _bad_row(mask: pd.Series | np.ndarray) -> int | None:
    mask = np.asarray(mask, dtype=bool)
    return int(np.argmax(mask)) if mask.any() else None


def _check(frame: pd.DataFrame, column: str, mask: pd.Series, what: str) -> None:
    """The first row where ``mask`` holds is an error, showing ``frame``'s value (the raw one:
    '1e39' as the file has it, not 1e+39)."""
    row = _bad_row(mask)
    if row is not None:
        value = frame[column].iloc[row]
        value = value.item() if hasattr(value, "item") else value  # -3.0, not np.float64(-3.0)
        raise CatalogError(f"column {column!r}, row {row + 1}: {value!r} {what}")


def _check_range(
    raw: pd.DataFrame, out: pd.DataFrame, column: str, low: float, high: float
) -> None:
    values = out[column]
    _check(raw, column, (values < low) | (values > high), f"is outside [{low:g}, {high:,.0f}]")


def _is_blank(series: pd.Series, text: pd.Series | None = None) -> np.ndarray:
    """Missing, empty or a word for nothing; ``text``: the series as stripped text, if known."""
    text = _as_text(series).str.strip() if text is None else text
    blank = (series.isna() | text.eq("")).to_numpy(dtype=bool, copy=True)
    # Only a short value can be a word for nothing: lower-casing every name would copy them all.
    short = (text.str.len() <= 4).to_numpy()
    if short.any():
        words = text[short].str.lower().isin({"nan", "none", "null"}).to_numpy()
        blank[short] |= words
    return blank


def _as_text(series: pd.Series) -> pd.Series:
    """``series.astype(str)``, except that a column of Python strings (as the CSV reader gives
    text columns) stays one: the catalog keeps those very objects, not a copy of each."""
    from pandas.api.types import infer_dtype

    if series.dtype == object and infer_dtype(series, skipna=False) == "string":
        return series
    return series.astype(str)


def _parse_text(raw: pd.DataFrame, column: str) -> pd.Series:
    text = _as_text(raw[column]).str.strip()  # unchanged strings stay the same objects
    row = _bad_row(_is_blank(raw[column], text))
    if row is not None:
        raise CatalogError(f"column {column!r}, row {row + 1}: empty value")
    return text


def _parse_numeric(raw: pd.DataFrame, column: str, integer: bool = False) -> pd.Series:

    source = raw[column]
    blank = _is_blank(source)
    row = _bad_row(blank)
    if row is not None:
        raise CatalogError(f"column {column!r}, row {row + 1}: missing value (NaN or empty)")
    values = _to_numeric(source)
    row = _bad_row(values.isna() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan)))
    if row is not None:
        raise CatalogError(
            f"column {column!r}, row {row + 1}: {source.iloc[row]!r} is not a finite number"
        )
    if integer:
        return _as_int64(source, values, column)
    return values.astype(np.float64)


def _to_numeric(source: pd.Series) -> pd.Series:
    """``pd.to_numeric(source, errors="coerce")``, by chunks (see `_by_chunks`)."""
    import pandas as pd

    return _by_chunks(lambda part: pd.to_numeric(part, errors="coerce"), source)


def _by_chunks(parse: Callable[[pd.Series], pd.Series], source: pd.Series) -> pd.Series:
    """``parse(source)``, a chunk of rows at a time: on a column of text pandas makes a Python
    object per value, ~110 MB at once for a million rows. Chunks that come out with different
    dtypes (ints and floats, int64 and uint64) are parsed again as a whole, as before."""
    import pandas as pd

    step = _CSV_CHUNK_ROWS
    parts = [parse(source.iloc[start : start + step]) for start in range(0, len(source), step)]
    if len({part.dtype for part in parts}) != 1:
        return parse(source)
    return parts[0] if len(parts) == 1 else pd.concat(parts)


def _as_int64(source: pd.Series, values: pd.Series, column: str) -> pd.Series:
    """Parsed integers as int64, refusing what int64 cannot hold exactly: fractions, values
    past 2**63 - 1 (pandas reads a 20-digit id as uint64, which int64 would wrap negative)
    and, in a column read as floats, values from 2**53 on, which a float may have rounded."""
    raw = source.to_frame(column)
    too_big = "does not fit in 64 bits; ids lie in [0, 2**63 - 1]"
    if values.dtype.kind == "f":
        row = _bad_row(values != np.round(values))
        if row is not None:
            raise CatalogError(
                f"column {column!r}, row {row + 1}: {source.iloc[row]!r} is not an integer"
            )
        _check(raw, column, values.abs() >= 2.0**63, too_big)
        inexact = values.abs() >= _EXACT_FLOAT_INT
        why = "cannot be read exactly because the column holds non-integer text (2.0, 1e3)"
        _check(raw, column, inexact, f"{why}; write every value as a plain integer")
    elif values.dtype.kind == "u":
        _check(raw, column, values > np.uint64(PRODUCT_ID_MAX), too_big)
    return values.astype(np.int64)


def _parse_dates(raw: pd.DataFrame, column: str) -> pd.Series:
    import pandas as pd

    source = raw[column]
    blank = _is_blank(source)
    row = _bad_row(blank)
    if row is not None:
        raise CatalogError(f"column {column!r}, row {row + 1}: missing date")
    text = source.astype(str)
    values = _by_chunks(lambda part: pd.to_datetime(part, errors="coerce", format="ISO8601"), text)
    row = _bad_row(values.isna())
    if row is not None:
        raise CatalogError(
            f"column {column!r}, row {row + 1}: {source.iloc[row]!r} is not a date (YYYY-MM-DD)"
        )
    return values.dt.normalize()


def _release_arrow_memory() -> None:
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


#: Rows read at a time from a CSV: the parser's own buffers stay small, and a file with more
#: than `MAX_ITEMS` rows is refused after reading at most one chunk past the limit.
_CSV_CHUNK_ROWS = 100_000


def _read_csv(path: Path) -> pd.DataFrame:
    """Every value as text (validation parses it, and an error quotes it as the file has it)."""
    import pandas as pd

    # Text columns as Python strings (the reader shares equal ones within a chunk, and the
    # catalog keeps them as they are); the others as compact text until they are parsed.
    dtype = defaultdict(lambda: str, dict.fromkeys(TEXT_COLUMNS, object))
    chunks = []
    rows = 0
    try:
        reader = pd.read_csv(
            path, dtype=dtype, keep_default_na=False, na_filter=False, chunksize=_CSV_CHUNK_ROWS
        )
        with reader:
            for chunk in reader:
                rows += len(chunk)
                _check_size(rows)
                chunks.append(chunk)
    except pd.errors.EmptyDataError:
        raise CatalogError("the file is empty") from None
    except (CatalogError, MemoryError):
        raise
    except Exception as exc:
        raise CatalogError(f"cannot be read as csv: {exc}") from None
    if len(chunks) == 1:
        return chunks[0]
    return pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame()


def _read_parquet(path: Path) -> pd.DataFrame:
    import pandas as pd

    try:
        import pyarrow.parquet as pq

        _check_size(pq.ParquetFile(path).metadata.num_rows)  # before reading any row
        return pd.read_parquet(path)
    except (CatalogError, MemoryError):
        raise
    except Exception as exc:
        raise CatalogError(f"cannot be read as parquet: {exc}") from None


def _check_size(rows: int) -> None:
    if rows > MAX_ITEMS:
        raise CatalogError(
            f"more than {MAX_ITEMS:,} rows; a catalog holds at most {MAX_ITEMS:,} items"
        )


def _file_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FILE_FORMATS:
        raise CatalogError(
            f"{str(path)!r}: unsupported catalog format {suffix or '(none)'!r}; "
            f"use {' or '.join(FILE_FORMATS)}"
        )
    return suffix


__all__ = [
    "DEFAULT_REFERENCE_DATE",
    "Catalog",
    "CatalogError",
    "generate_catalog",
    "load_catalog",
]
