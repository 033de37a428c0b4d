"""Vega-Lite specifications of evaluation results, in the style of the app's charts (gpcluster.web.charts):
observed, fitted and counterfactual series with the start marked, and the event study with its intervals.
Built from released series only (gpcluster.evaluation.report.release_series)."""

from __future__ import annotations

import math

import pandas as pd

from gpcluster.evaluation.result import EvaluationResult

_BASE = {"$schema": "https://vega.github.io/schema/vega-lite/v5.json", "width": "container", "height": 300,
         "config": {"font": "Arial, sans-serif", "axis": {"labelFontSize": 12, "titleFontSize": 13}}}
SERIES_STYLE = {  # series name -> (colour, dash): never colour alone, the dash tells them apart too
    "Observed": ("#005eb8", []),
    "Fitted": ("#425563", [2, 2]),
    "Counterfactual (without the change)": ("#d5281b", [6, 4]),
    "Comparison units (observed)": ("#768692", [1, 3]),
}


def _plain(value):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return value.isoformat() if hasattr(value, "isoformat") else float(value) if isinstance(value, int | float) else value


def series_spec(result: EvaluationResult, released: pd.DataFrame, title: str) -> dict:
    """Observed, fitted and counterfactual; x is the quarter, or quarters since the start for staggered
    adoption (where calendar dates differ by unit)."""
    by_time = "period" in released.columns
    x_field = "period" if by_time else "relative_quarter"
    names = {"observed": "Observed", "fitted": "Fitted", "counterfactual": "Counterfactual (without the change)",
             "comparison": "Comparison units (observed)"}
    if result.method == "synth":
        names["fitted"] = "Synthetic control"
        names["counterfactual"] = "Counterfactual (without the change)"
    rows = []
    records = released.to_dict("records")
    before = [(r[x_field] < result.start) if by_time else (r[x_field] < 0) for r in records]
    last_before = max((i for i, b in enumerate(before) if b), default=-1)
    for i, record in enumerate(records):
        for column, name in names.items():
            if column == "fitted" and result.method in ("synth", "staggered"):
                continue  # the synthetic control is the counterfactual; staggered shows observed only
            if (column == "counterfactual" and before[i] and i != last_before
                    and record.get("counterfactual") == record.get("observed")):
                continue  # a counterfactual equal to what was observed would hide the observed line
            value = record.get(column)
            if value is None or (isinstance(value, float) and not math.isfinite(value)):
                continue
            rows.append({x_field: _plain(record[x_field]), "series": name, "value": float(value)})
    domain = list(dict.fromkeys(r["series"] for r in rows))
    style = {**SERIES_STYLE, "Synthetic control": SERIES_STYLE["Fitted"]}
    x = ({"field": "period", "type": "temporal", "title": "Quarter",
          "axis": {"format": "%b %Y", "labelAngle": -40}} if by_time
         else {"field": "relative_quarter", "type": "quantitative", "title": "Quarters since the start"})
    layers = [{"mark": {"type": "line", "point": True},
               "encoding": {"x": x, "y": {"field": "value", "type": "quantitative", "title": result.outcome.unit,
                                          "scale": {"zero": False}},
                            "color": {"field": "series", "type": "nominal", "title": None,
                                      "scale": {"domain": domain, "range": [style[d][0] for d in domain]}},
                            "strokeDash": {"field": "series", "type": "nominal", "title": None,
                                           "scale": {"domain": domain, "range": [style[d][1] for d in domain]}},
                            "tooltip": [{"field": "series"}, {"field": x_field, "type": x["type"]},
                                        {"field": "value", "format": ".1f"}]}}]
    # a Vega-Lite DateTime (months 1-12): a date string as datum is not placed on a temporal axis
    start = {"year": result.start.year, "month": result.start.month, "date": result.start.day}
    rule_x = {"datum": start, "type": "temporal"} if by_time else {"datum": -0.5}
    layers.append({"mark": {"type": "rule", "color": "#212b32", "strokeDash": [4, 3]}, "encoding": {"x": rule_x}})
    return {**_BASE, "title": title, "data": {"values": rows}, "layer": layers}


def event_study_spec(result: EvaluationResult) -> dict | None:
    """Effect by quarter relative to the start with its interval (difference-in-differences, staggered), or
    the gap to the synthetic control with the placebo gaps (synthetic control). None for ITS."""
    if result.event_study is None or result.event_study.empty:
        return None
    relative = result.outcome.counts
    scale = "Effect (% change)" if relative else f"Effect ({result.outcome.unit})"

    def show(v):
        if v is None or not math.isfinite(float(v)):
            return None
        return 100 * math.expm1(float(v)) if relative else float(v)

    study = result.event_study
    points = [{"relative_quarter": int(r["relative_quarter"]), "estimate": show(r["estimate"]),
               "lower": show(r.get("lower")), "upper": show(r.get("upper"))} for r in study.to_dict("records")]
    layers = []
    placebo_gaps = result.details.get("placebo_gaps") if result.method == "synth" else None
    if placebo_gaps:
        quarters = result.details["relative_quarters"]
        lines = [{"relative_quarter": q, "placebo": i, "gap": show(g)}
                 for i, gaps in enumerate(placebo_gaps) for q, g in zip(quarters, gaps, strict=True)]
        layers.append({"data": {"values": lines}, "mark": {"type": "line", "color": "#d8dde0", "strokeWidth": 1},
                       "encoding": {"x": {"field": "relative_quarter", "type": "quantitative"},
                                    "y": {"field": "gap", "type": "quantitative"},
                                    "detail": {"field": "placebo", "type": "nominal"}}})
    else:
        layers.append({"data": {"values": points}, "mark": {"type": "rule", "color": "#425563"},
                       "encoding": {"x": {"field": "relative_quarter", "type": "quantitative"},
                                    "y": {"field": "lower", "type": "quantitative"}, "y2": {"field": "upper"}}})
    layers.append({"data": {"values": points}, "mark": {"type": "point", "filled": True, "size": 60,
                                                         "color": "#005eb8"},
                   "encoding": {"x": {"field": "relative_quarter", "type": "quantitative",
                                      "title": "Quarters since the start"},
                                "y": {"field": "estimate", "type": "quantitative", "title": scale},
                                "tooltip": [{"field": "relative_quarter", "title": "Quarter"},
                                            {"field": "estimate", "format": ".1f"}, {"field": "lower", "format": ".1f"},
                                            {"field": "upper", "format": ".1f"}]}})
    layers.append({"mark": {"type": "rule", "color": "#212b32"}, "encoding": {"y": {"datum": 0}}})
    layers.append({"mark": {"type": "rule", "color": "#212b32", "strokeDash": [4, 3]}, "encoding": {"x": {"datum": -0.5}}})
    title = ("Gap to the synthetic control (grey: the same for each donor area as a placebo)"
             if placebo_gaps else "Event study: effect by quarter since the start (the quarter before = 0)")
    return {**_BASE, "height": 240, "title": title, "layer": layers}
