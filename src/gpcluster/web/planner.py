"""Planner pages (issue 6): MDT roster, coverage and scenario comparison in the web app.

The same gpcluster.workforce functions as `gpcluster plan`, for the viewer's planning area:
Scotland, their board or their HSCP; a cluster or practice lead plans within their HSCP (models share
each HSCP's budget among its practices), but only practices they may name (web.access.named_mask) are
listed; the rest count in the aggregates only. Every table leaves through `workforce.export.disclose`
(patient counts at or below the threshold blanked), on the page and in CSV/Excel downloads.

The roster can be uploaded (whole, or an HSCP/board planner's own posts) or edited one post at a time;
both go through workforce.store.import_roster. The warehouse is read-only while the app runs, so a roster
changed here is kept in a separate planner database (setting `planner_db`); until then the pages use the
warehouse's roster (imported with `gpcluster plan roster import`).
"""

from __future__ import annotations

import csv
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlencode

import duckdb
import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from gpcluster import config
from gpcluster.errors import Problem, UserError, ValidationFailed
from gpcluster.warehouse import ensure_schema
from gpcluster.web.access import DOWNLOAD, Viewer, named_mask
from gpcluster.web.auth import client_ip, require_viewer
from gpcluster.web.filenames import content_disposition, safe_upload_name
from gpcluster.web.jobs import JobFailed, JobRefused
from gpcluster.web.render import fmt, page
from gpcluster.web.serialise import csv_bytes, excel_bytes
from gpcluster.workforce import (
    allocate_roles,
    compare,
    coverage,
    describe_practice,
    roster_budgets,
    template_path,
)
from gpcluster.workforce.export import PATIENT_COUNT_COLUMNS, disclose
from gpcluster.workforce.params import Assumptions, load_assumptions, load_model, model_names
from gpcluster.workforce.roles import ROLES, URBAN_RURAL_8, role_label
from gpcluster.workforce.roster import POST_COLUMNS, SESSION_COLUMNS, write_roster_csv
from gpcluster.workforce.roster import read_roster as read_roster_file
from gpcluster.workforce.store import import_roster, read_agesex, read_practices, read_roster_tables

router = APIRouter(prefix="/plan", dependencies=[Depends(require_viewer)], default_response_class=HTMLResponse)

