"""Rendering pages: the Jinja2 environment and what every page gets (viewer, CSRF token, data banner)."""

from __future__ import annotations

import json
import math
from importlib.resources import files

from fastapi import Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from gpcluster.stats.disclosure import round_half_up
from gpcluster.web.auth import csrf_token

SUPPRESSED = "*"

templates = Jinja2Templates(directory=str(files("gpcluster.web") / "templates"))


def fmt(value, digits: int = 1) -> str:
    """A figure for display: half-up rounding as PHS publishes; suppressed/missing shown as '*'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return SUPPRESSED
    return f"{round_half_up(float(value), digits):,.{digits}f}"


def spec_json(spec: dict) -> Markup:
    """A Vega-Lite spec as JSON safe to embed in a <script type="application/json"> element."""
    text = json.dumps(spec, allow_nan=False).replace("<", "\\u003c").replace(">", "\\u003e")
    return Markup(text)


def url_quote(value: str) -> str:
    from urllib.parse import quote

    return quote(str(value), safe="")


templates.env.filters["fmt"] = fmt
templates.env.filters["spec_json"] = spec_json
templates.env.filters["q"] = url_quote


def render_fragment(name: str, **context) -> Markup:
    """Render a partial template to safe HTML, for caching."""
    return Markup(templates.get_template(name).render(**context))


def page(request: Request, name: str, status_code: int = 200, **context):
    """Render a template with the common context."""
    services = request.app.state.services
    context.update(request=request, viewer=getattr(request.state, "viewer", None),
                   csrf_token=csrf_token(request), synthetic=services.data.synthetic,
                   oidc_enabled=request.app.state.oidc is not None)
    return templates.TemplateResponse(request, name, context, status_code=status_code)
