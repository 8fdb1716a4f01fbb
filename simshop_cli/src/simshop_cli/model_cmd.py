"""``simshop model convert``: a ppo or a2c model saved by SimShop 0.2 in the current format.

0.2 saved stable-baselines3's zip, whose ``data`` member is unpickled when SB3 loads it (a
crafted file runs code then), so SimShop no longer loads such files. Converting is the
recommender's ``convert(OLD, NEW)``, which reads only what needs no unpickling.
"""

from __future__ import annotations

from pathlib import Path

import click

from simshop_cli.options import FILE, suffix_check

_EXISTING = click.Path(exists=True, dir_okay=False, path_type=Path)
METADATA_NAME = "simshop_metadata.json"  # a saved model's metadata member


@click.group()
def model() -> None:
    """Convert saved ppo / a2c models."""


@model.command()
@click.argument("old", type=_EXISTING)
@click.argument("new", type=FILE, callback=suffix_check(".zip"))
@click.option(
    "--recommender",
    type=click.Choice(["ppo", "a2c"]),
    default=None,
    help="The model's recommender [default: the one its metadata names].",
)
def convert(old: Path, new: Path, recommender: str | None) -> None:
    """Write the 0.2 model OLD (a stable-baselines3 zip) as NEW in the current format.

    Reads OLD's metadata, the plain numbers of its ``data`` member and its weights (as
    tensors only): nothing in OLD is unpickled or run. NEW loads as ``ppo:NEW`` / ``a2c:NEW``.
    """
    from simshop_cli.registry import load_registry

    if new.exists() and new.resolve() == old.resolve():
        raise click.ClickException(f"{new}: write the converted model to another file than OLD")
    name = recommender or _model_kind(old)
    entry = load_registry().get("recommender", name)
    convert_model = getattr(entry.cls, "convert", None)
    if convert_model is None:
        raise click.ClickException(f"recommender {name!r} has no model files to convert")
    entry.cls.check_dependencies()
    convert_model(old, new)
    click.echo(f"Wrote {new} (the {name} model of {old}; load it as {name}:{new})")


def _model_kind(path: Path) -> str:
    """The recommender a model file's metadata names (``simshop-ppo`` → ``ppo``), read as
    JSON only."""
    import json
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(METADATA_NAME)
            if info.file_size > 2**20:  # the metadata is a few KB
                raise click.ClickException(f"{path}: refused: {METADATA_NAME} is too large")
            metadata = json.loads(archive.read(info))
    except KeyError:
        raise click.ClickException(f"{path}: not a SimShop model (no {METADATA_NAME})") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise click.ClickException(f"{path}: not a readable zip ({exc})") from None
    except (ValueError, RecursionError) as exc:
        raise click.ClickException(f"{path}: corrupt model metadata ({exc})") from None
    found = metadata.get("format") if isinstance(metadata, dict) else None
    if not isinstance(found, str) or not found.startswith("simshop-"):
        raise click.ClickException(f"{path}: not a SimShop model (its metadata names no format)")
    return found.removeprefix("simshop-")
