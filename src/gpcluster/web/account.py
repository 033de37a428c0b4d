"""Sign-in (local accounts, optional OpenID Connect) and sign-out."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from gpcluster.web.auth import client_ip, current_viewer, start_session
from gpcluster.web.render import page

router = APIRouter(default_response_class=HTMLResponse)


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
            user = authenticate(session, username, password, client_ip(request))
            user_id = user.id
    except LoginThrottled as exc:
        minutes = max(1, round(exc.retry_after_seconds / 60))
        return page(request, "login.html", status_code=429, title="Sign in", next=_safe_next(next),
                    error=f"Too many failed attempts. Try again in about {minutes} minute(s).")
    except InvalidCredentials:
        return page(request, "login.html", status_code=401, title="Sign in", next=_safe_next(next),
                    error="Username or password not recognised.")
    start_session(request, user_id)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", summary="Sign out")
def logout(request: Request):
    viewer = current_viewer(request)
    if viewer is not None:
        request.app.state.services.audit("logout", viewer, ip=client_ip(request))
    request.session.clear()
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
