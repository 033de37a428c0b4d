"""Server-rendered pages: Scotland overview, HSCP and board, cluster, practice, trends, indicators, search."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from gpcluster.web import charts, formatting, heat, loop, summary, tables, themes
from gpcluster.web.access import Viewer, named_mask
from gpcluster.web.auth import client_ip, require_viewer
from gpcluster.web.release import Pseudonyms
from gpcluster.web.render import cached_blocks, cached_page, page, render_fragment

router = APIRouter(dependencies=[Depends(require_viewer)], default_response_class=HTMLResponse)

#: the figures an area page (HSCP, board) shows for each of its clusters or HSCPs
AREA_INDICATORS = ["list_size", "aged_65_plus", "list_in_simd_quintile_1", "emergency_admission_rate",
                   "ae_attendance_rate", "gp_consultation_rate"]
SCOTLAND = "S92000003"


def _services(request: Request):
    return request.app.state.services


def not_found(request: Request, what: str):
    return page(request, "error.html", status_code=404, title="Not found",
                message=f"No {what} with that name or code is available to you.")


def signal_link(s: dict) -> str | None:
    """Where a signal is explained (its chart over time), or None for a practice the viewer may not name."""
    if s["level"] == "practice":
        return f"/practices/{s['area_code']}?indicator={s['indicator_id']}#trend-h" if s["named"] else None
    return f"/trends/{s['indicator_id']}?cluster={s['area_code']}"


@router.get("/", summary="Scotland overview")
def overview(request: Request, viewer: Viewer = Depends(require_viewer)):
    services = _services(request)
    return page(request, "_blocks.html", **overview_blocks(services.cache, services.data, viewer))


def overview_blocks(cache, data, viewer: Viewer) -> dict:
    """The overview's content for the viewer's role and scope (gpcluster.web.render.cached_blocks)."""
    return cached_blocks(cache, "overview.html", ("overview",), viewer, lambda: _overview_context(data, viewer))


def _overview_context(data, viewer: Viewer) -> dict:
    """The overview: the same for every viewer with the same role and scope (their own cluster or area)."""
    counts = data.cluster_practice_counts()
    boards: dict = {}
    for c in data.clusters.values():
        board = boards.setdefault(c.board_code, {"name": c.board_name, "hscps": {}})
        hscp = board["hscps"].setdefault(c.hscp_code, {"name": c.hscp_name, "clusters": []})
        hscp["clusters"].append({"id": c.cluster_id, "name": c.cluster_name, "practices": counts.get(c.cluster_id, 0)})
    home = data.clusters.get(viewer.home_cluster) if viewer.home_cluster else None
    own_area = None
    if viewer.scope_level in ("hscp", "board") and viewer.scope_code:
        names = {c.hscp_code: c.hscp_name for c in data.clusters.values()} | {
            c.board_code: c.board_name for c in data.clusters.values()}
        own_area = {"level": viewer.scope_level, "code": viewer.scope_code,
                    "name": names.get(viewer.scope_code, viewer.scope_code)}
    return dict(title="Scotland overview", boards=boards, home=home, own_area=own_area, period=data.latest_period,
                indicators=themes.grouped(data.indicators.values()))


def area_model(cache, data, viewer: Viewer, level: str, code: str) -> dict:
    """Everything an HSCP or board page shows the viewer's scope, built once per version and scope and
    kept on disk (tables.NotFound for an unknown area)."""

    def build():
        pseudonyms = Pseudonyms()
        rows = tables.area_overview(data, viewer, pseudonyms, level, code, AREA_INDICATORS + ["list_size"])
        clusters = [c for c in data.clusters.values() if (c.hscp_code if level == "hscp" else c.board_code) == code]
        worth = {}
        if level == "hscp":
            for c in clusters:
                signals = tables.cluster_signals(data, viewer, pseudonyms, c.cluster_id)
                live = signals[signals["status"] != "resolved"]
                worth[c.cluster_id] = int(live["worth_discussing"].astype(bool).sum())
        counts = data.cluster_practice_counts()
        first = clusters[0]
        name = first.hscp_name if level == "hscp" else first.board_name
        child_level = "cluster" if level == "hscp" else "hscp"
        practices = sum(counts.get(c.cluster_id, 0) for c in clusters)
        children = []
        for child_code, group in rows[rows["level"] == child_level].groupby("area_code", sort=False):
            cells = {r.indicator_id: heat.cell_for(r, data.indicators[r.indicator_id]) for r in group.itertuples()}
            members = [c for c in clusters if (c.cluster_id if level == "hscp" else c.hscp_code) == child_code]
            children.append({"code": child_code, "name": group["area_name"].iloc[0], "cells": cells,
                             "practices": sum(counts.get(c.cluster_id, 0) for c in members),
                             "worth": worth.get(child_code)})
        children.sort(key=lambda r: (r["name"].casefold(), r["name"]))
        totals = []
        for lv, area_code, count in ((level, code, practices), ("scotland", SCOTLAND, None)):
            group = rows[(rows["level"] == lv) & (rows["area_code"] == area_code)]
            totals.append({"name": group["area_name"].iloc[0] if len(group) else name, "level": lv,
                           "practices": count, "cells": {r.indicator_id: heat.cell_for(r, data.indicators[r.indicator_id])
                                                         for r in group.itertuples()}})
        return dict(title=name, area_name=name, level=level, code=code, period=data.latest_period,
                    board=(first.board_code, first.board_name),
                    line=summary.area_line(rows, level, code, practices, data.latest_period),
                    children=children, totals=totals, child_level=child_level)

    return cache.get(("area", level, code), viewer, build, persist=True)


def _area_page(request: Request, viewer: Viewer, level: str, code: str):
    services = _services(request)
    data = services.data
    try:
        model = area_model(services.cache, data, viewer, level, code)
    except tables.NotFound:
        return not_found(request, "HSCP" if level == "hscp" else "board")
    indicators = [data.indicators[i] for i in AREA_INDICATORS if i in data.indicators]
    return page(request, "area.html", indicators=indicators, **model)


@router.get("/hscps/{hscp_code}", summary="HSCP page")
def hscp_page(request: Request, hscp_code: str, viewer: Viewer = Depends(require_viewer)):
    return _area_page(request, viewer, "hscp", hscp_code)


@router.get("/boards/{board_code}", summary="Board page")
def board_page(request: Request, board_code: str, viewer: Viewer = Depends(require_viewer)):
    return _area_page(request, viewer, "board", board_code)


def _cluster_model(data, viewer: Viewer, cluster_id: str):
    """Everything the cluster page shows that depends only on the cluster and the viewer's scope (cached)."""
    pseudonyms = Pseudonyms()
    current = tables.cluster_table(data, viewer, pseudonyms, cluster_id)
    present = set(current["indicator_id"])
    indicators = [data.indicators[i] for i in data.indicators if i in present]
    signals = tables.cluster_signals(data, viewer, pseudonyms, cluster_id).to_dict("records")
    for s in signals:
        s["link"] = signal_link(s)
    rows = heat.rows(current, data.indicators)
    practices = sum(1 for r in rows if r.level == "practice")
    line = summary.area_line(current, "cluster", cluster_id, practices, data.latest_period)
    strong = {i for r in rows for i, c in r.cells.items() if c.flag and c.flag.css.endswith("strong")}
    flagged = strong | {s["indicator_id"] for s in signals if s["status"] != "resolved"}
    print_html = render_fragment("_heat_print.html", rows=rows, groups=heat.print_groups(indicators), viewer=viewer,
                                 level_words=heat.LEVEL_WORDS)
    return {"rows": rows, "indicators": indicators, "signals": signals, "line": line, "flagged": flagged,
            "print_html": print_html}


