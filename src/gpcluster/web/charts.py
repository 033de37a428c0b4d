"""Vega-Lite specifications built from released tables. Signals use shape and colour, never colour alone."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gpcluster.web.data import Indicator
from gpcluster.web.serialise import records

_Z = {"95%": 1.959964, "99.8%": 3.090232}
SIGNAL_LABELS = {
    "high_998": "Above 99.8% limit", "high_95": "Above 95% limit", "not_significant": "Within limits",
    "low_95": "Below 95% limit", "low_998": "Below 99.8% limit",
}
_SIGNAL_SCALE = {
    "domain": ["Above 99.8% limit", "Above 95% limit", "Within limits", "Below 95% limit", "Below 99.8% limit"],
    "range": ["#a50f15", "#de6a10", "#5e6a71", "#1d70b8", "#003078"],
}
_SHAPE_SCALE = {
    "domain": _SIGNAL_SCALE["domain"],
    "range": ["triangle-up", "triangle-up", "circle", "triangle-down", "triangle-down"],
}
_SPINE_AXIS = "Lowest practice (0) to highest practice (1)"
_BASE = {"$schema": "https://vega.github.io/schema/vega-lite/v5.json", "width": "container", "height": 320,
         "config": {"font": "Arial, sans-serif", "axis": {"labelFontSize": 12, "titleFontSize": 13}}}


def adjusted_limits(model: dict, max_expected: float) -> list[dict]:
    """Limits of the overdispersion-adjusted funnel on the O/E scale, as the engine judged them:
    (1 ± z sqrt(1/(4E) + τ²))², τ² only when the funnel was widened."""
    tau2 = float(model["tau2"]) if model.get("adjusted") else 0.0
    out = []
    for e in np.geomspace(max(max_expected / 300, 1.0), max_expected * 1.05, 60):
        half = {label: z * np.sqrt(1 / (4 * e) + tau2) for label, z in _Z.items()}
        for label, h in half.items():
            out.append({"expected": float(e), "limit": label, "upper": (1 + h) ** 2, "lower": max(1 - h, 0) ** 2})
    return out


def funnel_caption(model: dict | None) -> str:
    """What the funnel's limits allow for, in words, with φ and τ."""
    if model is None:
        return "Too few units to estimate the normal variation between practices: limits are not widened."
    if model.get("adjusted"):
        return (f"Limits widened for the real differences between practices (overdispersion φ = {model['phi']:.1f}, "
                f"τ = {np.sqrt(model['tau2']):.3f} on the square-root scale, DerSimonian-Laird as FunnelPlotR): "
                "a practice outside them is unusual even allowing for that.")
    return "No overdispersion found (φ ≤ 1): limits are those of chance alone."


