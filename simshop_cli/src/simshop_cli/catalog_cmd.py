"""``simshop catalog generate|validate|show``: make, check and look at product catalogs.

Loading goes through `simshop_core.Catalog.load`, which validates; its `CatalogError` becomes
one ``Error: …`` line in `SimshopGroup`. pandas is imported inside the commands only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from simshop_cli.options import MAX_ITEMS, seed_option, suffix_check

if TYPE_CHECKING:
    from simshop_core.catalog import Catalog

# Kept in step with simshop_core.catalog.FILE_FORMATS without importing pandas for --help.
_FORMATS = (".csv", ".parquet")
_FILE = click.Path(dir_okay=False, path_type=Path)


@click.group()
def catalog() -> None:
    """Generate, validate and inspect product catalogs (CSV or Parquet)."""


@catalog.command()
@click.option(
    "--items",
    "n_items",
    type=click.IntRange(1, MAX_ITEMS),
    default=250,
    show_default=True,
    help="Number of products.",
)
@seed_option()
@click.option(
    "--output",
    "-o",
    type=_FILE,
    required=True,
    callback=suffix_check(*_FORMATS),
    help="File to write; .csv or .parquet.",
)
def generate(n_items: int, seed: int, output: Path) -> None:
    """Generate a reproducible catalog: the same seed gives the same file."""
    from simshop_core.catalog import generate_catalog

    # Catalog.save writes to a temporary file and renames it: the file is whole or absent.
    generate_catalog(n_items=n_items, seed=seed).save(output)
    click.echo(f"Wrote {n_items} items to {output} (seed {seed})")


@catalog.command()
@click.argument("file", type=_FILE)
def validate(file: Path) -> None:
    """Check a catalog file; print a summary line or the first problem found."""
    catalog = _load(file)
    summary = catalog.summary()
    click.echo(
        f"OK: {summary['items']} items, {summary['category_count']} categories, "
        f"{summary['subcategory_count']} subcategories, {summary['brand_count']} brands, "
        f"{summary['color_count']} colours; prices {summary['price_min']:.2f}–"
        f"{summary['price_max']:.2f}; reference date {summary['reference_date']}"
    )


@catalog.command()
@click.argument("file", type=_FILE)
@click.option(
    "--rows",
    "-n",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="How many products to list.",
)
def show(file: Path, rows: int) -> None:
    """Show the first products of a catalog and a summary of the whole of it."""
    from simshop_cli.console import stdout

    catalog = _load(file)
    console = stdout()
    if rows:
        console.print(_products_table(catalog, rows, console.width))
    console.print(_summary_table(catalog, file))
    console.print(_categories_table(catalog))


def _load(file: Path) -> Catalog:
    from simshop_core.catalog import Catalog

    return Catalog.load(file)


def _products_table(catalog: Catalog, rows: int, width: int):  # -> rich.table.Table
    from rich.table import Table

    shown = min(rows, len(catalog))
    # Borderless with collapsed padding so the table still fits 80 characters; the name, the
    # one free-text column, is cut with an ellipsis rather than wrapped over several lines.
    table = Table(
        title=f"First {shown} of {len(catalog)} products",
        title_justify="left",
        box=None,
        collapse_padding=True,
        pad_edge=False,
        header_style="bold underline",
    )
    table.add_column("id", justify="right", no_wrap=True)
    # The other columns take about 60 characters; the name gets what is left (at least 12).
    table.add_column("name", no_wrap=True, overflow="ellipsis", max_width=max(12, width - 62))
    for name in ("category", "brand", "colour"):
        table.add_column(name, no_wrap=True)
    for name in ("price", "qual.", "pop.", "age"):
        table.add_column(name, justify="right", no_wrap=True)
    c = catalog.columns
    for i in range(shown):
        table.add_row(
            str(c["product_id"][i]),
            c["name"][i],
            f"{c['category'][i]}/{c['subcategory'][i]}",
            c["brand"][i],
            c["color"][i],
            f"{c['price'][i]:.2f}",
            f"{c['quality_score'][i]:.3f}",
            f"{c['popularity'][i]:g}",
            f"{c['days_since_release'][i]:.0f}",
        )
    return table


def _summary_table(catalog: Catalog, file: Path):  # -> rich.table.Table
    from rich.table import Table

    s = catalog.summary()
    age = catalog.columns["days_since_release"]
    table = Table(title=f"Summary of {file}", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value")
    for what, value in (
        ("items", str(s["items"])),
        ("reference date", s["reference_date"]),
        (
            "categories / subcategories",
            f"{s['category_count']} / {s['subcategory_count']}",
        ),
        ("brands / colours", f"{s['brand_count']} / {s['color_count']}"),
        (
            "price min / median / max",
            f"{s['price_min']:.2f} / {s['price_median']:.2f} / {s['price_max']:.2f}",
        ),
        ("mean quality score", f"{s['quality_mean']:.3f}"),
        ("mean popularity", f"{s['popularity_mean']:.1f}"),
        ("days since release", f"{age.min():.0f} – {age.max():.0f}"),
    ):
        table.add_row(what, value)
    return table


def _categories_table(catalog: Catalog):  # -> rich.table.Table
    import numpy as np
    from rich.table import Table

    c = catalog.columns
    table = Table(title="Products per category", title_justify="left")
    table.add_column("category")
    table.add_column("items", justify="right")
    table.add_column("share", justify="right")
    table.add_column("mean price", justify="right")
    table.add_column("mean quality", justify="right")
    for category in catalog.vocabulary("category"):
        mask = c["category"] == category
        count = int(np.count_nonzero(mask))
        table.add_row(
            category,
            str(count),
            f"{count / len(catalog):.0%}",
            f"{c['price'][mask].mean():.2f}",
            f"{c['quality_score'][mask].mean():.3f}",
        )
    return table
