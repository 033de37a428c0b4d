"""`gpcluster prescribing load | codes | measures | compute | chart | savings`. Thin: parse arguments, call
gpcluster.prescribing, print."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
prescribing_app = typer.Typer(help="Prescribing (PHS Prescriptions in the Community): load months, BNF codes, "
                                   "measures, centile charts and savings.", no_args_is_help=True)


def _money(value: float) -> str:
    return f"£{value:,.0f}"


def _number(value) -> str:
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = f"{value:,.2f}"
    return "0.00" if text == "-0.00" else text


@prescribing_app.command("load")
def load(paths: list[Path] = typer.Argument(..., help="pitcYYYYMM.csv files (or extracts with practice names)."),
         synthetic: bool = typer.Option(False, "--synthetic", help="The files are synthetic (demo) data."),
         name_report: Path | None = typer.Option(
             None, help="For extracts with practice names: write how each name was matched to a code (CSV).")) -> None:
    """Load prescribing months, one transaction per month; non-practice prescribing is kept apart and counted."""
    from gpcluster.cli.progress import progress_bar
    from gpcluster.prescribing.ingest import load_prescribing

    with progress_bar(console) as update:
        loads = load_prescribing(paths, synthetic=synthetic, progress=update)
    for m in loads:
        if m.skipped:
            console.print(f"[dim]skipped {m.path.name}: {m.skipped}[/]")
            continue
        other = ", ".join(f"{kind.replace('_', ' ')} {n:,}" for kind, n in m.other_rows.items()) or "none"
        console.print(f"loaded {m.path.name} ({m.month:%b %Y}, {m.layout}): {m.source_rows:,} rows, "
                      f"{m.practice_rows:,} from practices; kept apart: {other}")
        if m.unknown_practice_rows:
            console.print(f"  {m.unknown_practice_rows:,} rows are for practice codes not in the contact details "
                          "loaded (kept; they join no cluster)")
        if m.unmatched_names:
            console.print(f"  {len(m.unmatched_names)} practice name(s) matched no practice in their board "
                          f"(kept apart): {escape(', '.join(n for n, _ in m.unmatched_names[:12]))}"
                          + (" ..." if len(m.unmatched_names) > 12 else ""))
    matches = [(m.month, *match) for m in loads for match in m.name_matches]
    if matches:
        names = {(board, name) for _, board, name, _, _ in matches}
        unmatched = {(board, name) for _, board, name, code, _ in matches if code is None}
        console.print(f"practice names: {len(names) - len(unmatched):,} of {len(names):,} matched to a practice "
                      f"code through the contact details ({len(unmatched):,} unmatched, kept apart)")
    if name_report:
        import csv

        with name_report.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["month", "board_code", "practice_name", "practice_code", "rows", "matched"])
            for month, board, name, code, rows in matches:
                writer.writerow([month, board, name, code or "", rows, code is not None])
        console.print(f"wrote {name_report} ({len(matches):,} names by month)")


@prescribing_app.command("codes")
def codes(include: list[str] = typer.Option([], "--include", help="BNF code prefix to include (repeatable)."),
          exclude: list[str] = typer.Option([], "--exclude", help="BNF code prefix to exclude (repeatable)."),
          generic: bool | None = typer.Option(None, "--generic/--branded", help="Only generic / branded."),
          description: list[str] = typer.Option([], "--description", help="A word the description must contain."),
          limit: int = typer.Option(40, help="Presentations to list.")) -> None:
    """Preview which BNF presentations a selection picks (as a measure's include/exclude lists would)."""
    from pydantic import ValidationError

    from gpcluster.errors import UserError
    from gpcluster.prescribing.bnf import Selection, selection_sql
    from gpcluster.warehouse import open_warehouse

    try:
        selection = Selection(include=include, exclude=exclude, generic=generic, description_any=description)
    except ValidationError as exc:
        raise UserError(f"bad selection: {exc.errors()[0]['msg']}") from exc
    condition, params = selection_sql([selection], "b")
    con = open_warehouse(read_only=True)
    try:
        rows = con.execute(
            f"SELECT b.bnf_code, b.description, b.chapter_name, b.section_name, b.is_generic, "
            f"coalesce((SELECT sum(items) FROM prescribing p WHERE p.bnf_code = b.bnf_code), 0) AS items "
            f"FROM bnf_hierarchy b WHERE {condition} ORDER BY items DESC, b.bnf_code", params).fetchall()
    finally:
        con.close()
    table = Table(title=f"{len(rows):,} presentations selected")
    for column in ("BNF code", "description", "chapter / section", "generic", "items (all months)"):
        table.add_column(column)
    for code, text, chapter, section, is_generic, items in rows[:limit]:
        table.add_row(code, escape(text or ""), escape(" / ".join(x for x in (chapter, section) if x)),
                      {True: "yes", False: "brand"}.get(is_generic, "-"), f"{items:,}")
    console.print(table)


@prescribing_app.command("measures")
def measures() -> None:
    """List the prescribing measures of the catalogue."""
    from gpcluster.indicators.definition import load_catalogue
    from gpcluster.prescribing.measures import is_cost_measure, is_prescribing

    table = Table(title="Prescribing measures (catalogue; quarterly, monthly in charts)")
    for column in ("id", "title", "unit", "polarity", "savings"):
        table.add_column(column)
    for d in load_catalogue():
        if is_prescribing(d):
            table.add_row(d.id, escape(d.title), escape(d.unit), d.polarity, "yes" if is_cost_measure(d) else "")
    console.print(table)


@prescribing_app.command("compute")
def compute(engine: str = typer.Option("duckdb", help="duckdb (one machine) or spark (spark_master setting)."),
            master: str | None = typer.Option(None, help="Spark master URL (overrides the spark_master setting)."),
            ) -> None:
    """Compute and store every prescribing measure for every level and quarter."""
    from gpcluster.errors import UserError
    from gpcluster.indicators.definition import load_catalogue
    from gpcluster.indicators.engine import compute as run
    from gpcluster.indicators.engine import store_results
    from gpcluster.prescribing.measures import is_prescribing
    from gpcluster.warehouse.versions import new_version

    if engine not in ("duckdb", "spark"):
        raise UserError(f"--engine must be duckdb or spark, not {engine!r}")
    definitions = [d for d in load_catalogue() if is_prescribing(d)]
    # a new warehouse version: a running app keeps serving the old results until these are complete
    with new_version(note=f"compute {len(definitions)} prescribing measures ({engine})") as draft:
        if engine == "duckdb":
            summary = run(draft.con, definitions)
            console.print(f"{summary.indicators} prescribing measures, {summary.rows:,} values, "
                          f"{summary.periods} quarters (DuckDB)")
            rows = summary.rows
        else:
            from gpcluster.prescribing.spark import compute_frame_spark, spark_session

            spark = spark_session(master)
            try:
                frame = compute_frame_spark(draft.con, definitions, spark)
            finally:
                spark.stop()
            store_results(draft.con, definitions, frame)
            console.print(f"{len(definitions)} prescribing measures, {len(frame):,} values (Spark)")
            rows = len(frame)
        if not rows:
            from gpcluster.prescribing.warehouse import prescribing_coverage

            console.print(escape(prescribing_coverage(draft.con).why_no_values()), style="yellow")


def _prescribing_definition(measure: str):
    from gpcluster.errors import UserError
    from gpcluster.indicators.definition import load_definition
    from gpcluster.prescribing.measures import is_prescribing

    definition = load_definition(measure)
    if not is_prescribing(definition):
        raise UserError(f"{measure} is not a prescribing measure (see gpcluster prescribing measures)")
    return definition


@prescribing_app.command("chart")
def chart(measure: str = typer.Argument(..., help="Prescribing measure id."),
          practice: str | None = typer.Option(None, help="Show this practice's line beside the centiles."),
          csv: Path | None = typer.Option(None, help="Also write the centiles (and the practice) to this CSV.")) -> None:
    """National centiles of practices month by month (OpenPrescribing style), with one practice's values.
    Small counts are suppressed as on every output (shown as '-'); centiles are over the values shown."""
    from gpcluster.prescribing.measures import centiles, disclosed_monthly, monthly_unit
    from gpcluster.warehouse import open_warehouse

    definition = _prescribing_definition(measure)
    con = open_warehouse(read_only=True)
    try:
        monthly = disclosed_monthly(con, definition)
    finally:
        con.close()
    table_frame = centiles(monthly)
    if practice:
        own = monthly[monthly["practice_code"] == practice].set_index("month")["value"]
        table_frame["practice"] = table_frame["month"].map(own)
    table = Table(title=f"{escape(definition.title)}: {escape(monthly_unit(definition))}")
    for column in ("month", "10th", "30th", "median", "70th", "90th", "practices",
                   *(["practice " + practice] if practice else [])):
        table.add_column(column, justify="right")
    for row in table_frame.itertuples():
        cells = [f"{row.month:%b %Y}", _number(row.p10), _number(row.p30), _number(row.p50), _number(row.p70),
                 _number(row.p90), f"{row.practices:,}"]
        if practice:
            cells.append(_number(row.practice))
        table.add_row(*cells)
    console.print(table)
    if csv:
        table_frame.to_csv(csv, index=False)
        console.print(f"wrote {csv}")


@prescribing_app.command("savings")
def savings(measure: str = typer.Argument(..., help="A cost measure (see gpcluster prescribing measures)."),
            top: int = typer.Option(15, help="Practices to list, largest savings first.")) -> None:
    """Potential savings in the latest month if practices above the 10th centile prescribed at it.
    Practices whose figure that month is suppressed (small counts) count in Scotland's total but are not listed."""
    from gpcluster.prescribing.measures import disclosed_monthly, monthly_values
    from gpcluster.prescribing.measures import savings as compute_savings
    from gpcluster.warehouse import open_warehouse

    definition = _prescribing_definition(measure)
    con = open_warehouse(read_only=True)
    try:
        out = compute_savings(monthly_values(con, definition), definition)
        disclosed = disclosed_monthly(con, definition)
    finally:
        con.close()
    if out.empty:
        console.print("no prescribing loaded")
        return
    month = out["month"].iloc[0]
    console.print(f"[bold]{escape(definition.title)}[/], {month:%B %Y}: 10th centile {_number(out['target'].iloc[0])} "
                  f"{escape(definition.unit.replace('per quarter', 'per month'))}; potential savings across Scotland "
                  f"{_money(out['saving'].sum())} in the month if every practice above it prescribed at it.")
    table = Table()
    for column in ("practice", "cluster", "value", "potential saving"):
        table.add_column(column, justify="right")
    shown = disclosed[(disclosed["month"] == month) & ~disclosed["suppressed"]]
    for row in out[out["practice_code"].isin(set(shown["practice_code"]))].head(top).itertuples():
        table.add_row(row.practice_code, escape(str(row.cluster_id or "-")), _number(row.value), _money(row.saving))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(prescribing_app, name="prescribing")
