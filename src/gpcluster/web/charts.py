"""Vega-Lite specifications built from released tables. Signals use shape and colour, never colour alone."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pandas as pd

from gpcluster.web import formatting, themes
from gpcluster.web.data import Indicator
from gpcluster.web.heat import flag
from gpcluster.web.serialise import json_value, records

_Z = {"95%": 1.959964, "99.8%": 3.090232}
WITHIN = "Within the expected range"
# colour by what a position means for this indicator (worse, better, neither), shape by direction
_POSITION_COLOURS = {"worse-strong": "#a50f15", "worse": "#c05600", "better": "#1d70b8", "better-strong": "#003078",
                     "unusual": "#7c2855", "unusual-strong": "#7c2855"}
_SPINE_AXIS = "Position among Scotland's practices: lowest value (left) to highest value (right)"
# The page gives each chart its accessible name and links the table of its figures (role="img" on the
# container): vega's own ARIA roles on every mark would be a second, nameless description of each point.
_BASE = {"$schema": "https://vega.github.io/schema/vega-lite/v5.json", "width": "container", "height": 320,
         "config": {"font": "Arial, sans-serif", "aria": False,
                    "axis": {"labelFontSize": 12, "titleFontSize": 13},
                    "legend": {"labelFontSize": 12, "titleFontSize": 12, "labelLimit": 320}}}


#: characters in a line of a chart's subtitle: Vega-Lite does not wrap one, and a long one was cut off at both
#: ends on a page's chart
SUBTITLE_WIDTH = 90


def chart_title(text: str, subtitle: str | list[str]) -> dict:
    """A chart's title, its subtitle (a sentence or a list of them) in lines that fit the chart."""
    sentences = [subtitle] if isinstance(subtitle, str) else subtitle
    return {"text": text, "subtitle": [line for s in sentences for line in textwrap.wrap(s, SUBTITLE_WIDTH)]}


def _sig3(x: float) -> float:
    return float(f"{x:.3g}")