def cluster_model(cache, data, viewer: Viewer, cluster_id: str) -> dict:
    """The cluster page's content for the viewer's scope, built once per version (kept on disk)."""
    return cache.get(("cluster", cluster_id), viewer, lambda: _cluster_model(data, viewer, cluster_id), persist=True)


def cluster_table_html(cache, viewer: Viewer, cluster_id: str, model: dict, shown: list[str]):
    """The cluster's table with the chosen columns, rendered once per version and scope (kept on disk)."""
    return cache.get(
        ("cluster-table", cluster_id, tuple(shown)), viewer,
        lambda: render_fragment("_heat_table.html", rows=model["rows"], groups=heat.column_groups(model["indicators"], shown),
                                viewer=viewer, level_words=heat.LEVEL_WORDS, shown=len(shown),
                                total=len(model["indicators"])), persist=True)


@router.get("/clusters/{cluster_id:path}", summary="Cluster page")
def cluster_page(request: Request, cluster_id: str, viewer: Viewer = Depends(require_viewer)):
    services = _services(request)
    data = services.data
    try:
        blocks = cluster_blocks(services.cache, data, viewer, cluster_id, request.query_params.getlist("show"),
                                request.query_params.get("signals") == "all")
    except tables.NotFound:
        return not_found(request, "cluster")
    services.audit("view_cluster", viewer, target=cluster_id, ip=client_ip(request))
    # the cluster's actions due come from the store: the only part rendered for every request
    due = render_fragment("_actions_due.html", actions_due=loop.actions_due_for(request, viewer, cluster_id))
    return page(request, "_blocks.html", **{**blocks, "content": Markup(str(blocks["content"]).replace(ACTIONS_DUE, str(due)))})


