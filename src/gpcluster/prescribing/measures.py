"""Prescribing measures month by month, for OpenPrescribing-style charts: each practice's monthly value of a
catalogue measure, the national centiles of practices over time, and potential savings "if at the 10th
centile" for cost measures.

The catalogue computes the same measures by quarter (gpcluster.indicators, series kind ``prescribing``);
here the numerator is one month's prescribing. A population denominator is the list of the release in
force that month (the latest release on or before it), returned as ``denominator_date`` so the figure
carries both dates. Server-side: outputs go through gpcluster.web.release or exports.apply_disclosure.
"""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pandas as pd

from gpcluster.errors import UserError
from gpcluster.indicators.compile import series_query
from gpcluster.indicators.definition import (
    Definition,
    PopulationSeries,
    PrescribingSeries,
    WeightedPopulationSeries,
)
from gpcluster.prescribing.bnf import selection_sql

CENTILES = (10, 20, 30, 40, 50, 60, 70, 80, 90)
SAVINGS_CENTILE = 10


def is_prescribing(definition: Definition) -> bool:
    return isinstance(definition.numerator, PrescribingSeries)


def is_cost_measure(definition: Definition) -> bool:
    """A measure whose numerator is money: savings at the 10th centile make sense for it."""
    return is_prescribing(definition) and definition.numerator.value == "cost"


def monthly_unit(definition: Definition) -> str:
    """The unit of a monthly figure: the catalogue's quarterly unit with 'per quarter' made 'per month'."""
    return definition.unit.replace("per quarter", "per month")


def _monthly_series(series: PrescribingSeries) -> tuple[str, list]:
    """(month, practice_code, value) for every month loaded; 0 where the practice prescribed nothing selected."""
    column = series.value  # closed list
    totals = f"SELECT month, practice_code, {column}::DOUBLE AS value FROM prescribing_practice_total"
    selections = series.selections()
    if len(selections) == 1 and selections[0].selects_everything:
        return totals, []
    condition, params = selection_sql(selections, "b")
    return (f"SELECT a.month, a.practice_code, coalesce(s.value, 0)::DOUBLE AS value FROM ({totals}) a "
            "LEFT JOIN (SELECT f.month, f.practice_code, sum(f." + column + ")::DOUBLE AS value FROM prescribing f "
            f"SEMI JOIN (SELECT b.bnf_code FROM bnf_hierarchy b WHERE {condition}) c ON c.bnf_code = f.bnf_code "
            "GROUP BY ALL) s ON s.month = a.month AND s.practice_code = a.practice_code", params)


def monthly_values(con: duckdb.DuckDBPyConnection, definition: Definition,
                   practices: list[str] | None = None) -> pd.DataFrame:
    """Per practice and month: numerator, denominator (and its date), value, and the practice's cluster,
    HSCP and board in force. Columns: month, practice_code, cluster_id, hscp_code, board_code, numerator,
    denominator, denominator_date, value."""
    if not is_prescribing(definition):
        raise UserError(f"{definition.id} is not a prescribing measure")
    num_sql, params = _monthly_series(definition.numerator)
    den = definition.denominator
    if den is None:
        den_sql, den_join, den_date = "", "", "NULL::DATE"
    elif isinstance(den, PrescribingSeries):
        sql, more = _monthly_series(den)
        params += more
        den_sql = f", den AS ({sql})"
        den_join = "LEFT JOIN den d ON d.month = n.month AND d.practice_code = n.practice_code"
        den_date = "n.month"
    elif isinstance(den, PopulationSeries | WeightedPopulationSeries):
        query = series_query(den)
        params += query.params
        den_sql = f", den_release AS ({query.sql})"
        den_join = ("ASOF LEFT JOIN den_release d ON d.practice_code = n.practice_code AND d.period <= n.month")
        den_date = "d.period"
    else:
        raise UserError(f"{definition.id}: monthly values need a prescribing or population denominator")
    value = "n.value" if den is None else "CASE WHEN d.value > 0 THEN n.value / d.value * ? END"
    value_params = [] if den is None else [float(definition.multiplier)]
    frame = con.execute(f"""
        WITH num AS ({num_sql}){den_sql}
        SELECT n.month, n.practice_code, m.cluster_id, m.hscp_code, m.board_code,
               n.value AS numerator, {'d.value' if den is not None else 'NULL::DOUBLE'} AS denominator,
               {den_date} AS denominator_date, {value} AS value
        FROM num n {den_join}
        ASOF LEFT JOIN practice_period m ON m.practice_code = n.practice_code AND m.release_date <= n.month
        WHERE (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], n.practice_code))
        ORDER BY n.month, n.practice_code
    """, [*params, *value_params, practices, practices]).df()
    for column in ("month", "denominator_date"):
        frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame


