"""JSON API: the same released tables as the pages, for roles with the API capability."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from gpcluster.web import tables
from gpcluster.web.access import USE_API, Viewer
from gpcluster.web.auth import client_ip, require_viewer
from gpcluster.web.downloads import TABLES, build_table
from gpcluster.web.serialise import records


def require_api(request: Request, viewer: Viewer = Depends(require_viewer)) -> Viewer:
    """Dependency: a viewer whose role may use the API (403 otherwise); every call is audited."""
    if not viewer.can(USE_API):
        raise HTTPException(status_code=403, detail="Your role does not include API access.")
    request.app.state.services.audit("api", viewer, target=request.url.path, ip=client_ip(request))
    return viewer


router = APIRouter(prefix="/api", tags=["api"], dependencies=[Depends(require_api)])


def _envelope(request: Request, rows: list[dict], **meta) -> dict:
    return {"synthetic": request.app.state.services.data.synthetic, **meta, "rows": rows}


def table_body(cache, data, viewer: Viewer, name: str, key: str) -> bytes:
    """A released table as the API's JSON for the viewer's scope, once per version (kept on disk)."""
    def build() -> bytes:
        frame = build_table(cache, data, viewer, name, key)
        return json.dumps({"synthetic": data.synthetic, "table": name, "key": key, "rows": records(frame)},
                          allow_nan=False).encode()

    return cache.get(("api", name, key), viewer, build, persist=True)


@router.get("/indicators", summary="Indicator definitions")
def api_indicators(request: Request) -> dict:
    data = request.app.state.services.data
    return _envelope(request, [vars(i) for i in data.indicators.values()])


@router.get("/clusters", summary="Clusters with their HSCP, board and number of practices")
def api_clusters(request: Request) -> dict:
    data = request.app.state.services.data
    counts = data.cluster_practice_counts()
    rows = [{**vars(c), "practices": int(counts.get(c.cluster_id, 0))} for c in data.clusters.values()]
    return _envelope(request, rows, period=str(data.latest_period))


@router.get("/tables/{name}", summary="A released table (see /api/tables for the names and keys)",
            response_class=JSONResponse)
def api_table(request: Request, name: str, key: str, viewer: Viewer = Depends(require_viewer)) -> Response:
    """`key` is the cluster_id, practice code or indicator id the table needs (see /api/tables)."""
    services = request.app.state.services
    try:
        body = table_body(services.cache, services.data, viewer, name, key)
    except tables.NotFound as exc:
        raise HTTPException(status_code=404, detail="Not found or not available to you.") from exc
    return Response(body, media_type="application/json")


@router.get("/tables", summary="The tables available and the key each needs")
def api_table_list(request: Request) -> dict:
    return _envelope(request, [{"table": n, "key": t.parameter} for n, t in TABLES.items()])
