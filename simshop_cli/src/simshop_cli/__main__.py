"""``python -m simshop_cli`` is the ``simshop`` command."""

from simshop_cli.main import cli

if __name__ == "__main__":
    cli(prog_name="simshop")