#: roles that may see and replace the roster
PLANNER_ROLES = frozenset({"admin", "hscp", "board", "national", "analyst"})
MEDIA = {"csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
#: most plain-language sentences shown on the comparison page (the tables list every practice)
SENTENCES_SHOWN = 60
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
    """The PlannerSource of a request's app (built once per app), or the source itself."""
    if isinstance(source, PlannerSource):
        return source
    state = source.app.state
    if getattr(state, "planner_source", None) is None:
        data = state.services.data
        rows = data.query("SELECT path FROM duckdb_databases() WHERE database_name = current_database()")
        state.planner_source = PlannerSource(str(rows["path"].iloc[0]), data.synthetic, dict(data.clusters),
                                             data.latest_period)
    return state.planner_source


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


def _planner_has_roster() -> bool:
    if not planner_db_path().exists():
        return False
    with _planner() as con:
        return con.execute("SELECT count(*) FROM load_ledger WHERE source = 'mdt_roster'").fetchone()[0] > 0


def read_roster(source: Source, as_at: date | None = None) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(posts, sessions, where from): the web-uploaded roster if any, else the warehouse's."""
    if _planner_has_roster():
        with _planner() as con:
            return (*read_roster_tables(con, as_at), "uploaded in the web app")
    with _warehouse(source) as con:
        return (*read_roster_tables(con, as_at), "the warehouse (gpcluster plan roster import)")


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
    """The viewer's planning area: its practices (all HSCPs planned), which of them may be named, and
    its label."""

    label: str
    practices: pd.DataFrame
    agesex: pd.DataFrame
    named: set[str]


def planning_area(source: Source, viewer: Viewer) -> Area:
    """Practices of the viewer's planning area from the latest release (cluster and practice leads: their
    HSCP), with the set of practice codes the viewer may see by name."""
    data = planner_source(source)
    with _warehouse(source) as con:
        try:
            practices, agesex = read_practices(con), read_agesex(con)
        except UserError as exc:  # no populations loaded: nothing to plan over
            raise HTTPException(404, f"The planner needs practice populations: {exc}.") from exc
        names = dict(con.execute("SELECT board_code, board_name FROM board").fetchall())
        names |= dict(con.execute("SELECT hscp_code, hscp_name FROM hscp").fetchall())
    level, code = viewer.scope_level, viewer.scope_code
    if level == "scotland":
        keep, label = practices["practice_code"].notna(), "Scotland"
    elif level == "board":
        keep, label = practices["board_code"] == code, names.get(code, code)
    else:
        if level == "hscp":
            hscp = code
        elif level == "cluster":
            hscp = data.clusters[code].hscp_code if code in data.clusters else None
        else:
            row = practices[practices["practice_code"] == code]
            hscp = row["hscp_code"].iloc[0] if len(row) else None
        keep, label = practices["hscp_code"] == hscp, names.get(hscp, hscp or "your area")
    area = practices[keep.fillna(False).to_numpy(dtype=bool)].reset_index(drop=True)
    rows = area.rename(columns={"practice_code": "area_code"}).assign(period=data.latest_period)
    named = set(area.loc[named_mask(viewer, rows), "practice_code"]) if len(area) else set()
    return Area(str(label), area, agesex[agesex["practice_code"].isin(set(area["practice_code"]))], named)


def _area_roster(posts: pd.DataFrame, sessions: pd.DataFrame, codes: set[str]):
    in_area = sessions[sessions["practice_code"].isin(codes)]
    return posts[posts["post_id"].isin(set(in_area["post_id"]))], in_area


# ---------------------------------------------------------------- assumptions


def assumption_fields(a: Assumptions) -> list[dict]:
    """Every number in the assumptions as form fields: name, label, value, source."""
    fields = []
    for key in ("hours_per_wte", "session_hours", "visit_hours"):
        number = getattr(a, key)
        fields.append({"name": key, "label": key.replace("_", " "), "value": number.value, "source": number.source})
    for key, labeller in (("gp_hours_released_per_mdt_hour", role_label),
                          ("supervision_hours_per_wte", role_label),
                          ("travel_minutes_round_trip_by_ur8", lambda k: URBAN_RURAL_8[int(k)])):
        table = getattr(a, key)
        for item, value in table.values.items():
            fields.append({"name": f"{key}.{item}", "label": f"{key.replace('_', ' ')}: {labeller(item)}",
                           "value": value, "source": table.source})
    return fields


def apply_overrides(base: Assumptions, overrides: dict[str, str]) -> tuple[Assumptions, list[str]]:
    """The assumptions with form overrides applied, and the problems found (base unchanged if any)."""
    data = base.model_dump()
    known = {f["name"] for f in assumption_fields(base)}
    problems = []
    for name, text in overrides.items():
        if name not in known or text is None or str(text).strip() == "":
            continue
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
    before = {f["name"]: f["value"] for f in assumption_fields(base)}
    return {f["name"]: f"{f['value']:g}" for f in assumption_fields(a) if before[f["name"]] != f["value"]}


# ---------------------------------------------------------------- tables


def home_tables(source: Source, viewer: Viewer, a: Assumptions) -> dict[str, pd.DataFrame]:
    """Roster summary by role and coverage by cluster and role for the viewer's planning area."""
    area = planning_area(source, viewer)
    posts, sessions, _ = read_roster(source, date.today())
    posts, sessions = _area_roster(posts, sessions, set(area.practices["practice_code"]))
    if posts.empty:
        return {}
    delivered = sessions.merge(posts[["post_id", "role"]], on="post_id")
    delivered["wte_delivered"] = delivered["sessions_per_week"] * a.session_hours.value / a.hours_per_wte.value
    summary = posts.groupby("role", as_index=False).agg(posts=("post_id", "count"), post_wte=("wte", "sum"))
    by_role = delivered.groupby("role").agg(wte_delivered_here=("wte_delivered", "sum"),
                                            practices_covered=("practice_code", "nunique"))
    summary = summary.merge(by_role, left_on="role", right_index=True, how="left")
    summary.insert(1, "role_name", summary["role"].map(role_label))
    cover = coverage(area.practices, area.agesex, posts, sessions, "cluster", a)
    cover.insert(cover.columns.get_loc("role") + 1, "role_name", cover["role"].map(role_label))
    cols = ["cluster_id", "cluster_name", "role", "role_name", "hours_per_week", "wte", "list_size",
            "need_weighted_population", "wte_per_10k_patients", "wte_per_10k_need_weighted", "gap_hours"]
    return {"roster_summary": disclose(summary),
            "coverage": disclose(cover[cols].sort_values(["cluster_name", "role"]).reset_index(drop=True))}


@dataclass
class Comparison:
    tables: dict[str, pd.DataFrame]
    sentences: list[str]
    hidden: int
    labels: tuple[str, str]
    described: int = 0  # practices with sentences (at most SENTENCES_SHOWN, largest losses first)
    listed: int = 0


def compare_tables(source: Source, viewer: Viewer, model_a: str, model_b: str, role: str | None,
                   a: Assumptions) -> Comparison | None:
    """Models A and B over the planning area with the roster's WTE per HSCP as the budget; None when the
    area has no roster posts (of that role)."""
    area = planning_area(source, viewer)
    posts, sessions, _ = read_roster(source, date.today())
    posts, sessions = _area_roster(posts, sessions, set(area.practices["practice_code"]))
    if posts.empty:
        return None
    budgets = roster_budgets(posts, sessions, area.practices, a)
    if role:
        budgets = budgets[budgets["role"] == role]
        if budgets.empty:
            return None
    alloc_a = allocate_roles(area.practices, area.agesex, model_a, budgets, a)
    alloc_b = allocate_roles(area.practices, area.agesex, model_b, budgets, a)
    result = compare(alloc_a, alloc_b, area.practices, area.agesex, a)
    rows = result["practices"]
    shown = rows[rows["practice_code"].isin(area.named)].reset_index(drop=True)
    tables = {"practices": shown, **{k: v for k, v in result.items() if k != "practices"}}
    for key, column, labels in (("by_urban_rural", "urban_rural_8", URBAN_RURAL_8),):
        tables[key].insert(1, "urban_rural_class", tables[key][column].map(labels))
    tables["assumptions"] = pd.DataFrame(assumption_fields(a))[["name", "value", "source"]]
    sentences = []
    for code in shown.sort_values("change_hours")["practice_code"].head(SENTENCES_SHOWN):
        sentences += describe_practice(alloc_a, area.practices, code, role)
        sentences += describe_practice(alloc_b, area.practices, code, role)
    labels = (alloc_a["model_label"].iloc[0], alloc_b["model_label"].iloc[0])
    return Comparison({k: disclose(v) for k, v in tables.items()}, sentences, len(rows) - len(shown), labels,
                      min(len(shown), SENTENCES_SHOWN), len(shown))


def roster_table(source: Source, viewer: Viewer) -> pd.DataFrame:
    """Posts serving practices in the viewer's area; only in-area practice codes are listed."""
    area = planning_area(source, viewer)
    codes = set(area.practices["practice_code"])
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


def display(frame: pd.DataFrame) -> dict:
    """A table for the page: column headings and rows of (text, numeric) cells; counts whole, other
    figures to 2 decimals, suppressed or missing as '*'."""
    whole = {c for c in frame.columns if c in PATIENT_COUNT_COLUMNS or pd.api.types.is_integer_dtype(frame[c])}
    numeric = {c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])
               and not pd.api.types.is_bool_dtype(frame[c])}
    rows = []
    for record in frame.itertuples(index=False, name=None):
        cells = []
        for column, value in zip(frame.columns, record, strict=True):
            if column in numeric:
                cells.append((fmt(value, 0 if column in whole else 2), True))
            else:
                cells.append(("*" if value is None or value is pd.NA or value != value else str(value), False))
        rows.append(cells)
    return {"columns": [str(c).replace("_", " ") for c in frame.columns], "rows": rows}


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


