"""The FastAPI application: `create_app()` wires the warehouse, the store, sessions, CSRF and routes."""

from __future__ import annotations

import secrets
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from urllib.parse import quote

import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from gpcluster import config
from gpcluster.web import account, admin, api, downloads, evaluation, pages, planner, prescribing
from gpcluster.web import loop as pack_loop
from gpcluster.web.auth import LoginRequired, check_csrf, require_viewer
from gpcluster.web.data import LiveWebData
from gpcluster.web.render import page
from gpcluster.web.services import Services

THREADS = 200

# No eval: charts.js runs vega's expressions with the vendored vega-interpreter instead of compiling them with
# Function(). vega-embed injects its own styles, hence 'unsafe-inline' for styles only.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
                           "base-uri 'none'; object-src 'none'")
# no page needs the camera, microphone, location, payment or other powerful browser features
PERMISSIONS_POLICY = ("accelerometer=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), "
                      "magnetometer=(), microphone=(), midi=(), payment=(), usb=()")
HSTS_SECONDS = 365 * 24 * 3600


def create_served_app() -> FastAPI:
    """The app as `gpcluster serve` runs it (uvicorn's factory in each server process): from the settings,
    with the shared pages of each warehouse version prerendered (the `web_prerender` setting)."""
    return create_app(prerender=bool(config.get("web_prerender")))


def create_app(warehouse: Path | str | None = None, store_url: str | None = None, store=None,
               prerender: bool = False) -> FastAPI:
    """The web application on a warehouse (read-only) and an operational store. `prerender`: have the
    pages every national viewer shares rendered once per warehouse version in a separate low-priority
    process (gpcluster.web.prerender)."""
    from gpcluster.store import open_store

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Pages and their dependencies are sync functions run in anyio's thread pool (40 threads by
        # default). With more concurrent clients than threads, throughput collapsed (250 -> 20 req/s at 50
        # clients); a larger pool keeps every open connection served.
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
        yield
        app.state.services.flush_audit()  # commit the audit events of the last requests before exit
        app.state.services.jobs.close()
        app.state.services.data.close()  # stop watching for warehouse versions

    app = FastAPI(title="gpcluster", version="1", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(check_csrf)],
                  description="Indicators for Scotland's GP clusters. Same access rules and disclosure "
                              "control as the pages.")
    live = LiveWebData(warehouse, prerender=prerender)  # follows new warehouse versions (refresh without downtime)
    app.state.services = Services(live, store if store is not None else open_store(store_url))
    app.state.oidc = _oidc_client()
    app.state.secret_key = config.get("secret_key") or secrets.token_urlsafe(32)
    app.add_middleware(SessionMiddleware, secret_key=app.state.secret_key, session_cookie="gpcluster_session",
                       same_site="lax", https_only=bool(config.get("cookie_secure")),
                       max_age=int(config.get("session_max_age")))

    app.add_middleware(OneWarehouseVersionPerRequest, live=live)
    app.add_middleware(SecurityHeaders)

    # outermost: the client's address and scheme come from a trusted reverse proxy's X-Forwarded-* headers
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=_trusted_proxies())

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired):
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "Sign in first."}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if request.url.path.startswith("/api/") or exc.status_code not in (403, 404):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        return page(request, "error.html", status_code=exc.status_code,
                    title="Not allowed" if exc.status_code == 403 else "Not found", message=str(exc.detail))

    app.mount("/static", StaticFiles(directory=str(files("gpcluster.web") / "static")), name="static")

    @app.get("/health", include_in_schema=False)
    def health() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi_document(viewer=Depends(require_viewer)) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/api/docs", response_class=HTMLResponse, summary="API documentation")
    def api_docs(request: Request, viewer=Depends(require_viewer)):
        schema = app.openapi()
        operations = [(method.upper(), path, op.get("summary", ""), op.get("description", ""))
                      for path, item in schema["paths"].items() for method, op in item.items()
                      if path.startswith("/api/")]
        return page(request, "api_docs.html", title="API", operations=operations)

    app.include_router(account.router)
    app.include_router(pages.router)
    app.include_router(downloads.router)
    app.include_router(api.router)
    app.include_router(admin.router)
    app.include_router(planner.router)
    app.include_router(evaluation.router)
    app.include_router(prescribing.router)
    app.include_router(pack_loop.router)
    if app.state.oidc is not None:
        app.include_router(account.oidc_router(app.state.oidc))
    return app


def _trusted_proxies() -> list[str]:
    return [part.strip() for part in str(config.get("trusted_proxies")).split(",") if part.strip()]


class OneWarehouseVersionPerRequest:
    """Each request reads one warehouse version from its start to the last byte of its answer, even when a
    new version arrives meanwhile. Plain ASGI: Starlette's BaseHTTPMiddleware costs a task and a memory
    stream per request, about a tenth of a cached page's processor time."""

    def __init__(self, app, live: LiveWebData):
        self.app, self.live = app, live

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        token = self.live.pin()
        try:
            await self.app(scope, receive, send)
        finally:
            self.live.unpin(token)


class SecurityHeaders:
    """The security headers of every answer (plain ASGI, as above); no caching of pages, which hold
    figures a signed-in user may see, while the static files may be cached."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        https = scope.get("scheme") == "https"
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)  # a pack file sets a stricter one
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "same-origin"
                headers["Permissions-Policy"] = PERMISSIONS_POLICY
                headers["X-Frame-Options"] = "DENY"
                if https:
                    headers["Strict-Transport-Security"] = f"max-age={HSTS_SECONDS}"
                    _mark_cookies_secure(headers)
                if not static:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _mark_cookies_secure(headers: MutableHeaders) -> None:
    """Over https every cookie is Secure, whatever `cookie_secure` says."""
    cookies = headers.getlist("set-cookie")
    if not cookies:
        return
    del headers["set-cookie"]
    for cookie in cookies:
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        headers.append("set-cookie", cookie if "secure" in flags else cookie + "; Secure")


def _oidc_client():
    """An authlib OAuth client when `oidc_issuer` is configured, else None."""
    issuer = config.get("oidc_issuer")
    if not issuer:
        return None
    from authlib.integrations.starlette_client import OAuth

    oauth = OAuth()
    return oauth.register("oidc", client_id=config.get("oidc_client_id"),
                          client_secret=config.get("oidc_client_secret"),
                          server_metadata_url=issuer.rstrip("/") + "/.well-known/openid-configuration",
                          client_kwargs={"scope": "openid profile email"})
