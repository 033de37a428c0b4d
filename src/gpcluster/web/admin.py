"""Administration: user accounts and the audit log (admin role only)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from gpcluster.errors import UserError
from gpcluster.web.access import MANAGE_USERS, VIEW_AUDIT, Viewer
from gpcluster.web.auth import client_ip, require_viewer
from gpcluster.web.render import page


def require_admin(viewer: Viewer = Depends(require_viewer)) -> Viewer:
    if not (viewer.can(MANAGE_USERS) and viewer.can(VIEW_AUDIT)):
        raise HTTPException(status_code=403, detail="Administrators only.")
    return viewer


router = APIRouter(prefix="/admin", default_response_class=HTMLResponse, dependencies=[Depends(require_admin)])


def _users(request: Request) -> list:
    from sqlalchemy import select

    from gpcluster.store.models import User

    with request.app.state.services.store.session() as session:
        return [dict(username=u.username, display_name=u.display_name, role=u.role, scope_level=u.scope_level,
                     scope_code=u.scope_code, active=u.active, last_login_at=u.last_login_at)
                for u in session.scalars(select(User).order_by(User.username))]


@router.get("/users", summary="User accounts")
def users(request: Request):
    return page(request, "users.html", title="Users", users=_users(request), error=None)


@router.post("/users", summary="Add a user account")
def add_user(request: Request, username: str = Form(...), password: str = Form(...), role: str = Form(...),
             scope_level: str = Form(...), scope_code: str = Form(""),
             viewer: Viewer = Depends(require_admin)):
    from gpcluster.store import accounts, audit
    from gpcluster.store.models import User

    try:
        with request.app.state.services.store.session() as session:
            accounts.add_user(session, username, password, role, scope_level, scope_code or None)
            audit.record(session, "user_added", user=session.get(User, viewer.user_id), target=username,
                         ip=client_ip(request))
    except (UserError, ValueError) as exc:
        return page(request, "users.html", status_code=400, title="Users", users=_users(request), error=str(exc))
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/audit", summary="Audit log")
def audit_log(request: Request, action: str | None = None):
    from gpcluster.store import audit

    with request.app.state.services.store.session() as session:
        events = [dict(at=e.at, username=e.username, action=e.action, target=e.target, detail=e.detail, ip=e.ip)
                  for e in audit.recent(session, 500, action=action)]
    return page(request, "audit.html", title="Audit log", events=events, action=action)
