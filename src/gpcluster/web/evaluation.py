"""Evaluation pages: the register of interventions and each one's results (sentence, chart, event study,
diagnostics, caveats), with a self-contained HTML report and a CSV of estimates to download.

Who sees what: evaluation is for analysts, national users, board and HSCP planners (and administrators)
for changes touching their scope; a Cluster Quality Lead sees the evaluations of changes in their own
cluster. Practice-level users have no evaluation pages. Practices outside the viewer's named scope are
pseudonymised, and every drawn series passes the indicator's disclosure rule
(gpcluster.evaluation.report.release_series).
"""

from __future__ import annotations

import hashlib
import re
from importlib.resources import files

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from gpcluster.errors import UserError
from gpcluster.web.access import DOWNLOAD, Viewer, named_mask
from gpcluster.web.auth import client_ip, require_viewer
from gpcluster.web.release import Pseudonyms
from gpcluster.web.render import cached_page, page, templates

EVALUATION_ROLES = ("analyst", "national", "board", "hscp", "admin", "cluster")


def require_evaluator(viewer: Viewer = Depends(require_viewer)) -> Viewer:
    if viewer.role not in EVALUATION_ROLES:
        raise HTTPException(status_code=403, detail="Evaluations are for analysts, planners and Cluster Quality Leads.")
    return viewer


router = APIRouter(prefix="/evaluations", default_response_class=HTMLResponse,
                   dependencies=[Depends(require_evaluator)])


def may_view(viewer: Viewer, areas: dict[str, list[str]]) -> bool:
    """True when the intervention touches the viewer's scope (a CQL: their own cluster)."""
    level, code = viewer.scope_level, viewer.scope_code
    if viewer.role not in EVALUATION_ROLES:
        return False
    if level == "scotland":
        return True
    key = {"board": "boards", "hscp": "hscps", "cluster": "clusters"}.get(level)
    return key is not None and code in areas.get(key, [])


def _read(request: Request, viewer: Viewer, slug: str | None = None):
    """The intervention's rows (None when not registered), or with no slug every intervention's (no runs).
    Kept in the process while the store's revision stays the same (gpcluster.web.loop_cache: the
    registry's tables raise it too), so a view reads one row rather than the whole registry."""
    from gpcluster.evaluation import registry

    loop = request.app.state.services.loop
    _, revision = loop.read(viewer.user_id)
    everyone = loop.get(revision, ("evaluations",), registry.read_all)
    if slug is None:
        return everyone
    if all(s.intervention.slug != slug for s in everyone):  # any text may be asked for: only real ones are kept
        return None
    try:
        return loop.get(revision, ("evaluation", slug), lambda session: registry.read(session, slug))
    except UserError:  # removed since the list was read
        return None


def _visible(viewer: Viewer, snapshots) -> list:
    return [s.registered for s in snapshots if may_view(viewer, s.registered.planned.registration.areas)]


def _indicator_titles(request: Request) -> dict[str, str]:
    return {i: d.title for i, d in request.app.state.services.data.indicators.items()}


def _power(request: Request, registered) -> list[str]:
    """What the planned design could detect, from the indicator's history: once per data version and plan,
    kept beside the version for every server process (seconds of statistics on an evaluation's first view)."""
    data = request.app.state.services.data
    registration = registered.planned.registration

    def build():
        from gpcluster.evaluation.run import power_sentences

        cur = data.cursor()
        try:
            return power_sentences(cur, registration)
        finally:
            cur.close()

    # the plan's content in the key too: a store recreated beside the same data version may reuse a number
    content = hashlib.sha256(registration.model_dump_json().encode()).hexdigest()
    return data.memo(("evaluation_power", registered.slug, registered.planned.number, content), build, persist=True)


def _labeller(request: Request, viewer: Viewer, codes: set[str]):
    """Practice codes -> names within the viewer's named scope, pseudonyms outside it; other areas by name."""
    data = request.app.state.services.data
    practices = sorted(c for c in codes if c.isdigit())
    names: dict[str, str] = {}
    if practices:
        rows = data.memo(("evaluation practices", tuple(practices)), lambda: _memberships(data, practices)).copy()
        named = named_mask(viewer, rows)
        pseudonyms = Pseudonyms()
        hidden = rows[~named]
        pseudonyms.assign(hidden["area_code"], pd.Series(range(len(hidden)), dtype=float))
        for (_, row), ok in zip(rows.iterrows(), named, strict=True):
            names[row["area_code"]] = (f"{row['practice_name']} ({row['area_code']})" if ok
                                       else pseudonyms.label(row["area_code"]))
    clusters = data.clusters
    hscps = {c.hscp_code: c.hscp_name for c in clusters.values()}

    def label(code: str) -> str:
        if code in names:
            return names[code]
        if code in clusters:
            return clusters[code].cluster_name
        return hscps.get(code, code)

    return label


def _memberships(data, practices: list[str]) -> pd.DataFrame:
    """Each practice's name and latest membership, as the indicator results record it (a scan of every
    result: once per version and set of practices, not on every view of an evaluation)."""
    rows = data.query(
        """SELECT v.area_code, coalesce(p.practice_name, v.area_code) AS practice_name, v.cluster_id,
                  v.hscp_code, v.board_code, v.period
           FROM indicator_value v LEFT JOIN practice p ON p.practice_code = v.area_code
           WHERE v.level = 'practice' AND list_contains(?::VARCHAR[], v.area_code)
           QUALIFY row_number() OVER (PARTITION BY v.area_code ORDER BY v.period DESC) = 1""",
        [practices])
    rows["period"] = [ts.date() for ts in pd.to_datetime(rows["period"])]
    return rows


