"""Results made ready to leave the server: disclosure control on the drawn series, the plain-language
sentences, charts, diagnostics, and a table of estimates for CSV export. Shared by the CLI report, the
web page and its downloads.

Disclosure: the observed series of a single practice (or a few) could reveal a small count, so each
quarter's combined numerator goes through the indicator's own rule (gpcluster.exports.apply_disclosure);
a suppressed quarter loses its observed value. Counts themselves never leave the server.
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
from gpcluster.evaluation.sentences import effect_sentence, expectation_sentence, number, percent
from gpcluster.exports import IndicatorRule, apply_disclosure

ESTIMATE_COLUMNS = [
    "intervention_id", "title", "version_analysed", "preregistered", "amended_after_start", "indicator_id",
    "indicator", "method", "expected", "scale", "estimate", "lower95", "upper95", "relative_change_percent",
    "relative_lower_percent", "relative_upper_percent", "standard_error", "p_value", "post_quarters",
    "pre_quarters", "treated_units", "comparison_units", "pre_trend_p", "data_through", "run_at", "sentence",
]  # fmt: skip


def release_series(result: EvaluationResult, rule: IndicatorRule | None) -> pd.DataFrame:
    """The drawn series with small combined counts suppressed and the counts removed."""
    series = result.series.copy()
    if series.empty:
        return series
    if rule is not None and "numerator" in series:
        frame = series.assign(indicator_id=result.outcome.indicator_id, value=series["observed"])
        released = apply_disclosure(frame, {result.outcome.indicator_id: rule})
        series.loc[released["suppressed"].to_numpy(dtype=bool), "observed"] = np.nan
        series["suppressed"] = released["suppressed"].to_numpy(dtype=bool)
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
    run_at: datetime | None = None
    data_through: date | None = None
    notes: list[str] = field(default_factory=list)


def effect_text(result: EvaluationResult) -> str:
    e = result.effect
    if e.scale == "log_ratio":
        est, lo, hi = e.relative
        return f"{percent(est, signed=True)} ({percent(lo, signed=True)} to {percent(hi, signed=True)})"
    return f"{number(e.estimate)} ({number(e.lower)} to {number(e.upper)}) {result.outcome.unit}"


def run_view(registered: Registered, result: EvaluationResult, rule: IndicatorRule | None,
             label: Callable[[str], str] = str, run: StoredRun | None = None) -> RunView:
    registration = registered.planned.registration
    expected = next((o.expected for o in registration.outcomes if o.indicator_id == result.outcome.indicator_id),
                    "change")
    level = registration.plan.unit_level or registration.level
    series = release_series(result, rule)
    notes = []
    if not registered.preregistered:
        notes.append("Registered after the change had started: this is a retrospective evaluation, not a "
                     "pre-registered one.")
    for v in registered.amendments_after_start:
        notes.append(f"Version {v.number} was registered on {v.registered_at.date().isoformat()}, after the start "
                     f"(reason: {v.reason}). The analysis follows version {registered.planned.number}, the plan "
                     "registered before the start.")
    if not registered.intact:
        notes.append("INTEGRITY CHECK FAILED: a stored version no longer matches its fingerprint.")
    if series.get("suppressed", pd.Series(dtype=bool)).any():
        notes.append("Quarters whose combined count is at or below the disclosure threshold are not shown.")
    return RunView(
        indicator_id=result.outcome.indicator_id, indicator=result.outcome.title, method=result.method,
        method_name=METHOD_NAMES[result.method],
        sentence=effect_sentence(result, level, f"“{registration.title}” started"),
        expectation=expectation_sentence(result, expected), effect_text=effect_text(result), result=result,
        series=series, series_spec=charts.series_spec(result, series, f"{result.outcome.title}: observed and "
                                                      "without the change"),
        event_spec=charts.event_study_spec(result), treated=[label(c) for c in result.treated],
        comparison=[label(c) for c in result.comparison], run_at=run.run_at if run else None,
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