def monthly_results(con: duckdb.DuckDBPyConnection, definition: Definition) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Monthly practice values shaped as indicator results (indicator_id, period, level, area_code, area_name,
    cluster_id, hscp_code, board_code, numerator, denominator, denominator_date, value), and their
    suppression pattern: monthly figures are not stored results, so they get their own pattern, decided by
    the same rules (gpcluster.indicators.suppression). Every output applies it (web.release or
    exports.apply_disclosure)."""
    from gpcluster.indicators.suppression import suppression_pattern

    monthly = monthly_values(con, definition)
    names = con.execute("SELECT practice_code, arg_max(practice_name, release_date) AS practice_name "
                        "FROM practice_release GROUP BY practice_code").df()
    frame = monthly.rename(columns={"month": "period", "practice_code": "area_code"}).merge(
        names.rename(columns={"practice_code": "area_code", "practice_name": "area_name"}), on="area_code",
        how="left")
    frame["indicator_id"], frame["level"] = definition.id, "practice"
    return frame, suppression_pattern(frame, {definition.id: definition})


def disclosed_monthly(con: duckdb.DuckDBPyConnection, definition: Definition) -> pd.DataFrame:
    """monthly_values with small counts suppressed (exports.apply_disclosure with the pattern of
    monthly_results): suppressed rows keep their place with numerator, value (and, where the rules say so,
    denominator) blanked and ``suppressed`` True. For outputs with no viewer (the CLI)."""
    from gpcluster.exports import IndicatorRule, apply_disclosure

    frame, pattern = monthly_results(con, definition)
    rule = IndicatorRule(definition.measure_type, definition.disclosure, definition.synthetic, definition.purpose)
    out = apply_disclosure(frame, {definition.id: rule}, pattern)
    return out.rename(columns={"period": "month", "area_code": "practice_code"})


def centiles(monthly: pd.DataFrame, value: str = "value") -> pd.DataFrame:
    """Per month: the 10th ... 90th centiles of practice values (columns p10 ... p90) and how many practices."""
    usable = monthly.dropna(subset=[value])
    if usable.empty:
        return pd.DataFrame(columns=["month", *(f"p{c}" for c in CENTILES), "practices"])
    grouped = usable.groupby("month")[value]
    out = grouped.quantile([c / 100 for c in CENTILES]).unstack()
    out.columns = [f"p{c}" for c in CENTILES]
    out["practices"] = grouped.count()
    return out.reset_index()


def savings(monthly: pd.DataFrame, definition: Definition, month: date | None = None) -> pd.DataFrame:
    """Potential savings in one month (default the latest) if every practice above the 10th centile
    prescribed at the 10th centile: saving = numerator - target / multiplier x denominator, at least 0.

    Only for cost measures with a denominator; returns practice_code, value, target, saving (pounds).
    """
    if not is_cost_measure(definition) or definition.denominator is None:
        raise UserError(f"{definition.id} is not a cost measure: potential savings apply to cost measures")
    if monthly.empty:
        return pd.DataFrame(columns=["month", "practice_code", "value", "target", "saving"])
    month = month or max(monthly["month"])
    rows = monthly[(monthly["month"] == month) & monthly["value"].notna()].copy()
    target = float(np.percentile(rows["value"], SAVINGS_CENTILE)) if len(rows) else np.nan
    rows["target"] = target
    rows["saving"] = np.maximum(rows["numerator"] - target / definition.multiplier * rows["denominator"], 0.0)
    return rows[["month", "practice_code", "cluster_id", "hscp_code", "board_code", "numerator", "denominator",
                 "value", "target", "saving"]].sort_values("saving", ascending=False).reset_index(drop=True)