def adjusted_limits(model: dict, max_expected: float) -> list[dict]:
    """Limits of the overdispersion-adjusted funnel on the O/E scale, as the engine judged them:
    (1 ± z sqrt(1/(4E) + τ²))², τ² only when the funnel was widened. Three significant figures: plenty
    for a line, and the page carries no long digit strings (nor the largest practice's exact expected count)."""
    tau2 = float(model["tau2"]) if model.get("adjusted") else 0.0
    out = []
    for e in np.geomspace(max(max_expected / 300, 1.0), max_expected * 1.05, 60):
        half = {label: z * np.sqrt(1 / (4 * e) + tau2) for label, z in _Z.items()}
        for label, h in half.items():
            out.append({"expected": _sig3(e), "limit": label, "upper": _sig3((1 + h) ** 2),
                        "lower": _sig3(max(1 - h, 0) ** 2)})
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
    if indicator.measure_type in TOTAL_TYPES:
        return _practice_histogram(indicator, practices)
    performance = indicator.purpose == "performance" and "expected" in practices and practices["expected"].notna().any()
    layers = []
    if performance:
        practices = practices[practices["expected"] > 0]
        practices["ratio"] = _ratio(practices, indicator)
        flags = [flag(label, indicator) for label in practices["funnel_scotland"]]
        practices["signal"] = [f.words[0].upper() + f.words[1:] if f else WITHIN for f in flags]
        domain = list(dict.fromkeys([WITHIN, *sorted(set(practices["signal"]) - {WITHIN})]))
        by_words = {f.words[0].upper() + f.words[1:]: f for f in flags if f}
        colour_scale = {"domain": domain, "range": [_POSITION_COLOURS[by_words[d].css] if d in by_words else "#5e6a71"
                                                    for d in domain]}
        shape_scale = {"domain": domain, "range": ["circle" if d == WITHIN else "triangle-up" if "higher" in d
                                                   else "triangle-down" for d in domain]}
        x = {"field": "expected", "type": "quantitative", "title": "Expected count (E)", "scale": {"type": "log"}}
        y = {"field": "ratio", "type": "quantitative", "title": "Observed / expected (1 = as expected)",
             "scale": {"zero": False}}
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
        x = {"field": "denominator", "type": "quantitative", "title": "Registered patients (denominator)"}
        y = {"field": "value", "type": "quantitative", "title": indicator.unit, "scale": {"zero": False}}
        scotland = rows.loc[rows["level"] == "scotland", "value"]
        centre = float(scotland.iloc[0]) if len(scotland) and pd.notna(scotland.iloc[0]) else None
        subtitle = "A context figure describes the practice: shown with Scotland's value, never flagged as unusual."
        title = f"{indicator.title}: {_whose(practices)}"
    columns = ["area_name", "denominator", "value", "signal", "group"] + (["expected", "ratio"] if performance else [])
    points = records(practices[columns])
    layers.append({"data": {"values": points}, "mark": {"type": "point", "filled": True, "size": 60},
                   "encoding": {
                       "x": x, "y": y,
                       "color": {"field": "signal", "type": "nominal", "title": "Position",
                                 **({"scale": colour_scale} if performance else {})},
                       "shape": {"field": "signal", "type": "nominal", "title": "Position",
                                 **({"scale": shape_scale} if performance else {})},
                       "opacity": {"condition": {"test": "datum.group === 'Your cluster'", "value": 1},
                                   "value": 0.35},
                       "size": {"condition": {"test": "datum.group === 'Your cluster'", "value": 140},
                                "value": 40},
                       "tooltip": [{"field": "area_name", "title": "Practice"},
                                   {"field": "value", "format": ",.1f", "title": indicator.unit},
                                   {"field": "signal", "title": "Position"}, {"field": "group"}]}})
    if centre is not None:
        layers.append({"mark": {"type": "rule", "color": "#212b32"}, "encoding": {"y": {"datum": centre}}})
    return {**_BASE, "description": title, "title": chart_title(title, subtitle), "layer": layers}


def _whose(practices: pd.DataFrame) -> str:
    # a viewer who may name only their own cluster's practices is not shown other practices' context figures
    return "practices in Scotland" if (practices["group"] == "Other practices").any() else "your cluster's practices"


def _practice_histogram(indicator: Indicator, practices: pd.DataFrame) -> dict:
    """A count has no denominator to plot against, and Scotland's figure is the total of every practice:
    how many practices have each size of figure, the viewer's cluster's practices stacked in their colour."""
    title = f"{indicator.title}: {_whose(practices)}"
    subtitle = ("A context figure: each bar counts the practices in a range of values; never flagged as unusual. "
                "Areas' figures are totals of their practices.")
    points = records(practices[["area_name", "value", "group"]])
    groups = ["Other practices", "Your cluster"]
    return {**_BASE, "description": title, "title": chart_title(title, subtitle),
            "data": {"values": points}, "mark": {"type": "bar", "tooltip": True},
            "encoding": {
                "x": {"field": "value", "type": "quantitative", "bin": {"maxbins": 30}, "title": indicator.unit},
                "y": {"aggregate": "count", "type": "quantitative", "title": "Practices",
                      "axis": {"tickMinStep": 1, "format": "d"}},
                "color": {"field": "group", "type": "nominal", "title": None,
                          "scale": {"domain": groups, "range": ["#aeb7bd", "#005eb8"]},
                          "legend": {"orient": "top"}},
                "order": {"field": "group", "sort": "descending"}}}


def _ratio(practices: pd.DataFrame, indicator: Indicator) -> pd.Series:
    """Observed / expected from the released value and expected count (O = value x denominator / multiplier)."""
    return practices["value"] * practices["denominator"] / indicator.multiplier / practices["expected"]


