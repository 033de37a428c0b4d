"""Data commands: load, sync, status, settings, demo. Thin: parse arguments, call the library, print."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from gpcluster import config
from gpcluster.cli.progress import progress_bar
from gpcluster.errors import UserError

console = Console()
data_app = typer.Typer(help="Warehouse versions: list them, roll back to an earlier one.", no_args_is_help=True)


def _parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError as exc:
        raise UserError(f"--release-date must be YYYY-MM-DD, got {value!r}") from exc


def _print_load(report) -> None:
    for item in report.loaded:
        when = f" ({item.release_date})" if item.release_date else ""
        console.print(f"loaded {item.path.name}: {item.source}{when}, {item.rows:,} rows", soft_wrap=True)
    for path, reason in report.skipped:
        console.print(f"[dim]skipped {path.name}: {reason}[/]", soft_wrap=True)
    console.print(f"{len(report.loaded)} file(s) loaded, {len(report.skipped)} skipped")


def print_summary(facts: dict) -> None:
    if facts["synthetic"]:
        console.print("[bold yellow]SYNTHETIC DATA: an invented Scotland for demonstration, not real "
                      "practices or patients.[/]")
    table = Table(title=f"Scotland, latest release {facts['latest_release'] or '(none)'}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key in ("practices", "clusters", "hscps", "boards", "patients", "releases", "files_loaded"):
        table.add_row(key.replace("_", " "), f"{facts[key]:,}")
    console.print(table)


def load(
    paths: list[Path] = typer.Argument(..., help="Files or folders to load (folders: every recognised CSV)."),
    source: str | None = typer.Option(None, "--source", help="Source name; default: detect from the header."),
    release_date: str | None = typer.Option(None, "--release-date",
                                            help="YYYY-MM-DD for files whose release is not in a column or name."),
    synthetic: bool = typer.Option(False, "--synthetic",
                                   help="The files are gpcluster's synthetic demo data (refused otherwise)."),
) -> None:
    """Validate and load PHS open-data files into a new warehouse version (all-or-nothing; a running app
    switches to it when the load has succeeded)."""
    from gpcluster.sources import get_source
    from gpcluster.warehouse import load_paths

    if source is not None:
        get_source(source)  # an unknown source name is refused before any file is read
    with progress_bar(console) as update:
        report = load_paths(paths, source=source, progress=update, release_date=_parse_date(release_date),
                            synthetic=synthetic)
    _print_load(report)


def sync(
    dataset: list[str] | None = typer.Option(None, "--dataset", help="Source to sync (repeatable); default all."),
    then_load: bool = typer.Option(False, "--load", help="Load the downloaded files into the warehouse."),
) -> None:
    """Download current and past releases from the PHS open data portal into the local cache."""
    from gpcluster.sources.sync import sync as run_sync
    from gpcluster.warehouse import load_paths

    with progress_bar(console) as update:
        report = run_sync(dataset, progress=update)
    console.print(f"{len(report.downloaded)} file(s) downloaded, {len(report.files) - len(report.downloaded)} "
                  f"already cached in {config.cache_dir()}")
    if then_load:
        by_source: dict[str, list[Path]] = {}
        for item in report.files:
            by_source.setdefault(item.source, []).append(item.path)
        for name, paths in by_source.items():
            with progress_bar(console) as update:
                _print_load(load_paths(paths, source=name, progress=update))


def status() -> None:
    """National summary of the warehouse and the load ledger."""
    from gpcluster.warehouse import open_warehouse, summary

    con = open_warehouse(read_only=config.warehouse_path().exists())
    try:
        print_summary(summary(con))
        ledger = con.execute("""SELECT load_id, source, file_name, row_count, release_date, synthetic, loaded_at,
                                       left(sha256, 12) FROM load_ledger ORDER BY load_id""").fetchall()
    finally:
        con.close()
    table = Table(title="Load ledger")
    for column in ("id", "source", "file", "rows", "release", "synthetic", "loaded at", "sha256"):
        table.add_column(column)
    for row in ledger:
        table.add_row(*(str(v) if v is not None else "" for v in row))
    console.print(table)


def settings() -> None:
    """List every setting with its current value and help."""
    table = Table(title="Settings (environment GPCLUSTER_<NAME>, or \\[gpcluster] in the config file)")
    for column in ("name", "value", "help"):
        table.add_column(column)
    for name, setting in config.SETTINGS.items():
        value = config.get(name)
        shown = "(set)" if "secret" in name and value else str(value)
        table.add_row(name, shown, setting.help)
    console.print(table)


@data_app.command("versions")
def versions() -> None:
    """List the kept warehouse versions (the current one marked) for `gpcluster data rollback`."""
    from gpcluster.warehouse.versions import list_versions

    found = list_versions()
    if not found:
        console.print(f"{config.warehouse_path()} has no versions yet; the next load makes version 1")
        return
    table = Table(title=f"Warehouse versions of {config.warehouse_path()}")
    for column in ("version", "current", "created (UTC)", "size", "what made it"):
        table.add_column(column)
    for v in found:
        table.add_row(str(v.number), "yes" if v.current else "", f"{v.created:%Y-%m-%d %H:%M:%S}" if v.created else "",
                      f"{v.size_bytes / 1e6:,.1f} MB", v.note)
    console.print(table)


@data_app.command("rollback")
def rollback(to: int | None = typer.Option(None, "--to", min=1,
                                           help="Version number (see `gpcluster data versions`); default: the "
                                                "one before the current.")) -> None:
    """Make an earlier warehouse version current again; a running app switches to it within seconds."""
    from gpcluster.warehouse.versions import rollback as roll_back

    chosen = roll_back(to=to)
    console.print(f"the warehouse is now version {chosen.number} ({chosen.note or 'no note'})")


def register(app: typer.Typer) -> None:
    """Add the data commands to the `gpcluster` app."""
    for command in (load, sync, status, settings):
        app.command()(command)
    app.add_typer(data_app, name="data")