def _views(request: Request, viewer: Viewer, snapshot):
    """The intervention and its results as this viewer may see them (None, [] when they may not)."""
    from gpcluster.evaluation.report import run_view, suppressed_cells

    if snapshot is None or not may_view(viewer, snapshot.registered.planned.registration.areas):
        return None, []
    registered, runs = snapshot.registered, snapshot.latest_runs
    codes = {c for r in runs for c in (*r.result.treated, *r.result.comparison)}
    codes |= {u.code for u in registered.planned.registration.units}
    label = _labeller(request, viewer, codes)
    data = request.app.state.services.data
    views = [run_view(registered, r.result, data.rules.get(r.result.outcome.indicator_id), label, r,
                      suppressed_cells(data.suppression, r.result.outcome.indicator_id)) for r in runs]
    return (registered, label), views


# Both pages are rendered once per (store rows they show, role, scope, disclosure settings, data version)
# and kept (gpcluster.web.render.cached_page): the key holds the digest of every store row read for them
# (gpcluster.evaluation.registry.Snapshot.revision), so a new version or run is shown at once.


@router.get("", summary="Registered interventions and their evaluations")
def evaluation_list(request: Request, viewer: Viewer = Depends(require_evaluator)):
    from gpcluster.evaluation.registry import fingerprint
    from gpcluster.evaluation.report import outcome_titles
    from gpcluster.evaluation.result import METHOD_NAMES

    snapshots = _read(request, viewer)

    def build() -> dict:
        return dict(title="Evaluations", interventions=_visible(viewer, snapshots),
                    outcome_title=outcome_titles([], _indicator_titles(request)), method_names=METHOD_NAMES)

    revision = fingerprint(" ".join(s.revision for s in snapshots))
    return cached_page(request, "evaluations.html", ("evaluations", revision), build)


@router.get("/{slug}", summary="One intervention's evaluation")
def evaluation_page(request: Request, slug: str, viewer: Viewer = Depends(require_evaluator)):
    snapshot = _read(request, viewer, slug)
    if snapshot is None or not may_view(viewer, snapshot.registered.planned.registration.areas):
        return page(request, "error.html", status_code=404, title="Not found",
                    message="No evaluation with that name is available to you.")
    request.app.state.services.audit("view_evaluation", viewer, target=f"intervention:{slug}", ip=client_ip(request))

    def build() -> dict:
        from gpcluster.evaluation.report import outcome_titles
        from gpcluster.evaluation.result import METHOD_NAMES

        (registered, label), views = _views(request, viewer, snapshot)
        return dict(title=registered.planned.registration.title, registered=registered,
                    registration=registered.planned.registration, views=views, label=label,
                    outcome_title=outcome_titles(views, _indicator_titles(request)), method_names=METHOD_NAMES,
                    power=_power(request, registered), can_download=viewer.can(DOWNLOAD))

    return cached_page(request, "evaluation.html", ("evaluation", slug, snapshot.revision), build)


def _download(request: Request, viewer: Viewer, slug: str, kind: str) -> Response:
    from gpcluster.evaluation.report import estimates_frame
    from gpcluster.web.serialise import csv_bytes

    found, views = _views(request, viewer, _read(request, viewer, slug))
    if found is None or not viewer.can(DOWNLOAD) or not views:
        return page(request, "error.html", status_code=404, title="Not found", message="No such download.")
    registered, label = found
    synthetic = request.app.state.services.data.synthetic
    request.app.state.services.audit("export", viewer, target=f"intervention:{slug}", detail=kind,
                                     ip=client_ip(request))
    if kind == "csv":
        body = csv_bytes(estimates_frame(registered, views), synthetic)
        media = "text/csv; charset=utf-8"
    else:
        body = render_report_html(registered, views, synthetic, label, _indicator_titles(request),
                                  _power(request, registered)).encode("utf-8")
        media = "text/html; charset=utf-8"
    return Response(body, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="gpcluster-evaluation-{slug}.{kind}"'})


@router.get("/{slug}/estimates.csv", summary="Download the estimates as CSV")
def estimates_csv(request: Request, slug: str, viewer: Viewer = Depends(require_evaluator)):
    return _download(request, viewer, slug, "csv")


@router.get("/{slug}/report.html", summary="Download a self-contained HTML report")
def report_html(request: Request, slug: str, viewer: Viewer = Depends(require_evaluator)):
    return _download(request, viewer, slug, "html")


def render_report_html(registered, views, synthetic: bool, label=str, titles: dict[str, str] | None = None,
                       power: list[str] | None = None) -> str:
    """A self-contained HTML report (styles, Vega scripts and chart specs inline; opens with no network).
    `label` names units for the reader (codes by default; the web passes its scoped labeller)."""
    from gpcluster.evaluation.report import outcome_titles
    from gpcluster.evaluation.result import METHOD_NAMES

    web = files("gpcluster.web")
    static = web / "static"
    # the same scripts, in the same order, as every page with charts loads (templates/charts_scripts.html)
    names = re.findall(r'src="/static/([^"]+)"', (web / "templates" / "charts_scripts.html").read_text(encoding="utf-8"))
    scripts = "\n".join((static / name).read_text(encoding="utf-8") for name in names)
    return templates.get_template("evaluation_report.html").render(
        registered=registered, registration=registered.planned.registration, views=views, synthetic=synthetic,
        label=label, outcome_title=outcome_titles(views, titles), method_names=METHOD_NAMES, power=power or [],
        css=Markup((static / "app.css").read_text(encoding="utf-8")),
        scripts=Markup(scripts.replace("</script", "<\\/script")))
