"""``simshop model convert``: a ppo or a2c model saved by SimShop 0.2 in the current format.

0.2 saved stable-baselines3's zip, whose ``data`` member is unpickled when SB3 loads it (a
crafted file runs code then), so SimShop no longer loads such files. Converting reads only
what needs no unpickling (`simshop_recommenders.ppo.model_file.convert_legacy`).
"""

from __future__ import annotations

from pathlib import Path

import click

from simshop_cli.options import FILE, suffix_check

_EXISTING = click.Path(exists=True, dir_okay=False, path_type=Path)


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
    from simshop_recommenders.ppo.agent import SlateAgentRecommender
    from simshop_recommenders.ppo.model_file import convert_legacy, model_kind

    if new.exists() and new.resolve() == old.resolve():
        raise click.ClickException(f"{new}: write the converted model to another file than OLD")
    name = recommender or model_kind(old)
    entry = load_registry().get("recommender", name)
    if not issubclass(entry.cls, SlateAgentRecommender):
        raise click.ClickException(f"recommender {name!r} does not save ppo-style models")
    entry.cls.check_dependencies()
    convert_legacy(old, new, entry.cls)
    click.echo(f"Wrote {new} (the {name} model of {old}; load it as {name}:{new})")