def compare_job(source: PlannerSource, viewer: Viewer, model_a: str, model_b: str, role: str | None,
                a: Assumptions) -> tuple[Comparison | None, str | None]:
    """compare_tables in a worker process: (result, problem)."""
    try:
        return compare_tables(source, viewer, model_a, model_b, role, a), None
    except UserError as exc:
        return None, str(exc)


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


@router.get("", summary="MDT planner home")
def planner_home(request: Request, viewer: Viewer = Depends(require_viewer)):
    a = load_assumptions()
    area = planning_area(request, viewer)
    tables = home_tables(request, viewer, a)
    _audit(request, "view_plan", viewer, target=area.label)
    return page(request, "planner/home.html", display=display, title="MDT planner", area=area, tables=tables,
                source=read_roster(request)[2], is_planner=_is_planner(viewer),
                models=[load_model(m) for m in model_names()], roles=ROLES)


async def _compare_page(request: Request, viewer: Viewer, a_name: str, b_name: str, role: str | None,
                        overrides: dict[str, str]):
    base = load_assumptions()
    assumptions, problems = apply_overrides(base, overrides)
    model_a, model_b, role = _model(a_name), _model(b_name), _role(role)
    area = await run_in_threadpool(planning_area, request, viewer)
    try:
        result, problem = await _in_worker(request, viewer, compare_job, model_a, model_b, role, assumptions,
                                           what="The comparison")
    except JobRefused as exc:
        return _busy(request, exc)
    except JobFailed as exc:
        result, problem = None, str(exc)
    if problem:
        problems = [*problems, problem]
    query = {"a": model_a, "b": model_b, "role": role or "", **_changed(base, assumptions)}
    _audit(request, "view_plan", viewer, target=area.label, detail=f"{model_a} vs {model_b} {role or 'all roles'}")
    return page(request, "planner/compare.html", display=display, status_code=422 if problems else 200, title="Compare models",
                area=area, result=result, problems=problems, model_a=model_a, model_b=model_b, role=role,
                roles=ROLES, models=[load_model(m) for m in model_names()],
                fields=assumption_fields(assumptions), download_query=urlencode(query))