def cluster_blocks(cache, data, viewer: Viewer, cluster_id: str, show: list[str], show_all: bool) -> dict:
    """The cluster page's content for the viewer's role and scope, the columns asked for and whether every
    signal is listed, without its actions due (gpcluster.web.render.cached_blocks)."""
    model = cluster_model(cache, data, viewer, cluster_id)
    shown, choice = heat.chosen_columns(show, model["indicators"], model["flagged"])
    return cached_blocks(cache, "cluster.html", ("cluster", cluster_id, tuple(shown), choice, show_all), viewer,
                         lambda: _cluster_context(cache, data, viewer, cluster_id, model, shown, choice, show_all),
                         persist=choice != "custom")  # a chosen set of columns is kept in memory only


#: where the cluster page's actions due go in its cached content
ACTIONS_DUE = "<!--gpcluster:actions-due-->"


def _cluster_context(cache, data, viewer: Viewer, cluster_id: str, model: dict, shown: list[str], choice: str,
                     show_all: bool) -> dict:
    """The cluster page without its actions due: the same for every viewer with the same role and scope."""
    signals = model["signals"]
    live = [s for s in signals if s["status"] != "resolved"]
    return dict(title=data.clusters[cluster_id].cluster_name,
                cluster=data.clusters[cluster_id], period=data.latest_period, line=model["line"],
                worth=[s for s in live if s["worth_discussing"]],
                more=[s for s in live if not s["worth_discussing"]],
                resolved=[s for s in signals if s["status"] == "resolved"], show_all=show_all,
                has_performance=bool(data.performance_indicators),
                table_html=cluster_table_html(cache, viewer, cluster_id, model, shown),
                print_html=model["print_html"], choice=choice, shown=set(shown),
                chooser=themes.grouped(model["indicators"]), legend=heat.LEGEND, total=len(model["indicators"]),
                key_count=len(heat.default_columns(model["indicators"], model["flagged"])),
                actions_due_html=Markup(ACTIONS_DUE))


#: a row of the trend's table: the area's figure, what was expected of it (a performance indicator with
#: expected counts) and its comparators in one quarter
TrendRow = namedtuple("TrendRow", ["period", "value", "suppressed", "expected_value", "lo95", "hi95", "lo998",
                                   "hi998", "cluster_value", "hscp_value", "scotland_value", "spc_signal", "spc_rule"])
