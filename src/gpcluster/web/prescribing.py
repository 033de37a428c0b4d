"""Prescribing pages: the prescribing measures, and for each an OpenPrescribing-style chart of Scotland's
practices month by month (the 10th to 90th centiles) with a practice's own line, plus potential savings
"if at the 10th centile" for cost measures.

Monthly practice values pass through the same release gate as every figure (gpcluster.web.release), with
a suppression pattern decided by the same rules (gpcluster.indicators.suppression): small counts are
suppressed, and only practices the viewer may name get a line or a row; centiles are taken over released
values, as on the indicator pages.
"""

from __future__ import annotations

import math
from collections import namedtuple

import pandas as pd
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from gpcluster.errors import UserError
from gpcluster.exports import apply_disclosure
from gpcluster.indicators.definition import PrescribingSeries, load_definition
from gpcluster.prescribing.measures import (
    CENTILES,
    centiles,
    is_cost_measure,
    is_prescribing,
    monthly_results,
    monthly_unit,
    savings,
)
from gpcluster.prescribing.warehouse import Coverage, prescribing_coverage
from gpcluster.web.access import Viewer
from gpcluster.web.auth import client_ip, require_viewer
from gpcluster.web.cache import disclosure_settings
from gpcluster.web.charts import _BASE as CHART_BASE
from gpcluster.web.data import rows_by_key
from gpcluster.web.pages import not_found
from gpcluster.web.release import Pseudonyms, release
from gpcluster.web.render import cached_blocks, page, with_csrf
from gpcluster.web.serialise import json_value, records
from gpcluster.web.tables import NotFound

router = APIRouter(dependencies=[Depends(require_viewer)], default_response_class=HTMLResponse)
SAVINGS_SHOWN = 20
NAN = float("nan")
MAX_PRACTICE_CHOICES = 80  # above this (a board or Scotland) the page asks for a practice code instead
# one label per month (a temporal axis would tick weekly on a few months and repeat the month's name)
MONTH_AXIS = {"field": "month", "timeUnit": "yearmonth", "type": "ordinal", "title": "Month",
              "axis": {"format": "%b %Y", "labelAngle": -40}}
MONTH_TIP = {"field": "month", "type": "temporal", "title": "Month", "format": "%b %Y"}


def prescribing_measures(data) -> dict:
    """Prescribing measures with stored results, by id (the web shows only what has been computed); read
    once per version (each definition is a file to parse: every request parsing them took most of its time)."""

    def build():
        out = {}
        for indicator_id, indicator in data.indicators.items():
            try:
                definition = load_definition(indicator_id)
            except UserError:
                continue
            if is_prescribing(definition):
                out[indicator_id] = (indicator, definition)
        return out

    return data.memo("prescribing_measures", build)


def _coverage(data) -> Coverage:
    """The prescribing months loaded and the quarters a measure can be computed for."""

    def build():
        cursor = data.cursor()
        try:
            return prescribing_coverage(cursor)
        finally:
            cursor.close()

    return data.memo("prescribing_coverage", build)


@router.get("/prescribing", summary="Prescribing measures")
def prescribing_home(request: Request, viewer: Viewer = Depends(require_viewer)):
    data = request.app.state.services.data
    return page(request, "prescribing.html", title="Prescribing", measures=list(prescribing_measures(data).values()),
                coverage=_coverage(data), is_cost=is_cost_measure)


def _prescribing_definition(data, indicator_id: str):
    """(indicator, definition) of a computed prescribing measure; tables.NotFound otherwise."""
    found = prescribing_measures(data).get(indicator_id)
    if found is None:
        raise NotFound(indicator_id)
    return found


