"""Every table a page shows, downloadable as CSV or Excel (same released rows as the page)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from gpcluster.web import prescribing, tables
from gpcluster.web.access import DOWNLOAD, Viewer
from gpcluster.web.auth import client_ip, require_viewer
from gpcluster.web.filenames import content_disposition
from gpcluster.web.release import Pseudonyms
from gpcluster.web.render import page
from gpcluster.web.serialise import csv_bytes, excel_bytes

router = APIRouter(dependencies=[Depends(require_viewer)])

MEDIA = {"csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@dataclass(frozen=True)
class Table:
    """A downloadable table: the query parameter it needs and how to build it for a viewer."""

    parameter: str
    build: Callable[..., pd.DataFrame]


TABLES = {
    "cluster": Table("cluster_id", tables.cluster_table),
    "practice": Table("practice_code", tables.practice_series),
    "funnel": Table("indicator_id", tables.indicator_funnel),
    "deciles": Table("indicator_id", tables.indicator_deciles),
    "signals": Table("cluster_id", tables.cluster_signals),
    "prescribing_monthly": Table("indicator_id", prescribing.monthly_table),
    "prescribing_centiles": Table("indicator_id", prescribing.centiles_table),
    "prescribing_savings": Table("indicator_id", prescribing.savings_table),
}


def build_table(cache, data, viewer: Viewer, name: str, key: str) -> pd.DataFrame:
    """A named table for the viewer; raises tables.NotFound for unknown names or areas."""
    if name not in TABLES:
        raise tables.NotFound(name)

    def build() -> pd.DataFrame:
        frame = TABLES[name].build(data, viewer, Pseudonyms(), key)
        return frame.drop(columns=["named"], errors="ignore")

    return cache.get(("table", name, key), viewer, build)


def download_body(cache, data, viewer: Viewer, name: str, key: str, fmt: str) -> bytes:
    """A table serialised as CSV or Excel for the viewer's scope, once per version (kept on disk)."""
    def serialise() -> bytes:
        frame = build_table(cache, data, viewer, name, key)
        return csv_bytes(frame, data.synthetic) if fmt == "csv" else excel_bytes(frame, data.synthetic, sheet=name)

    return cache.get(("download", name, key, fmt), viewer, serialise, persist=True)


@router.get("/download/{name}.{fmt}", summary="Download a table as CSV or Excel")
def download(request: Request, name: str, fmt: str, key: str = "", viewer: Viewer = Depends(require_viewer)):
    services = request.app.state.services
    if fmt not in MEDIA or not viewer.can(DOWNLOAD):
        return page(request, "error.html", status_code=404, title="Not found", message="No such download.")
    try:
        body = download_body(services.cache, services.data, viewer, name, key, fmt)
    except tables.NotFound:
        return page(request, "error.html", status_code=404, title="Not found",
                    message="No such table is available to you.")
    services.audit("export", viewer, target=f"{name}:{key}", detail=fmt, ip=client_ip(request))
    safe_key = "".join(ch if ch.isalnum() else "-" for ch in key)[:60]
    return Response(body, media_type=MEDIA[fmt],
                    headers={"Content-Disposition": content_disposition(f"gpcluster-{name}-{safe_key}.{fmt}")})
