"""Sign-in (local accounts, optional OpenID Connect) and sign-out.

A successful password sign-in also leaves a signed device cookie (path /login only) naming the user, so
the throttle can tell the user's own browser from someone guessing their password elsewhere
(gpcluster.store.throttle)."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer

from gpcluster import config
from gpcluster.web.auth import client_ip, current_viewer, end_session, start_session
from gpcluster.web.render import page

router = APIRouter(default_response_class=HTMLResponse)

DEVICE_COOKIE = "gpcluster_device"
DEVICE_DAYS = 180
DEVICE_USERS = 8  # a shared practice PC remembers the last few people who signed in on it


def _device_signer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app.state.secret_key, salt="gpcluster-device")


def _devices(request: Request) -> dict[str, str]:
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return {}
    try:
        found = _device_signer(request).loads(raw, max_age=DEVICE_DAYS * 86400)
    except BadSignature:
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def known_device(request: Request, username: str) -> str | None:
    """This browser's device id for the username, if it has signed in as that user before."""
    from gpcluster.store.accounts import normalise_username

    return _devices(request).get(normalise_username(username))


def remember_device(request: Request, response, username: str) -> None:
    """Mark this browser as one the user signs in from (a signed cookie sent only to /login)."""
    devices = _devices(request)
    device = devices.pop(username, None) or secrets.token_urlsafe(16)
    devices = dict(list(devices.items())[-(DEVICE_USERS - 1):]) | {username: device}
    response.set_cookie(DEVICE_COOKIE, _device_signer(request).dumps(devices), max_age=DEVICE_DAYS * 86400,
                        path="/login", httponly=True, samesite="lax", secure=bool(config.get("cookie_secure")))


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths may be redirected to after sign-in."""
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return "/"
    return target


@router.get("/login", summary="Sign-in page")
def login_form(request: Request, next: str = "/"):
    return page(request, "login.html", title="Sign in", next=_safe_next(next), error=None)


@router.post("/login", summary="Sign in")
def login(request: Request, username: str = Form(...), password: str = Form(...), next: str = Form("/")):
    from gpcluster.store.accounts import InvalidCredentials, LoginThrottled, authenticate

    services = request.app.state.services
    try:
        with services.store.session() as session:
            user = authenticate(session, username, password, client_ip(request),
                                device=known_device(request, username))
            user_id, name = user.id, user.username
    except LoginThrottled as exc:
        wait = exc.retry_after_seconds
        when = f"{wait} seconds" if wait < 120 else f"about {round(wait / 60)} minutes"
        refused = page(request, "login.html", status_code=429, title="Sign in", next=_safe_next(next),
                       error=f"Too many failed attempts. Try again in {when}.")
        refused.headers["Retry-After"] = str(wait)
        return refused
    except InvalidCredentials:
        return page(request, "login.html", status_code=401, title="Sign in", next=_safe_next(next),
                    error="Username or password not recognised.")
    start_session(request, user_id)
    response = RedirectResponse(_safe_next(next), status_code=303)
    remember_device(request, response, name)
    return response


@router.post("/logout", summary="Sign out")
def logout(request: Request):
    viewer = current_viewer(request)
    if viewer is not None:
        request.app.state.services.audit("logout", viewer, ip=client_ip(request))
    end_session(request)
    return RedirectResponse("/login", status_code=303)


def oidc_router(oauth_client) -> APIRouter:
    """Routes for OpenID Connect sign-in; only mounted when an issuer is configured."""
    oidc = APIRouter(prefix="/auth/oidc", default_response_class=HTMLResponse)

    @oidc.get("/login", summary="Sign in with the organisation's identity provider")
    async def oidc_login(request: Request):
        return await oauth_client.authorize_redirect(request, str(request.url_for("oidc_callback")))

    @oidc.get("/callback", name="oidc_callback", summary="OpenID Connect callback")
    async def oidc_callback(request: Request):
        from gpcluster.store import audit
        from gpcluster.store.accounts import find_or_create_oidc_user

        token = await oauth_client.authorize_access_token(request)
        claims = dict(token.get("userinfo") or {})
        services = request.app.state.services
        with services.store.session() as session:
            user = find_or_create_oidc_user(session, claims["sub"], claims)
            audit.record(session, "login", user=user, detail="oidc", ip=client_ip(request))
            user_id, active = user.id, user.active
        if not active:
            return page(request, "login.html", status_code=403, title="Sign in", next="/",
                        error="Your account is not active; ask an administrator.")
        start_session(request, user_id)
        return RedirectResponse("/", status_code=303)

    return oidc