def monthly_release(data, indicator_id: str, definition) -> dict:
    """What every viewer's figures of a measure are selected from, built once per version and disclosure
    settings and kept in the version's page store: every practice's monthly rows after disclosure control
    (`disclosed`; the query, the suppression pattern and so what is suppressed are the same for every
    viewer), the `pattern`, and the potential savings of every practice in the latest month (`savings`,
    None for a measure without them: the target and Scotland's total are aggregates over every practice,
    released or not, so the same for every viewer). Only what a viewer may name is left to select."""

    def build():
        cursor = data.cursor()
        try:
            frame, pattern = monthly_results(cursor, definition)
        finally:
            cursor.close()
        everyone = None
        if is_cost_measure(definition) and definition.denominator is not None and not frame.empty:
            everyone = savings(frame.rename(columns={"period": "month", "area_code": "practice_code"}), definition)
        return {"disclosed": apply_disclosure(frame, data.rules, pattern), "pattern": pattern, "savings": everyone}

    return data.memo(("prescribing monthly", indicator_id, disclosure_settings()), build, persist=True)


def released_monthly(data, viewer: Viewer, pseudonyms: Pseudonyms, indicator_id: str,
                     definition) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Every practice's monthly value as this viewer may see it (released rows, with denominator_date),
    and every practice's potential savings (`monthly_release`), which only aggregates may be shown of."""
    base = monthly_release(data, indicator_id, definition)
    disclosed = base["disclosed"]
    released = release(disclosed, data.rules, viewer, pseudonyms, base["pattern"], disclosed=True)
    # the list's date goes with a row that still shows its denominator (a named, unsuppressed practice)
    released = released.drop(columns="denominator_date").merge(
        disclosed[["area_code", "period", "denominator_date"]], on=["area_code", "period"], how="left")
    released["denominator_date"] = released["denominator_date"].where(released["denominator"].notna(), None)
    return released, base["savings"]


def monthly_table(data, viewer: Viewer, pseudonyms: Pseudonyms, indicator_id: str) -> pd.DataFrame:
    """Download/API table: each practice's value month by month, released (suppressed counts blanked,
    practices the viewer may not name under pseudonyms with their value only)."""
    _, definition = _prescribing_definition(data, indicator_id)
    released, _ = released_monthly(data, viewer, pseudonyms, indicator_id, definition)
    columns = ["indicator_id", "period", "area_code", "area_name", "cluster_id", "hscp_code", "board_code",
               "numerator", "denominator", "denominator_date", "value", "suppressed", "named"]
    return released[columns].rename(columns={"period": "month", "area_code": "practice_code",
                                             "area_name": "practice_name"})


def centiles_table(data, viewer: Viewer, pseudonyms: Pseudonyms, indicator_id: str) -> pd.DataFrame:
    """Download/API table: the national centiles month by month, over released values (no practice named)."""
    _, definition = _prescribing_definition(data, indicator_id)
    released, _ = released_monthly(data, viewer, pseudonyms, indicator_id, definition)
    out = centiles(released.rename(columns={"period": "month"}))
    out.insert(0, "indicator_id", indicator_id)
    out["unit"] = monthly_unit(definition)
    return out


def savings_summary(released: pd.DataFrame, everyone: pd.DataFrame | None) -> dict | None:
    """Potential savings in the latest month: Scotland's total (an aggregate over every practice) and the
    rows of practices the viewer may name whose value that month was released (`everyone`: every
    practice's savings, `monthly_release`)."""
    if everyone is None:
        return None
    month = everyone["month"].iloc[0]
    shown = released[released["named"] & (released["period"] == month) & released["value"].notna()]
    rows = (everyone[everyone["practice_code"].isin(set(shown["area_code"]))]
            .merge(shown[["area_code", "area_name"]], left_on="practice_code", right_on="area_code", how="left"))
    return {"month": month, "target": float(everyone["target"].iloc[0]),
            "scotland": float(everyone["saving"].sum()), "rows": rows}


