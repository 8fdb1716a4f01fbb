"""``simshop list-plugins``: what is installed, what each plugin registers (with the parameters
each one takes and their defaults), and what failed.

This is the recovery tool, so it must work with a broken plugin installed: load errors are
listed (and the exit code stays 0), never raised. It imports no pandas and no heavy plugin
dependency: registering a class must not import torch and friends.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.text import Text

    from simshop_core.registry import Entry, Registry
    from simshop_core.specs import Parameter


SPEC_HELP = (
    "Set parameters with NAME:key=value (e.g. cheap_seeker:pivot=30), a trained model with "
    "NAME:PATH; every recommender also takes explore=EPS, which mixes in uniform random "
    "slates with probability EPS so that its logs carry exact propensities."
)


@click.command("list-plugins", epilog=SPEC_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines instead of tables.")
def list_plugins(as_json: bool) -> None:
    """List installed plugins, the shoppers and recommenders they register with their
    parameters, and load errors."""
    from simshop_cli.registry import load_registry

    report = plugin_report(load_registry(warn_errors=False))
    if as_json:
        click.echo(json.dumps(report, indent=2, allow_nan=False))  # standard JSON, no NaN
    else:
        _print_tables(report)


def plugin_report(registry: Registry) -> dict[str, Any]:
    """``{"plugins": [...], "errors": [...]}``, sorted by plugin name (the ``--json`` output)."""
    from simshop_core import get_plugin_manager

    pm = get_plugin_manager()
    plugins: dict[str, dict[str, Any]] = {}
    for plugin in pm.get_plugins():
        info = pm.plugin_info(plugin)
        plugins[info.name] = {
            "name": info.name,
            "distribution": info.distribution,
            "version": info.version,
            "users": [],
            "recommenders": [],
        }
    for key, entries in (("users", registry.users), ("recommenders", registry.recommenders)):
        for entry in sorted(entries.values(), key=lambda e: e.name):
            plugin = plugins.setdefault(entry.plugin, _orphan(entry))
            plugin[key].append(
                {
                    "name": entry.name,
                    "description": entry.description,
                    "parameters": [_parameter_json(p) for p in entry.parameters],
                }
            )
    errors = [
        {"plugin": e.plugin, "distribution": e.distribution, "error": e.error}
        for e in registry.errors
    ]
    return {"plugins": [plugins[name] for name in sorted(plugins)], "errors": errors}


def _parameter_json(parameter: Parameter) -> dict[str, Any]:
    default = parameter.default
    try:
        json.dumps(default, allow_nan=False)
    except (TypeError, ValueError):
        default = repr(default)  # a default JSON cannot hold (a NaN, an object) as Python shows it
    return {"name": parameter.name, "default": default, "type": parameter.annotation}


def _orphan(entry: Entry) -> dict[str, Any]:
    # Only reachable if a plugin was unregistered after the registry was built.
    return {
        "name": entry.plugin,
        "distribution": entry.distribution,
        "version": entry.version,
        "users": [],
        "recommenders": [],
    }


def _print_tables(report: dict[str, Any]) -> None:
    from rich import box
    from rich.table import Table

    from simshop_cli.console import stdout

    console = stdout()
    # One table per plugin: at 80 columns a shared plugin/version column would leave the
    # descriptions a dozen characters wide.
    for plugin in report["plugins"]:
        table = Table(title=_plugin_title(plugin), title_justify="left", box=box.SIMPLE_HEAD)
        table.add_column("Kind", no_wrap=True)
        table.add_column("Name", no_wrap=True, style="bold")
        table.add_column("Description", overflow="fold")
        for kind, key in (("shopper", "users"), ("recommender", "recommenders")):
            for thing in plugin[key]:
                table.add_row(kind, thing["name"], _describe(thing))
        if not plugin["users"] and not plugin["recommenders"]:
            table.add_row("-", "(registers nothing)", "")
        console.print(table)
    if not report["plugins"]:
        console.print("No SimShop plugins are loaded (see SIMSHOP_LOAD_PLUGINS).")
    else:
        console.print(SPEC_HELP)
    if report["errors"]:
        errors = Table(
            title="Plugin load errors", title_justify="left", title_style="red", box=box.SIMPLE_HEAD
        )
        errors.add_column("Plugin", no_wrap=True)
        errors.add_column("Distribution", no_wrap=True)
        errors.add_column("Error", overflow="fold")
        for error in report["errors"]:
            errors.add_row(error["plugin"], error["distribution"] or "-", error["error"])
        console.print(errors)


def _describe(thing: dict[str, Any]) -> Text:
    """The description, and under it the parameters with their defaults, dimmed."""
    from rich.text import Text

    text = Text(thing["description"])
    if thing["parameters"]:
        listed = ", ".join(_spec_syntax(p) for p in thing["parameters"])
        text.append(f"\nparameters: {listed}", style="dim")
    return text


def _spec_syntax(parameter: dict[str, Any]) -> str:
    from simshop_core.specs import format_value

    return f"{parameter['name']}={format_value(parameter['default'])}"


def _plugin_title(plugin: dict[str, Any]) -> str:
    title = f"{plugin['name']} {plugin['version'] or ''}".strip()
    distribution = plugin["distribution"]
    if distribution is None:
        return f"{title} (registered in-process)"
    if _canonical(distribution) != _canonical(plugin["name"]):
        return f"{title} (distribution {distribution})"
    return title


def _canonical(name: str) -> str:
    return name.replace("_", "-").replace(".", "-").lower()
