"""Server-rendered pages: Scotland overview, cluster, practice, indicator and search."""

from __future__ import annotations

import pandas as pd
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from gpcluster.web import charts, loop, tables
from gpcluster.web.access import Viewer, named_mask
from gpcluster.web.auth import client_ip, require_viewer
from gpcluster.web.release import Pseudonyms
from gpcluster.web.render import page, render_fragment

router = APIRouter(dependencies=[Depends(require_viewer)], default_response_class=HTMLResponse)

FLAG_TEXT = {"high_998": ("▲▲", "far above Scotland"), "high_95": ("▲", "above Scotland"),
             "low_95": ("▼", "below Scotland"), "low_998": ("▼▼", "far below Scotland")}


def _services(request: Request):
    return request.app.state.services


def not_found(request: Request, what: str):
    return page(request, "error.html", status_code=404, title="Not found",
                message=f"No {what} with that name or code is available to you.")


@router.get("/", summary="Scotland overview")
def overview(request: Request, viewer: Viewer = Depends(require_viewer)):
    data = _services(request).data
    counts = data.cluster_practice_counts()
    boards: dict = {}
    for c in data.clusters.values():
        board = boards.setdefault(c.board_code, {"name": c.board_name, "hscps": {}})
        hscp = board["hscps"].setdefault(c.hscp_code, {"name": c.hscp_name, "clusters": []})
        hscp["clusters"].append({"id": c.cluster_id, "name": c.cluster_name, "practices": counts.get(c.cluster_id, 0)})
    home = data.clusters.get(viewer.home_cluster) if viewer.home_cluster else None
    return page(request, "overview.html", title="Scotland overview", boards=boards, home=home,
                period=data.latest_period, indicators=list(data.indicators.values()))


def heat_table(released: pd.DataFrame, indicator_ids: list[str]) -> list[dict]:
    """Rows for the heat table: practices first (flagged first), then cluster, HSCP and Scotland."""
    out = []
    order = {"practice": 0, "cluster": 1, "hscp": 2, "scotland": 3}
    for (level, code), rows in released.groupby(["level", "area_code"], sort=False):
        cells = {r.indicator_id: r for r in rows.itertuples()}
        flags = sum(1 for r in cells.values() if r.funnel_scotland in FLAG_TEXT)
        first = rows.iloc[0]
        out.append({"level": level, "code": code, "name": first["area_name"], "named": bool(first["named"]),
                    "flags": flags, "cells": [cells.get(i) for i in indicator_ids]})
    return sorted(out, key=lambda r: (order.get(r["level"], 9), -r["flags"], r["name"]))


@router.get("/clusters/{cluster_id:path}", summary="Cluster page")
def cluster_page(request: Request, cluster_id: str, viewer: Viewer = Depends(require_viewer)):
    services = _services(request)
    data = services.data

    def build():
        pseudonyms = Pseudonyms()
        current = tables.cluster_table(data, viewer, pseudonyms, cluster_id)
        indicator_ids = [i for i in data.indicators if i in set(current["indicator_id"])]
        # rendering the table was most of the page's cost; it depends only on what the cache key holds
        heat_html = render_fragment("_heat_table.html", rows=heat_table(current, indicator_ids), viewer=viewer,
                                    indicators=[data.indicators[i] for i in indicator_ids], flag_text=FLAG_TEXT)
        signals = tables.cluster_signals(data, viewer, pseudonyms, cluster_id)
        return heat_html, signals.to_dict("records")

    try:
        heat_html, signals = services.cache.get(("cluster", cluster_id), viewer, build)
    except tables.NotFound:
        return not_found(request, "cluster")
    services.audit("view_cluster", viewer, target=cluster_id, ip=client_ip(request))
    live = [s for s in signals if s["status"] != "resolved"]
    return page(request, "cluster.html", title=data.clusters[cluster_id].cluster_name,
                cluster=data.clusters[cluster_id], period=data.latest_period,
                worth=[s for s in live if s["worth_discussing"]],
                more=[s for s in live if not s["worth_discussing"]],
                resolved=[s for s in signals if s["status"] == "resolved"],
                show_all=request.query_params.get("signals") == "all",
                has_performance=bool(data.performance_indicators), heat_table_html=heat_html,
                actions_due=loop.actions_due_for(request, viewer, cluster_id))