def savings_table(data, viewer: Viewer, pseudonyms: Pseudonyms, indicator_id: str) -> pd.DataFrame:
    """Download/API table: potential savings at the 10th centile in the latest month, Scotland's total first,
    then the practices the viewer may name, largest saving first (cost measures only)."""
    _, definition = _prescribing_definition(data, indicator_id)
    released, everyone = released_monthly(data, viewer, pseudonyms, indicator_id, definition)
    summary = savings_summary(released, everyone)
    columns = ["indicator_id", "month", "level", "area_code", "area_name", "cluster_id", "value", "target",
               "saving"]
    if summary is None:
        raise NotFound(indicator_id)
    scotland = pd.DataFrame([{"level": "scotland", "area_code": "S92000003", "area_name": "Scotland",
                              "saving": summary["scotland"]}])
    practices = summary["rows"].assign(level="practice")
    out = pd.concat([scotland, practices[["level", "area_code", "area_name", "cluster_id", "value", "saving"]]],
                    ignore_index=True)
    out["indicator_id"], out["month"], out["target"] = indicator_id, summary["month"], summary["target"]
    return out[columns]


def _centile_values(table: pd.DataFrame) -> list[dict]:
    """The chart's centile lines as Vega-Lite data: one record per month and centile with a value."""
    long = table.melt(id_vars="month", value_vars=[f"p{c}" for c in CENTILES], var_name="centile", value_name="value")
    long["series"] = long["centile"].map(lambda c: "Median" if c == "p50" else f"{c[1:]}th centile")
    return records(long.dropna(subset=["value"]))


def _chart(title: str, unit: str, centile_values: list[dict], own_values: list[dict] | None,
           practice_label: str | None) -> dict:
    layers = [{"data": {"values": centile_values},
               "mark": {"type": "line", "strokeDash": [4, 3], "color": "#768692"},
               "encoding": {"x": MONTH_AXIS,
                            "y": {"field": "value", "type": "quantitative", "title": unit},
                            "detail": {"field": "series"},
                            "strokeWidth": {"condition": {"test": "datum.series === 'Median'", "value": 2.5},
                                            "value": 1},
                            "tooltip": [{"field": "series"}, MONTH_TIP,
                                        {"field": "value", "format": ",.2f"}]}}]
    if practice_label and own_values is not None:
        layers.append({"data": {"values": own_values}, "mark": {"type": "line", "point": True, "color": "#005eb8"},
                       "encoding": {"x": MONTH_AXIS,
                                    "y": {"field": "practice", "type": "quantitative"},
                                    "tooltip": [MONTH_TIP,
                                                {"field": "practice", "title": practice_label, "format": ",.2f"}]}})
    return {**CHART_BASE, "title": f"{title}: Scotland's practices month by month", "layer": layers}


#: one month of a chosen practice's figures, as its page's table of numerators and denominators shows them
OwnRow = namedtuple("OwnRow", ["area_code", "area_name", "period", "numerator", "denominator", "denominator_date",
                               "value"])


def measure_model(cache, data, viewer: Viewer, indicator_id: str, definition) -> dict:
    """What a measure's page shows the viewer's scope whichever practice is chosen: the centiles, the
    savings, the practices they may name (with their monthly rows), built once per version and scope
    and kept on disk (a chosen practice only selects its rows). The query and disclosure control are done
    once per version for every scope (`monthly_release`); a scope's build is its release and centiles."""

    def build():
        released, everyone = released_monthly(data, viewer, Pseudonyms(), indicator_id, definition)
        # over released values only: a practice the viewer may not name counts with its value to two
        # significant figures (or, for a context measure, not at all), so the centiles differ by scope
        table = centiles(released.rename(columns={"period": "month"}))
        saved = savings_summary(released, everyone)
        if saved is not None:
            above = saved["rows"]["saving"] > 0
            saved["at_or_below"] = int((~above).sum())
            saved["rows"] = saved["rows"][above].head(SAVINGS_SHOWN)
        named_rows = released[released["named"]]
        named = named_rows[["area_code", "area_name"]].drop_duplicates("area_code")
        alphabetical = named.sort_values("area_name", key=lambda n: n.str.casefold(), kind="stable")
        choices = (list(alphabetical.itertuples(index=False, name=None)) if len(named) <= MAX_PRACTICE_CHOICES else [])
        return {"table": table, "savings": saved, "choices": choices,
                "named": named_rows[list(OwnRow._fields)].reset_index(drop=True)}

    return cache.get(("prescribing", indicator_id), viewer, build, persist=True)


