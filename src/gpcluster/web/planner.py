"""Planner pages (issue 6): MDT roster, coverage and scenario comparison in the web app.

The same gpcluster.workforce functions as `gpcluster plan`, for the viewer's planning area:
Scotland, their board or their HSCP. A cluster or practice lead's models still share their HSCP's budget
among all its practices (that is how the models work), but they see only their own cluster: its practices,
its totals and its coverage, never the rest of the HSCP. Only practices the viewer may name
(web.access.named_mask) are listed; others count in the aggregates only. Every table leaves through
`workforce.export.disclose` (patient counts at or below the threshold blanked), on the page and in
CSV/Excel downloads.

Speed: with the shipped assumptions, the allocations of every model for the viewer's planning area (all
roles at once) are worked out in the server once per planning area, roster version and warehouse version
(a few tenths of a second for Scotland; concurrent first requests wait for the same work), and every
comparison of two models and a role (and its unfiltered page) is then derived from them in a background
thread that pauses between comparisons, so pages only read, filter and page what is kept. The deploy
step (`gpcluster prepare`, prepare_planner) keeps all of that on disk beside the warehouse version for the
national scope and each HSCP's, per roster version and day, so that server processes read it instead. Edited
assumptions are worked out per user in a worker process (gpcluster.web.jobs) with its limits. Each page
summarises in a few sentences; long tables are filtered and paged. Pages are rendered once per roster
version, filter and page, and every request reads the roster version once at its start (pin_roster_version).

The roster can be uploaded (whole, or an HSCP/board planner's own posts) or edited one post at a time;
both go through workforce.store.import_roster. The warehouse is read-only while the app runs, so a roster
changed here is kept in a separate planner database (setting `planner_db`); until then the pages use the
warehouse's roster (imported with `gpcluster plan roster import`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import csv
import os
import random
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlencode

import duckdb
import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from markupsafe import Markup, escape
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from gpcluster import config
from gpcluster.errors import Problem, UserError, ValidationFailed
from gpcluster.stats.disclosure import round_half_up
from gpcluster.warehouse import ensure_schema
from gpcluster.web import formatting
from gpcluster.web.access import DOWNLOAD, Viewer, named_mask
from gpcluster.web.auth import client_ip, require_viewer
from gpcluster.web.cache import ReleasedCache, scope_key
from gpcluster.web.filenames import content_disposition, safe_upload_name
from gpcluster.web.jobs import JobFailed, JobRefused
from gpcluster.web.paging import Paging, page_number
from gpcluster.web.persisted import MISSING
from gpcluster.web.render import cached_blocks, kept_blocks, page, render_blocks, render_part, with_csrf
from gpcluster.web.serialise import csv_bytes, excel_bytes
from gpcluster.workforce import (
    allocate_roles,
    compare_summaries,
    coverage,
    practices_with_need,
    roster_budgets,
    template_path,
)
from gpcluster.workforce.compare import summarise_roles
from gpcluster.workforce.export import PATIENT_COUNT_COLUMNS, disclose, whole_counts
from gpcluster.workforce.params import Assumptions, load_assumptions, load_model, model_names
from gpcluster.workforce.plain import describe_allocation
from gpcluster.workforce.roles import ROLES, URBAN_RURAL_8, role_label
from gpcluster.workforce.roster import POST_COLUMNS, SESSION_COLUMNS, write_roster_csv
from gpcluster.workforce.roster import read_roster as read_roster_file
from gpcluster.workforce.store import import_roster, read_agesex, read_practices, read_roster_tables

#: roles that may see and replace the roster
PLANNER_ROLES = frozenset({"admin", "hscp", "board", "national", "analyst"})
MEDIA = {"csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
#: practices described in plain words on the comparison page: all of them when the table (as filtered)
#: holds at most this many, else none (the table has every figure)
SENTENCES_SHOWN = 12
#: roster uploads larger than this are refused (a national roster is well under 1 MB)
MAX_UPLOAD_BYTES = 5_000_000
LOADED_NOTE = "roster_loaded"  # session key: the summary of an upload, shown once by the roster page
_PLANNER_LOCK = threading.Lock()


# ---------------------------------------------------------------- storage


def planner_db_path() -> Path:
    """The planner database (web-uploaded roster): setting planner_db, else <home>/planner.duckdb."""
    configured = config.get("planner_db")
    return Path(configured) if configured else config.home() / "planner.duckdb"


@dataclass(frozen=True)
class PlannerSource:
    """What the planner reads from the warehouse: small and picklable, so work can be handed to a worker
    process (gpcluster.web.jobs) that opens the warehouse itself."""

    warehouse: str
    synthetic: bool
    clusters: dict
    latest_period: date | None


Source = Request | PlannerSource


def planner_source(source: Source) -> PlannerSource:
    """The PlannerSource of the warehouse version a request reads (built once per version), or the source
    itself. Everything the planner keeps is keyed by its warehouse file, so a new version is planned anew."""
    if isinstance(source, PlannerSource):
        return source
    state = source.app.state
    data = state.services.data
    found = getattr(state, "planner_source", None)
    if found is None or found.warehouse != str(data.file):
        found = source_of(data)
        state.planner_source = found
    return found


def source_of(data) -> PlannerSource:
    """The PlannerSource of a warehouse version opened for the web (gpcluster.web.data.WebData)."""
    return PlannerSource(str(data.file), data.synthetic, dict(data.clusters), data.latest_period)


def _warehouse_path(source: Source) -> str:
    return planner_source(source).warehouse


@contextmanager
def _warehouse(source: Source):
    # Same configuration as the app's own read-only connection, so DuckDB shares the open database.
    con = duckdb.connect(_warehouse_path(source), read_only=True)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def _planner():
    """The planner database, one user at a time, with the warehouse schema (load_ledger) and roster tables.
    A file lock serialises it across processes too: server processes and the workers that load uploads."""
    from filelock import FileLock

    path = planner_db_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with _PLANNER_LOCK, FileLock(f"{path}.lock"):
        con = duckdb.connect(str(path))
        try:
            ensure_schema(con)
            yield con
        finally:
            con.close()
            if _PINNED_ROSTER.get() is not None:  # this request wrote (or may have): what it shows next is new
                _PINNED_ROSTER.set(read_roster_version())


def _read_planner(read):
    """`read(con)` on the planner database, opened read-only and without `_planner`'s schema step: that step
    rewrites the file's catalogue and so changes the roster version every kept planner page is keyed by
    (each read made the next request build its pages again). A database from an older gpcluster (a table
    or column missing) is brought up to date by `_planner` and read again."""
    from filelock import FileLock

    path = planner_db_path()
    for attempt in (1, 2):
        try:
            with _PLANNER_LOCK, FileLock(f"{path}.lock"):
                con = duckdb.connect(str(path), read_only=True)
                try:
                    return read(con)
                finally:
                    con.close()
        except (duckdb.CatalogException, duckdb.BinderException):
            if attempt == 2:
                raise
            with _planner():
                pass


def _planner_has_roster() -> bool:
    if not planner_db_path().exists():
        return False
    return _read_planner(lambda con: con.execute(
        "SELECT count(*) FROM load_ledger WHERE source = 'mdt_roster'").fetchone()[0] > 0)


def _file_version(path: str) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_mtime_ns, found.st_size


def read_roster_version() -> tuple:
    """The planner database's version on disk: changes whenever it is written (an upload or an edit, in
    any process)."""
    path = str(planner_db_path())
    return path, _file_version(path), _file_version(f"{path}.wal")


#: the roster version a request reads, read from disk once at its start (pin_roster_version) and again
#: after the request itself writes the planner database (_planner): every kept page, table and
#: allocation is keyed by it, and a page asks for it several times (each a system call that, under load,
#: waits for the interpreter lock again)
_PINNED_ROSTER: contextvars.ContextVar[tuple | None] = contextvars.ContextVar("gpcluster_planner_roster",
                                                                              default=None)


def roster_version() -> tuple:
    """The roster version this request reads (read_roster_version at its start, or after it wrote the
    roster); outside a request, read from disk on every call."""
    pinned = _PINNED_ROSTER.get()
    return pinned if pinned is not None else read_roster_version()


async def pin_roster_version() -> None:
    """A dependency of every planner route: the roster version read once, at the request's start. An edit
    in any process changes the file, so the next request (in any process) reads the new version."""
    _PINNED_ROSTER.set(read_roster_version())


router = APIRouter(prefix="/plan", dependencies=[Depends(require_viewer), Depends(pin_roster_version)],
                   default_response_class=HTMLResponse)


_ROSTERS: OrderedDict = OrderedDict()
_ROSTERS_LOCK = threading.Lock()


def read_roster(source: Source, as_at: date | None = None) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(posts, sessions, where from): the web-uploaded roster if any, else the warehouse's. Kept per roster
    version (a few thousand posts are read once, not on every page)."""
    posts, sessions, where = _kept_roster(source, as_at)
    return posts.copy(), sessions.copy(), where


def _kept_roster(source: Source, as_at: date | None = None) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """read_roster without the copies: for reading only."""
    key = (_warehouse_path(source), roster_version(), as_at)
    with _ROSTERS_LOCK:
        found = _ROSTERS.get(key)
    if found is None:
        if _planner_has_roster():
            found = (*_read_planner(lambda con: read_roster_tables(con, as_at)), "uploaded in the web app")
        else:
            with _warehouse(source) as con:
                found = (*read_roster_tables(con, as_at), "the warehouse (gpcluster plan roster import)")
        with _ROSTERS_LOCK:
            _ROSTERS[key] = found
            while len(_ROSTERS) > 4:
                _ROSTERS.popitem(last=False)
    return found


_POST_INDEX: OrderedDict = OrderedDict()


def _post_rows(source: Source) -> tuple[pd.DataFrame, pd.DataFrame, dict, dict]:
    """(posts, sessions, post -> its row in posts, post -> its rows in sessions), once per roster version
    (the edit form looks one post up on every request)."""
    key = (_warehouse_path(source), roster_version())
    with _ROSTERS_LOCK:
        found = _POST_INDEX.get(key)
    if found is None:
        posts, sessions, _ = _kept_roster(source)
        rows = {pid: i for i, pid in enumerate(posts["post_id"].tolist())}
        served: dict = {}
        for i, pid in enumerate(sessions["post_id"].tolist()):
            served.setdefault(pid, []).append(i)
        found = (posts, sessions, rows, served)
        with _ROSTERS_LOCK:
            _POST_INDEX[key] = found
            while len(_POST_INDEX) > 4:
                _POST_INDEX.popitem(last=False)
    return found


_UPLOADED: dict = {}


def read_roster_source(source: Source) -> str:
    """Where the roster comes from, in words (kept per roster version)."""
    version = roster_version()
    if version not in _UPLOADED:
        _UPLOADED.clear()
        _UPLOADED[version] = _planner_has_roster()
    return "uploaded in the web app" if _UPLOADED[version] else "the warehouse (gpcluster plan roster import)"


def _known_codes(source: Source) -> pd.DataFrame:
    with _warehouse(source) as wh:
        return wh.execute("SELECT DISTINCT practice_code FROM practice_release UNION "
                          "SELECT DISTINCT practice_code FROM list_population").df()


def import_uploaded(source: Source, path: Path):
    """Validate a roster file against the warehouse's practices and replace the planner roster with it."""
    known = _known_codes(source)
    with _planner() as con:
        # import_roster checks codes against these tables; temporary tables shadow the planner's empty ones
        con.register("known_codes", known)
        for table in ("practice_release", "list_population"):
            con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT practice_code FROM known_codes")
        con.unregister("known_codes")
        return import_roster(con, path, synthetic=planner_source(source).synthetic)


