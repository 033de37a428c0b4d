"""`gpcluster demo`: build the synthetic demo end to end, then serve the web app on it."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from gpcluster import config

console = Console()


def demo(
    seed: int | None = typer.Option(None, help="Seed of the synthetic Scotland (default: the synthetic_seed setting)."),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="Start the web app when the demo is built."),
    scale: int = typer.Option(1, "--scale", min=1, max=14,
                              help="Copies of Scotland side by side (8 is about England's size); for benchmarks."),
) -> None:
    """Build a SYNTHETIC Scotland (files, warehouse, indicators, MDT roster, demo accounts) and serve the app."""
    from gpcluster.cli.data import print_summary
    from gpcluster.cli.progress import stages
    from gpcluster.demo import build_demo

    with stages(console, "Building the demo") as step:
        report = build_demo(seed, step=step, scale=scale)
    print_summary(report.summary)
    console.print(
        f"{report.indicator_rows:,} indicator values computed; MDT roster: {report.roster_posts:,} posts, "
        f"{report.roster_wte:,.0f} WTE (synthetic)."
    )
    if report.packs:
        console.print(f"{report.packs:,} cluster packs published (Packs, in the web app).")
    console.print(accounts_table(report.accounts))
    if serve:
        from gpcluster.cli.serve import prepare
        from gpcluster.cli.serve import serve as run_server

        if config.get("web_prerender"):  # the deploy step: the server starts with them already built
            prepare(warehouse=None)

        run_server(host=config.get("host"), port=int(config.get("port")), warehouse=None, workers=None)


def accounts_table(accounts) -> Table:
    """The demo accounts with their passwords, whatever the width of the output (a log file is 80 columns)."""
    table = Table(title="Demo accounts (passwords are new on every run; synthetic data only)")
    for column in ("username", "password", "role", "scope", "can see"):
        # a password cut short ("kha9_aNj…") is useless: usernames and passwords never wrap or truncate
        table.add_column(column, no_wrap=column in ("username", "password"),
                         min_width=max((len(a.password) for a in accounts), default=0) if column == "password" else None)
    for account in accounts:
        table.add_row(account.username, account.password, account.role, account.scope_name, account.can_see)
    return table


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
