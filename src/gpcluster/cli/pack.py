"""`gpcluster pack build | publish | list | notify`: cluster packs and their e-mail. Thin: parse arguments,
call gpcluster.packs, print."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
pack_app = typer.Typer(help="Cluster packs: build, publish, list, and e-mail the loop around them.",
                       no_args_is_help=True)

CLUSTER_HELP = "Cluster id, e.g. 'S37000007/dundee-4' (repeatable)."
PERIOD_HELP = "Period (YYYY-MM, the quarter's first month); default the warehouse's latest."
FORMAT_HELP = "html or pdf (repeatable); default both."
WORKERS_HELP = "Processes to build with; default one per core."


def _period(value: str | None):
    from gpcluster.packs.formatting import parse_period

    if not value:
        return None
    try:
        return parse_period(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a period: give YYYY-MM, e.g. 2024-10", param_hint="--period") from exc


def _clusters(cluster: list[str] | None, every: bool) -> list[str] | None:
    if bool(cluster) == every:
        raise typer.BadParameter("give --cluster ID (repeatable) or --all", param_hint="--cluster / --all")
    return None if every else list(dict.fromkeys(cluster))


@pack_app.command("build")
def build(
    cluster: list[str] | None = typer.Option(None, "--cluster", "-c", help=CLUSTER_HELP),
    every: bool = typer.Option(False, "--all", help="Every cluster with practices in the period."),
    period: str | None = typer.Option(None, "--period", help=PERIOD_HELP),
    out: Path = typer.Option(Path("packs-draft"), "--out", help="Folder for the files (made if missing)."),
    fmt: list[str] | None = typer.Option(None, "--format", help=FORMAT_HELP),
    workers: int | None = typer.Option(None, "--workers", min=1, help=WORKERS_HELP),
) -> None:
    """Build draft packs into a folder, without publishing them (for checking before `pack publish`)."""
    import time
    from functools import partial

    from gpcluster import config
    from gpcluster.errors import UserError
    from gpcluster.packs.build import build_many, check_formats
    from gpcluster.packs.content import pack_name
    from gpcluster.packs.publish import clusters_with_practices, draft_state
    from gpcluster.packs.source import resolve_period
    from gpcluster.store import open_store
    from gpcluster.warehouse.versions import current_file
    from gpcluster.web.data import WebData

    formats = check_formats(fmt or ["html", "pdf"])
    wanted = _clusters(cluster, every)
    target = current_file()
    if target is None:
        raise UserError(f"no warehouse at {config.warehouse_path()}: run `gpcluster demo` or load data first")
    data = WebData(target)
    try:
        chosen = resolve_period(data, _period(period))
        ids = wanted if wanted is not None else clusters_with_practices(data, chosen)
        missing = [c for c in ids if c not in data.clusters]
    finally:
        data.close()
    if missing:
        raise UserError(f"no cluster {missing[0]!r} in the warehouse")
    store = open_store()  # brought up to date here, once, before the workers read it
    url = store.engine.url.render_as_string(hide_password=False)
    store.close()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def done(built) -> None:
        name = pack_name(built.cluster_id, built.period)
        if built.html is not None:
            (out / f"{name}.html").write_text(built.html, encoding="utf-8")
        if built.pdf is not None:
            (out / f"{name}.pdf").write_bytes(built.pdf)
        console.print(f"{escape(built.cluster_name)}: {name} ({built.seconds:.1f} s)", highlight=False)

    built = build_many(target, chosen, ids, formats, partial(draft_state, store_url=url), workers=workers,
                       on_done=done)
    console.print(f"built {len(built)} pack(s) in {time.perf_counter() - started:.1f} s into {out}")


@pack_app.command("publish")
def publish(
    cluster: list[str] | None = typer.Option(None, "--cluster", "-c", help=CLUSTER_HELP),
    every: bool = typer.Option(False, "--all", help="Every cluster with practices in the period."),
    period: str | None = typer.Option(None, "--period", help=PERIOD_HELP),
    fmt: list[str] | None = typer.Option(None, "--format", help=FORMAT_HELP + " HTML is always published."),
    workers: int | None = typer.Option(None, "--workers", min=1, help=WORKERS_HELP),
    by: str = typer.Option("cli", "--by", help="Who is publishing (recorded with each version)."),
) -> None:
    """Publish numbered, immutable pack versions. Unchanged figures publish nothing; changed ones make a new
    version that says what changed. Safe from cron and while the web app serves."""
    from gpcluster.packs.publish import publish as run

    counts = {"new": 0, "unchanged": 0}

    def done(result) -> None:
        if result.version is None:
            counts["unchanged"] += 1
            console.print(f"{escape(result.cluster_name)}: {escape(result.changes)}", highlight=False)
        else:
            counts["new"] += 1
            console.print(f"{escape(result.cluster_name)}: published version {result.version} "
                          f"({escape(result.changes)})", highlight=False)

    run(_clusters(cluster, every), _period(period), formats=tuple(fmt or ["html", "pdf"]), published_by=by,
        workers=workers, on_done=done)
    console.print(f"{counts['new']} pack version(s) published, {counts['unchanged']} unchanged")


@pack_app.command("list")
def list_packs(
    cluster: str | None = typer.Option(None, "--cluster", "-c", help="Only this cluster."),
    period: str | None = typer.Option(None, "--period", help="Only this period (YYYY-MM)."),
) -> None:
    """List published pack versions with their content hash and what each version changed."""
    from sqlalchemy import select

    from gpcluster.packs.formatting import period_key
    from gpcluster.store import open_store
    from gpcluster.store.models import Pack

    query = select(Pack).order_by(Pack.period.desc(), Pack.cluster_name, Pack.version)
    if cluster:
        query = query.where(Pack.cluster_id == cluster)
    if period:
        query = query.where(Pack.period == _period(period))
    table = Table(title="Published packs")
    for column in ("cluster", "period", "version", "published", "by", "content SHA-256", "changes"):
        table.add_column(column, overflow="fold")
    with open_store().session() as session:
        rows = list(session.scalars(query))
        for p in rows:
            table.add_row(escape(f"{p.cluster_name} ({p.cluster_id})"), period_key(p.period), str(p.version),
                          p.published_at.strftime("%Y-%m-%d %H:%M UTC"), escape(p.published_by), p.content_hash[:12],
                          escape(p.changes))
    console.print(table if rows else "No packs published yet (`gpcluster pack publish --all`).")


@pack_app.command("notify")
def notify(
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be sent; send nothing."),
) -> None:
    """Send the e-mails now due: pack published, meeting reminders, actions due. Run it from cron (daily or
    hourly): a message is never sent twice."""
    from gpcluster.packs.notify import send_pending
    from gpcluster.store import open_store

    summary, messages = send_pending(open_store(), dry_run=dry_run)
    if dry_run:
        for m in messages:
            console.print(f"{m.kind} -> {escape(m.user.email or '')}: {escape(m.subject)}", highlight=False)
        console.print(f"{len(messages)} message(s) would be sent")
        return
    for failure in summary.failed:
        console.print(f"[red]not sent[/]: {escape(failure)}", highlight=False)
    sent = ", ".join(f"{n} {kind}" for kind, n in sorted(summary.sent.items())) or "nothing due"
    console.print(f"sent: {sent}")
    if summary.failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(pack_app, name="pack")
