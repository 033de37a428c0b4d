"""`gpcluster plan ...`: MDT roster, coverage, allocation models and scenario comparison.
Thin: parse arguments, call gpcluster.workforce, print."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from gpcluster.errors import UserError

if TYPE_CHECKING:  # pandas is imported inside the commands: `gpcluster --help` must stay light
    import pandas as pd

console = Console()
plan = typer.Typer(help="MDT workforce and allocation planning, with equity analysis.", no_args_is_help=True)
roster_app = typer.Typer(help="The MDT roster: template and import.", no_args_is_help=True)
plan.add_typer(roster_app, name="roster")

MODEL_HELP = "Allocation model: a shipped name (see `gpcluster plan models`) or a .toml file."
ASSUMPTIONS_HELP = "Assumptions TOML (default: the shipped workforce/assumptions.toml)."


def _print_frame(frame: pd.DataFrame, title: str, limit: int = 40) -> None:
    import pandas as pd

    from gpcluster.workforce.export import PATIENT_COUNT_COLUMNS

    table = Table(title=title)
    for col in frame.columns:
        table.add_column(str(col), justify="right" if pd.api.types.is_numeric_dtype(frame[col]) else "left")
    whole = [c in PATIENT_COUNT_COLUMNS for c in frame.columns]
    for row in frame.head(limit).itertuples(index=False):
        table.add_row(*("" if pd.isna(v) else f"{v:,.{0 if w else 2}f}" if isinstance(v, float) else str(v)
                        for v, w in zip(row, whole, strict=True)))
    console.print(table)
    if len(frame) > limit:
        console.print(f"[dim]... {len(frame) - limit} more rows (use `gpcluster plan export`)[/]")


def _as_at(value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError as exc:
        raise UserError(f"--as-at must be YYYY-MM-DD, got {value!r}") from exc


def _context(as_at: str | None, assumptions: Path | None):
    from gpcluster.warehouse import open_warehouse
    from gpcluster.workforce.params import load_assumptions
    from gpcluster.workforce.store import read_agesex, read_practices, read_roster_tables

    con = open_warehouse(read_only=True)
    try:
        practices, agesex = read_practices(con), read_agesex(con)
        posts, sessions = read_roster_tables(con, _as_at(as_at))
    finally:
        con.close()
    return practices, agesex, posts, sessions, load_assumptions(assumptions)


def _budgets(practices, posts, sessions, a, role: str | None, budget_wte: float | None) -> pd.DataFrame:
    import pandas as pd

    from gpcluster.workforce.coverage import roster_budgets

    if budget_wte is not None:
        if role is None:
            raise UserError("--budget-wte needs --role (a budget is for one role)")
        # One budget over every practice: put it all in a pseudo-HSCP covering them.
        return pd.DataFrame({"hscp_code": ["all"], "role": [role], "wte": [budget_wte]})
    if posts.empty:
        raise UserError("no roster in the warehouse: import one (gpcluster plan roster import) or give --budget-wte")
    budgets = roster_budgets(posts, sessions, practices, a)
    if role is not None:
        budgets = budgets[budgets["role"] == role]
        if budgets.empty:
            raise UserError(f"the roster has no {role} posts")
    return budgets


def _allocate(practices, agesex, model, budgets, a):
    from gpcluster.workforce.allocate import allocate, allocate_roles

    if budgets["hscp_code"].tolist() == ["all"]:
        return allocate(practices, agesex, model, float(budgets["wte"].iloc[0]), budgets["role"].iloc[0], a)
    return allocate_roles(practices, agesex, model, budgets, a)


@plan.command("models")
def models_cmd() -> None:
    """List the allocation models and what each does."""
    from gpcluster.workforce.params import load_model, model_names

    for name in model_names():
        spec = load_model(name)
        console.print(f"[bold]{name}[/] ({spec.kind}): {spec.description}")
        if spec.approximate:
            console.print(f"  [yellow]{spec.approximation_note}[/]")


@roster_app.command("template")
def template_cmd(xlsx: bool = typer.Option(False, "--xlsx", help="The Excel template instead of CSV."),
                 out: Path = typer.Option(None, "--out", help="Where to write it (default: current folder).")) -> None:
    """Write the roster template to fill in."""
    from gpcluster.workforce.roster import template_path

    source = template_path(xlsx)
    target = out or Path(source.name)
    shutil.copyfile(source, target)
    console.print(f"wrote {target}; one row per post; see docs/workforce.md for the columns")


@roster_app.command("import")
def import_cmd(file: Path = typer.Argument(..., help="Roster CSV (UTF-8) or Excel file in the template format.")) -> None:
    """Validate a roster and replace the stored roster with it (all or nothing)."""
    from gpcluster.warehouse.versions import new_version
    from gpcluster.workforce.store import import_roster

    with new_version(note=f"roster import {file.name}") as draft:
        result = import_roster(draft.con, file)
        draft.keep = not result.unchanged
    if result.unchanged:
        console.print(f"{result.file_name} is the roster already loaded; nothing changed")
    else:
        console.print(f"loaded {result.file_name}: {result.posts:,} posts, {result.sessions:,} practice sessions, "
                      f"{result.total_wte:,.1f} WTE")


@plan.command("coverage")
def coverage_cmd(level: str = typer.Option("practice", "--level", help="practice or cluster"),
                 role: str = typer.Option(None, "--role", help="Only this role."),
                 as_at: str = typer.Option(None, "--as-at", help="Posts in post on this date (YYYY-MM-DD)."),
                 assumptions: Path = typer.Option(None, "--assumptions", help=ASSUMPTIONS_HELP)) -> None:
    """MDT hours a week and WTE per 10,000 patients by role, against need."""
    from gpcluster.workforce.coverage import coverage
    from gpcluster.workforce.export import disclose

    if level not in ("practice", "cluster"):
        raise typer.BadParameter(f"{level!r} is not a level here; choose practice or cluster", param_hint="--level")
    practices, agesex, posts, sessions, a = _context(as_at, assumptions)
    if posts.empty:
        raise UserError("no roster in the warehouse: import one with `gpcluster plan roster import`")
    table = coverage(practices, agesex, posts, sessions, level, a)
    if role:
        table = table[table["role"] == role]
    key = "practice_code" if level == "practice" else "cluster_name"
    cols = [key, "role", "list_size", "hours_per_week", "wte_per_10k_patients", "wte_per_10k_need_weighted", "gap_hours"]
    _print_frame(disclose(table[cols]).sort_values("gap_hours"), f"MDT coverage by {level} (least against need first)")


@plan.command("allocate")
def allocate_cmd(model: str = typer.Option(..., "--model", help=MODEL_HELP),
                 role: str = typer.Option(None, "--role", help="Only this role."),
                 budget_wte: float = typer.Option(None, "--budget-wte",
                                                  help="WTE to share over all practices (default: the roster's WTE per HSCP)."),
                 practice: str = typer.Option(None, "--practice", help="Describe this practice in plain language."),
                 as_at: str = typer.Option(None, "--as-at", help="Roster date (YYYY-MM-DD)."),
                 assumptions: Path = typer.Option(None, "--assumptions", help=ASSUMPTIONS_HELP)) -> None:
    """Share MDT time among practices under one allocation model."""
    from gpcluster.workforce.export import disclose
    from gpcluster.workforce.plain import describe_practice

    practices, agesex, posts, sessions, a = _context(as_at, assumptions)
    budgets = _budgets(practices, posts, sessions, a, role, budget_wte)
    alloc = _allocate(practices, agesex, model, budgets, a)
    if practice:
        if practice not in set(alloc["practice_code"]):
            raise UserError(f"no practice {practice} in the latest release")
        for sentence in describe_practice(alloc, practices, practice):
            console.print(sentence)
        return
    summary = alloc.groupby("role", as_index=False).agg(
        wte=("wte", "sum"), practices_below_viable=("viable", lambda v: int((~v).sum())),
        hub_practices=("hub_id", lambda v: int(v.notna().sum())), on_site_hours=("on_site_hours_per_week", "sum"))
    _print_frame(summary, f"Allocation under {alloc['model_label'].iloc[0]}")
    cols = ["practice_code", "practice_name", "role", "list_size", "hours_per_week", "on_site_hours_per_week", "hub_id"]
    _print_frame(disclose(alloc[cols]).sort_values("hours_per_week"), "Smallest allocations", limit=15)


@plan.command("compare")
def compare_cmd(model_a: str = typer.Argument(..., help="Baseline model, e.g. per_capita."),
                model_b: str = typer.Argument(..., help="Alternative model."),
                role: str = typer.Option(None, "--role", help="Only this role."),
                budget_wte: float = typer.Option(None, "--budget-wte", help="WTE to share (needs --role)."),
                as_at: str = typer.Option(None, "--as-at", help="Roster date (YYYY-MM-DD)."),
                assumptions: Path = typer.Option(None, "--assumptions", help=ASSUMPTIONS_HELP)) -> None:
    """Who gains and loses moving from MODEL_A to MODEL_B, and what it does to equity and GP time."""
    from gpcluster.workforce.compare import compare
    from gpcluster.workforce.export import disclose

    practices, agesex, posts, sessions, a = _context(as_at, assumptions)
    budgets = _budgets(practices, posts, sessions, a, role, budget_wte)
    result = compare(_allocate(practices, agesex, model_a, budgets, a),
                     _allocate(practices, agesex, model_b, budgets, a), practices, agesex, a)
    outcome = result["practices"]["outcome"].value_counts()
    console.print(f"{outcome.get('gains', 0)} practices gain, {outcome.get('loses', 0)} lose, "
                  f"{outcome.get('no change', 0)} unchanged (hours on site a week, A = {model_a}, B = {model_b})")
    _print_frame(result["equity"], "Equity (CI < 0 and SII < 0: more for the more deprived)")
    _print_frame(disclose(result["by_simd_quintile"]), "By SIMD quintile (1 = most deprived)")
    _print_frame(disclose(result["by_urban_rural"]), "By urban-rural class (8-fold)")
    _print_frame(disclose(result["inverse_care"]), "Inverse care: hours per 10,000 need-weighted patients by SIMD decile")
    _print_frame(result["gp_time"], "GP hours a week released minus supervision (see assumptions.toml)")


@plan.command("export")
def export_cmd(out: Path = typer.Option(..., "--out", help="A .xlsx workbook, or a folder for CSV files."),
               model: str = typer.Option("per_capita", "--model", help=MODEL_HELP),
               compare_with: str = typer.Option(None, "--compare", help="Second model to compare with."),
               role: str = typer.Option(None, "--role", help="Only this role."),
               budget_wte: float = typer.Option(None, "--budget-wte", help="WTE to share (needs --role)."),
               as_at: str = typer.Option(None, "--as-at", help="Roster date (YYYY-MM-DD)."),
               assumptions: Path = typer.Option(None, "--assumptions", help=ASSUMPTIONS_HELP)) -> None:
    """Write allocation, coverage and comparison tables (disclosure control applied)."""
    from gpcluster.workforce.compare import compare
    from gpcluster.workforce.coverage import coverage
    from gpcluster.workforce.export import write_tables

    practices, agesex, posts, sessions, a = _context(as_at, assumptions)
    budgets = _budgets(practices, posts, sessions, a, role, budget_wte)
    alloc = _allocate(practices, agesex, model, budgets, a)
    tables = {"allocation": alloc}
    if not posts.empty:
        tables["coverage"] = coverage(practices, agesex, posts, sessions, "practice", a)
    if compare_with:
        result = compare(alloc, _allocate(practices, agesex, compare_with, budgets, a), practices, agesex, a)
        tables.update(result)
    for path in write_tables(tables, out):
        console.print(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add `gpcluster plan ...` to the main command."""
    app.add_typer(plan, name="plan")
