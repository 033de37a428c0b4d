"""Results made ready to leave the server: disclosure control on the drawn series, the plain-language
sentences, charts, diagnostics, and a table of estimates for CSV export. Shared by the CLI report, the
web page and its downloads.

Disclosure: the observed series of one practice (or a few combined) could reveal a small count, or give
back a count the release suppresses (by subtracting the published figures of the other practices). A
quarter's observed value is therefore hidden when its combined count is at or below the indicator's
threshold (its own rule, gpcluster.stats.disclosure.primary_mask), or when any contributing unit's figure
is in the release's suppression pattern (gpcluster.indicators.suppression). Counts never leave the server.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import pandas as pd

from gpcluster.evaluation import charts
from gpcluster.evaluation.registry import Registered, StoredRun
from gpcluster.evaluation.result import METHOD_NAMES, EvaluationResult
from gpcluster.evaluation.sentences import effect_sentence, expectation_sentence, number, p_text, percent
from gpcluster.exports import IndicatorRule
from gpcluster.indicators.suppression import settings as disclosure_settings
from gpcluster.stats.disclosure import primary_mask

ESTIMATE_COLUMNS = [
    "intervention_id", "title", "version_analysed", "preregistered", "amended_after_start", "indicator_id",
    "indicator", "method", "expected", "scale", "estimate", "lower95", "upper95", "relative_change_percent",
    "relative_lower_percent", "relative_upper_percent", "standard_error", "p_value", "post_quarters",
    "pre_quarters", "treated_units", "comparison_units", "pre_trend_p", "data_through", "run_at", "sentence",
]  # fmt: skip


def suppressed_cells(pattern: pd.DataFrame, indicator_id: str) -> set[tuple[str, date]]:
    """(area code, period) of an indicator's figures in the release's suppression pattern."""
    if pattern is None or pattern.empty:
        return set()
    rows = pattern[pattern["indicator_id"] == indicator_id]
    return {(a, pd.Timestamp(p).date()) for a, p in zip(rows["area_code"], rows["period"], strict=True)}


def _contributors(result: EvaluationResult, row: dict) -> list[tuple[str, date]]:
    if "period" in row:
        return [(u, row["period"]) for u in result.treated]
    starts = result.details.get("starts", {})  # staggered: quarters since each unit's own start
    out = []
    for unit, start in starts.items():
        month = pd.Timestamp(start) + pd.DateOffset(months=3 * int(row["relative_quarter"]))
        out.append((unit, month.date()))
    return out


def release_series(result: EvaluationResult, rule: IndicatorRule | None,
                   suppressed: set[tuple[str, date]] = frozenset()) -> pd.DataFrame:
    """The drawn series, safe to leave the server (see module docstring): counts removed, and the observed
    value of any quarter whose combined count is small or which involves a suppressed figure blanked."""
    series = result.series.copy()
    if series.empty:
        return series
    hidden = np.zeros(len(series), dtype=bool)
    if rule is not None and rule.disclosure.rule != "none" and "numerator" in series:
        threshold, zeros = disclosure_settings()
        limit = threshold if rule.disclosure.threshold is None else rule.disclosure.threshold
        counts = series["numerator"].to_numpy(dtype=float)
        hidden |= primary_mask(np.where(counts < 0, np.nan, counts), limit, zeros)
    if suppressed:
        hidden |= np.array([any(c in suppressed for c in _contributors(result, row))
                            for row in series.to_dict("records")], dtype=bool)
    series.loc[hidden, "observed"] = np.nan
    series["suppressed"] = hidden
    return series.drop(columns=[c for c in ("numerator", "units") if c in series])


@dataclass
class RunView:
    """Everything a page or report shows for one evaluation result."""

    indicator_id: str
    indicator: str
    method: str
    method_name: str
    sentence: str
    expectation: str
    effect_text: str
    result: EvaluationResult
    series: pd.DataFrame
    series_spec: dict
    event_spec: dict | None
    treated: list[str]
    comparison: list[str]
    p_text: str | None = None
    window_text: str = ""
    run_at: datetime | None = None
    data_through: date | None = None
    notes: list[str] = field(default_factory=list)


def effect_text(result: EvaluationResult) -> str:
    e = result.effect
    if e.scale == "log_ratio":
        est, lo, hi = e.relative
        return f"{percent(est, signed=True)} ({percent(lo, signed=True)} to {percent(hi, signed=True)})"
    return f"{number(e.estimate)} ({number(e.lower)} to {number(e.upper)}) {result.outcome.unit}"


def window_text(result: EvaluationResult) -> str:
    """The quarters the estimate rests on, in words."""
    after = f"{result.post_quarters} after"
    if result.method == "staggered":
        return f"{result.pre_quarters} quarters of data before the first start, the first {after} each start"
    return f"{result.pre_quarters} quarters before the start, {after}"


def outcome_titles(views: list[RunView], known: dict[str, str] | None = None):
    """indicator id -> its title (from the results, then from `known`), for naming registered outcomes."""
    titles = dict(known or {})
    titles.update({v.indicator_id: v.indicator for v in views})
    return lambda indicator_id: titles.get(indicator_id, indicator_id.replace("_", " "))


def run_view(registered: Registered, result: EvaluationResult, rule: IndicatorRule | None,
             label: Callable[[str], str] = str, run: StoredRun | None = None,
             suppressed: set[tuple[str, date]] = frozenset()) -> RunView:
    registration = registered.planned.registration
    expected = next((o.expected for o in registration.outcomes if o.indicator_id == result.outcome.indicator_id),
                    "change")
    level = registration.plan.unit_level or registration.level
    series = release_series(result, rule, suppressed)
    notes = []
    if not registered.preregistered:
        notes.append("Registered after the change had started: this is a retrospective evaluation, not a "
                     "pre-registered one.")
    planned = registered.planned.number
    for v in registered.amendments_after_start:
        if v.number == planned:
            continue  # the retrospective registration itself, said above
        reason = f" (reason: {v.reason})" if v.reason else ""
        which = "the plan registered before the start" if registered.preregistered else "the first registration"
        notes.append(f"Version {v.number} was registered on {v.registered_at.date().isoformat()}, after the "
                     f"start{reason}. The analysis follows version {planned}, {which}.")
    if not registered.intact:
        notes.append("INTEGRITY CHECK FAILED: a stored version no longer matches its fingerprint.")
    if series.get("suppressed", pd.Series(dtype=bool)).any():
        notes.append("Quarters whose combined count is at or below the disclosure threshold, or that include a "
                     "suppressed figure, are not shown.")
    return RunView(
        indicator_id=result.outcome.indicator_id, indicator=result.outcome.title, method=result.method,
        method_name=METHOD_NAMES[result.method],
        sentence=effect_sentence(result, level, f"“{registration.title}” started"),
        expectation=expectation_sentence(result, expected), effect_text=effect_text(result), result=result,
        series=series, series_spec=charts.series_spec(result, series, f"{result.outcome.title}: observed and "
                                                      "without the change"),
        event_spec=charts.event_study_spec(result), treated=[label(c) for c in result.treated],
        comparison=[label(c) for c in result.comparison],
        p_text=None if result.effect.p_value is None or not math.isfinite(result.effect.p_value)
        else p_text(result.effect.p_value),
        window_text=window_text(result), run_at=run.run_at if run else None,
        data_through=run.data_through if run else None, notes=notes)


def _finite(x):
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x


def estimates_frame(registered: Registered, views: list[RunView]) -> pd.DataFrame:
    """One row per result: the figures behind the sentences, for CSV export."""
    registration = registered.planned.registration
    rows = []
    for v in views:
        e = v.result.effect
        rel = e.relative if e.scale == "log_ratio" else (None, None, None)
        expected = next((o.expected for o in registration.outcomes if o.indicator_id == v.indicator_id), "")
        rows.append({
            "intervention_id": registered.slug, "title": registration.title,
            "version_analysed": registered.planned.number, "preregistered": registered.preregistered,
            "amended_after_start": bool(registered.amendments_after_start), "indicator_id": v.indicator_id,
            "indicator": v.indicator, "method": v.method, "expected": expected, "scale": e.scale,
            "estimate": e.estimate, "lower95": e.lower, "upper95": e.upper,
            "relative_change_percent": None if rel[0] is None else 100 * rel[0],
            "relative_lower_percent": None if rel[1] is None else 100 * rel[1],
            "relative_upper_percent": None if rel[2] is None else 100 * rel[2],
            "standard_error": _finite(e.se), "p_value": _finite(e.p_value),
            "post_quarters": v.result.post_quarters, "pre_quarters": v.result.pre_quarters,
            "treated_units": len(v.result.treated), "comparison_units": len(v.result.comparison),
            "pre_trend_p": _finite(v.result.details.get("pre_trend_p")),
            "data_through": v.data_through.isoformat() if v.data_through else None,
            "run_at": v.run_at.isoformat(timespec="seconds") if v.run_at else None, "sentence": v.sentence,
        })
    return pd.DataFrame(rows, columns=ESTIMATE_COLUMNS)