SPC_WORDS = {"common_cause": "Common cause", "special_cause_concern": "Special cause: concern",
             "special_cause_improvement": "Special cause: improvement",
             "special_cause_neutral_high": "Special cause: higher", "special_cause_neutral_low": "Special cause: lower"}
#: the Making Data Count rule labels the engine stores, in plain words
SPC_RULE_WORDS = {
    "Above UCL": "above the upper process limit", "Below LCL": "below the lower process limit",
    "7 Point Trend (Increasing)": "rising for seven quarters in a row",
    "7 Point Trend (Decreasing)": "falling for seven quarters in a row",
    "2 in 3 Above CL": "two of the last three quarters close to the upper limit",
    "2 in 3 Below CL": "two of the last three quarters close to the lower limit",
    "7 Points Above CL": "seven quarters in a row above its average",
    "7 Points Below CL": "seven quarters in a row below its average",
}
# Making Data Count's colours: grey common cause, orange concern, blue improvement, purple neither
_SPC_SCALE = {"domain": list(SPC_WORDS.values()),
              "range": ["#768692", "#c05600", "#005eb8", "#7c2855", "#7c2855"]}
_SPC_SHAPES = {"domain": list(SPC_WORDS.values()),
               "range": ["circle", "triangle-up", "triangle-down", "diamond", "diamond"]}


def spc_points(series: pd.DataFrame) -> int:
    """Quarters with a released value (an SPC chart needs spc.MIN_POINTS_FOR_LIMITS of them)."""
    return int(series["value"].notna().sum())


def spc_spec(indicator: Indicator, series: pd.DataFrame) -> dict | None:
    """XmR run chart of one unit's released values: mean and process limits (Making Data Count, as the
    engine computed the labels), points marked by the engine's SPC label. None when there are too few
    points for limits (the page says so instead: never "common cause" on a short series)."""
    from gpcluster.stats import spc

    # plain arrays and lists: the few dozen quarters of one unit cost more as pandas frames than the chart
    order = np.argsort(series["period"].to_numpy(dtype=object), kind="stable")
    values = series["value"].to_numpy(dtype=float)[order]
    signals = [None if formatting.is_missing(v) else v for v in series["spc_signal"].to_numpy(dtype=object)[order]]
    labelled = [v for v in signals if v is not None]
    if int((~np.isnan(values)).sum()) < spc.MIN_POINTS_FOR_LIMITS or not labelled \
            or labelled[-1] == "too_few_points":
        return None
    fit = spc.xmr_signals_batch(values[None, :])
    mean, upper, lower = float(fit.mean[0]), float(fit.upl[0]), float(fit.lpl[0])
    rules = series["spc_rule"].to_numpy(dtype=object)[order]
    points = [{"period": json_value(p), "label": formatting.short_quarter(p), "value": float(v),
               "signal": SPC_WORDS.get(signal, "Common cause"), "rule": "" if formatting.is_missing(rule) else rule}
              for p, v, signal, rule in zip(series["period"].to_numpy(dtype=object)[order], values, signals, rules,
                                            strict=True) if not np.isnan(v)]
    x = {"field": "period", "type": "temporal", "title": None,
         "axis": {"format": "%b %Y", "labelAngle": -40, "tickCount": {"interval": "month", "step": 6}}}
    y = {"field": "value", "type": "quantitative", "title": indicator.unit, "scale": {"zero": False}}
    lines = [{"limit": "Mean", "y": mean}, {"limit": "Upper process limit", "y": upper},
             {"limit": "Lower process limit", "y": lower}]
    return {**_BASE, "height": 240, "description": f"Run chart of {indicator.title}",
            "title": chart_title(f"{indicator.title}: run chart", "Mean and process limits (mean ± 2.66 × "
                                 "average moving range); marked points break a Making Data Count rule."),
            "layer": [
                {"data": {"values": lines}, "mark": {"type": "rule", "color": "#768692"},
                 "encoding": {"y": {"field": "y", "type": "quantitative"},
                              "strokeDash": {"field": "limit", "type": "nominal", "title": "Lines",
                                             "scale": {"domain": ["Mean", "Upper process limit", "Lower process limit"],
                                                       "range": [[1, 0], [5, 3], [5, 3]]}}}},
                {"data": {"values": points}, "mark": {"type": "line", "color": "#425563"},
                 "encoding": {"x": x, "y": y}},
                {"data": {"values": points}, "mark": {"type": "point", "filled": True, "size": 70, "opacity": 1},
                 "encoding": {"x": x, "y": y,
                              "color": {"field": "signal", "type": "nominal", "title": "SPC", "scale": _SPC_SCALE},
                              "shape": {"field": "signal", "type": "nominal", "title": "SPC", "scale": _SPC_SHAPES},
                              "tooltip": [{"field": "label", "title": "Quarter"},
                                          {"field": "value", "format": ",.1f", "title": indicator.unit},
                                          {"field": "signal", "title": "SPC"}, {"field": "rule", "title": "Rule"}]}},
            ]}