@router.get("/practices/{practice_code}", summary="Practice page")
def practice_page(request: Request, practice_code: str, indicator: str | None = None,
                  viewer: Viewer = Depends(require_viewer)):
    services = _services(request)
    data = services.data
    pseudonyms = Pseudonyms()
    try:
        series = tables.practice_series(data, viewer, pseudonyms, practice_code)
    except tables.NotFound:
        return not_found(request, "practice")
    services.audit("view_practice", viewer, target=practice_code, ip=client_ip(request))
    latest = series[series["period"] == series["period"].max()]
    spread = tables.indicator_spread(data, viewer, pseudonyms, latest["period"].iloc[0])
    flagged = latest[latest["spc_signal"].fillna("").str.startswith("special_cause")]
    chosen = indicator if indicator in data.indicators else (
        flagged["indicator_id"].iloc[0] if len(flagged) else latest["indicator_id"].iloc[0])
    chosen_series = series[series["indicator_id"] == chosen].sort_values("period")
    ordered = latest.assign(order=latest["indicator_id"].map({k: n for n, k in enumerate(data.indicators)}))
    ordered = ordered.sort_values("order")
    cluster = data.clusters.get(latest["cluster_id"].iloc[0])
    return page(request, "practice.html", title=latest["area_name"].iloc[0], code=practice_code,
                cluster=cluster, latest=ordered, indicators=data.indicators, chosen=data.indicators[chosen],
                chosen_series=chosen_series, period=latest["period"].iloc[0],
                spine=charts.spine_spec(ordered, spread, data.indicators),
                spc=charts.spc_spec(data.indicators[chosen], chosen_series))


@router.get("/indicators", summary="Indicator list")
def indicator_list(request: Request):
    data = _services(request).data
    return page(request, "indicators.html", title="Indicators", indicators=list(data.indicators.values()))


@router.get("/indicators/{indicator_id}", summary="Indicator page")
def indicator_page(request: Request, indicator_id: str, viewer: Viewer = Depends(require_viewer)):
    data = _services(request).data
    pseudonyms = Pseudonyms()
    try:
        funnel = tables.indicator_funnel(data, viewer, pseudonyms, indicator_id)
        deciles = tables.indicator_deciles(data, viewer, pseudonyms, indicator_id)
    except tables.NotFound:
        return not_found(request, "indicator")
    _services(request).audit("view_practice", viewer, target=f"indicator:{indicator_id}", ip=client_ip(request))
    indicator = data.indicators[indicator_id]
    practices = funnel[funnel["level"] == "practice"].sort_values("value", na_position="last")
    return page(request, "indicator.html", title=indicator.title, indicator=indicator, period=data.latest_period,
                practices=practices, deciles=deciles, home=viewer.home_cluster,
                funnel_spec=charts.funnel_spec(indicator, funnel, viewer.home_cluster,
                                               data.funnel_model(indicator_id, data.latest_period)),
                deciles_spec=charts.deciles_spec(indicator, deciles))


@router.get("/search", summary="Search practices and clusters")
def search(request: Request, q: str = "", viewer: Viewer = Depends(require_viewer)):
    data = _services(request).data
    term = q.strip()
    clusters, practices = [], []
    if len(term) >= 2:
        low = term.lower()
        clusters = [c for c in data.clusters.values() if low in c.cluster_name.lower() or low in c.cluster_id.lower()]
        found = data.query(
            """SELECT DISTINCT v.period, v.area_code, p.practice_name, v.cluster_id, v.hscp_code, v.board_code
               FROM indicator_value v JOIN practice p ON p.practice_code = v.area_code
               WHERE v.level = 'practice' AND v.period = ?
                 AND (v.area_code = ? OR p.practice_name ILIKE '%' || ? || '%')
               ORDER BY p.practice_name LIMIT 200""",
            [data.latest_period, term, term])
        if not found.empty:
            found["period"] = [ts.date() for ts in pd.to_datetime(found["period"])]
            found = found[named_mask(viewer, found)]  # practices outside scope are never found by name
            practices = found.to_dict("records")
    return page(request, "search.html", title="Search", q=term, clusters=clusters, practices=practices)