_BAND = ("expected_value", "lo95", "hi95", "lo998", "hi998")


def _trend_rows(series: pd.DataFrame, band: pd.DataFrame | None) -> list[TrendRow]:
    """The table's rows by quarter, from columns as lists: the template iterated a DataFrame of every
    released column (itertuples takes each of a few dozen columns through pandas), the largest part of a
    trend page's render; the band joined by quarter (a left join on arrays, without a merge)."""
    periods = series["period"].to_numpy(dtype=object)
    order = np.argsort(periods, kind="stable")
    periods = periods[order]
    missing = [None] * len(periods)

    def column(name: str) -> list:
        return series[name].to_numpy(dtype=object)[order].tolist() if name in series else missing

    columns = {name: column(name) for name in TrendRow._fields if name not in _BAND}
    if band is not None:
        at = pd.Index(band["period"]).get_indexer(periods)  # -1: no band that quarter, the NaN appended
        for name in _BAND:
            columns[name] = np.append(band[name].to_numpy(dtype=float), np.nan)[at].tolist()
    else:
        columns.update(dict.fromkeys(_BAND, missing))
    return [TrendRow(*row) for row in zip(*(columns[name] for name in TrendRow._fields), strict=True)]


def _trend(data, viewer: Viewer, pseudonyms: Pseudonyms, indicator, series: pd.DataFrame, level: str, code: str,
           label: str) -> dict:
    """The chart and words that explain one area's figure over time (practice or cluster)."""
    signal = tables.area_signal(data, viewer, pseudonyms, level, code, indicator.indicator_id)
    models = tables.funnel_models(data, indicator.indicator_id, level) if indicator.purpose == "performance" else None
    spc = charts.spc_spec(indicator, series) if indicator.purpose == "performance" else None
    band = charts.trend_band(indicator, series, models)
    return {"indicator": indicator, "rows": _trend_rows(series, band), "signal": signal, "label": label,
            "band": band is not None,
            "spec": charts.trend_spec(indicator, series, level, label, models,
                                      signal["start_period"] if signal else None, band=band),
            "spc": spc, "spc_points": charts.spc_points(series), "level": level,
            "comparators": ["cluster_value", "hscp_value", "scotland_value"] if level == "practice"
            else ["hscp_value", "scotland_value"]}


def _default_indicator(latest: pd.DataFrame, data, signalled: set[str]) -> str:
    """The indicator a practice page opens on: one with a live signal, else a special cause, else the first
    performance indicator, else the first."""
    ids = [i.indicator_id for i in themes.ordered(data.indicators[i] for i in latest["indicator_id"]
                                                  if i in data.indicators)]
    special = set(latest.loc[latest["spc_signal"].fillna("").str.startswith("special_cause"), "indicator_id"])
    for pool in (signalled, special, set(data.performance_indicators)):
        for i in ids:
            if i in pool:
                return i
    return ids[0]


@router.get("/practices/{practice_code}", summary="Practice page")
def practice_page(request: Request, practice_code: str, indicator: str | None = None,
                  viewer: Viewer = Depends(require_viewer)):
    services = _services(request)
    data = services.data
    chosen = indicator if indicator in data.indicators else None  # anything else opens the default
    try:
        blocks = practice_blocks(services.cache, data, viewer, practice_code, chosen)
    except tables.NotFound:
        return not_found(request, "practice")
    services.audit("view_practice", viewer, target=practice_code, ip=client_ip(request))
    return page(request, "_blocks.html", **blocks)


def practice_blocks(cache, data, viewer: Viewer, practice_code: str, chosen: str | None) -> dict:
    """The practice page's content for the viewer's role and scope (gpcluster.web.render.cached_blocks)."""
    return cached_blocks(cache, "practice.html", ("practice", practice_code, chosen), viewer,
                         lambda: _practice_context(data, viewer, practice_code, chosen))


