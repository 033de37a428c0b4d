"""Prescribing pages: the prescribing measures, and for each an OpenPrescribing-style chart of Scotland's
practices month by month (the 10th to 90th centiles) with a practice's own line, plus potential savings
"if at the 10th centile" for cost measures.

Monthly practice values pass through the same release gate as every figure (gpcluster.web.release), with
a suppression pattern decided by the same rules (gpcluster.indicators.suppression): small counts are
suppressed, and only practices the viewer may name get a line or a row; centiles are taken over released
values, as on the indicator pages.
"""

from __future__ import annotations

import pandas as pd
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from gpcluster.errors import UserError
from gpcluster.indicators.definition import load_definition
from gpcluster.indicators.suppression import suppression_pattern
from gpcluster.prescribing.measures import (
    CENTILES,
    centiles,
    is_cost_measure,
    is_prescribing,
    monthly_unit,
    monthly_values,
    savings,
)
from gpcluster.web.access import Viewer
from gpcluster.web.auth import client_ip, require_viewer
from gpcluster.web.charts import _BASE as CHART_BASE
from gpcluster.web.pages import not_found
from gpcluster.web.release import Pseudonyms, release
from gpcluster.web.render import page
from gpcluster.web.serialise import records

router = APIRouter(dependencies=[Depends(require_viewer)], default_response_class=HTMLResponse)
SAVINGS_SHOWN = 20


def _prescribing_measures(data) -> dict:
    """Prescribing measures with stored results, by id (the web shows only what has been computed)."""
    out = {}
    for indicator_id, indicator in data.indicators.items():
        try:
            definition = load_definition(indicator_id)
        except UserError:
            continue
        if is_prescribing(definition):
            out[indicator_id] = (indicator, definition)
    return out


@router.get("/prescribing", summary="Prescribing measures")
def prescribing_home(request: Request, viewer: Viewer = Depends(require_viewer)):
    data = request.app.state.services.data
    measures = _prescribing_measures(data)
    months = data.query("SELECT min(month) AS first, max(month) AS last, count(*) AS n FROM prescribing_month")
    return page(request, "prescribing.html", title="Prescribing", measures=list(measures.values()),
                months=months.iloc[0] if len(months) else None, is_cost=is_cost_measure)


def _released_monthly(data, viewer: Viewer, indicator_id: str, definition) -> pd.DataFrame:
    cursor = data.cursor()
    try:
        monthly = monthly_values(cursor, definition)
    finally:
        cursor.close()
    names = data.query("SELECT practice_code, arg_max(practice_name, release_date) AS practice_name "
                       "FROM practice_release GROUP BY practice_code")
    frame = monthly.rename(columns={"month": "period", "practice_code": "area_code"}).merge(
        names.rename(columns={"practice_code": "area_code", "practice_name": "area_name"}), on="area_code", how="left")
    frame["indicator_id"], frame["level"] = indicator_id, "practice"
    # monthly figures are not stored results, so they get their own pattern by the same rules
    pattern = suppression_pattern(frame, {indicator_id: definition})
    released = release(frame, data.rules, viewer, Pseudonyms(), pattern)
    released["denominator_date"] = frame["denominator_date"].to_numpy()
    return released, monthly


def _chart(title: str, unit: str, table: pd.DataFrame, practice_label: str | None) -> dict:
    long = table.melt(id_vars="month", value_vars=[f"p{c}" for c in CENTILES], var_name="centile", value_name="value")
    long["series"] = long["centile"].map(lambda c: "Median" if c == "p50" else f"{c[1:]}th centile")
    layers = [{"data": {"values": records(long.dropna(subset=["value"]))},
               "mark": {"type": "line", "strokeDash": [4, 3], "color": "#768692"},
               "encoding": {"x": {"field": "month", "type": "temporal", "title": "Month",
                                  "axis": {"format": "%b %Y", "labelAngle": -40}},
                            "y": {"field": "value", "type": "quantitative", "title": unit},
                            "detail": {"field": "series"},
                            "strokeWidth": {"condition": {"test": "datum.series === 'Median'", "value": 2.5},
                                            "value": 1},
                            "tooltip": [{"field": "series"}, {"field": "month", "type": "temporal"},
                                        {"field": "value", "format": ",.2f"}]}}]
    if practice_label and "practice" in table:
        own = table[["month", "practice"]].dropna()
        layers.append({"data": {"values": records(own)}, "mark": {"type": "line", "point": True, "color": "#005eb8"},
                       "encoding": {"x": {"field": "month", "type": "temporal"},
                                    "y": {"field": "practice", "type": "quantitative"},
                                    "tooltip": [{"field": "month", "type": "temporal"},
                                                {"field": "practice", "title": practice_label, "format": ",.2f"}]}})
    return {**CHART_BASE, "title": f"{title}: Scotland's practices month by month", "layer": layers}


@router.get("/prescribing/{indicator_id}", summary="Prescribing measure: centiles over time and savings")
def measure_page(request: Request, indicator_id: str, practice: str | None = None,
                 viewer: Viewer = Depends(require_viewer)):
    services = request.app.state.services
    data = services.data
    found = _prescribing_measures(data).get(indicator_id)
    if found is None:
        return not_found(request, "prescribing measure")
    indicator, definition = found
    chosen = practice or (viewer.scope_code if viewer.scope_level == "practice" else None)

    def build():
        released, monthly = _released_monthly(data, viewer, indicator_id, definition)
        table = centiles(released.rename(columns={"period": "month"}))  # over released values only
        label, own_rows = None, released.iloc[0:0]
        if chosen:
            own_rows = released[(released["area_code"] == chosen) & released["named"]]
            if len(own_rows):
                label = str(own_rows["area_name"].iloc[-1])
                table["practice"] = table["month"].map(own_rows.set_index("period")["value"])
        saved = None
        if is_cost_measure(definition) and definition.denominator is not None and not monthly.empty:
            everyone = savings(monthly, definition)
            named = released[released["named"]]
            named_codes = set(named.loc[named["period"] == everyone["month"].iloc[0], "area_code"])
            saved = {"month": everyone["month"].iloc[0], "target": float(everyone["target"].iloc[0]),
                     "scotland": float(everyone["saving"].sum()),
                     "rows": everyone[everyone["practice_code"].isin(named_codes)].head(SAVINGS_SHOWN)
                     .merge(named[["area_code", "area_name"]].drop_duplicates("area_code"),
                            left_on="practice_code", right_on="area_code", how="left")}
        return table, label, own_rows, saved

    table, label, own_rows, saved = services.cache.get(("prescribing", indicator_id, chosen), viewer, build)
    services.audit("view_practice", viewer, target=f"prescribing:{indicator_id}", ip=client_ip(request))
    unit = monthly_unit(definition)
    return page(request, "prescribing_measure.html", title=indicator.title, indicator=indicator,
                definition=definition, unit=unit, table=table, practice_label=label, own_rows=own_rows,
                savings=saved, chart=_chart(indicator.title, unit, table, label))
