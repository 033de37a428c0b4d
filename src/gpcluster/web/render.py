"""Rendering pages: the Jinja2 environment and what every page gets (viewer, CSRF token, data banner)."""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from importlib.resources import files

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import BytecodeCache, ChoiceLoader, DictLoader, FileSystemBytecodeCache
from markupsafe import Markup, escape

from gpcluster.web import formatting
from gpcluster.web.auth import csrf_token
from gpcluster.web.persisted import MISSING

templates = Jinja2Templates(directory=str(files("gpcluster.web") / "templates"))
# templates are package files, replaced only with the code (and a restart): no stat of each one per request
templates.env.auto_reload = False


def _bytecode_cache() -> BytecodeCache | None:
    """Compiled templates kept between processes (a server start compiled every template it used afresh in
    each process: about 0.5 s of CPU for all of them): Jinja's per-user private folder in the system's
    temporary folder, each entry checked against its template's source, so a changed template is compiled
    again. None (compile in memory, as before) when that folder cannot be made safely."""
    try:
        return FileSystemBytecodeCache()
    except (OSError, RuntimeError):
        return None


templates.env.bytecode_cache = _bytecode_cache()


def spec_json(spec: dict) -> Markup:
    """A Vega-Lite spec as JSON safe to embed in a <script type="application/json"> element."""
    text = json.dumps(spec, allow_nan=False).replace("<", "\\u003c").replace(">", "\\u003e")
    return Markup(text)


def url_quote(value: str) -> str:
    from urllib.parse import quote

    return quote(str(value), safe="")


templates.env.filters.update(formatting.FILTERS)
templates.env.tests["missing"] = formatting.is_missing
templates.env.filters["spec_json"] = spec_json
templates.env.filters["q"] = url_quote


# Pages whose body depends only on the data and the viewer's role and scope are rendered once into their
# blocks with this skeleton in place of base.html; each request then wraps them in the layout (menu,
# name, CSRF token: the parts that are the user's own).
_BLOCKS_SPLIT = "<!--gpcluster:scripts-->"
_blocks = templates.env.overlay(loader=ChoiceLoader([
    DictLoader({"base.html": "{% block content %}{% endblock %}" + _BLOCKS_SPLIT + "{% block scripts %}{% endblock %}"}),
    templates.env.loader]))

ROLE_WORDS = {"national": "national", "board": "board planner", "hscp": "HSCP planner", "cluster": "Cluster Quality Lead",
              "practice": "Practice Quality Lead", "analyst": "analyst", "admin": "administrator"}


def navigation(viewer, path: str) -> list[dict]:
    """The main menu for this viewer: their own practice, cluster, HSCP or board first ("My ..."), then the
    pages every role has, then what their role adds."""
    if viewer is None:
        return []
    own = []
    level, code = viewer.scope_level, viewer.scope_code
    if level == "practice" and code:
        own.append(("My practice", f"/practices/{code}"))
    if viewer.home_cluster:
        own.append(("My cluster", f"/clusters/{viewer.home_cluster}"))
    if level == "hscp" and code:
        own.append(("My HSCP", f"/hscps/{code}"))
    if level == "board" and code:
        own.append(("My board", f"/boards/{code}"))
    links = [("Scotland", "/"), *own, ("Indicators", "/indicators"), ("Prescribing", "/prescribing"),
             ("Packs", "/packs"), ("MDT planner", "/plan")]
    from gpcluster.web.evaluation import EVALUATION_ROLES  # the evaluation pages import this module

    if viewer.role in EVALUATION_ROLES:
        links.append(("Evaluations", "/evaluations"))
    if viewer.can("use_api"):
        links.append(("API", "/api/docs"))
    if viewer.can("manage_users"):
        links += [("Users", "/admin/users"), ("Audit", "/admin/audit")]
    return [{"label": label, "href": href, "current": href == path} for label, href in links]


def render_fragment(name: str, **context) -> Markup:
    """Render a partial template to safe HTML, for caching."""
    return Markup(templates.get_template(name).render(**context))


#: stands for the CSRF token in kept blocks; each response puts the requester's own token in its place
CSRF_SLOT = "gpcluster-csrf-slot"


def cached_blocks(cache, name: str, key: Hashable, viewer, build: Callable[[], dict], persist: bool = True) -> dict:
    """The rendered blocks of a page whose content is the same for every viewer with the same role and
    scope (no name, no store data in its blocks; a form's CSRF token is left as `CSRF_SLOT`, filled by
    `with_csrf`): `build()` gives the template's context (raising as the page would) and runs once per
    (key, role, scope, disclosure settings, warehouse version); the blocks are kept in `cache`
    (gpcluster.web.cache) and, with `persist`, on disk beside the warehouse version
    (gpcluster.web.persisted), shared by every server process."""

    return cache.get(("page", name, key, viewer.role), viewer, lambda: render_blocks(name, build()), persist=persist)


def render_blocks(name: str, context: dict) -> dict:
    """A page's blocks as cached_blocks keeps them, rendered from its context."""
    text = _blocks.get_template(name).render(**context, request=None, viewer=None, csrf_token=CSRF_SLOT)
    content, scripts = text.split(_BLOCKS_SPLIT)
    return {"title": context["title"], "content": Markup(content), "scripts": Markup(scripts)}


def render_part(name: str, context: dict) -> Markup:
    """A template rendered on its own as cached_blocks renders a page's blocks (no request, no viewer, the
    CSRF token as `CSRF_SLOT`): a part of a kept page that changes with the request's filters."""
    return Markup(_blocks.get_template(name).render(**context, request=None, viewer=None, csrf_token=CSRF_SLOT))


def kept_blocks(cache, name: str, key: Hashable, viewer, persist: bool = True) -> dict | None:
    """cached_blocks' blocks when some process has rendered them already, else None (nothing is built)."""
    found = cache.peek(("page", name, key, viewer.role), viewer, persist=persist)
    return None if found is MISSING else found


def cached_page(request: Request, name: str, key: Hashable, build: Callable[[], dict]):
    """A page from `cached_blocks`, wrapped in the layout for this request (menu, name, CSRF token)."""
    blocks = cached_blocks(request.app.state.services.cache, name, key, request.state.viewer, build)
    return page(request, "_blocks.html", **with_csrf(request, blocks))


def with_csrf(request: Request, blocks: dict) -> dict:
    """Kept blocks with this request's CSRF token in every form."""
    token = str(escape(csrf_token(request)))
    return {**blocks, "content": Markup(str(blocks["content"]).replace(CSRF_SLOT, token))}


def page(request: Request, name: str, status_code: int = 200, **context):
    """Render a template with the common context."""
    services = request.app.state.services
    context.update(request=request, viewer=getattr(request.state, "viewer", None),
                   csrf_token=csrf_token(request), synthetic=services.data.synthetic, role_words=ROLE_WORDS,
                   oidc_enabled=request.app.state.oidc is not None)
    context.setdefault("nav_links", navigation(context["viewer"], request.url.path))
    return templates.TemplateResponse(request, name, context, status_code=status_code)