def _practice_context(data, viewer: Viewer, practice_code: str, indicator: str | None) -> dict:
    """What the practice page shows: the same for every viewer with the same role and scope."""
    pseudonyms = Pseudonyms()
    series = tables.practice_series(data, viewer, pseudonyms, practice_code)
    period = series["period"].max()
    latest = series[series["period"] == period]
    latest = latest[latest["indicator_id"].isin(data.indicators)]
    spread = tables.indicator_spread(data, viewer, pseudonyms, period)
    cluster_id = latest["cluster_id"].dropna()
    cluster = data.clusters.get(cluster_id.iloc[0]) if len(cluster_id) else None
    status = None if cluster else (tables.practice_cluster_status(data, practice_code) or "not in a cluster")
    signals = tables.cluster_signals(data, viewer, pseudonyms, cluster.cluster_id) if cluster else pd.DataFrame()
    mine = signals[(signals["level"] == "practice") & (signals["area_code"] == practice_code)
                   & (signals["status"] != "resolved")] if len(signals) else signals
    chosen = indicator if indicator in data.indicators and indicator in set(series["indicator_id"]) else \
        _default_indicator(latest, data, set(mine["indicator_id"]) if len(mine) else set())
    name = latest["area_name"].iloc[0]
    trend = _trend(data, viewer, pseudonyms, data.indicators[chosen], series[series["indicator_id"] == chosen],
                   "practice", practice_code, name)
    by_id = {r.indicator_id: r for r in latest.itertuples()}
    groups = [(theme, [(i, by_id[i.indicator_id]) for i in members])
              for theme, members in themes.grouped(data.indicators[i] for i in by_id)]
    counts = dict(zip(spread["indicator_id"], spread["practices"], strict=True))
    size = by_id.get("list_size")
    patients = formatting.whole(size.value) if size is not None and not size.suppressed else None
    return dict(title=name, code=practice_code, cluster=cluster, cluster_status=status,
                groups=groups, practice_counts=counts, patients=patients, indicators=data.indicators, period=period,
                signals=mine.to_dict("records") if len(mine) else [], trend=trend,
                choices=themes.grouped(data.indicators[i] for i in by_id), chosen=data.indicators[chosen],
                spine=charts.spine_spec(latest, spread, data.indicators), spc_rule_words=charts.SPC_RULE_WORDS,
                spc_words=charts.SPC_WORDS)


@router.get("/trends/{indicator_id}", summary="A cluster's figure over time")
def cluster_trend(request: Request, indicator_id: str, cluster: str = "", viewer: Viewer = Depends(require_viewer)):
    data = _services(request).data

    def build() -> dict:
        pseudonyms = Pseudonyms()
        series = tables.cluster_series(data, cluster, indicator_id)
        c = data.clusters[cluster]
        trend = _trend(data, viewer, pseudonyms, data.indicators[indicator_id], series, "cluster", cluster,
                       c.cluster_name)
        return dict(title=f"{data.indicators[indicator_id].title}: {c.cluster_name}", cluster=c, trend=trend,
                    spc_rule_words=charts.SPC_RULE_WORDS, spc_words=charts.SPC_WORDS)

    try:  # the same for every viewer with the same role and scope: rendered once per version, kept on disk
        return cached_page(request, "trend.html", ("trend", cluster, indicator_id), build)
    except tables.NotFound:
        return not_found(request, "cluster figure")


@router.get("/indicators", summary="Indicator list")
def indicator_list(request: Request):
    data = _services(request).data
    return page(request, "indicators.html", title="Indicators", groups=themes.grouped(data.indicators.values()))