def _page_parts(cache, viewer: Viewer, indicator_id: str, model: dict) -> dict:
    """What every chosen practice's page of a measure shares, derived from its model once per version and
    scope and kept in memory: the table's rows (with an empty practice column), the chart's centile
    lines, and where each practice's rows are in `model["named"]` (a chosen practice's page then costs
    its own rows, not a pass over every practice's). The named rows are kept as one numpy array per
    column: taking a practice's dozen rows from the frame (a pandas take of every column, Arrow-backed
    text among them) was a third of the page's first build."""

    def build() -> dict:
        table, named = model["table"], model["named"]
        return {"rows": list(table.assign(practice=NAN).itertuples(index=False)),
                "centile_values": _centile_values(table),
                "positions": rows_by_key(named, ["area_code"])[1],
                "named_columns": [named[c].to_numpy() for c in OwnRow._fields]}

    return cache.get(("prescribing parts", indicator_id), viewer, build)


def own_rows_at(columns: list, positions) -> list[OwnRow]:
    """The named rows at `positions`, each value as the frame's itertuples gives it (a Python float, str or
    date: `tolist` of each column's slice)."""
    return [OwnRow(*values) for values in zip(*(column[positions].tolist() for column in columns), strict=True)]


@router.get("/prescribing/{indicator_id}", summary="Prescribing measure: centiles over time and savings")
def measure_page(request: Request, indicator_id: str, practice: str | None = None,
                 viewer: Viewer = Depends(require_viewer)):
    services = request.app.state.services
    data = services.data
    try:
        indicator, definition = _prescribing_definition(data, indicator_id)
    except NotFound:
        return not_found(request, "prescribing measure")
    chosen = practice or (viewer.scope_code if viewer.scope_level == "practice" else None)
    model = measure_model(services.cache, data, viewer, indicator_id, definition)
    parts = _page_parts(services.cache, viewer, indicator_id, model)
    found = parts["positions"].get(chosen) if chosen else None

    def build() -> dict:
        own_rows = own_rows_at(parts["named_columns"], found) if found is not None else []
        table, label, own_values = parts["rows"], None, None
        if own_rows:
            label = str(own_rows[-1].area_name)
            by_month = {r.period: r.value for r in own_rows}
            table = [r._replace(practice=by_month.get(r.month, NAN)) for r in table]
            own_values = [{"month": json_value(r.month), "practice": r.practice} for r in table
                          if not math.isnan(r.practice)]
        unit = monthly_unit(definition)
        return dict(title=indicator.title, indicator=indicator, definition=definition, unit=unit, table=table,
                    practice_label=label, own_rows=own_rows, savings=model["savings"],
                    chart=_chart(indicator.title, unit, parts["centile_values"], own_values, label),
                    choices=model["choices"], chosen=chosen, money=unit.startswith("£ "),
                    share=isinstance(definition.denominator, PrescribingSeries))

    services.audit("view_practice", viewer, target=f"prescribing:{indicator_id}", ip=client_ip(request))
    if chosen and found is None:  # any text may be asked for: only a page a real choice gives is kept
        return page(request, "prescribing_measure.html", **build())
    # the same for every viewer with the same role and scope: rendered once per version (the page as it
    # opens kept on disk, each chosen practice's in memory only: a scope names up to every practice)
    blocks = cached_blocks(services.cache, "prescribing_measure.html", ("prescribing", indicator_id, chosen),
                           viewer, build, persist=chosen is None)
    return page(request, "_blocks.html", **with_csrf(request, blocks))
