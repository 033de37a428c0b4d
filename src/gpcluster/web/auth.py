"""Sessions, sign-in, CSRF and the current viewer.

The session cookie (Starlette SessionMiddleware: signed, HttpOnly, SameSite=Lax, Secure over https or
when `cookie_secure` is set) carries the CSRF token and, once signed in, the token of a session held in
the store (gpcluster.web.sessions), so sign-out and disabling an account end it at once. CSRF uses a
synchroniser token kept in the session and checked on every unsafe request, from the form field
`csrf_token` or the `X-CSRF-Token` header.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import HTTPException, Request

from gpcluster.web.access import Viewer

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class LoginRequired(Exception):
    """Raised by `require_viewer`; pages redirect to the login page, the API answers 401."""


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def check_csrf(request: Request) -> None:
    """Dependency on every route: refuse an unsafe request whose CSRF token is missing or wrong (403)."""
    if request.method not in UNSAFE_METHODS:
        return
    expected = request.session.get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    if not sent and "form" in request.headers.get("content-type", ""):
        sent = (await request.form()).get(CSRF_FIELD)
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
        raise HTTPException(status_code=403, detail="Missing or invalid CSRF token; reload the page and try again.")


def start_session(request: Request, user_id: int) -> None:
    """A fresh store-held session for a signed-in user (a new CSRF token too, against session fixation)."""
    token = request.app.state.services.sessions.start(user_id, client_ip(request))
    request.session.clear()
    request.session["sid"] = token
    request.session["csrf"] = secrets.token_urlsafe(32)


def end_session(request: Request) -> None:
    """Sign-out: end the store-held session (every copy of the cookie stops working) and clear the cookie."""
    token = request.session.get("sid")
    if isinstance(token, str):
        request.app.state.services.sessions.end(token)
    request.session.clear()


def current_viewer(request: Request) -> Viewer | None:
    """The signed-in, active user of a live session as a Viewer, or None."""
    token = request.session.get("sid")
    if not isinstance(token, str):
        return None
    return request.app.state.services.sessions.viewer(token)


def require_viewer(request: Request) -> Viewer:
    """Dependency: the signed-in viewer, else LoginRequired."""
    viewer = current_viewer(request)
    if viewer is None:
        raise LoginRequired()
    request.state.viewer = viewer
    return viewer


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None