@router.get("/indicators/{indicator_id}", summary="Indicator page")
def indicator_page(request: Request, indicator_id: str, viewer: Viewer = Depends(require_viewer)):
    services = _services(request)
    try:
        blocks = indicator_blocks(services.cache, services.data, viewer, indicator_id)
    except tables.NotFound:
        return not_found(request, "indicator")
    services.audit("view_practice", viewer, target=f"indicator:{indicator_id}", ip=client_ip(request))
    return page(request, "_blocks.html", **blocks)


def indicator_blocks(cache, data, viewer: Viewer, indicator_id: str) -> dict:
    """The indicator page's content for the viewer's role and scope (gpcluster.web.render.cached_blocks)."""
    return cached_blocks(cache, "indicator.html", ("indicator", indicator_id), viewer,
                         lambda: _indicator_context(data, viewer, indicator_id))


def _indicator_context(data, viewer: Viewer, indicator_id: str) -> dict:
    """What the indicator page shows: the same for every viewer with the same role and scope."""
    pseudonyms = Pseudonyms()
    funnel = tables.indicator_funnel(data, viewer, pseudonyms, indicator_id)
    deciles = tables.indicator_deciles(data, viewer, pseudonyms, indicator_id)
    indicator = data.indicators[indicator_id]
    practices = funnel[funnel["level"] == "practice"].sort_values("value", na_position="last")
    model = data.funnel_model(indicator_id, data.latest_period) if indicator.purpose == "performance" else None
    positions = {r.area_code: heat.flag(r.funnel_scotland, indicator) for r in practices.itertuples()}
    return dict(title=indicator.title, indicator=indicator, period=data.latest_period,
                practices=practices, deciles=deciles, home=viewer.home_cluster, positions=positions,
                theme=themes.theme_of(indicator), caption=charts.funnel_caption(model) if model else None,
                funnel_spec=charts.funnel_spec(indicator, funnel, viewer.home_cluster, model),
                deciles_spec=charts.deciles_spec(indicator, deciles))


@router.get("/search", summary="Search practices and clusters")
def search(request: Request, q: str = "", viewer: Viewer = Depends(require_viewer)):
    services = _services(request)
    data = services.data
    term = q.strip()
    clusters, practices = [], []
    if len(term) >= 2:
        clusters, practices = services.cache.get(("search", term), viewer, lambda: _search(data, viewer, term))
    return page(request, "search.html", title="Search", q=term, clusters=clusters, practices=practices)


def _search(data, viewer: Viewer, term: str) -> tuple[list, list]:
    """Clusters and practices (those the viewer may name) matching a search term, for the viewer's scope:
    a practice by its code or any part of its name, any case, the term taken literally."""
    low = term.lower()
    clusters = [c for c in data.clusters.values() if low in c.cluster_name.lower() or low in c.cluster_id.lower()]
    every = _searchable_practices(data)
    found = every[(every["area_code"] == term)
                  | every["name_key"].str.contains(low, regex=False, na=False)].head(SEARCH_LIMIT)
    found = found[named_mask(viewer, found)]  # practices outside scope are never found by name
    return clusters, found.drop(columns="name_key").to_dict("records")


#: practices a search lists at most (before those outside the viewer's scope are left out)
SEARCH_LIMIT = 200


def _searchable_practices(data) -> pd.DataFrame:
    """Every practice with results in the latest period, by name, once per version: a search filters these
    in memory (a query per search term was most of the page's time)."""

    def build() -> pd.DataFrame:
        found = data.query(
            """SELECT DISTINCT v.period, v.area_code, p.practice_name, v.cluster_id, v.hscp_code, v.board_code
               FROM indicator_value v JOIN practice p ON p.practice_code = v.area_code
               WHERE v.level = 'practice' AND v.period = ?
               ORDER BY lower(p.practice_name), p.practice_name, v.area_code""",
            [data.latest_period])
        found["period"] = [ts.date() for ts in pd.to_datetime(found["period"])]
        found["name_key"] = found["practice_name"].str.lower()
        return found

    return data.memo(("searchable practices",), build)
