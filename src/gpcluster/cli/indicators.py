"""`gpcluster indicators list | show | compute | export`. Thin: parse arguments, call the library, print."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gpcluster.cli.progress import stages

console = Console()
indicators_app = typer.Typer(help="The indicator catalogue: list, show, compute and export.",
                             no_args_is_help=True)


@indicators_app.command("list")
def list_indicators() -> None:
    """List every indicator in the catalogue."""
    from gpcluster.indicators.definition import load_catalogue

    table = Table(title="Indicator catalogue")
    for column in ("id", "title", "type", "unit", "polarity", "synthetic", "version"):
        table.add_column(column)
    for d in load_catalogue():
        table.add_row(d.id, escape(d.title), d.measure_type, escape(d.unit), d.polarity,
                      "yes" if d.synthetic else "", d.version)
    console.print(table)


@indicators_app.command("show")
def show(indicator_id: str = typer.Argument(..., help="Indicator id (its file name without .toml).")) -> None:
    """Show one indicator's definition: what it measures, why it matters, how it is computed."""
    from gpcluster.indicators.definition import load_definition

    d = load_definition(indicator_id)
    console.print(f"[bold]{escape(d.title)}[/]  ({d.id}, version {d.version})")
    if d.synthetic:
        console.print("[bold yellow]SYNTHETIC: computed from the demo's synthetic activity data.[/]")
    for label, text in (("What", d.description), ("Why it matters", d.why_it_matters),
                        ("Measure", f"{d.measure_type} x {d.multiplier:g}, {d.unit}; polarity {d.polarity}"),
                        ("Levels", ", ".join(d.levels)), ("Source", d.source), ("Caveats", d.caveats or "-"),
                        ("Disclosure", f"{d.disclosure.rule} on {', '.join(d.disclosure.columns)}"),
                        ("Authored by", d.authored_by), ("Reviewed by", d.reviewed_by),
                        ("Next review", str(d.next_review)), ("File", d.path)):
        console.print(f"[bold]{label}:[/] {escape(text)}", soft_wrap=True)


@indicators_app.command("compute")
def compute(
    indicator: list[str] | None = typer.Option(None, "--indicator", "-i",
                                               help="Indicator id to compute (repeatable); default all."),
) -> None:
    """Compute indicators for every level and period in the warehouse and store the results."""
    from gpcluster.indicators.definition import load_catalogue, load_definition
    from gpcluster.indicators.engine import compute as run
    from gpcluster.warehouse.versions import new_version

    definitions = [load_definition(i) for i in indicator] if indicator else load_catalogue()
    with stages(console, f"Computing {len(definitions)} indicator(s)") as step:
        step("Copying the warehouse into a new version")
        # a new version: a running app keeps serving the old results until these are complete
        with new_version(note=f"compute {len(definitions)} indicator(s)") as draft:
            step("Computing every level and period, with statistics, and storing the results")
            summary = run(draft.con, definitions)
            step("Publishing the new warehouse version")
    console.print(f"computed {summary.indicators} indicator(s): {summary.rows:,} values over "
                  f"{summary.periods} period(s)")


@indicators_app.command("export")
def export(
    path: Path = typer.Argument(..., help="Output file: .csv, .parquet or .xlsx."),
    indicator: list[str] | None = typer.Option(None, "--indicator", "-i", help="Indicator id (repeatable)."),
    level: list[str] | None = typer.Option(None, "--level", help="practice, cluster, hscp, board or scotland "
                                                                  "(repeatable)."),
    fmt: str | None = typer.Option(None, "--format", help="csv, parquet or excel; default from the suffix."),
) -> None:
    """Export stored indicator values with disclosure control applied."""
    from gpcluster.exports import FORMATS, export_indicators
    from gpcluster.indicators.definition import LEVELS
    from gpcluster.warehouse import open_warehouse

    for value in level or []:
        if value not in LEVELS:
            raise typer.BadParameter(f"{value!r} is not a level; choose from {', '.join(LEVELS)}",
                                     param_hint="--level")
    kinds = sorted(set(FORMATS.values()))
    if fmt is not None and fmt not in kinds:
        raise typer.BadParameter(f"{fmt!r} is not an export format; choose from {', '.join(kinds)}",
                                 param_hint="--format")
    if fmt is None and path.suffix.lower() not in FORMATS:
        raise typer.BadParameter(f"cannot tell the format of {path.name!r}: name it .csv, .parquet or .xlsx, "
                                 "or give --format", param_hint="PATH")
    con = open_warehouse(read_only=True)
    try:
        with stages(console, f"Exporting to {path}") as step:
            step("Reading indicator values and applying disclosure control; writing the file")
            summary = export_indicators(con, path, fmt, indicator or None, level or None)
    finally:
        con.close()
    if summary.synthetic:
        console.print("[bold yellow]SYNTHETIC DATA: the export is marked as synthetic.[/]")
    console.print(f"wrote {summary.rows:,} rows to {summary.path} "
                  f"({summary.suppressed_rows:,} with small numbers suppressed)")


def register(app: typer.Typer) -> None:
    """Add `gpcluster indicators ...` to the app."""
    app.add_typer(indicators_app, name="indicators")
