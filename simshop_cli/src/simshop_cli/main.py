"""The ``simshop`` command: a click group, its version option and the shared error handling.

A new command is a module holding a click command plus one ``cli.add_command(...)`` line below.
Command modules import only click and rich at the top; everything heavier (pandas, the plugins)
is imported inside the command, so ``simshop --help`` and ``simshop list-plugins`` stay quick.
"""

from __future__ import annotations

import warnings
from typing import Any

import click

from simshop_cli.abtest_cmd import abtest
from simshop_cli.catalog_cmd import catalog
from simshop_cli.data_cmd import data
from simshop_cli.errors import INTERRUPTED_EXIT_CODE, one_line_usage_error, to_click_exception
from simshop_cli.evaluate_cmd import evaluate
from simshop_cli.model_cmd import model
from simshop_cli.ope_cmd import ope
from simshop_cli.plugins_cmd import list_plugins
from simshop_cli.sweep_cmd import sweep
from simshop_cli.train_cmd import train
from simshop_cli.ui_cmd import ui


class SimshopGroup(click.Group):
    """A group that turns every error the user can fix into one ``Error: …`` line.

    Subcommands run inside ``invoke``, so catching here covers every command and nested group;
    ``make_context`` covers bad options given to ``simshop`` itself.
    """

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise one_line_usage_error(exc) from exc

    def invoke(self, ctx: click.Context) -> Any:
        with warnings.catch_warnings():
            # Library warnings (an unseen shopper, a deprecation) as one yellow line each,
            # not Python's two-line "file:line: Category: message" form.
            warnings.showwarning = _show_warning
            return self._invoke(ctx)

    def _invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            # Ctrl-C: one line and the shell's code for SIGINT, not click's "Aborted!" and 1.
            # Files are written whole or not at all, so nothing is left half-written.
            click.echo("Interrupted", err=True)
            raise click.exceptions.Exit(INTERRUPTED_EXIT_CODE) from None
        except click.UsageError as exc:
            raise one_line_usage_error(exc) from exc
        except click.ClickException:
            raise
        except Exception as exc:
            converted = to_click_exception(exc)
            if converted is None:
                raise
            raise converted from exc


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kw: Any) -> None:
    from simshop_cli.console import warn

    warn(str(message))


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from simshop_core import __version__  # only now: --help should not pay for simshop_core

    click.echo(f"simshop (simshop-core) {__version__}")
    ctx.exit()


@click.group(cls=SimshopGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the simshop-core version and exit.",
)
def cli() -> None:
    """SimShop: simulate online shoppers and compare recommenders against them.

    Shopper models and recommenders are plugins; `simshop list-plugins` shows what is
    installed. Set SIMSHOP_DEBUG=1 to see the full traceback of an error.
    """


cli.add_command(list_plugins)
cli.add_command(catalog)
cli.add_command(ui)
cli.add_command(evaluate)
cli.add_command(train)
cli.add_command(sweep)
cli.add_command(ope)
cli.add_command(abtest)
cli.add_command(data)
cli.add_command(model)


if __name__ == "__main__":
    cli(prog_name="simshop")
