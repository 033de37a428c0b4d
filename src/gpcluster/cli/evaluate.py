"""`gpcluster evaluate register | amend | list | show | power | run | report`: register a change before it
starts, check the design can see an effect, evaluate it afterwards and export the report.
Thin: parse arguments, call gpcluster.evaluation, print."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
evaluate_app = typer.Typer(help="Reform evaluation: register changes, check power, evaluate, report.",
                           no_args_is_help=True)

BY_HELP = "Username recorded in the audit log as the one who did this (must exist in the store)."


def _user(session, username: str | None):
    if not username:
        return None
    from gpcluster.errors import UserError
    from gpcluster.store.accounts import find_user

    user = find_user(session, username)
    if user is None:
        raise UserError(f"no user {username!r} in the store")
    return user


def _resolved(path: Path):
    """The registration in `path`, checked against the warehouse, with its units' areas filled in."""
    from gpcluster.evaluation import registry, run
    from gpcluster.warehouse import open_warehouse

    registration = registry.load_registration(path)
    con = open_warehouse(read_only=True)
    try:
        return run.resolve(con, registration)
    finally:
        con.close()


def _print_registered(registered) -> None:
    reg = registered.planned.registration
    console.print(f"[bold]{escape(reg.title)}[/] ({registered.slug}), version {registered.planned.number} of "
                  f"{len(registered.versions)}; starts {reg.start.isoformat()}; method {reg.plan.method}")
    if not registered.preregistered:
        console.print("[yellow]Registered after the start: a retrospective evaluation.[/]")
    for v in registered.amendments_after_start:
        console.print(f"[yellow]Version {v.number} amended after the start ({v.registered_at:%Y-%m-%d}): "
                      f"{escape(v.reason or '')}[/]")
    if not registered.intact:
        console.print("[bold red]INTEGRITY CHECK FAILED: a stored version does not match its fingerprint.[/]")


@evaluate_app.command("register")
def register_cmd(
    path: Path = typer.Argument(..., help="Registration file (TOML; see docs/evaluation.md)."),
    by: str = typer.Option("", "--by", help=BY_HELP),
) -> None:
    """Register an intervention: checked against the warehouse, timestamped and locked."""
    from gpcluster.evaluation import registry
    from gpcluster.store import open_store

    registration = _resolved(path)
    with open_store().session() as session:
        registered = registry.register(session, registration, _user(session, by))
    _print_registered(registered)
    console.print("Registered and locked: later changes are new versions (`gpcluster evaluate amend`).")


@evaluate_app.command("amend")
def amend_cmd(
    intervention_id: str = typer.Argument(..., help="Registered id."),
    path: Path = typer.Argument(..., help="The changed registration file."),
    reason: str = typer.Option("", "--reason", help="Why it changed (required once the change has started)."),
    by: str = typer.Option("", "--by", help=BY_HELP),
) -> None:
    """Register a new version. After the start date a reason is required and the change is shown as an amendment."""
    from gpcluster.evaluation import registry
    from gpcluster.store import open_store

    registration = _resolved(path)
    with open_store().session() as session:
        registered = registry.amend(session, intervention_id, registration, reason, _user(session, by))
    _print_registered(registered)


@evaluate_app.command("list")
def list_cmd() -> None:
    """List registered interventions."""
    from gpcluster.evaluation import registry
    from gpcluster.store import open_store

    table = Table(title="Registered interventions")
    table.add_column("id", no_wrap=True)
    for column in ("title", "level", "units", "start", "method", "versions", "pre-registered"):
        table.add_column(column)
    with open_store().session() as session:
        for r in registry.list_registered(session):
            reg = r.planned.registration
            table.add_row(r.slug, escape(reg.title), reg.level, str(len(reg.units)), reg.start.isoformat(),
                          reg.plan.method, str(len(r.versions)), "yes" if r.preregistered else "no")
    console.print(table)


@evaluate_app.command("show")
def show_cmd(intervention_id: str = typer.Argument(..., help="Registered id.")) -> None:
    """Show a registration, its versions and its latest results."""
    from gpcluster.evaluation import registry
    from gpcluster.evaluation.sentences import effect_sentence
    from gpcluster.store import open_store

    with open_store().session() as session:
        registered = registry.get(session, intervention_id)
        runs = registry.latest_runs(session, intervention_id)
    _print_registered(registered)
    reg = registered.planned.registration
    console.print(f"[bold]What changed:[/] {escape(reg.what_changed)}", soft_wrap=True)
    console.print(f"[bold]Where:[/] {len(reg.units)} {reg.level}(s): "
                  + ", ".join(f"{u.code} from {u.start}" for u in reg.units[:12])
                  + (" ..." if len(reg.units) > 12 else ""), soft_wrap=True)
    for o in reg.outcomes:
        console.print(f"[bold]Outcome:[/] {o.indicator_id}, expected {o.expected}{' (primary)' if o.primary else ''}")
    for v in registered.versions:
        console.print(f"  version {v.number}: {v.registered_at:%Y-%m-%d %H:%M} UTC by {v.registered_by or '-'}"
                      f"{' after the start' if v.after_start else ''}{': ' + escape(v.reason) if v.reason else ''}")
    if not runs:
        console.print("No results yet: `gpcluster evaluate run " + intervention_id + "`.")
    for r in runs:
        console.print(f"[bold]{r.result.method}[/] ({r.run_at:%Y-%m-%d}): "
                      + escape(effect_sentence(r.result, reg.plan.unit_level or reg.level,
                                               f"“{reg.title}” started")), soft_wrap=True)


