"""A cluster's pack as data: every figure released for the cluster's own viewers, in the pack's order.

    what changed since the last pack -> signals worth discussing -> actions due (added by
    gpcluster.packs.loop, not part of the figures) -> one page per practice -> the cluster against its
    HSCP, board and Scotland -> equity (deprivation, rurality) -> data quality -> provenance

The content is plain JSON (numbers, strings, lists, Vega-Lite specifications), so it can be stored beside
the published files, compared with an earlier version to say what changed, and hashed: the same figures
always give the same `content_hash`, whoever builds them and whenever.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import date, datetime

import numpy as np
import pandas as pd

from gpcluster import config
from gpcluster.errors import UserError
from gpcluster.packs.charts import CHART_WIDTH
from gpcluster.packs.formatting import period_key
from gpcluster.packs.source import EQUITY_INDICATORS, TREND_QUARTERS, URBAN_RURAL_6, PackSource, pack_viewer
from gpcluster.signals import quarter_words
from gpcluster.web import charts
from gpcluster.web.release import Pseudonyms, release_signals

PACK_FORMAT = 2  # 2: trends as figures (periods, Scotland's centiles, the cluster), not chart specifications
FLAGS = {"high_998": ("▲▲", "far above what is expected"), "high_95": ("▲", "above what is expected"),
         "low_95": ("▼", "below what is expected"), "low_998": ("▼▼", "far below what is expected")}

#: parts of the content that are figures (hashed and compared between versions), in the pack's order
DATA_SECTIONS = ("changes", "signals", "practices", "context", "comparison", "equity", "quality", "provenance")


def jsonable(value):
    """Plain JSON values: NaN and NaT become None, numpy numbers Python numbers, dates ISO strings."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if isinstance(value, datetime | pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def content_hash(content: dict) -> str:
    """SHA-256 of the pack's figures (the DATA_SECTIONS and what the pack is about), independent of key order."""
    keyed = {k: content[k] for k in ("format", "cluster", "period", "synthetic", "disclosure", *DATA_SECTIONS)}
    text = json.dumps(keyed, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _static(spec: dict, width: int = CHART_WIDTH) -> dict:
    """A web chart's specification for a fixed page width (the web app fills its container), with a date
    label every half year (every quarter crowds a printed axis)."""
    out = dict(spec)
    out["width"] = width
    out.pop("$schema", None)
    for part in [out, *out.get("layer", [])]:
        x = part.get("encoding", {}).get("x", {})
        if x.get("type") == "temporal" and isinstance(x.get("axis"), dict):
            x["axis"] = {**x["axis"], "labelAngle": 0, "tickCount": {"interval": "month", "step": 6}}
    return jsonable(out)


def _flag(row) -> dict | None:
    flag = FLAGS.get(row.get("funnel_scotland")) if row.get("funnel_scotland") else None
    return {"symbol": flag[0], "words": flag[1], "code": row["funnel_scotland"]} if flag else None


def _dates(row) -> str | None:
    """A figure whose numerator or denominator describes another date says so (a figure carries its dates)."""
    parts = []
    for column, label in (("numerator_date", "counts from"), ("denominator_date", "patients from")):
        value = row.get(column)
        if value is not None and not (isinstance(value, float) and math.isnan(value)) and pd.notna(value):
            parts.append(f"{label} {pd.Timestamp(value):%-d %b %Y}")
    return "; ".join(parts) or None


def _indicator_order(source: PackSource) -> list[str]:
    """Performance indicators first (what a meeting discusses), then context, each by title."""
    indicators = source.data.indicators
    return sorted(indicators, key=lambda i: (indicators[i].purpose != "performance", indicators[i].title))


def _indicator(source: PackSource, indicator_id: str) -> dict:
    d = source.data.indicators[indicator_id]
    return {"id": indicator_id, "title": d.title, "unit": d.unit, "measure_type": d.measure_type,
            "purpose": d.purpose, "polarity": d.polarity, "synthetic": bool(d.synthetic)}


def build_content(source: PackSource, cluster_id: str) -> dict:
    """The pack of one cluster for the source's period (figures only; see gpcluster.packs.loop for the
    actions, responses and meeting added when it is rendered)."""
    data = source.data
    cluster = data.clusters.get(cluster_id)
    if cluster is None:
        raise UserError(f"no cluster {cluster_id!r} in the warehouse")
    viewer = pack_viewer(cluster_id)
    pseudonyms = Pseudonyms()
    mine = source.cluster_rows("current", cluster)
    if not (mine["level"] == "practice").any():
        raise UserError(f"cluster {cluster_id!r} has no practices in {quarter_words(source.period)}")
    released = source.released(mine, viewer, pseudonyms)
    if not released.loc[released["level"] == "practice", "named"].all():
        raise AssertionError("a pack's own practices must be named for its viewers")  # access rules changed
    signals = _signals(source, cluster_id, viewer, pseudonyms)
    rows = _records(released)
    content = {
        "format": PACK_FORMAT,
        "cluster": {"id": cluster_id, "name": cluster.cluster_name, "hscp_code": cluster.hscp_code,
                    "hscp_name": cluster.hscp_name, "board_code": cluster.board_code,
                    "board_name": cluster.board_name},
        "period": source.period.isoformat(),
        "period_words": quarter_words(source.period),
        "previous_period": source.previous.isoformat() if source.previous else None,
        "previous_words": quarter_words(source.previous) if source.previous else None,
        "synthetic": bool(data.synthetic),
        "disclosure": {"threshold": int(config.get("disclosure_threshold")),
                       "suppress_zeros": bool(config.get("suppress_zeros")),
                       "min_group": int(config.get("disclosure_min_group"))},
        "indicators": {i: _indicator(source, i) for i in _indicator_order(source)},
        "changes": _changes(source, cluster_id, released, signals, viewer, pseudonyms),
        "signals": signals,
        "practices": (practices := _practices(source, rows, signals)),
        "context": _context(source, rows, practices),
        "comparison": _comparison(source, cluster_id, rows, viewer, pseudonyms),
        "equity": _equity(source, rows),
        "quality": _quality(source, released, rows),
        "provenance": source.provenance,
    }
    return jsonable(content)


def _records(frame: pd.DataFrame) -> list[dict]:
    """The rows as dicts of Python values (as itertuples gives them), a column at a time: itertuples takes
    every column of a wide frame as a Series first, which cost more than the rest of a pack's content."""
    columns = [str(c) for c in frame.columns]
    values = [frame[c].tolist() for c in frame.columns]
    return [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]


def _signals(source: PackSource, cluster_id: str, viewer, pseudonyms: Pseudonyms) -> list[dict]:
    """The cluster's signals this quarter (its practices' and its own), released: worth discussing first."""
    if source.signals.empty:
        return []
    own = source.rows("signals", ("practice", "cluster_id", cluster_id), ("cluster", "area_code", cluster_id))
    released = release_signals(own, viewer, pseudonyms, source.data.suppressed_signal_keys())
    out = []
    for s in _records(released):
        if not s["named"]:
            continue  # a practice that left the cluster this quarter is another cluster's to discuss
        item = {k: s[k] for k in ("signal_id", "indicator_id", "title", "level", "area_code", "area_name",
                                  "status", "direction", "concern", "evidence", "persistence",
                                  "worth_discussing", "rank_in_cluster", "sentence", "method")}
        item["since_words"] = quarter_words(s["start_period"])
        item["chart"] = _signal_chart(source, s, viewer) if s["worth_discussing"] and s["status"] != "resolved" else None
        out.append(item)
    order = {"new": 0, "ongoing": 0, "resolved": 1}
    return sorted(out, key=lambda s: (order[s["status"]], not s["worth_discussing"],
                                      s["rank_in_cluster"] if s["rank_in_cluster"] is not None else 1e9,
                                      s["indicator_id"], s["area_code"]))


def _signal_chart(source: PackSource, signal: dict, viewer) -> dict | None:
    """The run chart of the signalled series up to the pack's period (the web practice page's SPC chart)."""
    data = source.data
    indicator = data.indicators.get(signal["indicator_id"])
    if indicator is None:
        return None
    if signal["level"] == "practice":
        rows = data.values(levels=["practice"], area_codes=[signal["area_code"]],
                           indicator_ids=[indicator.indicator_id])
    else:
        rows = source.rows("history", ("cluster", "area_code", signal["area_code"]))
        rows = rows[rows["indicator_id"] == indicator.indicator_id]
    rows = rows[[p <= source.period for p in rows["period"]]]
    series = source.released(rows, viewer, Pseudonyms()).sort_values("period").tail(TREND_QUARTERS)
    if series["value"].notna().sum() < 2:
        return None
    spec = charts.spc_spec(indicator, series)
    if spec is None:  # too few points for process limits: the series with its comparators, no SPC
        spec = charts.trend_spec(indicator, series, signal["level"], signal["area_name"],
                                 start=signal.get("start_period"))
    spec["title"] = f"{indicator.title}: {signal['area_name']}, each quarter"
    return _static(spec)


def _practice_rows(rows: list[dict], source: PackSource) -> list[dict]:
    order = {i: n for n, i in enumerate(_indicator_order(source))}
    out = []
    for r in sorted(rows, key=lambda r: order.get(r["indicator_id"], len(order))):
        out.append({"indicator_id": r["indicator_id"], "value": r["value"], "lower95": r["lower95"],
                    "upper95": r["upper95"], "cluster": r["cluster_value"], "hscp": r["hscp_value"],
                    "scotland": r["scotland_value"], "decile": r["national_decile"], "flag": _flag(r),
                    "suppressed": bool(r["suppressed"]), "note": r["note"], "dates": _dates(r)})
    return out


def _by_practice(rows: list[dict]) -> dict[str, list[dict]]:
    """The released practice rows by practice code, practices in the order they first appear."""
    out: dict[str, list[dict]] = {}
    for r in rows:
        if r["level"] == "practice":
            out.setdefault(r["area_code"], []).append(r)
    return out


def _practices(source: PackSource, rows: list[dict], signals: list[dict]) -> list[dict]:
    """One entry per practice: facts, its performance figures (the practice's page) and its signals."""
    performance = set(source.data.performance_indicators)
    attributes = source.practice_attributes
    out = []
    for code, own in _by_practice(rows).items():
        attrs = attributes.get(code, {})
        list_rows = [r for r in own if r["indicator_id"] == "list_size"]
        quintile, rurality = attrs.get("simd_quintile"), attrs.get("urban_rural_6")
        out.append({
            "code": code, "name": own[0]["area_name"],
            "list_size": list_rows[0]["value"] if list_rows else None,
            "simd_quintile": None if quintile is None or pd.isna(quintile) else int(quintile),
            "urban_rural": None if rurality is None or pd.isna(rurality) else URBAN_RURAL_6.get(int(rurality)),
            "rows": _practice_rows([r for r in own if r["indicator_id"] in performance], source),
            "signals": [s["signal_id"] for s in signals if s["level"] == "practice" and s["area_code"] == code
                        and s["status"] != "resolved"],
        })
    return sorted(out, key=lambda p: (p["name"].casefold(), p["name"]))


def _cells(rows: list[dict]) -> dict[tuple, dict]:
    """The released rows by (level, practice code or "", indicator)."""
    return {(r["level"], r["area_code"] if r["level"] == "practice" else "", r["indicator_id"]): r for r in rows}


def _context(source: PackSource, rows: list[dict], practices: list[dict]) -> dict:
    """The context indicators of every practice side by side, with the cluster and Scotland."""
    cell = _cells(rows)
    rows = []
    for indicator_id in _indicator_order(source):
        if source.data.indicators[indicator_id].purpose == "performance":
            continue
        values = []
        for p in practices:
            r = cell.get(("practice", p["code"], indicator_id))
            values.append({"value": r["value"] if r else None, "suppressed": bool(r["suppressed"]) if r else False,
                           "decile": r["national_decile"] if r else None})
        area = {level: cell.get((level, "", indicator_id)) for level in ("cluster", "scotland")}
        rows.append({"indicator_id": indicator_id, "practices": values,
                     **{level: {"value": r["value"] if r else None,
                                "suppressed": bool(r["suppressed"]) if r else False} for level, r in area.items()}})
    return {"rows": rows}


def _comparison(source: PackSource, cluster_id: str, rows: list[dict], viewer, pseudonyms) -> dict:
    """Every indicator for the cluster, its HSCP, its board and Scotland; trends of the performance ones."""
    areas = [r for r in rows if r["level"] != "practice"]
    cell = {(r["level"], r["indicator_id"]): r for r in areas}
    rows = []
    for indicator_id in _indicator_order(source):
        cells = {}
        for level in ("cluster", "hscp", "board", "scotland"):
            r = cell.get((level, indicator_id))
            cells[level] = ({"value": r["value"], "suppressed": bool(r["suppressed"]), "lower95": r["lower95"],
                             "upper95": r["upper95"]} if r else {"value": None, "suppressed": False})
        own = cell.get(("cluster", indicator_id))
        rows.append({"indicator_id": indicator_id, **cells, "flag": _flag(own) if own else None})
    names = {r["level"]: r["area_name"] for r in areas}
    trends = []
    history = source.rows("history", ("cluster", "area_code", cluster_id))
    own_series = {(r["indicator_id"], r["period"]): r["value"]
                  for r in _records(source.released(history, viewer, pseudonyms))}
    for indicator_id, band in source.bands.items():
        trends.append({"indicator_id": indicator_id, "periods": band["periods"], "band": band["band"],
                       "cluster": [own_series.get((indicator_id, p)) for p in band["dates"]]})
    return {"names": names, "rows": rows, "trends": trends}


def _equity(source: PackSource, rows: list[dict]) -> dict:
    """The cluster's deprivation and rurality against its HSCP, board and Scotland; each practice's
    performance figures against Scotland's practices in the same SIMD quintile and urban-rural class."""
    cell = _cells(rows)
    profile = []
    for indicator_id in [i for i in EQUITY_INDICATORS if i in source.data.indicators]:
        cells = {}
        for level in ("cluster", "hscp", "board", "scotland"):
            r = cell.get((level, "", indicator_id))
            cells[level] = {"value": r["value"] if r else None, "suppressed": bool(r["suppressed"]) if r else False}
        profile.append({"indicator_id": indicator_id, **cells})
    lookup = {(r.indicator_id, r.group, r.key): r.median for r in source.equity_reference.itertuples(index=False)}
    performance = source.data.performance_indicators
    attributes = source.practice_attributes
    gradient = []
    for code, own in _by_practice(rows).items():
        name = own[0]["area_name"]
        attrs = attributes.get(code, {})
        q, u = attrs.get("simd_quintile"), attrs.get("urban_rural_6")
        q = None if q is None or pd.isna(q) else int(q)
        u = None if u is None or pd.isna(u) else int(u)
        cells = []
        for indicator_id in performance:
            r = cell.get(("practice", code, indicator_id))
            cells.append({"indicator_id": indicator_id, "value": r["value"] if r else None,
                          "suppressed": bool(r["suppressed"]) if r else False,
                          "simd_median": lookup.get((indicator_id, "simd_quintile", q)),
                          "rural_median": lookup.get((indicator_id, "urban_rural", u))})
        gradient.append({"code": code, "name": name, "simd_quintile": q,
                         "urban_rural": URBAN_RURAL_6.get(u) if u else None, "cells": cells})
    reference = [{"indicator_id": i, "simd": [lookup.get((i, "simd_quintile", k)) for k in range(1, 6)],
                  "rural": [lookup.get((i, "urban_rural", k)) for k in range(1, 7)]} for i in performance]
    return {"profile": profile, "practices": sorted(gradient, key=lambda g: (g["name"].casefold(), g["name"])), "reference": reference,
            "urban_rural_labels": [URBAN_RURAL_6[k] for k in range(1, 7)]}


def _quality(source: PackSource, released: pd.DataFrame, rows: list[dict]) -> dict:
    """The period's data-quality notes (aggregates only), notes on this cluster's figures, and how many
    figures disclosure control held back."""
    titles = {i: d.title for i, d in source.data.indicators.items()}
    figure_notes = []
    for r in [r for r in rows if pd.notna(r["note"])]:
        figure_notes.append({"area": r["area_name"], "indicator": titles.get(r["indicator_id"], r["indicator_id"]),
                             "note": r["note"]})
    dated, seen = [], set()
    for r in rows:
        if r["indicator_id"] in seen or not (pd.notna(r["numerator_date"]) or pd.notna(r["denominator_date"])):
            continue
        seen.add(r["indicator_id"])
        dated.append({"indicator": titles.get(r["indicator_id"], r["indicator_id"]), "dates": _dates(r)})
    return {"notes": source.notes, "figure_notes": figure_notes, "dated": dated,
            "suppressed": int(released["suppressed"].sum())}


def _changes(source: PackSource, cluster_id: str, released: pd.DataFrame, signals: list[dict], viewer,
             pseudonyms) -> dict:
    """What differs from the previous period's pack: signals that started or ended, practices that joined
    or left, and how the cluster's performance figures moved."""
    new = [{"area_name": s["area_name"], "title": s["title"]} for s in signals if s["status"] == "new"]
    resolved = [{"area_name": s["area_name"], "title": s["title"]} for s in signals if s["status"] == "resolved"]
    ongoing = sum(1 for s in signals if s["status"] == "ongoing")
    now_codes = set(released.loc[released["level"] == "practice", "area_code"])
    before_codes = (set(source.rows("before", ("practice", "cluster_id", cluster_id))["area_code"])
                    if source.previous else now_codes)
    names = released[released["level"] == "practice"].drop_duplicates("area_code").set_index("area_code")["area_name"]
    joined = sorted(names[c] for c in now_codes - before_codes)
    moves = []
    if source.previous is not None:
        rows = source.rows("before", ("cluster", "area_code", cluster_id))
        earlier = source.released(rows, viewer, pseudonyms).set_index("indicator_id")
        now = released[released["level"] == "cluster"].set_index("indicator_id")
        for indicator_id in [*source.data.performance_indicators, "list_size"]:
            if indicator_id in now.index and indicator_id in earlier.index:
                moves.append({"indicator_id": indicator_id, "now": now.loc[indicator_id, "value"],
                              "before": earlier.loc[indicator_id, "value"],
                              "suppressed": bool(now.loc[indicator_id, "suppressed"]
                                                 or earlier.loc[indicator_id, "suppressed"])})
    return {"new_signals": new, "resolved_signals": resolved, "ongoing_signals": ongoing, "joined": joined,
            "left": len(before_codes - now_codes), "moves": moves}


def pack_name(cluster_id: str, period) -> str:
    """A file-system-safe name for a cluster and period: 'S37000007-dundee-east_2024-10'."""
    return f"{cluster_id.replace('/', '-')}_{period_key(period)}"