def _limit_factors(expected: np.ndarray, tau2: float, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper limits of O/E for expected counts E on the adjusted funnel (docs/signals.md)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        half = z * np.sqrt(1 / (4 * expected) + tau2)
    return np.maximum(1 - half, 0) ** 2, (1 + half) ** 2


TREND_COLOURS = {"domain": ["Expected", "Cluster", "HSCP", "Scotland"],
                 "range": ["#768692", "#7c2855", "#00703c", "#212b32"]}


def trend_band(indicator: Indicator, series: pd.DataFrame, models: pd.DataFrame | None) -> pd.DataFrame | None:
    """Per quarter, what was expected of the area (in the indicator's unit) and the 95% and 99.8% limits of
    the overdispersion-adjusted funnel around it: E / denominator x multiplier x the O/E limits. None for
    a context indicator or when no expected counts are stored."""
    if indicator.purpose != "performance" or "expected" not in series or not series["expected"].notna().any():
        return None
    # plain arrays: a practice page's first render built this twice over pandas copies of a few dozen rows
    expected = series["expected"].to_numpy(dtype=float)
    denominator = series["denominator"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        keep = ~np.isnan(expected) & (expected > 0) & ~np.isnan(denominator)
    periods = series["period"].to_numpy(dtype=object)[keep]
    order = np.argsort(periods, kind="stable")
    periods, expected, denominator = periods[order], expected[keep][order], denominator[keep][order]
    expected_value = expected / denominator * indicator.multiplier
    tau2 = np.zeros(len(periods))
    if models is not None and not models.empty:
        fitted = dict(zip(models["period"], np.where(models["adjusted"].astype(bool), models["tau2"], 0.0), strict=True))
        tau2 = np.array([fitted.get(p, np.nan) for p in periods], dtype=float)
        tau2[np.isnan(tau2)] = 0.0
    columns = {"period": periods, "expected_value": expected_value}
    for name, z in (("95", _Z["95%"]), ("998", _Z["99.8%"])):
        lo, hi = _limit_factors(expected, tau2, z)
        columns[f"lo{name}"], columns[f"hi{name}"] = lo * expected_value, hi * expected_value
    return pd.DataFrame(columns)


_COMPUTE = object()


def _band_records(band: pd.DataFrame) -> list[dict]:
    """trend_band's rows as the chart's records (as serialise.records would give them, from arrays)."""
    figures = ("expected_value", "lo95", "hi95", "lo998", "hi998")
    columns = [band[c].to_numpy(dtype=float) for c in figures]
    return [{"period": json_value(p), "label": formatting.short_quarter(p),
             **{c: None if np.isnan(v) else float(v) for c, v in zip(figures, values, strict=True)}}
            for p, *values in zip(band["period"].to_numpy(dtype=object), *columns, strict=True)]


TOTAL_TYPES = ("count", "change")
_FEW_QUARTERS = 8


def _quarter_axis(periods) -> dict:
    """Every quarter labelled when there are few (three releases would otherwise show one label), else
    one label every six months."""
    axis = {"format": "%b %Y", "labelAngle": -40}
    distinct = sorted({pd.Timestamp(p) for p in periods if not formatting.is_missing(p)})
    if 0 < len(distinct) <= _FEW_QUARTERS:
        return {**axis, "values": [{"year": p.year, "month": p.month, "date": p.day, "utc": True} for p in distinct]}
    return {**axis, "tickCount": {"interval": "month", "step": 6}}


def trend_spec(indicator: Indicator, series: pd.DataFrame, level: str, area_label: str,
               models: pd.DataFrame | None = None, start=None, band=_COMPUTE) -> dict:
    """One area's value over time with its cluster (for a practice), HSCP and Scotland; for a performance
    indicator also what was expected of it and the 95% and 99.8% limits of the adjusted funnel in each
    quarter (the limits its signals were judged by); a rule marks when a signal started. y fits the data.
    `band`: `trend_band(indicator, series, models)` when the caller has it already."""
    # an area's count (list size, its change) is the total of its practices: on the area's own axis it would
    # flatten the area's line to zero, so totals are left to the chart's table
    totals = indicator.measure_type in TOTAL_TYPES
    comparators = [] if totals else (["cluster_value"] if level == "practice" else []) + ["hscp_value",
                                                                                           "scotland_value"]
    names = {"value": area_label, "cluster_value": "Cluster", "hscp_value": "HSCP", "scotland_value": "Scotland"}
    # one row per series and quarter with a figure, series by series, built from arrays: a practice page's
    # first render spent more time melting a few dozen rows in pandas than on anything else
    order = np.argsort(series["period"].to_numpy(dtype=object), kind="stable")
    periods = series["period"].to_numpy(dtype=object)[order]
    when = [(json_value(p), formatting.short_quarter(p)) for p in periods]
    long = [{"period": iso, "series": names[column], "value": float(v), "label": label}
            for column in ("value", *comparators)
            for (iso, label), v in zip(when, series[column].to_numpy(dtype=float)[order], strict=True)
            if not np.isnan(v)]
    band = trend_band(indicator, series, models) if band is _COMPUTE else band
    pairs = [(area_label, "#005eb8"), *zip(TREND_COLOURS["domain"], TREND_COLOURS["range"], strict=True)]
    present = {r["series"] for r in long} | ({"Expected"} if band is not None and len(band) else set())
    colours = {"domain": [d for d, _ in pairs if d in present], "range": [c for d, c in pairs if d in present]}
    x = {"field": "period", "type": "temporal", "title": None, "axis": _quarter_axis(periods)}
    y_title = indicator.unit
    layers = []
    if band is not None and len(band):
        rows = _band_records(band)
        layers += [
            {"data": {"values": rows}, "mark": {"type": "area", "color": "#e8edee"},
             "encoding": {"x": x, "y": {"field": "lo998", "type": "quantitative", "title": y_title,
                                        "scale": {"zero": False}}, "y2": {"field": "hi998"}}},
            {"data": {"values": rows}, "mark": {"type": "area", "color": "#cfd8dc"},
             "encoding": {"x": x, "y": {"field": "lo95", "type": "quantitative"}, "y2": {"field": "hi95"}}},
            {"data": {"values": rows}, "mark": {"type": "line", "strokeDash": [5, 3], "strokeWidth": 1.5},
             "encoding": {"x": x, "y": {"field": "expected_value", "type": "quantitative"},
                          "color": {"datum": "Expected", "type": "nominal", "scale": colours, "title": None},
                          "tooltip": [{"field": "label", "title": "Quarter"},
                                      {"field": "expected_value", "format": ",.1f", "title": "Expected"},
                                      {"field": "lo998", "format": ",.1f", "title": "Lower 99.8% limit"},
                                      {"field": "hi998", "format": ",.1f", "title": "Upper 99.8% limit"}]}},
        ]
    layers.append({
        "data": {"values": long},
        "mark": {"type": "line", "point": {"filled": True, "size": 30}},
        "encoding": {"x": x, "y": {"field": "value", "type": "quantitative", "title": y_title, "scale": {"zero": False}},
                     "color": {"field": "series", "type": "nominal", "scale": colours, "title": None,
                               "legend": {"orient": "top"}},
                     "strokeWidth": {"condition": {"test": f"datum.series === {json.dumps(area_label)}",
                                                   "value": 3}, "value": 1.5},
                     "tooltip": [{"field": "series", "title": "Area"}, {"field": "label", "title": "Quarter"},
                                 {"field": "value", "format": ",.1f", "title": indicator.unit}]}})
    if start is not None and not formatting.is_missing(start):
        text = f"Signal since {formatting.quarter(start)}"
        layers.append({"data": {"values": [{"period": pd.Timestamp(start).date().isoformat(), "text": text}]},
                       "layer": [{"mark": {"type": "rule", "color": "#c05600", "strokeWidth": 2, "strokeDash": [2, 2]},
                                  "encoding": {"x": x}},
                                 {"mark": {"type": "text", "align": "left", "dx": 4, "dy": -4, "baseline": "bottom",
                                           "color": "#8a3b00", "fontWeight": "bold", "y": 0},
                                  "encoding": {"x": x, "text": {"field": "text"}}}]})
    subtitle = ("Shaded: the range expected of it in each quarter, after allowing for its patients and the usual "
                "differences (darker 95%, lighter 99.8%); dashed: expected." if band is not None and len(band)
                else "A context figure: it describes the area and is never flagged as unusual.")
    if totals:
        subtitle = [subtitle, "Larger areas' figures are totals of their practices: they are in the table below."]
    return {**_BASE, "height": 280, "description": f"{indicator.title} over time for {area_label}",
            "title": chart_title(f"{indicator.title}: {area_label} over time", subtitle),
            "layer": layers}


def deciles_spec(indicator: Indicator, deciles: pd.DataFrame) -> dict:
    """Practice centiles (10th, 50th, 90th) over time, with Scotland and the viewer's cluster (not for a
    count: theirs are totals of their practices, on another scale)."""
    areas = [] if indicator.measure_type in TOTAL_TYPES else ["scotland", "your_cluster"]
    long = deciles.melt(id_vars="period", value_vars=["p10", "p50", "p90", *areas],
                        var_name="series", value_name="value").dropna(subset=["value"])
    names = {"p10": "10th centile", "p50": "Median practice", "p90": "90th centile", "scotland": "Scotland",
             "your_cluster": "Your cluster"}
    long["series"] = long["series"].map(names)
    return {**_BASE, "title": f"{indicator.title}: spread of practices over time",
            "description": f"{indicator.title}: 10th, 50th and 90th centiles of practices over time",
            "data": {"values": records(long)}, "mark": {"type": "line", "point": True},
            "encoding": {"x": {"field": "period", "type": "temporal", "title": "Period",
                               "axis": _quarter_axis(deciles["period"])},
                         "y": {"field": "value", "type": "quantitative", "title": indicator.unit,
                               "scale": {"zero": False}},
                         "color": {"field": "series", "type": "nominal", "title": "Series"},
                         "strokeDash": {"field": "series", "type": "nominal"},
                         "tooltip": [{"field": "series"}, {"field": "period", "type": "temporal"},
                                     {"field": "value", "format": ",.1f"}]}}


def spine_spec(rows: pd.DataFrame, spread: pd.DataFrame, indicators: dict[str, Indicator]) -> dict:
    """Spine chart: the practice against the spread of Scotland's practices, each indicator on its own
    0-1 scale (0 = lowest practice, 1 = highest) so different units sit on one chart; indicators in theme
    order (context first), full titles, an axis that says which way is which."""
    out = []
    ids = rows["indicator_id"].tolist()
    known = [indicators[i] for i in ids if i in indicators]
    order = {i.indicator_id: n for n, i in enumerate(themes.ordered(known))}
    bounds = dict(zip(spread["indicator_id"], zip(*(spread[c].to_numpy(dtype=float) for c in ("min", "q1", "q3", "max")),
                                                  strict=True), strict=True))
    figures = zip(ids, *(rows[c].to_numpy(dtype=float) for c in ("value", "cluster_value", "scotland_value")),
                  strict=True)
    for indicator_id, value, cluster_value, scotland_value in sorted(
            figures, key=lambda r: order.get(r[0], len(order))):  # stable: theme order, then as given
        if indicator_id not in bounds or np.isnan(value):
            continue
        lo, q1, q3, hi = (float(v) for v in bounds[indicator_id])
        span = (hi - lo) or 1.0

        def pos(v, lo=lo, span=span):
            # a comparator outside the practices' range is a total, not a rate (e.g. Scotland's list size):
            # it has no place on a practice spine, and plotting it would squash every other point to 0
            if v is None or pd.isna(v):
                return None
            x = (float(v) - lo) / span
            return min(max(x, 0.0), 1.0) if -1e-9 <= x <= 1 + 1e-9 else None

        indicator = indicators.get(indicator_id)
        title = indicator.title if indicator else indicator_id
        out.append({"indicator": title, "q1": pos(q1), "q3": pos(q3), "practice": pos(value),
                    "cluster": pos(cluster_value), "scotland": pos(scotland_value),
                    "value": formatting.with_unit(value, indicator),
                    "theme": themes.theme_of(indicator).title if indicator else ""})
    x_axis = {"values": [0, 0.5, 1], "labelExpr": "datum.value == 0 ? 'lowest' : datum.value == 1 ? 'highest' : "
              "'middle'", "grid": True}
    return {**_BASE, "height": {"step": 24}, "title": "Where the practice sits among Scotland's practices",
            "description": "Spine chart of the practice's indicators against Scotland's practices",
            "data": {"values": out},
            "encoding": {"y": {"field": "indicator", "type": "nominal", "title": None, "sort": None,
                               "axis": {"labelLimit": 420, "labelFontSize": 12}}},
            "layer": [
                {"mark": {"type": "rule", "color": "#d8dde0", "strokeWidth": 8},
                 "encoding": {"x": {"datum": 0, "type": "quantitative", "scale": {"domain": [0, 1]},
                                    "title": _SPINE_AXIS, "axis": x_axis}, "x2": {"datum": 1}}},
                {"mark": {"type": "rule", "color": "#aeb7bd", "strokeWidth": 8},
                 "encoding": {"x": {"field": "q1", "type": "quantitative", "title": _SPINE_AXIS},
                              "x2": {"field": "q3"}}},
                {"mark": {"type": "tick", "color": "#212b32", "thickness": 2},
                 "encoding": {"x": {"field": "scotland", "type": "quantitative", "title": _SPINE_AXIS}}},
                {"mark": {"type": "point", "shape": "diamond", "color": "#7c2855", "size": 70, "filled": True},
                 "encoding": {"x": {"field": "cluster", "type": "quantitative", "title": _SPINE_AXIS}}},
                {"mark": {"type": "point", "shape": "circle", "color": "#005eb8", "size": 110, "filled": True},
                 "encoding": {"x": {"field": "practice", "type": "quantitative", "title": _SPINE_AXIS},
                              "tooltip": [{"field": "indicator", "title": "Indicator"},
                                          {"field": "value", "title": "This practice"}]}},
            ]}
