"""The `gpcluster` command. Thin: each module in COMMAND_MODULES parses arguments for one area,
calls the library and prints. Library errors (UserError) become a message and exit code 2."""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console
from rich.markup import escape

from gpcluster.errors import UserError

# Each module exposes `register(app: typer.Typer) -> None`. Order is the order shown in --help.
COMMAND_MODULES = [
    "gpcluster.cli.demo",
    "gpcluster.cli.data",
    "gpcluster.cli.indicators",
    "gpcluster.cli.users",
    "gpcluster.cli.serve",
    "gpcluster.cli.plan",
    "gpcluster.cli.synthetic",
    "gpcluster.cli.evaluate",
    "gpcluster.cli.prescribing",
    "gpcluster.cli.pack",
]

app = typer.Typer(
    name="gpcluster",
    help="Data, analysis and planning tools for Scotland's GP clusters.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # click's plain help: Typer's Rich help imports rich.markdown and markdown-it (~0.15 s of the 0.5 s budget)
    rich_markup_mode=None,
)
err_console = Console(stderr=True)

for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def main() -> None:
    try:
        app()
    except UserError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