def funnel_spec(indicator: Indicator, rows: pd.DataFrame, home_cluster: str | None,
                model: dict | None = None) -> dict:
    """Performance: observed/expected against expected count with the adjusted funnel's limits. Context:
    each practice's value against its denominator with Scotland's value, and no limits (never flagged)."""
    practices = rows[(rows["level"] == "practice") & rows["value"].notna()].copy()
    practices["group"] = np.where(practices["cluster_id"] == home_cluster, "Your cluster", "Other practices")
    performance = indicator.purpose == "performance" and "expected" in practices and practices["expected"].notna().any()
    layers = []
    if performance:
        practices = practices[practices["expected"] > 0]
        practices["ratio"] = _ratio(practices, indicator)
        practices["signal"] = practices["funnel_scotland"].map(SIGNAL_LABELS).fillna("Within limits")
        x = {"field": "expected", "type": "quantitative", "title": "Expected count (E)", "scale": {"type": "log"}}
        y = {"field": "ratio", "type": "quantitative", "title": "Observed / expected"}
        for edge in ("upper", "lower") if model else ():
            layers.append({"data": {"values": adjusted_limits(model, float(practices["expected"].max()))},
                           "mark": {"type": "line", "strokeDash": [4, 3]},
                           "encoding": {"x": {**x, "field": "expected"}, "y": {"field": edge, "type": "quantitative"},
                                        "detail": {"field": "limit"}, "color": {"value": "#768692"}}})
        centre = 1.0
        subtitle = funnel_caption(model)
        title = f"{indicator.title}: each practice against what is expected of it"
    else:
        practices["signal"] = "Position only (context)"
        x = {"field": "denominator", "type": "quantitative", "title": "Registered patients"}
        y = {"field": "value", "type": "quantitative", "title": indicator.unit, "scale": {"zero": False}}
        scotland = rows.loc[rows["level"] == "scotland", "value"]
        centre = float(scotland.iloc[0]) if len(scotland) and pd.notna(scotland.iloc[0]) else None
        subtitle = "A context figure describes the practice: shown with Scotland's value, never flagged as unusual."
        title = f"{indicator.title}: practices in Scotland"
    columns = ["area_name", "denominator", "value", "signal", "group"] + (["expected", "ratio"] if performance else [])
    points = records(practices[columns])
    layers.append({"data": {"values": points}, "mark": {"type": "point", "filled": True, "size": 60},
                   "encoding": {
                       "x": x, "y": y,
                       "color": {"field": "signal", "type": "nominal", "title": "Position",
                                 **({"scale": _SIGNAL_SCALE} if performance else {})},
                       "shape": {"field": "signal", "type": "nominal", "title": "Position",
                                 **({"scale": _SHAPE_SCALE} if performance else {})},
                       "opacity": {"condition": {"test": "datum.group === 'Your cluster'", "value": 1},
                                   "value": 0.35},
                       "size": {"condition": {"test": "datum.group === 'Your cluster'", "value": 140},
                                "value": 40},
                       "tooltip": [{"field": "area_name", "title": "Practice"},
                                   {"field": "value", "format": ",.1f", "title": indicator.unit},
                                   {"field": "signal", "title": "Position"}, {"field": "group"}]}})
    if centre is not None:
        layers.append({"mark": {"type": "rule", "color": "#212b32"}, "encoding": {"y": {"datum": centre}}})
    return {**_BASE, "title": {"text": title, "subtitle": subtitle}, "layer": layers}


def _ratio(practices: pd.DataFrame, indicator: Indicator) -> pd.Series:
    """Observed / expected from the released value and expected count (O = value x denominator / multiplier)."""
    return practices["value"] * practices["denominator"] / indicator.multiplier / practices["expected"]


def spc_spec(indicator: Indicator, series: pd.DataFrame) -> dict:
    """Run chart of one practice's values over time with mean and XmR limits; signals marked with the rule."""
    s = series.sort_values("period").copy()
    values = s["value"].to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    mean = float(finite.mean()) if len(finite) else None
    mr = np.abs(np.diff(finite)).mean() if len(finite) > 1 else 0.0
    s["signal"] = np.where(s["spc_signal"].fillna("common_cause").str.startswith("special_cause"),
                           "Special cause: " + s["spc_rule"].fillna(""), "Common cause")
    data = records(s[["period", "value", "signal", "spc_rule"]])
    layers = [
        {"mark": {"type": "line", "color": "#425563"},
         "encoding": {"x": {"field": "period", "type": "temporal", "title": "Period",
                            "axis": {"format": "%b %Y", "labelAngle": -40, "tickCount": {"interval": "month", "step": 3}}},
                      "y": {"field": "value", "type": "quantitative", "title": indicator.unit}}},
        {"mark": {"type": "point", "filled": True, "size": 70},
         "encoding": {"x": {"field": "period", "type": "temporal"}, "y": {"field": "value", "type": "quantitative"},
                      "color": {"field": "signal", "type": "nominal", "title": "SPC",
                                "scale": {"range": ["#5e6a71", "#a50f15", "#d5281b", "#1d70b8"]}},
                      "shape": {"field": "signal", "type": "nominal", "title": "SPC"},
                      "tooltip": [{"field": "period", "type": "temporal"}, {"field": "value", "format": ".1f"},
                                  {"field": "signal"}]}},
    ]
    if mean is not None:
        for y, dash in ((mean, []), (mean + 2.66 * mr, [4, 3]), (max(mean - 2.66 * mr, 0), [4, 3])):
            layers.append({"mark": {"type": "rule", "color": "#768692", "strokeDash": dash},
                           "encoding": {"y": {"datum": y}}})
    return {**_BASE, "height": 220, "title": indicator.title, "data": {"values": data}, "layer": layers}