@evaluate_app.command("power")
def power_cmd(
    target: str = typer.Argument(..., help="Registered id, or a registration file (.toml) not yet registered."),
    indicator: str = typer.Option("", "--indicator", "-i", help="Only this outcome indicator."),
) -> None:
    """Minimum detectable effect of the planned design, from the indicator's own history."""
    from gpcluster.evaluation import registry, run
    from gpcluster.store import open_store
    from gpcluster.warehouse import open_warehouse

    if target.endswith(".toml"):
        registration = registry.load_registration(Path(target))
    else:
        with open_store().session() as session:
            registration = registry.get(session, target).planned.registration
    con = open_warehouse(read_only=True)
    try:
        registration = run.resolve(con, registration)
        results = run.power(con, registration, indicator or None)
    finally:
        con.close()
    for p in results:
        console.print(escape(p.sentence), soft_wrap=True)
        console.print(f"  standard error {p.se:.4f}; variation: sd {p.variation.sigma:.3f}, lag-1 "
                      f"autocorrelation {p.variation.rho:.2f} from {p.variation.units} unit(s) x "
                      f"{p.variation.quarters} quarters", highlight=False)


@evaluate_app.command("run")
def run_cmd(
    intervention_id: str = typer.Argument(..., help="Registered id."),
    indicator: list[str] | None = typer.Option(None, "--indicator", "-i", help="Only these outcomes (repeatable)."),
    by: str = typer.Option("", "--by", help=BY_HELP),
) -> None:
    """Evaluate the pre-registered plan on the warehouse and store the results."""
    from gpcluster.evaluation import registry, run
    from gpcluster.evaluation.sentences import effect_sentence
    from gpcluster.store import open_store
    from gpcluster.warehouse import open_warehouse

    store = open_store()
    with store.session() as session:
        registered = registry.get(session, intervention_id)
        others = registry.list_registered(session)
    con = open_warehouse(read_only=True)
    try:
        with console.status("Evaluating"):
            results = run.evaluate(con, registered, others, indicator or None)
        through = run.data_through(con)
    finally:
        con.close()
    reg = registered.planned.registration
    with store.session() as session:
        user = _user(session, by)
        for result in results:
            registry.record_run(session, intervention_id, registered.planned.number, result, through, user)
    for result in results:
        console.print(escape(effect_sentence(result, reg.plan.unit_level or reg.level, f"“{reg.title}” started")),
                      soft_wrap=True)
        for d in result.diagnostics:
            if d.ok is False:
                console.print(f"  [yellow]check:[/] {escape(d.name)} = {d.value:.3g}", highlight=False)
    console.print(f"{len(results)} result(s) stored.")


@evaluate_app.command("report")
def report_cmd(
    intervention_id: str = typer.Argument(..., help="Registered id."),
    html: Path | None = typer.Option(None, "--html", help="Write a self-contained HTML report here."),
    csv: Path | None = typer.Option(None, "--csv", help="Write the estimates as CSV here."),
) -> None:
    """Export the latest results: a self-contained HTML report and/or a CSV of estimates (disclosure-controlled)."""
    from gpcluster.errors import UserError
    from gpcluster.evaluation import registry, run
    from gpcluster.evaluation.report import estimates_frame, run_view, suppressed_cells
    from gpcluster.exports import stored_rules, warehouse_is_synthetic
    from gpcluster.indicators.suppression import current_pattern
    from gpcluster.store import open_store
    from gpcluster.warehouse import open_warehouse
    from gpcluster.web.evaluation import render_report_html
    from gpcluster.web.serialise import csv_bytes

    if html is None and csv is None:
        raise UserError("say where to write the report: --html PATH and/or --csv PATH")
    with open_store().session() as session:
        registered = registry.get(session, intervention_id)
        runs = registry.latest_runs(session, intervention_id)
    if not runs:
        raise UserError(f"no results for {intervention_id} yet: run `gpcluster evaluate run {intervention_id}`")
    con = open_warehouse(read_only=True)
    try:
        rules = stored_rules(con)
        synthetic = warehouse_is_synthetic(con)
        pattern = current_pattern(con)
        titles = dict(con.execute("SELECT DISTINCT indicator_id, title FROM indicator_definition").fetchall())
        power = run.power_sentences(con, registered.planned.registration)
    finally:
        con.close()
    views = [run_view(registered, r.result, rules.get(r.result.outcome.indicator_id), run=r,
                      suppressed=suppressed_cells(pattern, r.result.outcome.indicator_id)) for r in runs]
    if html is not None:
        html.write_text(render_report_html(registered, views, synthetic, titles=titles, power=power), encoding="utf-8")
        console.print(f"wrote {html}")
    if csv is not None:
        csv.write_bytes(csv_bytes(estimates_frame(registered, views), synthetic))
        console.print(f"wrote {csv}")
    if synthetic:
        console.print("[bold yellow]SYNTHETIC DATA: the report is marked as synthetic.[/]")


def register(app: typer.Typer) -> None:
    """Add `gpcluster evaluate ...` to the app."""
    app.add_typer(evaluate_app, name="evaluate")
