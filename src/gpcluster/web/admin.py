"""Administration: user accounts, their sessions, sign-in throttles and the audit log (admin role only)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from gpcluster.errors import UserError
from gpcluster.web.access import MANAGE_USERS, VIEW_AUDIT, Viewer
from gpcluster.web.auth import client_ip, require_viewer
from gpcluster.web.paging import PER_PAGE, Paging, page_number
from gpcluster.web.render import page


def require_admin(viewer: Viewer = Depends(require_viewer)) -> Viewer:
    if not (viewer.can(MANAGE_USERS) and viewer.can(VIEW_AUDIT)):
        raise HTTPException(status_code=403, detail="Administrators only.")
    return viewer


router = APIRouter(prefix="/admin", default_response_class=HTMLResponse, dependencies=[Depends(require_admin)])


def _users(request: Request) -> list:
    from sqlalchemy import select

    from gpcluster.store import sessions
    from gpcluster.store.models import User

    with request.app.state.services.store.session() as session:
        open_sessions = sessions.count_by_user(session)
        return [dict(username=u.username, display_name=u.display_name, email=u.email, role=u.role,
                     scope_level=u.scope_level,
                     scope_code=u.scope_code, active=u.active, last_login_at=u.last_login_at,
                     sessions=open_sessions.get(u.id, 0))
                for u in session.scalars(select(User).order_by(User.username))]


def _throttles(request: Request) -> list:
    from gpcluster.store import throttle
    from gpcluster.store.models import utcnow

    with request.app.state.services.store.session() as session:
        return throttle.active(session, utcnow())


def _users_page(request: Request, status_code: int = 200, error: str | None = None, done: str | None = None):
    return page(request, "users.html", status_code=status_code, title="Users", users=_users(request),
                throttles=_throttles(request), error=error, done=done)


@router.get("/users", summary="User accounts")
def users(request: Request):
    return _users_page(request)


@router.post("/users/email", summary="Set or remove an account's e-mail address")
def set_email(request: Request, username: str = Form(...), email: str = Form(""),
              viewer: Viewer = Depends(require_admin)):
    from gpcluster.store import accounts, audit
    from gpcluster.store.models import User

    try:
        with request.app.state.services.store.session() as session:
            user = accounts.set_email(session, username, email or None)
            audit.record(session, "user_changed", user=session.get(User, viewer.user_id), target=user.username,
                         detail="e-mail set" if user.email else "e-mail removed", ip=client_ip(request))
            name = user.username
    except UserError as exc:
        return _users_page(request, status_code=400, error=str(exc))
    return _users_page(request, done=f"{name}: e-mail {'saved' if email else 'removed'}.")


ACCOUNT_ACTIONS = {"disable": "disabled and signed out", "enable": "enabled", "end-sessions": "signed out everywhere"}


@router.post("/users/{action}", summary="Disable, enable or sign out an account")
def change_user(request: Request, action: str, username: str = Form(...), viewer: Viewer = Depends(require_admin)):
    from gpcluster.store import accounts, audit, sessions
    from gpcluster.store.models import User

    if action not in ACCOUNT_ACTIONS:
        raise HTTPException(status_code=404, detail="No such account action.")
    services = request.app.state.services
    try:
        with services.store.session() as session:
            admin = session.get(User, viewer.user_id)
            user = accounts.get_user(session, username)
            if action == "disable":
                if user.id == viewer.user_id:
                    raise UserError("you cannot disable your own account")
                accounts.disable_user(session, user.username)
            elif action == "enable":
                accounts.enable_user(session, user.username)
            else:
                ended = sessions.end_for_user(session, user.id)
                audit.record(session, "sessions_ended", user=admin, target=user.username, detail=f"{ended} sessions",
                             ip=client_ip(request))
            if action != "end-sessions":
                audit.record(session, "user_changed", user=admin, target=user.username, detail=action,
                             ip=client_ip(request))
            user_id, name = user.id, user.username
    except UserError as exc:
        return _users_page(request, status_code=400, error=str(exc))
    # this process forgets the account's cached sessions now; other processes within session_recheck_seconds
    services.sessions.forget_user(user_id, ended=action != "enable")
    return _users_page(request, done=f"{name}: {ACCOUNT_ACTIONS[action]}.")


@router.post("/throttles/clear", summary="Clear a sign-in throttle")
def clear_throttle(request: Request, username: str = Form(""), address: str = Form(""),
                   viewer: Viewer = Depends(require_admin)):
    from gpcluster.store import audit, throttle
    from gpcluster.store.accounts import normalise_username
    from gpcluster.store.models import User

    name, ip = normalise_username(username) or None, address.strip() or None
    if (name is None) == (ip is None):
        return _users_page(request, status_code=400, error="Give a username or an address to clear.")
    with request.app.state.services.store.session() as session:
        cleared = throttle.clear(session, username=name, ip=ip)
        audit.record(session, "throttle_cleared", user=session.get(User, viewer.user_id), target=name or ip,
                     detail=f"{cleared} failed sign-ins forgotten", ip=client_ip(request))
    return _users_page(request, done=f"Sign-in throttle cleared for {name or ip} ({cleared} failed attempts forgotten).")


@router.post("/users", summary="Add a user account")
def add_user(request: Request, username: str = Form(...), password: str = Form(...), role: str = Form(...),
             scope_level: str = Form(...), scope_code: str = Form(""), email: str = Form(""),
             viewer: Viewer = Depends(require_admin)):
    from gpcluster.store import accounts, audit
    from gpcluster.store.models import User

    try:
        with request.app.state.services.store.session() as session:
            accounts.add_user(session, username, password, role, scope_level, scope_code or None, email=email or None)
            audit.record(session, "user_added", user=session.get(User, viewer.user_id), target=username,
                         ip=client_ip(request))
    except (UserError, ValueError) as exc:
        return _users_page(request, status_code=400, error=str(exc))
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/audit", summary="Audit log")
def audit_log(request: Request, action: str = "", user: str = "", target: str = "", since: str = "",
              page_no: str = Query("1", alias="page")):
    """The audit log, newest first, 50 events a page, filtered by action, user, target and start date."""
    from gpcluster.store import audit
    from gpcluster.store.models import AUDIT_ACTIONS

    problems = []
    start = None
    if since:
        try:
            start = datetime.fromisoformat(since).replace(tzinfo=UTC)
        except ValueError:
            problems.append(f"'{since}' is not a date (YYYY-MM-DD); showing every date.")
    chosen = action if action in AUDIT_ACTIONS else None
    if action and chosen is None:
        problems.append(f"'{action}' is not an action the log records; showing every action.")
    wanted = page_number(page_no)
    params = (("action", chosen), ("user", user), ("target", target), ("since", since if start else ""))
    filters = dict(action=chosen, username=user.strip() or None, target=target.strip() or None, since=start)
    with request.app.state.services.store.session() as session:
        events, total = audit.search(session, **filters, offset=(wanted - 1) * PER_PAGE, limit=PER_PAGE)
        paging = Paging(wanted, total, params=params)
        if paging.current != paging.page:  # a page past the end: show the last one
            events, total = audit.search(session, **filters, offset=paging.offset, limit=paging.per_page)
        rows = [dict(at=e.at, username=e.username, action=e.action, target=e.target, detail=e.detail, ip=e.ip)
                for e in events]
    return page(request, "audit.html", title="Audit log", events=rows, actions=AUDIT_ACTIONS, action=chosen or "",
                user=user, target=target, since=since if start else "", paging=paging, problems=problems)