def parse_roster(source: Source, path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate a roster file (every problem at once) without loading it."""
    return read_roster_file(path, known_practices=set(_known_codes(source)["practice_code"]))


def merge_roster(source: Source, viewer: Viewer, area: Area, new_posts: pd.DataFrame, new_sessions: pd.DataFrame,
                 replaced: set[str], name: str):
    """Replace the posts `replaced` of the current roster with `new_posts` and load the result, validated as
    a whole. A planner scoped below Scotland may only replace or add posts serving their own area alone."""
    posts, sessions, _ = read_roster(source)
    codes = set(area.practices["practice_code"])
    problems = []
    if viewer.scope_level != "scotland":
        outside = set(sessions.loc[~sessions["practice_code"].isin(codes), "post_id"])
        problems += [Problem(name, "outside_area", f"post {pid} also serves practices outside {area.label}; "
                             "a Scotland-wide planner must change it", None, "post_id") for pid in sorted(replaced & outside)]
        rows = {pid: n for n, pid in enumerate(new_posts["post_id"], start=2)}
        problems += [Problem(name, "outside_area", f"practice {code} is outside {area.label}", rows.get(pid),
                             "practice_sessions")
                     for pid, code in zip(new_sessions["post_id"], new_sessions["practice_code"], strict=True)
                     if code not in codes]
    kept = posts[~posts["post_id"].isin(replaced)]
    rows = {pid: n for n, pid in enumerate(new_posts["post_id"], start=2)}
    problems += [Problem(name, "duplicate_post", f"post_id {pid!r} is already used by another post", rows[pid],
                         "post_id") for pid in sorted(set(kept["post_id"]) & set(new_posts["post_id"]))]
    merged_posts = pd.concat([kept, new_posts], ignore_index=True)
    if merged_posts.empty:
        problems.append(Problem(name, "empty", "the roster would have no posts left"))
    if problems:
        raise ValidationFailed(problems)
    merged_sessions = pd.concat([sessions[sessions["post_id"].isin(set(kept["post_id"]))], new_sessions],
                                ignore_index=True)
    with tempfile.TemporaryDirectory() as folder:
        return import_uploaded(source, write_roster_csv(merged_posts, merged_sessions, Path(folder) / name))


# ---------------------------------------------------------------- the planning area


@dataclass
class Area:
    """The viewer's planning area.

    `practices` (and `agesex`) are every practice planned over: Scotland, a board or an HSCP (a cluster or
    practice lead's HSCP, whose budget the models share out). `shown` are the practices whose figures the
    viewer sees (a cluster or practice lead: their cluster's; others: all), `named` those they may name.
    """

    label: str
    practices: pd.DataFrame
    agesex: pd.DataFrame
    named: set[str]
    shown: set[str] = field(default_factory=set)
    plan_label: str = ""  # the area whose budget is shared (differs from label for cluster and practice leads)
    narrow: bool = False  # a cluster or practice lead: results limited to their cluster
    plan_key: tuple = ()  # identifies the planning area (allocations are kept per key)


_INPUTS: dict = {}
_INPUTS_LOCK = threading.Lock()


def _planning_inputs(source: Source) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Practices, age-sex bands and area names from the warehouse, read once per warehouse version (in
    the server and in each worker process)."""
    path = _warehouse_path(source)
    with _INPUTS_LOCK:
        found = _INPUTS.get(path)
    if found is None:
        with _warehouse(source) as con:
            try:
                practices, agesex = read_practices(con), read_agesex(con)
            except UserError as exc:  # no populations loaded: nothing to plan over
                raise HTTPException(404, f"The planner needs practice populations: {exc}.") from exc
            names = dict(con.execute("SELECT board_code, board_name FROM board").fetchall())
            names |= dict(con.execute("SELECT hscp_code, hscp_name FROM hscp").fetchall())
        found = (practices, agesex, names)
        with _INPUTS_LOCK:
            _INPUTS.clear()  # one warehouse version at a time
            _INPUTS[path] = found
    return found


def planning_area(source: Source, viewer: Viewer) -> Area:
    """Practices of the viewer's planning area from the latest release (cluster and practice leads: their
    HSCP, showing their cluster), with the practice codes the viewer may see by name."""
    data = planner_source(source)
    practices, agesex, names = _planning_inputs(source)
    level, code = viewer.scope_level, viewer.scope_code
    cluster = viewer.home_cluster if level in ("cluster", "practice") else None
    if level == "scotland":
        keep, label, key = practices["practice_code"].notna(), "Scotland", ("scotland",)
    elif level == "board":
        keep, label, key = practices["board_code"] == code, names.get(code, code), ("board", code)
    else:
        if level == "hscp":
            hscp = code
        elif level == "cluster":
            hscp = data.clusters[code].hscp_code if code in data.clusters else None
        else:
            row = practices[practices["practice_code"] == code]
            hscp = row["hscp_code"].iloc[0] if len(row) else None
        keep, label, key = practices["hscp_code"] == hscp, names.get(hscp, hscp or "your area"), ("hscp", hscp)
    area = practices[keep.fillna(False).to_numpy(dtype=bool)].reset_index(drop=True)
    rows = area.rename(columns={"practice_code": "area_code"}).assign(period=data.latest_period)
    named = set(area.loc[named_mask(viewer, rows), "practice_code"]) if len(area) else set()
    shown = set(area["practice_code"])
    plan_label = str(label)
    narrow = level in ("cluster", "practice")
    if narrow:
        mine = area[area["cluster_id"] == cluster] if cluster else area[area["practice_code"] == code]
        shown = set(mine["practice_code"])
        label = (data.clusters[cluster].cluster_name if cluster in data.clusters
                 else str(mine["practice_name"].iloc[0]) if len(mine) else "your practice")
    return Area(str(label), area, agesex[agesex["practice_code"].isin(set(area["practice_code"]))], named, shown,
                plan_label, narrow, key)


def _area_roster(posts: pd.DataFrame, sessions: pd.DataFrame, codes: set[str]):
    in_area = sessions[sessions["practice_code"].isin(codes)]
    return posts[posts["post_id"].isin(set(in_area["post_id"]))], in_area


# ---------------------------------------------------------------- assumptions


#: the assumptions' single numbers, and their tables with how each table's keys read
_NUMBERS = ("hours_per_wte", "session_hours", "visit_hours")
_TABLES = (("gp_hours_released_per_mdt_hour", role_label), ("supervision_hours_per_wte", role_label),
           ("travel_minutes_round_trip_by_ur8", lambda k: URBAN_RURAL_8[int(k)]))


def assumption_fields(a: Assumptions) -> list[dict]:
    """Every number in the assumptions as form fields: name, label, value, source."""
    fields = []
    for key in _NUMBERS:
        number = getattr(a, key)
        fields.append({"name": key, "label": key.replace("_", " "), "value": number.value, "source": number.source})
    for key, labeller in _TABLES:
        table = getattr(a, key)
        for item, value in table.values.items():
            fields.append({"name": f"{key}.{item}", "label": f"{key.replace('_', ' ')}: {labeller(item)}",
                           "value": value, "source": table.source})
    return fields


def apply_overrides(base: Assumptions, overrides: dict[str, str]) -> tuple[Assumptions, list[str]]:
    """The assumptions with form overrides applied, and the problems found (base unchanged if any)."""
    known = {*_NUMBERS, *(f"{key}.{item}" for key, _ in _TABLES for item in getattr(base, key).values)}
    given = {name: text for name, text in overrides.items()
             if name in known and text is not None and str(text).strip() != ""}
    if not given:  # nearly every page: the filters and pages are not assumptions
        return base, []
    data = base.model_dump()
    problems = []
    for name, text in given.items():
        try:
            value = float(text)
        except ValueError:
            problems.append(f"{name}: {text!r} is not a number")
            continue
        if "." in name:
            key, item = name.split(".", 1)
            data[key]["values"][item] = value
        else:
            data[name]["value"] = value
    if problems:
        return base, problems
    try:
        return Assumptions.model_validate(data), []
    except ValidationError as exc:
        return base, [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]


def _override_params(request: Request, form: dict | None = None) -> dict[str, str]:
    source = form if form is not None else request.query_params
    return {k: v for k, v in source.items() if k not in {"a", "b", "role", "csrf_token"} and isinstance(v, str)}


def _changed(base: Assumptions, a: Assumptions) -> dict[str, str]:
    """Only the overridden numbers (for download links)."""
    if a == base:
        return {}
    before = {f["name"]: f["value"] for f in assumption_fields(base)}
    return {f["name"]: f"{f['value']:g}" for f in assumption_fields(a) if before[f["name"]] != f["value"]}


# ---------------------------------------------------------------- tables


def home_tables(source: Source, viewer: Viewer, a: Assumptions) -> dict[str, pd.DataFrame]:
    """Roster summary by role and coverage by cluster and role for the practices the viewer sees (need
    shares are those of the whole planning area)."""
    area = planning_area(source, viewer)
    posts, sessions, _ = read_roster(source, date.today())
    posts, sessions = _area_roster(posts, sessions, area.shown)
    if posts.empty:
        return {}
    delivered = sessions.merge(posts[["post_id", "role"]], on="post_id")
    delivered["wte_delivered"] = delivered["sessions_per_week"] * a.session_hours.value / a.hours_per_wte.value
    summary = posts.groupby("role", as_index=False).agg(posts=("post_id", "count"), post_wte=("wte", "sum"))
    by_role = delivered.groupby("role").agg(wte_delivered_here=("wte_delivered", "sum"),
                                            practices_covered=("practice_code", "nunique"))
    summary = summary.merge(by_role, left_on="role", right_index=True, how="left")
    summary.insert(1, "role_name", summary["role"].map(role_label))
    all_posts, all_sessions, _ = read_roster(source, date.today())
    all_posts, all_sessions = _area_roster(all_posts, all_sessions, set(area.practices["practice_code"]))
    cover = coverage(area.practices, area.agesex, all_posts, all_sessions, "cluster", a)
    shown_clusters = set(area.practices.loc[area.practices["practice_code"].isin(area.shown), "cluster_id"].dropna())
    cover = cover[cover["cluster_id"].isin(shown_clusters)]
    cover.insert(cover.columns.get_loc("role") + 1, "role_name", cover["role"].map(role_label))
    cols = ["cluster_id", "cluster_name", "role", "role_name", "hours_per_week", "wte", "list_size",
            "need_weighted_population", "wte_per_10k_patients", "wte_per_10k_need_weighted", "gap_hours"]
    return {"roster_summary": disclose(summary),
            "coverage": disclose(cover[cols].sort_values(["cluster_name", "role"]).reset_index(drop=True))}


def coverage_all_roles(cover: pd.DataFrame) -> pd.DataFrame:
    """Coverage summed over roles, one row per cluster (list size and need are the cluster's)."""
    if cover.empty:
        return cover
    sums = cover.groupby(["cluster_id", "cluster_name"], as_index=False, dropna=False).agg(
        hours_per_week=("hours_per_week", "sum"), wte=("wte", "sum"), list_size=("list_size", "first"),
        need_weighted_population=("need_weighted_population", "first"), gap_hours=("gap_hours", "sum"))
    sums["wte_per_10k_patients"] = sums["wte"] / sums["list_size"] * 10_000
    sums["wte_per_10k_need_weighted"] = sums["wte"] / sums["need_weighted_population"] * 10_000
    return sums[["cluster_id", "cluster_name", "hours_per_week", "wte", "list_size", "need_weighted_population",
                 "wte_per_10k_patients", "wte_per_10k_need_weighted", "gap_hours"]]


def home_sentences(tables: dict[str, pd.DataFrame], area: Area) -> list[str]:
    """The planner home in a few sentences."""
    summary, cover = tables["roster_summary"], tables["coverage"]
    posts, wte = int(summary["posts"].sum()), float(summary["post_wte"].sum())
    here = float(summary["wte_delivered_here"].sum())
    out = [f"{formatting.plural(posts, 'MDT post')} ({formatting.number(wte)} WTE) serve practices in {area.label}; "
           f"{formatting.number(here)} WTE of their time is delivered there."]
    largest = summary.sort_values("wte_delivered_here", ascending=False).head(3)
    out.append("Most time comes from " + ", ".join(
        f"{r.role_name}s ({formatting.number(r.wte_delivered_here)} WTE)" for r in largest.itertuples()) + ".")
    clusters = coverage_all_roles(cover)
    if len(clusters) > 1:
        short = clusters.sort_values("gap_hours").head(3)
        out.append("Furthest below their share of need (all roles): " + ", ".join(
            f"{r.cluster_name} ({formatting.number(-r.gap_hours)} hours a week short)" for r in short.itertuples()
            if r.gap_hours < 0) + "." if (short["gap_hours"] < 0).any() else
            "Every cluster has at least its share of MDT time by need.")
    elif len(clusters) == 1:
        gap = float(clusters["gap_hours"].iloc[0])
        out.append(f"{area.label} has {formatting.number(abs(gap))} hours a week {'more' if gap >= 0 else 'less'} "
                   f"MDT time than its share of {area.plan_label}'s by need.")
    return out


@dataclass
class Scenarios:
    """Every model's allocation of the roster's WTE (all roles) over one planning area, and its summary
    (workforce.compare.summarise) for every role and for all roles together: any comparison of two models
    is then put together from two summaries."""

    allocations: dict[str, pd.DataFrame]  # model -> rows per practice and role (the columns sentences need)
    summaries: dict  # (model, role or None) -> ModelSummary
    prepared: pd.DataFrame  # the area's practices with need (workforce.compare.practices_with_need)
    roles: list[str]
    described: dict = field(default_factory=dict)  # model -> {practice: its allocation rows}, as asked for
    practice_facts: dict | None = None  # practice -> its PRACTICE_FACTS (sentences name the practice)
    # the same in every comparison of the area, kept as first worked out:
    search_text: dict = field(default_factory=dict)  # practice -> its line of searchable(PRACTICE_SEARCH)
    hscp_choices: dict = field(default_factory=dict)  # the practices listed -> _hscp_options


#: allocation columns kept for plain-language sentences (workforce.plain)
SENTENCE_COLUMNS = ["model", "model_label", "role", "practice_code", "list_size", "hours_per_week", "viable",
                    "hub_id", "hub_wte", "hub_practices", "visits_per_week", "travel_hours_per_week",
                    "on_site_hours_per_week"]


def scenarios_for(source: Source, viewer: Viewer, a: Assumptions) -> Scenarios | None:
    """Allocate the roster's WTE per HSCP and role under every model over the viewer's planning area and
    summarise each; None when no roster posts serve it."""
    area = planning_area(source, viewer)
    posts, sessions, _ = read_roster(source, date.today())
    posts, sessions = _area_roster(posts, sessions, set(area.practices["practice_code"]))
    if posts.empty:
        return None
    budgets = roster_budgets(posts, sessions, area.practices, a)
    prepared = practices_with_need(area.practices, area.agesex)
    roles = sorted(budgets["role"].unique())
    allocations, summaries = {}, {}
    for model in model_names():
        allocation = allocate_roles(area.practices, area.agesex, model, budgets, a)
        for role, summary in summarise_roles(allocation, prepared, a).items():  # None: every role
            summaries[(model, role)] = summary
        allocations[model] = allocation[SENTENCE_COLUMNS]
    return Scenarios(allocations, summaries, prepared, roles)


@dataclass
class Comparison:
    tables: dict[str, pd.DataFrame]
    sentences: list[str]  # the comparison in a few sentences
    hidden: int  # practices counted but not listed (not nameable)
    labels: tuple[str, str]
    listed: int = 0
    shown: dict = field(default_factory=dict)  # the detail tables as the page shows them (display())
    search: list[str] = field(default_factory=list)  # searchable(tables["practices"], PRACTICE_SEARCH)
    hscps: list | None = None  # the HSCP filter's choices (_hscp_options), once asked for
    practice_digits: dict | None = None  # decimals of tables["practices"]' columns (column_decimals), once asked for
    practice_cells: dict | None = None  # display() of every row of tables["practices"], once a filtered page asks
    filter_texts: dict | None = None  # filter_texts() of the practices' outcome and HSCP, once a filtered page asks

    def __getstate__(self) -> dict:
        # kept on disk and read by every server process: its thousands of (text, numeric) cells as one
        # text per column, which reads back in about a tenth of the time (13 ms for Scotland's)
        return {**self.__dict__, "practice_cells": _packed_cells(self.practice_cells)}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, practice_cells=_unpacked_cells(state.get("practice_cells")))


#: between the texts of a column of cells kept on disk (never in a formatted cell)
_CELL_SEPARATOR = "\x1f"


def _packed_cells(cells: dict | None):
    """display()'s table as its headings and, per column, (numeric, its texts joined); unchanged when a
    column's cells differ in being numeric or a text holds the separator."""
    if not cells or not cells["rows"]:
        return cells
    packed = []
    for column in zip(*cells["rows"], strict=True):
        texts, numeric = [text for text, _ in column], {flag for _, flag in column}
        if len(numeric) != 1 or any(_CELL_SEPARATOR in text for text in texts):
            return cells
        packed.append((numeric.pop(), _CELL_SEPARATOR.join(texts)))
    return ("packed-cells", cells["columns"], packed)


def _unpacked_cells(cells):
    if not (isinstance(cells, tuple) and cells[0] == "packed-cells"):
        return cells
    _, headings, packed = cells
    return {"columns": headings, "rows": _CellRows([(numeric, joined.split(_CELL_SEPARATOR))
                                                    for numeric, joined in packed])}


class _CellRows(Sequence):
    """display()'s rows read back from _packed_cells, each row's cells made when a page asks for it (a
    page shows a few dozen of the thousand)."""

    def __init__(self, columns: list[tuple[bool, list[str]]]):
        self._columns = columns

    def __len__(self) -> int:
        return len(self._columns[0][1])

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return [(texts[index], numeric) for numeric, texts in self._columns]


PRACTICE_LABELS = {"practice_code": "code", "practice_name": "practice", "cluster_name": "cluster", "area": "area",
                   "list_size": "patients", "need_weighted_population": "need-weighted patients",
                   "hours_a": "hours a week under A", "hours_b": "hours a week under B", "change_hours": "change (hours)",
                   "change_pct": "change (%)", "gp_net_hours_a": "GP hours released, net, A",
                   "gp_net_hours_b": "GP hours released, net, B"}
#: the columns a search of who gains and who loses looks in
PRACTICE_SEARCH = ("practice_name", "practice_code", "cluster_name")
#: columns of who gains and who loses used to filter it, not shown
PRACTICE_FILTER_COLUMNS = ["cluster_id", "hscp_code", "simd_decile", "urban_rural_8"]
PRACTICE_COLUMNS = ["practice_code", "practice_name", "cluster_id", "cluster_name", "hscp_code", "list_size",
                    "need_weighted_population", "simd_decile", "urban_rural_8", "hours_a", "hours_b",
                    "change_hours", "change_pct", "outcome", "gp_net_hours_a", "gp_net_hours_b"]


def derive_comparison(scenarios: Scenarios, area: Area, model_a: str, model_b: str, role: str | None,
                      a: Assumptions) -> Comparison | None:
    """Model A against model B (one role or all) from the kept allocations, limited to what the viewer sees."""
    if role and role not in scenarios.roles:
        return None
    sa, sb = scenarios.summaries[(model_a, role or None)], scenarios.summaries[(model_b, role or None)]
    result = compare_summaries(sa, sb, scenarios.prepared)
    alloc_a, alloc_b = scenarios.allocations[model_a], scenarios.allocations[model_b]
    rows = result["practices"]
    names = area.practices.set_index("practice_code")["cluster_name"] if "cluster_name" in area.practices else None
    rows = rows.assign(cluster_name=rows["practice_code"].map(names) if names is not None else None)
    codes = rows["practice_code"].tolist()  # set look-ups over Python strings: isin over Arrow strings is slow
    visible = rows[np.fromiter((c in area.shown for c in codes), dtype=bool, count=len(codes))]
    listed = visible[np.fromiter((c in area.named for c in visible["practice_code"].tolist()), dtype=bool,
                                 count=len(visible))].reset_index(drop=True)
    labels = (alloc_a["model_label"].iloc[0], alloc_b["model_label"].iloc[0])
    if area.narrow:  # a cluster or practice lead: their cluster's practices and totals, nothing of the HSCP
        totals = visible[["list_size", "need_weighted_population", "hours_a", "hours_b", "gp_net_hours_a",
                          "gp_net_hours_b"]].sum().to_frame().T
        totals.insert(0, "area", area.label)
        totals["change_hours"] = totals["hours_b"] - totals["hours_a"]
        tables = {"practices": listed[PRACTICE_COLUMNS], "totals": totals}
    else:
        tables = {"practices": listed[PRACTICE_COLUMNS], **{k: v for k, v in result.items() if k != "practices"}}
        tables["by_urban_rural"].insert(1, "urban_rural_class", tables["by_urban_rural"]["urban_rural_8"].map(URBAN_RURAL_8))
    tables["assumptions"] = _assumptions_table(a)
    sentences = comparison_sentences(visible, listed, result, area, labels, role)
    released = {k: disclose(v) for k, v in tables.items()}
    shown = {k: display(v, PRACTICE_LABELS) for k, v in released.items() if k not in ("practices", "assumptions")}
    return Comparison(released, sentences, len(visible) - len(listed), labels, len(listed), shown,
                      _search_texts(scenarios, released["practices"]))


def _search_texts(scenarios: Scenarios, practices: pd.DataFrame) -> list[str]:
    """searchable(practices, PRACTICE_SEARCH) from the lines kept per practice: a practice's name, code and
    cluster are the same in every comparison of the area, only their order changes."""
    kept = scenarios.search_text
    codes = practices["practice_code"].tolist()
    new = [i for i, code in enumerate(codes) if code not in kept]
    if new:
        kept.update(zip([codes[i] for i in new], searchable(practices.iloc[new], PRACTICE_SEARCH), strict=True))
    return [kept[code] for code in codes]


#: assumptions as a table, per assumptions (JSON): the same for every comparison made with them
_ASSUMPTION_TABLES: dict[str, pd.DataFrame] = {}


def _assumptions_table(a: Assumptions) -> pd.DataFrame:
    """The assumptions' name, value and source, one row each (callers copy it, as disclose does)."""
    key = a.cache_key
    found = _ASSUMPTION_TABLES.get(key)
    if found is None:
        found = pd.DataFrame(assumption_fields(a))[["name", "value", "source"]]
        if len(_ASSUMPTION_TABLES) >= SCENARIOS_KEPT:
            _ASSUMPTION_TABLES.clear()
        _ASSUMPTION_TABLES[key] = found
    return found


def comparison_sentences(visible: pd.DataFrame, listed: pd.DataFrame, result: dict, area: Area,
                         labels: tuple[str, str], role: str | None) -> list[str]:
    """The comparison in a few plain sentences (the tables hold the detail)."""
    what = f"{role_label(role)} time" if role else "MDT time (every role)"
    hours_a, hours_b = float(visible["hours_a"].sum()), float(visible["hours_b"].sum())
    counts = visible["outcome"].value_counts()
    out = []
    if area.narrow:
        change = hours_b - hours_a
        out.append(f"{area.label} would have {formatting.number(hours_b)} hours a week of {what} on site under B "
                   f"({labels[1]}), against {formatting.number(hours_a)} under A ({labels[0]}): "
                   f"{formatting.signed(change)} hours a week"
                   + (f" ({formatting.signed(100 * change / hours_a)}%)." if hours_a > 0 else "."))
    else:
        moved = float(visible["change_hours"].clip(lower=0).sum())
        out.append(f"Moving from A ({labels[0]}) to B ({labels[1]}) moves {formatting.number(moved)} hours a week of "
                   f"{what} between the {formatting.plural(len(visible), 'practice')} of {area.label}.")
    out.append(f"{formatting.plural(int(counts.get('gains', 0)), 'practice')} gain, "
               f"{formatting.plural(int(counts.get('loses', 0)), 'practice')} lose and "
               f"{formatting.plural(int(counts.get('no change', 0)), 'practice')} see no change.")
    if len(listed):
        worst, best = listed.iloc[0], listed.iloc[-1]
        parts = []
        if worst["change_hours"] < -0.05:
            parts.append(f"the largest loss is {worst['practice_name']}'s ({formatting.signed(worst['change_hours'])} "
                         "hours a week)")
        if best["change_hours"] > 0.05:
            parts.append(f"the largest gain is {best['practice_name']}'s ({formatting.signed(best['change_hours'])})")
        if parts:
            text = "; ".join(parts)
            out.append(text[0].upper() + text[1:] + ".")
    if not area.narrow:
        equity = result["equity"].set_index("scenario")
        ci_a, ci_b = (float(equity.loc[k, "concentration_index_hours_per_need"]) for k in ("a", "b"))
        shown_a, shown_b = formatting.number(ci_a, 3), formatting.number(ci_b, 3)
        index = (f"concentration index {shown_a} under A, {shown_b} under B (below zero: more time where patients "
                 "are more deprived)")
        if shown_a == shown_b:
            out.append(f"B leaves the share of time per need-weighted patient by deprivation as it was: {index}.")
        else:
            direction = "towards" if ci_b < ci_a else "away from"
            out.append(f"B moves time per need-weighted patient {direction} more deprived practices: {index}.")
        gp = result["gp_time"].set_index("scenario")["gp_net_hours"]
        out.append(f"GP time released, net of supervision: {formatting.number(gp['a'])} hours a week under A, "
                   f"{formatting.number(gp['b'])} under B.")
    else:
        out.append(f"The models share {area.plan_label}'s budget among all its practices; only {area.label}'s are "
                   "shown here.")
    return out


def describe_practices(scenarios: Scenarios, area: Area, model_a: str, model_b: str, role: str | None,
                       codes: list[str]) -> list[str]:
    """Plain sentences about a few named practices' allocations under A and B (one per role allocated,
    or only `role`'s)."""
    wanted = [code for code in codes if code in area.named]
    by_model = [_rows_by_practice(scenarios, area, m) for m in (model_a, model_b)]
    facts = scenarios.practice_facts
    return [describe_allocation(row, facts.get(code, {})) for code in wanted for rows in by_model
            for row in rows.get(code, ()) if role is None or row["role"] == role]


def _rows_by_practice(scenarios: Scenarios, area: Area, model: str) -> dict[str, list[dict]]:
    """A model's allocation rows (the columns sentences need) grouped by practice, in allocation order, in
    one pass the first time any practice is described: a page then describes only its few practices
    (slicing the allocation per practice took about 1 ms of pandas a practice and model; every practice's
    sentences at once, 45-90 ms a model and role for Scotland)."""
    found = scenarios.described.get(model)
    if found is None:
        if scenarios.practice_facts is None:  # the same for every model of the area
            scenarios.practice_facts = dict(zip(area.practices["practice_code"].tolist(),
                                                _records(area.practices, PRACTICE_FACTS), strict=True))
        allocation = scenarios.allocations[model]
        found = {}
        for row in _records(allocation, [c for c in SENTENCE_COLUMNS if c in allocation]):
            found.setdefault(row["practice_code"], []).append(row)
        scenarios.described[model] = found
    return found


#: the practice's columns a sentence shows (workforce.plain.describe_allocation)
PRACTICE_FACTS = ["practice_name", "urban_rural_8"]


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict]:
    """frame[columns].to_dict("records") column by column (to_dict boxes each value of an Arrow-backed
    column one at a time: most of the time it took)."""
    values = [frame[column].tolist() for column in columns]
    return [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]


def compare_tables(source: Source, viewer: Viewer, model_a: str, model_b: str, role: str | None,
                   a: Assumptions) -> Comparison | None:
    """Models A and B over the planning area with the roster's WTE per HSCP as the budget; None when the
    area has no roster posts (of that role). (All in one go: the pages keep the allocations instead.)"""
    scenarios = scenarios_for(source, viewer, a)
    if scenarios is None:
        return None
    return derive_comparison(scenarios, planning_area(source, viewer), model_a, model_b, role, a)


def roster_table(source: Source, viewer: Viewer) -> pd.DataFrame:
    """Posts serving practices in the viewer's area; only in-area practice codes are listed."""
    area = planning_area(source, viewer)
    codes = area.shown
    posts, sessions, _ = read_roster(source)
    posts, in_area = _area_roster(posts, sessions, codes)
    pairs = in_area.assign(pair=[f"{c}:{s:g}" for c, s in zip(in_area["practice_code"], in_area["sessions_per_week"],
                                                              strict=True)])
    served = pairs.groupby("post_id")["pair"].agg("; ".join).rename("practice_sessions_here")
    elsewhere = sessions[sessions["post_id"].isin(set(posts["post_id"])) & ~sessions["practice_code"].isin(codes)]
    out = posts.merge(served, left_on="post_id", right_index=True, how="left")
    out["practices_elsewhere"] = out["post_id"].map(elsewhere.groupby("post_id").size()).fillna(0).astype(int)
    every_practice = set(sessions["practice_code"]) | codes
    out["base"] = [b if (b not in every_practice or b in codes) else "(outside your area)" for b in out["base"]]
    return out.reset_index(drop=True)


def display(frame: pd.DataFrame, labels: dict[str, str] | None = None, digits: dict[str, int] | None = None) -> dict:
    """A table for the page: column headings and rows of (text, numeric) cells, formatted for people
    (gpcluster.web.formatting.cell): counts whole, suppressed counts '*', missing '–', open end dates
    'open-ended', dates as dates. Numeric columns are rounded a column at a time (formatting.number's rule,
    vectorised); other cells go through formatting.cell. `digits`: column_decimals of the whole table, when
    `frame` is one page of it (each column then reads at one precision on every page)."""
    digits = digits if digits is not None else column_decimals(frame)
    formatted = []
    for column, dtype in frame.dtypes.items():  # each column fetched once and typed by its dtype
        values = frame[column]
        whole = column in PATIENT_COUNT_COLUMNS or pd.api.types.is_integer_dtype(dtype)
        numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        decimals = digits.get(column)
        missing = formatting.SUPPRESSED if column in PATIENT_COUNT_COLUMNS else formatting.MISSING
        if numeric and (whole or decimals is not None):
            texts = _numbers(values.to_numpy(dtype=float, na_value=np.nan), 0 if whole else decimals, missing)
        else:
            texts = [missing if column in PATIENT_COUNT_COLUMNS and formatting.is_missing(v) else
                     formatting.cell(v, column, whole, decimals) for v in values.tolist()]
        formatted.append([(text, numeric) for text in texts])
    rows = [list(cells) for cells in zip(*formatted, strict=True)] if formatted else []
    labels = labels or {}
    return {"columns": [labels.get(c, str(c).replace("_", " ")) for c in frame.columns], "rows": rows}


def column_decimals(frame: pd.DataFrame) -> dict[str, int]:
    """Decimals of each measured (float, not whole-number) column of a table, as display() rounds them. A
    change in hours reads at the precision of the hours it is the change between (-13.0 beside 163.3 and
    150.3, as the sentences give it, not -13.01)."""
    digits = {c: formatting.column_digits(frame[c], c) for c, dtype in frame.dtypes.items()
              if c not in PATIENT_COUNT_COLUMNS and pd.api.types.is_float_dtype(dtype)}
    if {"change_hours", "hours_a", "hours_b"} <= digits.keys():
        digits["change_hours"] = max(digits["hours_a"], digits["hours_b"])
    return digits


def _numbers(values: np.ndarray, digits: int, missing: str) -> list[str]:
    """formatting.number over a column: rounded half up as PHS publishes, thousands separators, no
    negative zero, `missing` for NaN; one vectorised rounding rather than one per cell."""
    rounded = np.asarray(round_half_up(values, digits), dtype=float) + 0.0  # + 0.0: no negative zero
    return [missing if v != v else f"{v:,.{digits}f}" for v in rounded.tolist()]


# ---------------------------------------------------------------- work done in worker processes


def upload_job(source: PlannerSource, viewer: Viewer, name: str, body: bytes):
    """Check an uploaded roster and load it (in a worker process, gpcluster.web.jobs): the whole roster for
    a Scotland-wide planner, else the posts serving only the planner's area. Returns (loaded, problems)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(body)
        try:
            if viewer.scope_level == "scotland":
                return import_uploaded(source, path), []
            area = planning_area(source, viewer)
            _, current_sessions, _ = read_roster(source)
            outside = set(current_sessions.loc[~current_sessions["practice_code"].isin(
                set(area.practices["practice_code"])), "post_id"])
            mine = set(current_sessions["post_id"]) - outside
            return merge_roster(source, viewer, area, *parse_roster(source, path), mine, name), []
        except ValidationFailed as exc:  # returned, not raised: the problems must survive pickling
            return None, exc.problems


def scenarios_job(source: PlannerSource, viewer: Viewer, a: Assumptions) -> tuple[Scenarios | None, str | None]:
    """scenarios_for in a worker process: (result, problem)."""
    try:
        return scenarios_for(source, viewer, a), None
    except UserError as exc:
        return None, str(exc)


#: allocations kept per planning area, assumptions and roster version (each server process)
_SCENARIOS: OrderedDict = OrderedDict()
SCENARIOS_KEPT = 8
_IN_FLIGHT: dict = {}
#: the same with the shipped assumptions as kept on disk (shipped_scenarios), and prepare_planner's marks
_KEPT_SCENARIOS = ReleasedCache(64)
#: comparisons derived from them, per viewer scope (ReleasedCache adds scope and warehouse version)
_DERIVED = ReleasedCache(512)
#: the comparisons themselves (every pair of models and role of a few planning areas)
_COMPARISONS = ReleasedCache(1024)
#: pages as filtered and paged (many, each asked for rarely: kept apart so they never push out the above)
_VIEWS = ReleasedCache(512)
#: rendered comparison pages (their blocks, without the layout or the CSRF token); filtered and paged ones
#: apart, so that the many of those never push out the pages of the comparisons themselves
_PAGES = ReleasedCache(256)
_FILTERED_PAGES = ReleasedCache(512)
#: a comparison's page with who gains and who loses left as a slot (PRACTICES_SLOT), for its filtered pages,
#: and the context they render that part in
_COMPARE_SHELLS = ReleasedCache(512)
_COMPARE_CONTEXTS = ReleasedCache(512)
#: rendered home, roster and post-form pages (their blocks, as _PAGES), per roster version, filter and page
_PLANNER_PAGES = ReleasedCache(1024)
#: downloads made from them (CSV and Excel bytes): one per table, format and comparison (about 1,300 CSV
#: files for Scotland's tables, mostly small; 128 kept meant a miss on nearly every request)
_DOWNLOADS = ReleasedCache(2048)


async def scenarios(request: Request, viewer: Viewer, area: Area, a: Assumptions) -> Scenarios | None:
    """The kept allocations for this planning area, or worked out once in a worker process. Requests that
    arrive while they are being worked out wait for the same task rather than starting their own."""
    key = (_warehouse_path(request), area.plan_key, a.cache_key, roster_version())
    while True:
        if key in _SCENARIOS:
            _SCENARIOS.move_to_end(key)
            return _SCENARIOS[key]
        loop = asyncio.get_running_loop()
        waiting = _IN_FLIGHT.get((key, id(loop)))
        if waiting is not None:
            try:
                return await asyncio.shield(waiting)
            except asyncio.CancelledError:
                if waiting.cancelled():  # the request that started it went away: start again
                    continue
                raise
        future = loop.create_future()
        _IN_FLIGHT[(key, id(loop))] = future
        try:
            if a == load_assumptions():
                # the shipped assumptions: worked out here, once per planning area and data version (a few
                # tenths of a second for Scotland), so the first comparison waits for no worker to start;
                # read instead when the deploy step (or another server process) kept them on disk
                result, problem = await run_in_threadpool(shipped_scenarios, planner_source(request), viewer, area)
            else:  # edited assumptions: per user, in a worker with the job limits
                result, problem = await _in_worker(request, viewer, scenarios_job, a, what="Working out the models")
            if problem:
                raise UserError(problem)
            _SCENARIOS[key] = result
            while len(_SCENARIOS) > SCENARIOS_KEPT:
                _SCENARIOS.popitem(last=False)
            if result is not None and a == load_assumptions():
                _warm_comparisons(planner_source(request), result, viewer, area, a)
            future.set_result(result)
            return result
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waits
            raise
        finally:
            _IN_FLIGHT.pop((key, id(loop)), None)


async def comparison(request: Request, viewer: Viewer, area: Area, model_a: str, model_b: str, role: str | None,
                     a: Assumptions) -> tuple[Comparison | None, Scenarios | None]:
    """(the comparison for the viewer, the allocations it came from): None when no roster posts serve
    the area (or none of that role)."""
    found = await scenarios(request, viewer, area, a)
    if found is None:
        return None, None
    result = await run_in_threadpool(derived_comparison, found, viewer, area, model_a, model_b, role, a)
    return result, found


def derived_comparison(found: Scenarios, viewer: Viewer, area: Area, model_a: str, model_b: str, role: str | None,
                       a: Assumptions, cells: bool = False) -> Comparison | None:
    """derive_comparison, kept per planning area, models, role, assumptions and roster version (and, by
    _COMPARISONS, the viewer's scope and the data version). With the shipped assumptions also on disk
    beside the warehouse version (about 100 kB for Scotland's; read back in a tenth of the time it takes
    to derive), so each comparison is derived by one server process, not by each. `cells`: when derived
    here, with every row formatted as filtered pages show them (practice_cells), kept on disk with it."""
    key = ("plan-compare", area.plan_key, model_a, model_b, role, a.cache_key, roster_version(),
           date.today().isoformat())

    def build() -> Comparison | None:
        result = derive_comparison(found, area, model_a, model_b, role, a)
        if cells and result is not None:
            practice_cells(result)
        return result

    return _COMPARISONS.get(key, viewer, build, persist=a == load_assumptions())


def shipped_scenarios(source: PlannerSource, viewer: Viewer, area: Area) -> tuple[Scenarios | None, str | None]:
    """scenarios_job with the shipped assumptions, kept on disk beside the warehouse version per planning
    area, viewer scope, roster version and day (the roster is read as at today): worked out by the deploy
    step (prepare_planner) or by the first server process that asks, read by the others."""
    a = load_assumptions()
    key = ("plan-scenarios", area.plan_key, a.cache_key, roster_version(), date.today().isoformat())
    return _KEPT_SCENARIOS.get(key, viewer, lambda: scenarios_job(source, viewer, a), persist=True)


def _prepared_key(area: Area, a: Assumptions) -> tuple:
    """The mark kept on disk once prepare_planner has kept every comparison and page of a planning area."""
    return ("plan-prepared", area.plan_key, a.cache_key, roster_version(), date.today().isoformat())


def prepare_planner(source: PlannerSource, viewer: Viewer) -> int:
    """The deploy step's planner work for one viewer scope (gpcluster.web.prerender; the data version
    pinned): with the shipped assumptions and the roster as it is now, the allocations of every model,
    every comparison of two models and a role (its rows formatted for filtered pages too), its
    unfiltered page and that page with who gains and who loses as a slot (compare_shell), kept on disk under exactly the keys the scope's requests use, so that no server
    process derives them. A roster edit or another day changes those keys: the pages are then worked out
    as before. Returns the number of comparison pages (none when there is nothing to plan over: the pages
    say why)."""
    a = load_assumptions()
    try:
        area = planning_area(source, viewer)
    except HTTPException:  # no practice populations
        return 0
    found, _ = shipped_scenarios(source, viewer, area)
    done = 0
    if found is not None:
        for role, model_a, model_b in _every_comparison(found):
            result = derived_comparison(found, viewer, area, model_a, model_b, role, a, cells=True)
            if result is not None:
                compare_blocks(source, viewer, area, found, result, model_a, model_b, role, a, [], {})
                compare_shell(source, viewer, area, found, result, model_a, model_b, role, a, [])
                done += 1
    _KEPT_SCENARIOS.get(_prepared_key(area, a), viewer, lambda: True, persist=True)
    return done


def _every_comparison(found: Scenarios) -> list[tuple[str | None, str, str]]:
    """(role or None for every role, model A, model B) of every comparison a scope can ask for."""
    names = model_names()
    return [(role, model_a, model_b) for role in [None, *found.roles] for model_a in names for model_b in names
            if model_a != model_b]


#: comparisons derived in the background, one thread per planning area and data version at a time
_WARMING: set = set()
_WARMING_LOCK = threading.Lock()
#: the background thread's pause between two comparisons (it then holds the interpreter at most about
#: half the time while it works)
WARM_PAUSE_SECONDS = 0.02


def _warm_comparisons(source: PlannerSource, found: Scenarios, viewer: Viewer, area: Area, a: Assumptions) -> None:
    """Derive every comparison the viewer's scope can ask for (each ordered pair of models, each role and
    all roles), and its unfiltered page, in a background thread once the allocations are worked out
    (seconds of CPU for Scotland, with pauses that leave the interpreter to requests), so that later pages
    only read. Pages asking first build their own (ReleasedCache's single flight: never twice). The
    unfiltered pages first, each process in its own order, skipping those another process has kept on
    disk; then the comparisons of those skipped (filtered pages and downloads need them)."""
    key = (area.plan_key, a.cache_key, roster_version(), scope_key(viewer))
    with _WARMING_LOCK:
        if key in _WARMING:
            return
        _WARMING.add(key)

    def run() -> None:
        try:
            if _KEPT_SCENARIOS.peek(_prepared_key(area, a), viewer, persist=True) is not MISSING:
                return  # the deploy step kept every comparison and page of this area (prepare_planner)
            names = model_names()
            pages = _every_comparison(found)
            # each server process in its own order: together they fill the shared page store sooner
            random.Random(os.getpid()).shuffle(pages)
            for role, model_a, model_b in pages:
                with contextlib.suppress(Exception):  # the page reports it when asked
                    _warm_page(source, found, viewer, area, model_a, model_b, role, a)
                # between comparisons the interpreter is the request threads': a lower OS priority would be
                # worse (a descheduled thread holding the GIL stalls every request)
                time.sleep(WARM_PAUSE_SECONDS)
            for role, model_a, model_b in pages:  # those whose page another process kept, and every
                with contextlib.suppress(Exception):  # comparison's rows as filtered pages show them
                    result = derived_comparison(found, viewer, area, model_a, model_b, role, a, cells=True)
                    if result is not None:
                        practice_cells(result)
                time.sleep(WARM_PAUSE_SECONDS)
            for model in names:  # the rows a filtered page's sentences are written from
                with contextlib.suppress(Exception):
                    _rows_by_practice(found, area, model)
                time.sleep(WARM_PAUSE_SECONDS)
        finally:
            with _WARMING_LOCK:
                _WARMING.discard(key)

    # in the request's context: the warehouse version it pinned is part of every kept comparison's key
    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(run,), name="gpcluster-planner-warm", daemon=True).start()


def _warm_page(source: PlannerSource, found: Scenarios, viewer: Viewer, area: Area, model_a: str, model_b: str,
               role: str | None, a: Assumptions) -> None:
    """One comparison's unfiltered page, derived, rendered and kept, unless a server process kept it
    already (the comparison itself is then derived only if a filtered page or a download asks for it)."""
    key = _compare_page_key(area, model_a, model_b, role, a, [], {})
    if kept_blocks(_PAGES, "planner/compare.html", key, viewer) is not None:
        return
    result = derived_comparison(found, viewer, area, model_a, model_b, role, a, cells=True)
    if result is not None:
        compare_blocks(source, viewer, area, found, result, model_a, model_b, role, a, [], {})
        compare_shell(source, viewer, area, found, result, model_a, model_b, role, a, [])


async def _in_worker(request: Request, viewer: Viewer, function, *args, what: str):
    return await request.app.state.services.jobs.run(viewer.user_id, function, planner_source(request), viewer,
                                                     *args, what=what)


def _busy(request: Request, exc: Exception):
    return page(request, "error.html", status_code=429, title="Busy", message=str(exc))


# ---------------------------------------------------------------- routes


def _audit(request: Request, action: str, viewer: Viewer, target: str, detail: str | None = None) -> None:
    request.app.state.services.audit(action, viewer, target=target, detail=detail, ip=client_ip(request))


def _is_planner(viewer: Viewer) -> bool:
    return viewer.role in PLANNER_ROLES


def _require_planner(viewer: Viewer) -> None:
    if not _is_planner(viewer):
        raise HTTPException(403, "The roster is for HSCP, board and national planners.")


def _model(name: str) -> str:
    if name not in model_names():  # never a path from a web request
        raise HTTPException(404, f"No allocation model {name!r}.")
    return name


def _role(role: str | None) -> str | None:
    if role and role not in ROLES:
        raise HTTPException(404, f"No MDT role {role!r}.")
    return role or None


def filtered(frame: pd.DataFrame, q: str = "", search: tuple[str, ...] = (), haystack: list[str] | None = None,
             **exact: str) -> pd.DataFrame:
    """Rows whose `search` columns contain `q` (case-insensitive) and whose other columns equal the given
    values (empty values filter nothing). `haystack`: searchable(frame, search), when kept with the table."""
    return frame[filter_mask(frame, q, search, haystack, **exact)]


def filter_mask(frame: pd.DataFrame, q: str = "", search: tuple[str, ...] = (), haystack: list[str] | None = None,
                texts: dict[str, np.ndarray] | None = None, **exact: str) -> np.ndarray:
    """filtered()'s choice of rows, as a boolean mask. `texts`: filter_texts() of the `exact` columns,
    when kept with the table."""
    keep = np.ones(len(frame), dtype=bool)
    for column, value in exact.items():
        if value:
            keep &= (texts[column] if texts and column in texts else filter_texts(frame[column])) == value
    text = q.strip().lower()
    if text and search and "\n" in text:  # cannot span the lines of a haystack: each column on its own
        for_each = [_lower_text(frame[c]) for c in search]
        keep &= np.array([any(text in v for v in values) for values in zip(*for_each, strict=True)], dtype=bool)
    elif text and search:
        texts = haystack if haystack is not None else searchable(frame, search)
        keep &= np.fromiter((text in t for t in texts), dtype=bool, count=len(texts))
    return keep


def filter_texts(column: pd.Series) -> np.ndarray:
    """A column's values as the text an exact filter compares (str() of each), as a numpy array: kept
    with a table, each filter is one comparison in C (a few microseconds for Scotland's practices,
    against a third of a millisecond through pandas)."""
    return np.array([str(v) for v in column.tolist()], dtype=object)


def _lower_text(column: pd.Series) -> list[str]:
    """A column as lower-case text, a missing value (a practice with no cluster name) as ''."""
    return column.where(column.notna(), "").astype(str).str.lower().tolist()


def searchable(frame: pd.DataFrame, search: tuple[str, ...]) -> list[str]:
    """Per row, the lower-case text of its `search` columns, one column per line (a search for `q` does
    not match across two columns, as it did not when each column was searched on its own)."""
    columns = [_lower_text(frame[c]) for c in search]
    return ["\n".join(parts) for parts in zip(*columns, strict=True)] if columns else [""] * len(frame)


def _hscp_options(source: Source, area: Area, codes: frozenset[str]) -> list[tuple[str, str]]:
    """(code, name) of the HSCPs of these practices, when there are several (a filter), by name (by code,
    the four HSCPs whose codes changed in 2018-19 came after Western Isles)."""
    names = _planning_inputs(source)[2]
    found = set(area.practices.loc[area.practices["practice_code"].isin(codes), "hscp_code"].dropna())
    options = sorted(((c, names.get(c, c)) for c in found), key=lambda o: (o[1].casefold(), o[0]))
    return options if len(options) > 1 else []


def planning_area_for(source: Source, viewer: Viewer) -> Area:
    """planning_area, kept per viewer scope and warehouse version (pages call it on every request)."""
    return _DERIVED.get(("plan-area",), viewer, lambda: planning_area(source, viewer))


COVERAGE_LABELS = {"cluster_name": "cluster", "role_name": "role", "hours_per_week": "hours a week", "wte": "WTE",
                   "list_size": "patients", "need_weighted_population": "need-weighted patients",
                   "wte_per_10k_patients": "WTE per 10,000 patients",
                   "wte_per_10k_need_weighted": "WTE per 10,000 need-weighted", "gap_hours": "gap hours"}
SUMMARY_LABELS = {"role_name": "role", "post_wte": "post WTE", "wte_delivered_here": "WTE delivered here",
                  "practices_covered": "practices covered"}


COVERAGE_SEARCH = ("cluster_name", "cluster_id")


def home_tables_for(request: Request, viewer: Viewer, area: Area) -> dict[str, pd.DataFrame]:
    """home_tables with the shipped assumptions, kept per planning area and roster version."""
    return _DERIVED.get(("plan-home", area.plan_key, roster_version()), viewer,
                        lambda: home_tables(request, viewer, load_assumptions()))


def _home_base(request: Request, viewer: Viewer, area: Area) -> dict | None:
    """What every filter and page of the planner home shares: the tables, the coverage summed over roles,
    the sentences and the roster summary as shown, with each coverage table's search text."""
    tables = home_tables_for(request, viewer, area)
    if not tables:
        return None
    all_roles = coverage_all_roles(tables["coverage"])
    return {"tables": tables, "all_roles": all_roles, "roles": sorted(set(tables["coverage"]["role"])),
            "sentences": home_sentences(tables, area),
            "summary_table": display(tables["roster_summary"].drop(columns=["role"]), SUMMARY_LABELS),
            "search": searchable(tables["coverage"], COVERAGE_SEARCH),
            "coverage_role": np.array([str(r) for r in tables["coverage"]["role"].tolist()], dtype=object),
            # the columns the page shows
            "coverage_shown": tables["coverage"].drop(columns=["cluster_id", "role"], errors="ignore"),
            "all_roles_shown": all_roles.drop(columns=["cluster_id", "role"], errors="ignore"),
            "all_roles_search": searchable(all_roles, COVERAGE_SEARCH)}


def _home_view(request: Request, viewer: Viewer, area: Area, role: str, q: str, page_no: int) -> dict:
    base = _DERIVED.get(("plan-home-base", area.plan_key, roster_version()), viewer,
                        lambda: _home_base(request, viewer, area))
    if base is None:
        return {"tables": False}
    role = role if role in base["roles"] else ""
    # rows chosen as positions (the role's from the roles kept as text), then only the page's rows taken
    if role:
        coverage = base["tables"]["coverage"]
        keep = filter_mask(coverage, q, COVERAGE_SEARCH, base["search"]) & (base["coverage_role"] == role)
        shown = base["coverage_shown"]
    else:
        keep = filter_mask(base["all_roles"], q, COVERAGE_SEARCH, base["all_roles_search"])
        shown = base["all_roles_shown"]
    chosen = np.flatnonzero(keep)
    paging = Paging(page_no, len(chosen), params=(("role", role), ("q", q)))
    return {"tables": True, "sentences": base["sentences"], "paging": paging, "role": role, "q": q,
            "coverage_roles": base["roles"], "summary_table": base["summary_table"],
            "coverage_table": display(shown.iloc[paging.rows(chosen)], COVERAGE_LABELS)}


_PREFETCHING: set = set()


def _prefetch(request: Request, viewer: Viewer, area: Area) -> None:
    """Start working out the models for this area in the background (the planner home is usually the page
    before a comparison), unless they are kept already; a busy pool or a failure is left to the comparison
    page to report."""
    async def run():
        with contextlib.suppress(Exception):  # the comparison page reports it when someone asks
            await scenarios(request, viewer, area, load_assumptions())

    task = asyncio.get_running_loop().create_task(run())
    _PREFETCHING.add(task)
    task.add_done_callback(_PREFETCHING.discard)


def _home_page(request: Request, viewer: Viewer, role: str, q: str, page_no: int) -> tuple[Area, dict, dict]:
    """(planning area, the page's view, its rendered blocks), kept per roster version, filter and page; in
    one hop to a worker thread (each hop waits its turn for the interpreter under load)."""
    area = planning_area_for(request, viewer)
    view = _VIEWS.get(("plan-home-view", area.plan_key, roster_version(), role, q, page_no), viewer,
                      lambda: _home_view(request, viewer, area, role, q, page_no))
    key = ("plan-home-page", area.plan_key, roster_version(), role, q, page_no)
    blocks = cached_blocks(
        _PLANNER_PAGES, "planner/home.html", key, viewer,
        lambda: dict(title="MDT planner", area=area, source=read_roster_source(request),
                     is_planner=_is_planner(viewer), models=[load_model(m) for m in model_names()], roles=ROLES,
                     **view), persist=False)
    return area, view, blocks


@router.get("", summary="MDT planner home")
async def planner_home(request: Request, role: str = "", q: str = "", page_no: str = Query("1", alias="page"),
                       viewer: Viewer = Depends(require_viewer)):
    area, view, blocks = await run_in_threadpool(_home_page, request, viewer, role, q, page_number(page_no))
    if view["tables"]:
        _prefetch(request, viewer, area)
    _audit(request, "view_plan", viewer, target=area.label)
    return page(request, "_blocks.html", q=q, **with_csrf(request, blocks))  # q: the layout's search box too


def _compare_view(source: Source, area: Area, found: Scenarios, result: Comparison, model_a: str, model_b: str,
                  role: str | None, query: dict, filters: dict[str, str]) -> dict:
    """Who gains and who loses as the page shows it: filtered, one page of rows, and (a role chosen, a few
    practices) their allocations in plain words."""
    rows = result.tables["practices"]
    outcome = filters.get("outcome", "") if filters.get("outcome") in ("gains", "loses", "no change") else ""
    if result.hscps is None:  # the same for every filter of this comparison and every comparison of the area
        codes = frozenset(rows["practice_code"].tolist())
        if codes not in found.hscp_choices:
            found.hscp_choices[codes] = _hscp_options(source, area, codes)
        result.hscps = found.hscp_choices[codes]
    hscps = result.hscps
    hscp = filters.get("hscp", "") if filters.get("hscp") in {c for c, _ in hscps} else ""
    q = filters.get("q", "")
    if result.filter_texts is None:  # once per comparison
        result.filter_texts = {c: filter_texts(rows[c]) for c in ("outcome", "hscp_code")}
    chosen = np.flatnonzero(filter_mask(rows, q, PRACTICE_SEARCH, result.search, result.filter_texts,
                                        outcome=outcome, hscp_code=hscp))
    if outcome == "gains":  # the rows run from the largest loss: those who gain, the largest gain first
        chosen = chosen[::-1]
    paging = Paging(page_number(filters.get("page")), len(chosen),
                    params=(*query.items(), ("outcome", outcome), ("hscp", hscp), ("q", q)))
    described = []
    if role and 0 < len(chosen) <= SENTENCES_SHOWN:
        codes = rows["practice_code"].tolist()
        described = describe_practices(found, area, model_a, model_b, role, [codes[i] for i in chosen])
    if result.practice_digits is None:  # once per comparison: each column at one precision on every page
        result.practice_digits = column_decimals(rows.drop(columns=PRACTICE_FILTER_COLUMNS))
    picked = paging.rows(chosen)
    if any(filters.get(k) for k in _FILTERS):
        # filters and pages of one comparison are many different pages: its rows formatted once (about
        # 17 ms for Scotland's; by the background thread, else the first filtered page), then each page
        # takes its own; the unfiltered page formats only its rows
        cells = practice_cells(result)
        practice_table = {"columns": cells["columns"], "rows": [row_html(cells["rows"][i]) for i in picked]}
    else:
        shown = rows.iloc[picked].drop(columns=PRACTICE_FILTER_COLUMNS)
        practice_table = display(shown, PRACTICE_LABELS, result.practice_digits)
    return dict(practice_table=practice_table, paging=paging, outcome=outcome, hscp=hscp, hscps=hscps, q=q,
                described=described, matched=len(chosen))


def practice_cells(result: Comparison) -> dict:
    """display() of every row of who gains and who loses, worked out once per comparison."""
    if result.practice_cells is None:
        rows = result.tables["practices"].drop(columns=PRACTICE_FILTER_COLUMNS)
        if result.practice_digits is None:
            result.practice_digits = column_decimals(rows)
        result.practice_cells = display(rows, PRACTICE_LABELS, result.practice_digits)
    return result.practice_cells


def row_html(row: list[tuple[str, bool]]) -> Markup:
    """A row of display()'s cells as planner/_macros.html's frame_table writes them: a filtered page's 50
    rows written here rather than by Jinja, whose per-cell work was most of the page's own CPU."""
    return Markup("".join(f'<td class="num">{escape(text)}</td>' if numeric else f"<td>{escape(text)}</td>"
                          for text, numeric in row))


async def _compare_page(request: Request, viewer: Viewer, a_name: str, b_name: str, role: str | None,
                        overrides: dict[str, str], filters: dict[str, str]):
    base = load_assumptions()
    assumptions, problems = apply_overrides(base, overrides)
    model_a, model_b, role = _model(a_name), _model(b_name), _role(role)
    area, blocks, kept = await run_in_threadpool(_kept_compare_page, request, viewer, model_a, model_b, role,
                                                 assumptions, problems, filters)
    _audit(request, "view_plan", viewer, target=area.label, detail=f"{model_a} vs {model_b} {role or 'all roles'}")
    if kept is not None and kept in _SCENARIOS:
        _SCENARIOS.move_to_end(kept)  # as scenarios() does for the allocations it returns
    if blocks is not None:
        status_code = 422 if problems else 200
        return page(request, "_blocks.html", status_code=status_code, **with_csrf(request, blocks))
    found = None
    try:
        result, found = await comparison(request, viewer, area, model_a, model_b, role, assumptions)
    except JobRefused as exc:
        return _busy(request, exc)
    except (JobFailed, UserError) as exc:
        result, problems = None, [*problems, str(exc)]
    status_code = 422 if problems else 200
    if result is None:
        context = _compare_context(area, None, problems, model_a, model_b, role, base, assumptions)
        return page(request, "planner/compare.html", status_code=status_code, **context)
    blocks = await run_in_threadpool(compare_blocks, planner_source(request), viewer, area, found, result, model_a,
                                     model_b, role, assumptions, problems, filters)
    return page(request, "_blocks.html", status_code=status_code, **with_csrf(request, blocks))


def _kept_compare_page(request: Request, viewer: Viewer, model_a: str, model_b: str, role: str | None,
                       assumptions: Assumptions, problems: list[str],
                       filters: dict[str, str]) -> tuple[Area, dict | None, tuple | None]:
    """(planning area, the comparison page's blocks, the key of the allocations they came from): the blocks
    when a server process rendered them already, or, when this process keeps the allocations, rendered here
    (their comparison derived or read as the page would); else None (the caller works them out). In one hop
    to a worker thread: each hop waits its turn for the interpreter under load, and a filtered page, new on
    almost every request, took three."""
    area = planning_area_for(request, viewer)
    if _shared_page(assumptions, problems, filters):
        key = _compare_page_key(area, model_a, model_b, role, assumptions, problems, filters)
        blocks = kept_blocks(_PAGES, "planner/compare.html", key, viewer)
        if blocks is not None:
            return area, blocks, None
    kept = (_warehouse_path(request), area.plan_key, assumptions.cache_key, roster_version())
    found = _SCENARIOS.get(kept)  # written by the event loop only (scenarios()); a plain read here
    if found is None:
        return area, None, None
    result = derived_comparison(found, viewer, area, model_a, model_b, role, assumptions)
    if result is None:
        return area, None, None
    return area, compare_blocks(planner_source(request), viewer, area, found, result, model_a, model_b, role,
                                assumptions, problems, filters), kept


def _shared_page(assumptions: Assumptions, problems: list[str], filters: dict[str, str]) -> bool:
    """A comparison page every viewer of a scope asks for (shipped assumptions, no filter): kept on disk
    beside the warehouse version, shared by every server process. Filtered pages and edited assumptions
    are too many to keep there."""
    return not problems and not any(filters.values()) and assumptions == load_assumptions()


def _compare_page_key(area: Area, model_a: str, model_b: str, role: str | None, assumptions: Assumptions,
                      problems: list[str], filters: dict[str, str]) -> tuple:
    # the day too: the roster is read as at today, and a kept page outlives the process
    return ("plan-compare-page", area.plan_key, model_a, model_b, role, assumptions.cache_key,
            roster_version(), date.today().isoformat(), tuple(problems), *(filters.get(k, "") for k in _FILTERS))


def _compare_context(area: Area, result: Comparison | None, problems: list[str], model_a: str, model_b: str,
                     role: str | None, base: Assumptions, assumptions: Assumptions) -> dict:
    query = _compare_query(base, assumptions, model_a, model_b, role)
    return dict(title="Compare models", area=area, result=result, problems=problems, model_a=model_a,
                model_b=model_b, role=role, roles=ROLES, models=[load_model(m) for m in model_names()],
                fields=assumption_fields(assumptions), download_query=urlencode(query), hidden_fields=query)


PRACTICES_SLOT = "<!--gpcluster:practices-->"
PRACTICES_PART = "planner/_compare_practices.html"


def compare_blocks(source: Source, viewer: Viewer, area: Area, found: Scenarios, result: Comparison, model_a: str,
                   model_b: str, role: str | None, assumptions: Assumptions, problems: list[str],
                   filters: dict[str, str]) -> dict:
    """The comparison page's rendered blocks, once per comparison, filters and viewer scope (35-40 ms of
    Jinja a request before); the shared pages (_shared_page) also on disk for every server process. A
    filtered page renders only who gains and who loses (PRACTICES_PART) into its comparison's page,
    rendered once with that part left as a slot (compare_shell): the rest of the page is the same for
    every filter."""
    key = _compare_page_key(area, model_a, model_b, role, assumptions, problems, filters)

    def build() -> dict:
        view = compare_view_for(source, viewer, area, found, result, model_a, model_b, role, assumptions, filters)
        return {**_kept_compare_context(viewer, area, result, problems, model_a, model_b, role, assumptions), **view}

    if not any(filters.values()):
        return cached_blocks(_PAGES, "planner/compare.html", key, viewer, build,
                             persist=_shared_page(assumptions, problems, filters))

    def filtered() -> dict:
        slotted = compare_shell(source, viewer, area, found, result, model_a, model_b, role, assumptions, problems)
        part = render_part(PRACTICES_PART, build())
        return {**slotted, "content": Markup(str(slotted["content"]).replace(PRACTICES_SLOT, part, 1))}

    return _FILTERED_PAGES.get(("page", "planner/compare.html", key, viewer.role), viewer, filtered)


def _kept_compare_context(viewer: Viewer, area: Area, result: Comparison, problems: list[str], model_a: str,
                          model_b: str, role: str | None, assumptions: Assumptions) -> dict:
    """_compare_context, the same for every filter and page of a comparison: worked out once."""
    key = ("plan-compare-context", *_compare_page_key(area, model_a, model_b, role, assumptions, problems, {}))
    return _COMPARE_CONTEXTS.get(key, viewer, lambda: _compare_context(area, result, problems, model_a, model_b, role,
                                                                       load_assumptions(), assumptions))


def compare_shell(source: Source, viewer: Viewer, area: Area, found: Scenarios, result: Comparison, model_a: str,
                  model_b: str, role: str | None, assumptions: Assumptions, problems: list[str]) -> dict:
    """The comparison page's blocks with who gains and who loses left as PRACTICES_SLOT, for its filtered
    pages: cut from the unfiltered page (rendering the page again with a slot was 35-40 ms of Jinja).
    With the shipped assumptions kept on disk too, by the deploy step (prepare_planner) or the first
    server process that asks: a process's first filtered page of each comparison then only reads it."""
    unfiltered = _compare_page_key(area, model_a, model_b, role, assumptions, problems, {})
    shared = _shared_page(assumptions, problems, {})

    def context() -> dict:
        return _kept_compare_context(viewer, area, result, problems, model_a, model_b, role, assumptions)

    def shell() -> dict:
        if shared:
            def whole() -> dict:
                return {**context(), **compare_view_for(source, viewer, area, found, result, model_a, model_b, role,
                                                        assumptions, {})}

            page_blocks = cached_blocks(_PAGES, "planner/compare.html", unfiltered, viewer, whole, persist=True)
            part, content = render_part(PRACTICES_PART, whole()), str(page_blocks["content"])
            if content.count(part) == 1:
                return {**page_blocks, "content": Markup(content.replace(part, PRACTICES_SLOT, 1))}
        return render_blocks("planner/compare.html", {**context(), "practices_html": Markup(PRACTICES_SLOT)})

    return _COMPARE_SHELLS.get(("page", "planner/compare.html", (*unfiltered, "practices slot"), viewer.role),
                               viewer, shell, persist=shared)


_FILTERS = ("outcome", "hscp", "q", "page")


def _compare_query(base: Assumptions, assumptions: Assumptions, model_a: str, model_b: str, role: str | None) -> dict:
    """The comparison's parameters as links and downloads carry them (only the overridden numbers)."""
    return {"a": model_a, "b": model_b, "role": role or "", **_changed(base, assumptions)}


def compare_view_for(source: Source, viewer: Viewer, area: Area, found: Scenarios, result: Comparison, model_a: str,
                     model_b: str, role: str | None, assumptions: Assumptions, filters: dict[str, str]) -> dict:
    """_compare_view, the unfiltered one kept per comparison (a filtered one is asked for once, its page
    then kept: compare_blocks)."""
    def build() -> dict:
        query = _compare_query(load_assumptions(), assumptions, model_a, model_b, role)
        return _compare_view(source, area, found, result, model_a, model_b, role, query, filters)

    if any(filters.get(k) for k in _FILTERS):
        return build()
    key = ("plan-compare-view", area.plan_key, model_a, model_b, role, assumptions.cache_key, roster_version())
    return _VIEWS.get(key, viewer, build)


@router.get("/compare", summary="Compare two allocation models")
async def compare_page(request: Request, a: str = "per_capita", b: str = "rurality_aware", role: str = "",
                       viewer: Viewer = Depends(require_viewer)):
    filters = {k: request.query_params.get(k, "") for k in _FILTERS}
    return await _compare_page(request, viewer, a, b, role, _override_params(request), filters)


@router.post("/compare", summary="Compare two allocation models with edited assumptions")
async def compare_rerun(request: Request, viewer: Viewer = Depends(require_viewer)):
    form = dict(await request.form())
    return await _compare_page(request, viewer, str(form.get("a", "per_capita")),
                               str(form.get("b", "rurality_aware")), str(form.get("role", "")),
                               _override_params(request, form), {})


@router.get("/roster", summary="The MDT roster")
def roster_page(request: Request, viewer: Viewer = Depends(require_viewer)):
    _require_planner(viewer)
    loaded = request.session.pop(LOADED_NOTE, None)  # what the upload that redirected here did
    return _roster_page(request, viewer, **({"loaded": loaded} if isinstance(loaded, dict) else {}))


ROSTER_COLUMNS = {"post_id": "post", "role": "role", "wte": "WTE", "employer": "employer", "base": "base",
                  "practice_sessions_here": "practices here: sessions a week", "practices_elsewhere": "practices elsewhere",
                  "start_date": "start", "end_date": "end"}


def _roster_cell(value, column: str, employers: dict[str, str]) -> str:
    """A roster cell in words: the role's name, an employing HSCP or board by name, "70731 (3); 70752
    (0.5)" for the template's practice:sessions pairs, counts whole."""
    if column == "role":
        return role_label(value)
    if column == "employer" and value in employers:
        return employers[value]
    if column == "practice_sessions_here" and isinstance(value, str):
        return "; ".join(f"{code} ({sessions})" if sessions else code
                         for code, _, sessions in (pair.strip().partition(":") for pair in value.split(";")))
    return formatting.cell(value, column, column == "practices_elsewhere")


ROSTER_SEARCH = ("post_id", "practice_sessions_here", "base", "employer")


def _roster_base(request: Request, viewer: Viewer, area: Area) -> dict:
    """What every filter and page of the roster page shares: the posts, their search text, the employers'
    names and the summary sentences."""
    posts = _DERIVED.get(("plan-roster", area.plan_key, roster_version()), viewer,
                         lambda: roster_table(request, viewer))
    clusters = request.app.state.services.data.clusters.values()
    employers = {**{c.board_code: c.board_name for c in clusters},
                 **{c.hscp_code: f"{c.hscp_name} HSCP" for c in clusters}}
    columns = [c for c in ROSTER_COLUMNS if c in posts.columns]
    rows = [{"post_id": r["post_id"], "editable": viewer.scope_level == "scotland" or not r["practices_elsewhere"],
             "cells": [(_roster_cell(r[c], c, employers), c in ("wte", "practices_elsewhere")) for c in columns]}
            for r in posts.to_dict("records")]
    return {"posts": posts, "search": searchable(posts, ROSTER_SEARCH), "employers": employers,
            "sentences": roster_sentences(posts, area), "rows": rows, "columns": columns,
            "roles": np.array([str(r) for r in posts["role"].tolist()], dtype=object)}


def roster_sentences(posts: pd.DataFrame, area: Area, today: date | None = None) -> list[str]:
    """The roster of the area in a few sentences. The roster lists every post, ended and future ones too;
    the planner's other pages count the posts in post today, so the two counts are told apart."""
    by_role = posts.groupby("role").agg(posts=("post_id", "count"), wte=("wte", "sum"))
    sentences = [f"{formatting.plural(len(posts), 'post')} ({formatting.number(posts['wte'].sum())} WTE) in the "
                 f"roster for practices in {area.label}" + (": " + ", ".join(
                     f"{formatting.plural(int(r.posts), role_label(k))} ({formatting.number(r.wte)} WTE)"
                     for k, r in by_role.sort_values("wte", ascending=False).head(4).iterrows()) + "." if len(by_role)
                     else ".")]
    shared = int((posts["practices_elsewhere"] > 0).sum()) if len(posts) else 0
    if shared:
        sentences.append(f"{formatting.plural(shared, 'post')} also serve practices outside {area.label}.")
    if len(posts) and {"start_date", "end_date"} <= set(posts.columns):
        today = pd.Timestamp(today or date.today())
        start, end = pd.to_datetime(posts["start_date"]), pd.to_datetime(posts["end_date"])
        ended, future = end < today, start > today
        current = ~ended & ~future
        if not current.all():
            sentences.append(
                f"{formatting.plural(int(current.sum()), 'post')} ({formatting.number(posts.loc[current, 'wte'].sum())}"
                f" WTE) {'is' if current.sum() == 1 else 'are'} in post today, as the planner's home page and "
                f"comparisons count them; {int(ended.sum()):,} ended, {int(future.sum()):,} not yet started.")
    if len(posts) and "end_date" in posts:
        open_ended = int(posts["end_date"].isna().sum())
        sentences.append(f"{formatting.plural(open_ended, 'post')} {'has' if open_ended == 1 else 'have'} no end date.")
    return sentences


def _roster_view(request: Request, viewer: Viewer, area: Area, role: str, q: str, page_no: int) -> dict:
    base = _DERIVED.get(("plan-roster-base", area.plan_key, roster_version()), viewer,
                        lambda: _roster_base(request, viewer, area))
    posts = base["posts"]
    # the posts' rows are formatted once per roster version (_roster_base); a page picks its own
    keep = filter_mask(posts, q, ROSTER_SEARCH, base["search"])
    if role:
        keep &= base["roles"] == role
    chosen = np.flatnonzero(keep)
    paging = Paging(page_no, len(chosen), params=(("role", role), ("q", q)))
    rows = [base["rows"][i] for i in paging.rows(chosen)]
    return {"rows": rows, "headings": [ROSTER_COLUMNS[c] for c in base["columns"]], "paging": paging, "role": role,
            "q": q, "sentences": base["sentences"], "total_posts": len(posts)}


def _roster_page(request: Request, viewer: Viewer, status_code: int = 200, **extra):
    area = planning_area_for(request, viewer)
    params = request.query_params
    role = params.get("role", "") if params.get("role", "") in ROLES else ""
    q, page_no = params.get("q", ""), page_number(params.get("page"))
    key = ("plan-roster-view", area.plan_key, roster_version(), role, q, page_no)
    view = _VIEWS.get(key, viewer, lambda: _roster_view(request, viewer, area, role, q, page_no))
    context = dict(title="MDT roster", area=area, source=read_roster_source(request),
                   whole_roster=viewer.scope_level == "scotland", roles=ROLES, **view)
    if extra or status_code != 200:  # what this user's upload or edit did: their own page
        return page(request, "planner/roster.html", status_code=status_code, **context, **extra)
    blocks = cached_blocks(_PLANNER_PAGES, "planner/roster.html", ("page", *key), viewer, lambda: context,
                           persist=False)
    return page(request, "_blocks.html", q=q, **with_csrf(request, blocks))  # q: the layout's search box too


@router.get("/roster/template.{fmt}", summary="The roster template (CSV or Excel)")
def roster_template(request: Request, fmt: str, viewer: Viewer = Depends(require_viewer)):
    _require_planner(viewer)
    if fmt not in MEDIA:
        raise HTTPException(404, "No such template.")
    path = template_path(xlsx=fmt == "xlsx")
    return FileResponse(path, media_type=MEDIA[fmt], filename=path.name)


@router.get("/roster/export.csv", summary="The whole roster in the template format (Scotland-wide planners)")
def roster_export(request: Request, viewer: Viewer = Depends(require_viewer)):
    _require_planner(viewer)
    if viewer.scope_level != "scotland" or not viewer.can(DOWNLOAD):
        raise HTTPException(403, "The whole roster is for Scotland-wide planners.")
    posts, sessions, _ = read_roster(request)
    _audit(request, "export", viewer, target="plan:roster_template_format", detail="csv")
    with tempfile.TemporaryDirectory() as folder:
        body = write_roster_csv(posts, sessions, Path(folder) / "roster.csv", for_spreadsheets=True).read_bytes()
    return Response(body, media_type=MEDIA["csv"],
                    headers={"Content-Disposition": content_disposition("gpcluster-roster.csv")})


@router.post("/roster", summary="Upload a roster (replaces the roster of your area, all or nothing)")
async def roster_upload(request: Request, roster: UploadFile, viewer: Viewer = Depends(require_viewer)):
    _require_planner(viewer)
    name = safe_upload_name(roster.filename, "roster.csv")
    suffix = Path(name).suffix.lower()
    body = await roster.read(MAX_UPLOAD_BYTES + 1)
    problems: list[Problem] = []
    if suffix not in {".csv", ".xlsx"}:
        problems = [Problem(name, "format", "upload a .csv (CSV UTF-8) or .xlsx file in the template format")]
    elif len(body) > MAX_UPLOAD_BYTES:
        problems = [Problem(name, "size", f"larger than {MAX_UPLOAD_BYTES // 1_000_000} MB")]
    loaded = None
    if not problems:
        try:
            loaded, problems = await _in_worker(request, viewer, upload_job, name, body, what=f"Checking {name}")
        except JobRefused as exc:
            return _busy(request, exc)
        except JobFailed as exc:
            problems = [Problem(name, "stopped", f"{exc} Nothing was loaded. A roster of a few thousand posts "
                                "takes seconds: remove empty rows or other sheets, or split the file.")]
    if problems:
        _audit(request, "roster_import", viewer, target=name, detail=f"rejected: {len(problems)} problems")
        shown = [Problem(Path(p.file).name, p.kind, p.message, p.row, p.column) for p in problems]
        return await run_in_threadpool(_roster_page, request, viewer, status_code=422, problems=shown,
                                       upload_name=name)
    _audit(request, "roster_import", viewer, target=name,
           detail=f"{loaded.posts} posts" + (" (unchanged)" if loaded.unchanged else ""))
    # Post/redirect/get: the upload answers as soon as the worker is done; the roster page (which lists
    # every post) is a read of its own, and a reload does not upload again.
    request.session[LOADED_NOTE] = {k: getattr(loaded, k) for k in ("file_name", "posts", "sessions", "total_wte",
                                                                     "unchanged")}
    return RedirectResponse("/plan/roster", status_code=303)


POST_FIELDS = ("post_id", "role", "wte", "employer", "base", "practice_sessions", "start_date", "end_date",
               "line_manager", "gp_supervision_hours_per_week")


def _editable_post(request: Request, viewer: Viewer, area: Area, post_id: str) -> dict | None:
    """The post's fields as the form shows them, or None when it does not exist or the viewer may not
    change it (scoped planners: posts serving their area alone)."""
    posts, sessions, rows, served = _post_rows(request)
    if post_id not in rows:
        return None
    row = posts.iloc[[rows[post_id]]]
    mine = sessions.iloc[served.get(post_id, [])]
    if viewer.scope_level != "scotland" and not mine["practice_code"].isin(set(area.practices["practice_code"])).all():
        return None
    if mine.empty and viewer.scope_level != "scotland":
        return None
    record = row.iloc[0].to_dict()
    record["practice_sessions"] = "; ".join(
        f"{c}:{n:g}" for c, n in zip(mine["practice_code"], mine["sessions_per_week"], strict=True))
    return {k: "" if record.get(k) is None or record.get(k) != record.get(k) else
            (pd.Timestamp(record[k]).date().isoformat() if k.endswith("_date") else
             f"{record[k]:g}" if isinstance(record[k], float) else str(record[k])) for k in POST_FIELDS}


@router.get("/roster/post", summary="Add or edit one roster post")
def post_form(request: Request, post_id: str = "", viewer: Viewer = Depends(require_viewer)):
    _require_planner(viewer)
    area = planning_area_for(request, viewer)

    def context() -> dict:
        values = dict.fromkeys(POST_FIELDS, "")
        if post_id:
            found = _editable_post(request, viewer, area, post_id)
            if found is None:
                raise HTTPException(404, "No post with that id that you may change.")
            values = found
        return dict(title="Edit a post" if post_id else "Add a post", area=area, values=values,
                    editing=bool(post_id), roles=ROLES)

    # the form as this roster version has the post: rendered once per post and viewer scope
    blocks = cached_blocks(_PLANNER_PAGES, "planner/post.html", ("plan-post-page", area.plan_key, roster_version(),
                                                                 post_id), viewer, context, persist=False)
    return page(request, "_blocks.html", **with_csrf(request, blocks))


@router.post("/roster/post", summary="Save or delete one roster post (validated with the whole roster)")
async def post_save(request: Request, viewer: Viewer = Depends(require_viewer)):
    _require_planner(viewer)
    form = await request.form()
    return await run_in_threadpool(_save_post, request, viewer, form)  # never on the event loop


def _save_post(request: Request, viewer: Viewer, form):
    values = {k: str(form.get(k, "")).strip() for k in POST_FIELDS}
    original = str(form.get("original_post_id", "")).strip()
    area = planning_area(request, viewer)
    name = "edited post"
    if original and _editable_post(request, viewer, area, original) is None:
        raise HTTPException(404, "No post with that id that you may change.")
    try:
        if form.get("action") == "delete":
            if not original:
                raise HTTPException(404, "No post to delete.")
            loaded = merge_roster(request, viewer, area, pd.DataFrame(columns=POST_COLUMNS),
                                  pd.DataFrame(columns=SESSION_COLUMNS), {original}, name)
            done = f"Deleted post {original}."
        else:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "post.csv"
                with path.open("w", encoding="utf-8", newline="") as handle:
                    writer = csv.writer(handle)
                    writer.writerow(POST_FIELDS)
                    writer.writerow([values[k] for k in POST_FIELDS])
                new_posts, new_sessions = parse_roster(request, path)
            replaced = {original} if original else set()
            loaded = merge_roster(request, viewer, area, new_posts, new_sessions, replaced, name)
            done = f"Saved post {values['post_id']}."
    except ValidationFailed as exc:
        problems = [Problem(name, p.kind, p.message, None, p.column) for p in exc.problems]
        return page(request, "planner/post.html", status_code=422, title="Edit a post", area=area,
                    values=values, editing=bool(original), original=original, roles=ROLES, problems=problems)
    _audit(request, "roster_import", viewer, target=values["post_id"] or original, detail=done)
    return _roster_page(request, viewer, loaded=loaded, done=done)


DOWNLOADABLE = {"roster_summary", "coverage", "roster", "practices", "by_simd_quintile", "by_urban_rural", "equity",
                "inverse_care", "gp_time", "assumptions", "totals"}
#: the downloads that are a comparison's tables (the others are the roster's)
COMPARISON_TABLES = DOWNLOADABLE - {"roster_summary", "coverage", "roster"}


@router.get("/download/{name}.{fmt}", summary="Download a planner table as CSV or Excel")
async def planner_download(request: Request, name: str, fmt: str, a: str = "per_capita", b: str = "rurality_aware",
                           role: str = "", viewer: Viewer = Depends(require_viewer)):
    if fmt not in MEDIA or name not in DOWNLOADABLE or not viewer.can(DOWNLOAD):
        raise HTTPException(404, "No such download.")
    assumptions, problems = apply_overrides(load_assumptions(), _override_params(request))
    if problems:
        raise HTTPException(404, "No such download: " + "; ".join(problems))
    if name == "roster":
        _require_planner(viewer)
    # the file is kept too: the same table in the same format is the same bytes for everyone with this scope
    # (the day too: the roster is read as at today). A comparison's table as a CSV with the shipped
    # assumptions is also kept on disk once its checks below have passed, shared by every server process
    # (the practices' CSV of a national comparison is about 50-100 ms of pandas).
    key = ("plan-download", name, fmt, a, b, role, assumptions.cache_key, roster_version(),
           date.today().isoformat())
    shared = fmt == "csv" and name in COMPARISON_TABLES and assumptions == load_assumptions()
    kept = _DOWNLOADS.peek(key, viewer)  # made for this scope already (so every check above it passed)
    if kept is not MISSING:
        _audit(request, "export", viewer, target=f"plan:{name}", detail=fmt)
        return Response(kept, media_type=MEDIA[fmt],
                        headers={"Content-Disposition": content_disposition(f"gpcluster-plan-{name}.{fmt}")})
    if name in {"roster_summary", "coverage"}:
        if assumptions == load_assumptions():
            area = await run_in_threadpool(planning_area_for, request, viewer)
            frame = (await run_in_threadpool(home_tables_for, request, viewer, area)).get(name)
        else:
            frame = (await run_in_threadpool(home_tables, request, viewer, assumptions)).get(name)
    elif name == "roster":
        area = await run_in_threadpool(planning_area_for, request, viewer)
        frame = disclose(await run_in_threadpool(_DERIVED.get, ("plan-roster", area.plan_key, roster_version()),
                                                 viewer, lambda: roster_table(request, viewer)))
    else:
        area = await run_in_threadpool(planning_area_for, request, viewer)
        try:
            result, _ = await comparison(request, viewer, area, _model(a), _model(b), _role(role), assumptions)
        except JobRefused as exc:
            return _busy(request, exc)
        except JobFailed as exc:
            raise HTTPException(503, str(exc)) from exc
        except UserError as exc:
            raise HTTPException(404, f"No such download: {exc}") from exc
        if result is not None and name not in result.tables:
            raise HTTPException(404, f"The {name.replace('_', ' ')} table covers the whole of {area.plan_label}; "
                                     f"at your scope the comparison shows {area.label} only.")
        frame = result.tables[name] if result else None
    if frame is None:
        raise HTTPException(404, "No roster posts in your area to tabulate.")
    _audit(request, "export", viewer, target=f"plan:{name}", detail=fmt)
    synthetic = request.app.state.services.data.synthetic
    body = await run_in_threadpool(_DOWNLOADS.get, key, viewer, lambda: (csv_bytes if fmt == "csv" else excel_bytes)(
        whole_counts(frame), synthetic, *([] if fmt == "csv" else [name])), shared)
    return Response(body, media_type=MEDIA[fmt],
                    headers={"Content-Disposition": content_disposition(f"gpcluster-plan-{name}.{fmt}")})