@router.get("/compare", summary="Compare two allocation models")
async def compare_page(request: Request, a: str = "per_capita", b: str = "rurality_aware", role: str = "",
                       viewer: Viewer = Depends(require_viewer)):
    return await _compare_page(request, viewer, a, b, role, _override_params(request))


@router.post("/compare", summary="Compare two allocation models with edited assumptions")
async def compare_rerun(request: Request, viewer: Viewer = Depends(require_viewer)):
    form = dict(await request.form())
    return await _compare_page(request, viewer, str(form.get("a", "per_capita")),
                               str(form.get("b", "rurality_aware")), str(form.get("role", "")),
                               _override_params(request, form))


@router.get("/roster", summary="The MDT roster")
def roster_page(request: Request, viewer: Viewer = Depends(require_viewer)):
    _require_planner(viewer)
    loaded = request.session.pop(LOADED_NOTE, None)  # what the upload that redirected here did
    return _roster_page(request, viewer, **({"loaded": loaded} if isinstance(loaded, dict) else {}))


def _roster_page(request: Request, viewer: Viewer, status_code: int = 200, **extra):
    area = planning_area(request, viewer)
    return page(request, "planner/roster.html", display=display, status_code=status_code, title="MDT roster", area=area,
                posts=roster_table(request, viewer), source=read_roster(request)[2],
                whole_roster=viewer.scope_level == "scotland", **extra)


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
    posts, sessions, _ = read_roster(request)
    row = posts[posts["post_id"] == post_id]
    mine = sessions[sessions["post_id"] == post_id]
    if row.empty:
        return None
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
    area = planning_area(request, viewer)
    values = dict.fromkeys(POST_FIELDS, "")
    if post_id:
        found = _editable_post(request, viewer, area, post_id)
        if found is None:
            raise HTTPException(404, "No post with that id that you may change.")
        values = found
    return page(request, "planner/post.html", title="Edit a post" if post_id else "Add a post", area=area,
                values=values, editing=bool(post_id), roles=ROLES)


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
                "inverse_care", "gp_time", "assumptions"}


@router.get("/download/{name}.{fmt}", summary="Download a planner table as CSV or Excel")
async def planner_download(request: Request, name: str, fmt: str, a: str = "per_capita", b: str = "rurality_aware",
                           role: str = "", viewer: Viewer = Depends(require_viewer)):
    if fmt not in MEDIA or name not in DOWNLOADABLE or not viewer.can(DOWNLOAD):
        raise HTTPException(404, "No such download.")
    assumptions, problems = apply_overrides(load_assumptions(), _override_params(request))
    if problems:
        raise HTTPException(404, "No such download: " + "; ".join(problems))
    if name in {"roster_summary", "coverage"}:
        frame = (await run_in_threadpool(home_tables, request, viewer, assumptions)).get(name)
    elif name == "roster":
        _require_planner(viewer)
        frame = disclose(await run_in_threadpool(roster_table, request, viewer))
    else:
        try:
            result, problem = await _in_worker(request, viewer, compare_job, _model(a), _model(b), _role(role),
                                               assumptions, what="The comparison")
        except JobRefused as exc:
            return _busy(request, exc)
        except JobFailed as exc:
            raise HTTPException(503, str(exc)) from exc
        if problem:
            raise HTTPException(404, f"No such download: {problem}")
        frame = result.tables[name] if result else None
    if frame is None:
        raise HTTPException(404, "No roster posts in your area to tabulate.")
    _audit(request, "export", viewer, target=f"plan:{name}", detail=fmt)
    synthetic = request.app.state.services.data.synthetic
    body = await run_in_threadpool(csv_bytes if fmt == "csv" else excel_bytes, frame, synthetic,
                                   *([] if fmt == "csv" else [name]))
    return Response(body, media_type=MEDIA[fmt],
                    headers={"Content-Disposition": content_disposition(f"gpcluster-plan-{name}.{fmt}")})