def deciles_spec(indicator: Indicator, deciles: pd.DataFrame) -> dict:
    """Practice centiles (10th, 50th, 90th) over time, with Scotland and the viewer's cluster."""
    long = deciles.melt(id_vars="period", value_vars=["p10", "p50", "p90", "scotland", "your_cluster"],
                        var_name="series", value_name="value").dropna(subset=["value"])
    names = {"p10": "10th centile", "p50": "Median practice", "p90": "90th centile", "scotland": "Scotland",
             "your_cluster": "Your cluster"}
    long["series"] = long["series"].map(names)
    return {**_BASE, "title": f"{indicator.title}: spread of practices over time",
            "data": {"values": records(long)}, "mark": {"type": "line", "point": True},
            "encoding": {"x": {"field": "period", "type": "temporal", "title": "Period",
                               "axis": {"format": "%b %Y", "labelAngle": -40, "tickCount": {"interval": "month", "step": 3}}},
                         "y": {"field": "value", "type": "quantitative", "title": indicator.unit},
                         "color": {"field": "series", "type": "nominal", "title": "Series"},
                         "strokeDash": {"field": "series", "type": "nominal"},
                         "tooltip": [{"field": "series"}, {"field": "period", "type": "temporal"},
                                     {"field": "value", "format": ".1f"}]}}


def spine_spec(rows: pd.DataFrame, spread: pd.DataFrame, indicators: dict[str, Indicator]) -> dict:
    """Spine chart: the practice against the spread of Scotland's practices, each indicator on its own
    0-1 scale (0 = lowest practice, 1 = highest) so different units sit on one chart."""
    out = []
    bounds = {r.indicator_id: (r.min, r.q1, r.q3, r.max) for r in spread.itertuples()}
    for row in rows.itertuples():
        if row.indicator_id not in bounds or pd.isna(row.value):
            continue
        lo, q1, q3, hi = (float(v) for v in bounds[row.indicator_id])
        span = (hi - lo) or 1.0

        def pos(v, lo=lo, span=span):
            # a comparator outside the practices' range is a total, not a rate (e.g. Scotland's list size):
            # it has no place on a practice spine, and plotting it would squash every other point to 0
            if v is None or pd.isna(v):
                return None
            x = (float(v) - lo) / span
            return min(max(x, 0.0), 1.0) if -1e-9 <= x <= 1 + 1e-9 else None

        title = indicators[row.indicator_id].title if row.indicator_id in indicators else row.indicator_id
        out.append({"indicator": title, "q1": pos(q1), "q3": pos(q3), "practice": pos(row.value),
                    "cluster": pos(row.cluster_value), "scotland": pos(row.scotland_value)})
    return {**_BASE, "height": {"step": 26}, "title": "Where the practice sits among Scotland's practices",
            "data": {"values": out},
            "encoding": {"y": {"field": "indicator", "type": "nominal", "title": None, "sort": None}},
            "layer": [
                {"mark": {"type": "rule", "color": "#d8dde0", "strokeWidth": 8},
                 "encoding": {"x": {"datum": 0, "type": "quantitative", "scale": {"domain": [0, 1]},
                                    "title": _SPINE_AXIS}, "x2": {"datum": 1}}},
                {"mark": {"type": "rule", "color": "#aeb7bd", "strokeWidth": 8},
                 "encoding": {"x": {"field": "q1", "type": "quantitative", "title": _SPINE_AXIS},
                              "x2": {"field": "q3"}}},
                {"mark": {"type": "tick", "color": "#212b32", "thickness": 2},
                 "encoding": {"x": {"field": "scotland", "type": "quantitative", "title": _SPINE_AXIS}}},
                {"mark": {"type": "point", "shape": "diamond", "color": "#330072", "size": 70, "filled": True},
                 "encoding": {"x": {"field": "cluster", "type": "quantitative", "title": _SPINE_AXIS}}},
                {"mark": {"type": "point", "shape": "circle", "color": "#005eb8", "size": 110, "filled": True},
                 "encoding": {"x": {"field": "practice", "type": "quantitative", "title": _SPINE_AXIS},
                              "tooltip": [{"field": "indicator"}]}},
            ]}
