"""Pages of the pack loop: a cluster's packs and their files, responses to signals (PQLs), the meeting
(CQL), actions, and each user's e-mail choices.

Who sees what: a cluster's packs name its practices, so they are open to viewers who may see every
practice of the cluster by name (its CQL and PQLs, and the HSCP, board and national users whose scope holds
it); anyone else is answered as for a cluster that does not exist. PQLs respond only for their own practice
and see their own practice's responses; the CQL sees everyone's and records the meeting.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from datetime import date

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.convertors import Convertor, register_url_convertor

from gpcluster import config
from gpcluster.packs import loop
from gpcluster.packs.formatting import day, parse_period, period_key
from gpcluster.signals import quarter_words
from gpcluster.web.access import Viewer, may_name_cluster_members
from gpcluster.web.auth import client_ip, require_viewer
from gpcluster.web.filenames import content_disposition
from gpcluster.web.render import cached_blocks, page, with_csrf


class PeriodConvertor(Convertor):
    """A period in an address: '2024-10' (a pack's quarter, by its first month)."""

    regex = r"\d{4}-(?:0[1-9]|1[0-2])"

    def convert(self, value: str) -> date:
        return parse_period(value)

    def to_string(self, value: date) -> str:
        return period_key(value)


register_url_convertor("period", PeriodConvertor())
router = APIRouter(dependencies=[Depends(require_viewer)], default_response_class=HTMLResponse)
FILES = {"html": ("pack.html", "text/html; charset=utf-8"), "pdf": ("pack.pdf", "application/pdf")}
NO_ACCOUNT = "Your account is no longer active."
MAX_ID = 2**31 - 1  # larger numbers in an address are no row's id (and would overflow the store's integers)


def _known_id(value: int) -> int:
    if not 0 < value <= MAX_ID:
        raise HTTPException(status_code=404, detail="No such item.")
    return value


def _services(request: Request):
    return request.app.state.services


def _cluster(request: Request, viewer: Viewer, cluster_id: str):
    """The cluster if the viewer may read its packs, else 404 (as for a cluster that does not exist)."""
    cluster = _services(request).data.clusters.get(cluster_id)
    if cluster is None or not may_name_cluster_members(viewer, cluster_id, cluster.hscp_code, cluster.board_code):
        raise HTTPException(status_code=404, detail="No cluster packs with that name are available to you.")
    return cluster


def _user(session, viewer: Viewer):
    from gpcluster.store.models import User

    user = session.get(User, viewer.user_id)
    if user is None:
        raise HTTPException(status_code=403, detail=NO_ACCOUNT)
    return user


def _account(request: Request, viewer: Viewer):
    """The viewer's account as stored now and the loop's revision (gpcluster.web.loop_cache)."""
    account, revision = _services(request).loop.read(viewer.user_id)
    if account is None:
        raise HTTPException(status_code=403, detail=NO_ACCOUNT)
    return account, revision


def actions_due_for(request: Request, viewer: Viewer, cluster_id: str) -> list[dict]:
    """The cluster's open actions (overdue first) for the cluster page, or none for a viewer who may not
    see the cluster's practices by name (actions name practices)."""
    cluster = _services(request).data.clusters.get(cluster_id)
    if cluster is None or not may_name_cluster_members(viewer, cluster_id, cluster.hscp_code, cluster.board_code):
        return []
    store = _services(request).store
    if not _has_open_actions(store, cluster_id):
        return []
    with store.session() as session:
        return loop.actions_due(session, cluster_id, date.today())


def _has_open_actions(store, cluster_id: str) -> bool:
    """Whether the cluster has any open action: one indexed row looked up on a plain connection. Most
    clusters have none on most days, and every cluster page asks: an ORM session per request (begin, query,
    commit, close) was most of the page's own work under load."""
    from sqlalchemy import select

    from gpcluster.store.models import LoopAction

    with store.engine.connect() as connection:
        return connection.execute(select(LoopAction.id).where(
            LoopAction.cluster_id == cluster_id, LoopAction.status == "open").limit(1)).first() is not None


@router.get("/packs", summary="Cluster packs")
def packs_home(request: Request, viewer: Viewer = Depends(require_viewer)):
    if viewer.home_cluster:
        return RedirectResponse(f"/packs/{viewer.home_cluster}", status_code=303)
    from sqlalchemy import func, select

    from gpcluster.store.models import Pack

    services = _services(request)
    _, revision = services.loop.read(viewer.user_id)

    def build() -> dict:
        data = services.data
        rows = services.loop.get(revision, ("latest periods",), lambda session: session.execute(
            select(Pack.cluster_id, func.max(Pack.period)).group_by(Pack.cluster_id)).all())
        visible = [(data.clusters[c], p) for c, p in rows if c in data.clusters
                   and may_name_cluster_members(viewer, c, data.clusters[c].hscp_code, data.clusters[c].board_code)]
        visible.sort(key=lambda item: (item[0].board_name, item[0].hscp_name, item[0].cluster_name))
        return dict(title="Cluster packs", clusters=visible, quarter_words=quarter_words)

    if revision is None:
        return page(request, "packs_index.html", **build())
    # the list is the same for every viewer with the same role and scope: rendered once per loop revision
    # (and warehouse version: the clusters' names), in memory only
    blocks = cached_blocks(services.cache, "packs_index.html", ("packs", revision), viewer, build, persist=False)
    return page(request, "_blocks.html", **with_csrf(request, blocks))


@router.get("/packs/{cluster_id:path}/actions", summary="A cluster's actions")
def cluster_actions(request: Request, cluster_id: str, viewer: Viewer = Depends(require_viewer)):
    cluster = _cluster(request, viewer, cluster_id)
    return _actions_page(request, viewer, cluster)


def _actions_page(request: Request, viewer: Viewer, cluster, error: str | None = None, status_code: int = 200):
    from sqlalchemy import select

    from gpcluster.store.models import LoopAction

    def build(session):
        names, sentences = loop.labels(session, cluster.cluster_id)
        rows = list(session.scalars(select(LoopAction).where(LoopAction.cluster_id == cluster.cluster_id)
                                    .order_by(LoopAction.status, LoopAction.due_on, LoopAction.id)))
        return names, sentences, rows

    user, revision = _account(request, viewer)
    names, sentences, rows = _services(request).loop.get(revision, ("actions", cluster.cluster_id), build)
    items = [loop.action_item(a, date.today(), names, sentences) | {
        "editable": loop.is_cql(user, a.cluster_id) or loop.is_pql(user, a.practice_code),
        "updated_by": a.updated_by, "updated_at": a.updated_at} for a in rows]
    open_items = sorted([a for a in items if a["status"] == "open"], key=lambda a: (not a["overdue"], a["due_on"]))
    closed = [a for a in items if a["status"] != "open"]
    return page(request, "actions.html", status_code=status_code, title=f"Actions: {cluster.cluster_name}",
                cluster=cluster, open_items=open_items, closed=closed, statuses=loop.ACTION_STATUSES, error=error,
                day=day)


@router.post("/packs/{cluster_id:path}/actions/{action_id:int}", summary="Change an action's status")
async def change_action(request: Request, cluster_id: str, action_id: int, viewer: Viewer = Depends(require_viewer)):
    cluster = _cluster(request, viewer, cluster_id)
    _known_id(action_id)
    form = await request.form()
    try:
        with _services(request).store.session() as session:
            from gpcluster.store.models import LoopAction

            action = session.get(LoopAction, action_id)
            if action is None or action.cluster_id != cluster_id:
                raise HTTPException(status_code=404, detail="No such action.")
            loop.update_action(session, _user(session, viewer), action_id, str(form.get("status", "")),
                               str(form.get("note", "")) or None, ip=client_ip(request))
    except loop.NotAllowed as exc:
        raise HTTPException(status_code=403, detail=str(exc)) from exc
    except loop.LoopError as exc:
        return _actions_page(request, viewer, cluster, error=str(exc), status_code=400)
    return RedirectResponse(f"/packs/{cluster_id}/actions", status_code=303)


@router.get("/packs/{cluster_id:path}/{period:period}/v{version:int}.{fmt}", summary="A pack's HTML or PDF file",
            response_class=FileResponse)
def pack_file(request: Request, cluster_id: str, period: date, version: int, fmt: str,
              viewer: Viewer = Depends(require_viewer)):
    from sqlalchemy import select

    from gpcluster.store.models import Pack

    cluster = _cluster(request, viewer, cluster_id)
    _known_id(version)
    if fmt not in FILES:
        raise HTTPException(status_code=404, detail="Packs are HTML or PDF files.")
    _, revision = _services(request).loop.read(viewer.user_id)
    pack = _services(request).loop.get(revision, ("pack", cluster_id, period, version), lambda session: session.scalar(
        select(Pack).where(Pack.cluster_id == cluster_id, Pack.period == period, Pack.version == version)))
    name, media = FILES[fmt]
    if pack is None or (fmt == "pdf" and pack.pdf_sha256 is None):
        raise HTTPException(status_code=404, detail="No such pack version.")
    path = config.packs_dir() / pack.folder / name
    if not path.is_file():
        raise HTTPException(status_code=404, detail="The pack's file is missing from the packs folder.")
    _services(request).audit("view_pack", viewer, target=f"{cluster_id} {period_key(period)} v{version}.{fmt}",
                             ip=client_ip(request))
    download = f"{cluster.cluster_name} cluster pack {period_key(period)} v{version}.{fmt}"
    headers = {"Content-Disposition": content_disposition(download).replace("attachment", "inline", 1)
               if fmt == "html" else content_disposition(download)}
    if fmt == "html":  # the pack has no script; forbid any anyway, and anything fetched
        headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
        # read here, in the request's thread (a few hundred kB): a FileResponse hands its stat, open, each
        # 64 kB read and close to the thread pool one by one, each waiting behind every request in it
        return Response(path.read_bytes(), media_type=media, headers=headers)
    return FileResponse(path, media_type=media or mimetypes.guess_type(name)[0], headers=headers)


@dataclass(frozen=True)
class _PackState:
    """What a pack's page reads from the store for a (cluster, period): the same for every viewer."""

    versions: list  # Pack rows, newest first
    signals: list  # the newest version's PackSignal rows
    practices: dict[str, str]
    answered: dict  # signal id -> SignalResponse
    actions: dict[int, dict | None]  # a response's action id -> what the page shows of it (None: gone)
    meeting: object  # ClusterMeeting or None
    present: set[str]


def _pack_state(session, cluster_id: str, period: date) -> _PackState | None:
    from sqlalchemy import select

    from gpcluster.store.models import LoopAction, Pack

    versions = list(session.scalars(select(Pack).where(Pack.cluster_id == cluster_id, Pack.period == period)
                                    .order_by(Pack.version.desc())))
    if not versions:
        return None
    answered = loop.responses(session, cluster_id, period)
    actions = {}
    for r in answered.values():
        if r.action_id:
            a = session.get(LoopAction, r.action_id)
            actions[r.action_id] = {"description": a.description, "owner": a.owner, "due_on": a.due_on,
                                    "status": a.status} if a else None
    held = loop.meeting(session, cluster_id, period)
    return _PackState(versions, loop.pack_signals(session, versions[0]), loop.pack_practices(session, versions[0]),
                      answered, actions, held, set(loop.attendance(session, held)) if held is not None else set())


def _pack_view(request: Request, viewer: Viewer, cluster, period: date, version: int | None = None,
               error: str | None = None, status_code: int = 200, saved: str | None = None):
    user, revision = _account(request, viewer)
    services = _services(request)
    state = services.loop.get(revision, ("pack page", cluster.cluster_id, period),
                              lambda session: _pack_state(session, cluster.cluster_id, period))
    if state is None:
        raise HTTPException(status_code=404, detail="No pack has been published for that period.")
    versions = state.versions
    shown = next((p for p in versions if p.version == version), None) if version else versions[0]
    if shown is None:
        raise HTTPException(status_code=404, detail="No such pack version.")
    services.audit("view_pack", viewer, target=f"{cluster.cluster_id} {period_key(period)}", ip=client_ip(request))
    today = date.today()

    def build() -> dict:
        return _pack_context(viewer, user, cluster, period, state, shown, error, saved, today)

    if revision is None or error is not None or saved is not None:
        return page(request, "pack_page.html", status_code=status_code, **build())
    # the page is the same for every viewer whose account and scope are the same: rendered once per loop
    # revision (any response, meeting, action or pack raises it), day (its date fields) and warehouse
    # version (the cluster's name), in memory only
    key = ("pack page", revision, today, cluster.cluster_id, period, shown.version, user.role, user.scope_level,
           user.scope_code)
    blocks = cached_blocks(services.cache, "pack_page.html", key, viewer, build, persist=False)
    return page(request, "_blocks.html", status_code=status_code, **with_csrf(request, blocks))


def _pack_context(viewer: Viewer, user, cluster, period: date, state: _PackState, shown, error: str | None,
                  saved: str | None, today: date) -> dict:
    versions, signals, answered, held = state.versions, state.signals, state.answered, state.meeting
    cql = loop.is_cql(user, cluster.cluster_id)
    rows = []
    for s in signals:
        r = answered.get(s.signal_id)
        own = loop.may_respond(user, cluster.cluster_id, s)
        rows.append({"signal": s, "response": r, "action": state.actions.get(r.action_id) if r is not None else None,
                     "mine": own, "visible": cql or own or viewer.scope_level in ("scotland", "board", "hscp")})
    progress = []
    for code, name in state.practices.items():
        listed = [s for s in signals if s.level == "practice" and s.area_code == code]
        progress.append({"code": code, "name": name, "signals": len(listed),
                         "responded": sum(1 for s in listed if s.signal_id in answered)})
    locked = held is not None and held.recorded_at is not None
    return dict(title=f"{cluster.cluster_name}: pack for {quarter_words(period)}", cluster=cluster, period=period,
                period_key=period_key(period), period_words=quarter_words(period), versions=versions, shown=shown,
                current=versions[0], rows=rows, progress=progress, practices=state.practices, meeting=held,
                present=state.present, locked=locked, cql=cql, kinds=loop.RESPONSE_KINDS, error=error, saved=saved,
                day=day, today=today.isoformat())


@router.get("/packs/{cluster_id:path}/{period:period}/v{version:int}", summary="One version of a pack")
def pack_version(request: Request, cluster_id: str, period: date, version: int,
                 viewer: Viewer = Depends(require_viewer)):
    return _pack_view(request, viewer, _cluster(request, viewer, cluster_id), period, _known_id(version))


@router.get("/packs/{cluster_id:path}/{period:period}", summary="A cluster's pack for a period")
def pack_view(request: Request, cluster_id: str, period: date, saved: str | None = None,
              viewer: Viewer = Depends(require_viewer)):
    return _pack_view(request, viewer, _cluster(request, viewer, cluster_id), period,
                      saved=saved if saved in ("response", "meeting", "plan") else None)


def _date(value, field: str) -> date | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise loop.LoopError(f"{field}: {text!r} is not a date (YYYY-MM-DD)") from exc


@router.post("/packs/{cluster_id:path}/{period:period}/responses", summary="Respond to a signal")
async def respond(request: Request, cluster_id: str, period: date, viewer: Viewer = Depends(require_viewer)):
    cluster = _cluster(request, viewer, cluster_id)
    form = await request.form()
    try:
        action = None
        if form.get("kind") == "action_agreed":
            action = loop.ActionInput(str(form.get("action_description", "")), str(form.get("action_owner", "")),
                                      _date(form.get("action_due"), "due date of the action"))
        with _services(request).store.session() as session:
            loop.record_response(session, _user(session, viewer), cluster_id, period, str(form.get("signal_id", "")),
                                 str(form.get("kind", "")), str(form.get("reason", "")) or None, action,
                                 ip=client_ip(request))
    except loop.NotAllowed as exc:
        raise HTTPException(status_code=403, detail=str(exc)) from exc
    except loop.LoopError as exc:
        return _pack_view(request, viewer, cluster, period, error=str(exc), status_code=400)
    return RedirectResponse(f"/packs/{cluster_id}/{period_key(period)}?saved=response#responses", status_code=303)


@router.post("/packs/{cluster_id:path}/{period:period}/meeting", summary="Plan or record the cluster meeting")
async def meeting(request: Request, cluster_id: str, period: date, viewer: Viewer = Depends(require_viewer)):
    cluster = _cluster(request, viewer, cluster_id)
    form = await request.form()
    what = str(form.get("what", "record"))
    try:
        with _services(request).store.session() as session:
            user = _user(session, viewer)
            if what == "plan":
                loop.plan_meeting(session, user, cluster_id, period, _date(form.get("meets_on"), "meeting date"),
                                  ip=client_ip(request))
            else:
                actions = []
                rows = zip(form.getlist("action_description"), form.getlist("action_owner"),
                           form.getlist("action_due"), form.getlist("action_practice"), strict=False)
                for n, (description, owner, due, practice) in enumerate(rows, start=1):
                    if not any(str(v).strip() for v in (description, owner, due)):
                        continue  # an empty row of the form
                    actions.append(loop.ActionInput(str(description), str(owner), _date(due, f"action {n}: due date"),
                                                    str(practice) or None))
                loop.record_meeting(session, user, cluster_id, period, _date(form.get("meets_on"), "meeting date"),
                                    [str(c) for c in form.getlist("present")], str(form.get("decisions", "")) or None,
                                    str(form.get("learned", "")) or None, actions, ip=client_ip(request))
    except loop.NotAllowed as exc:
        raise HTTPException(status_code=403, detail=str(exc)) from exc
    except loop.LoopError as exc:
        return _pack_view(request, viewer, cluster, period, error=str(exc), status_code=400)
    return RedirectResponse(f"/packs/{cluster_id}/{period_key(period)}?saved={'plan' if what == 'plan' else 'meeting'}"
                            "#meeting", status_code=303)


@router.get("/packs/{cluster_id:path}", summary="A cluster's packs")
def cluster_packs(request: Request, cluster_id: str, viewer: Viewer = Depends(require_viewer)):
    cluster = _cluster(request, viewer, cluster_id)
    today = date.today()

    def build(session):
        packs = loop.cluster_packs(session, cluster_id)
        meetings = {p.period: loop.meeting(session, cluster_id, p.period) for p in packs}
        return packs, meetings, loop.actions_due(session, cluster_id, today)

    _, revision = _services(request).loop.read(viewer.user_id)
    packs, meetings, due = _services(request).loop.get(revision, ("cluster packs", cluster_id, today), build)
    periods: dict[date, list] = {}
    for p in packs:
        periods.setdefault(p.period, []).append(p)
    return page(request, "packs.html", title=f"Packs: {cluster.cluster_name}", cluster=cluster, periods=periods,
                meetings=meetings, actions_due=due, quarter_words=quarter_words, period_key=period_key, day=day)


@router.get("/account/notifications", summary="Your e-mail notifications")
def notifications(request: Request, viewer: Viewer = Depends(require_viewer), saved: bool = False):
    from gpcluster.packs.notify import KINDS, preferences

    with _services(request).store.session() as session:
        user = _user(session, viewer)
        wanted = preferences(session, user.id)
        email = user.email
    return page(request, "notifications.html", title="E-mail notifications", kinds=KINDS, wanted=wanted,
                email=email, saved=saved)


@router.post("/account/notifications", summary="Choose your e-mail notifications")
async def save_notifications(request: Request, viewer: Viewer = Depends(require_viewer)):
    from gpcluster.packs.notify import KINDS, set_preferences

    form = await request.form()
    with _services(request).store.session() as session:
        set_preferences(session, _user(session, viewer), {k: form.get(k) == "on" for k in KINDS},
                        ip=client_ip(request))
    return RedirectResponse("/account/notifications?saved=true", status_code=303)
