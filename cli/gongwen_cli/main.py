"""``gongwen``: the command line of the exchange, for people and scripts.

Every command but ``admin bootstrap`` (the broker, once) and ``verify`` (offline) talks to the
gateway. Answers are JSON on stdout; refusals JSON on stderr with a next step; the exit code
says which (see ``common``). Each module named in ``COMMANDS`` adds its commands with
``register(app)``; a new area is one more name there.
"""
import importlib
import sys
from importlib.metadata import PackageNotFoundError, version

import typer

from .common import expand_multiple

COMMANDS = ("account", "directory", "seals", "exchange", "operator", "ledger")

app = typer.Typer(help="Gongwen 公文: electronic official-document exchange. Start with gongwen login.",
                  no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode="markdown",
                  context_settings={"help_option_names": ["-h", "--help"]})


def _version(shown: bool):
    if shown:
        try:
            typer.echo(f"gongwen {version('gongwen-cli')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            typer.echo("gongwen (not installed)")
        raise typer.Exit()


@app.callback()
def gongwen(_: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                   help="print the version and exit")):
    """Exit codes: 0 done (or valid), 1 invalid seal, 2 usage or unusable file, 3 refused, 4 unreachable."""


for _name in COMMANDS:
    importlib.import_module(f"{__package__}.{_name}").register(app)


def run() -> None:
    """The ``gongwen`` script: ``--main A B`` is read as ``--main A --main B`` first."""
    app(args=expand_multiple(sys.argv[1:]), prog_name="gongwen")
