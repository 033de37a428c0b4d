"""Plain-language signal sentences for a cluster page: what, how unusual, since when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from gpcluster.stats.disclosure import round_half_up
from gpcluster.web.data import Indicator

_FUNNEL_WORDS = {
    "high_998": ("above", "99.8% limit exceeded", 0),
    "low_998": ("below", "99.8% limit exceeded", 0),
    "high_95": ("above", "95% limit exceeded", 1),
    "low_95": ("below", "95% limit exceeded", 1),
}
_SPC_CONCERN = {"special_cause_concern", "special_cause_improvement", "special_cause_neutral_high",
                "special_cause_neutral_low"}

_SPC_MEANING = {"special_cause_concern": True, "special_cause_improvement": False}


@dataclass(frozen=True)
class Signal:
    """One flagged practice x indicator, already released for the viewer."""

    area_code: str
    area_name: str
    indicator_id: str
    severity: int  # 0 = 99.8% limit, 1 = 95% limit, 2 = SPC only
    sentence: str
    concern: bool | None  # True worse, False better, None when polarity is neither


def month_year(d: date) -> str:
    return d.strftime("%b %Y")


def _runs_since(practice: pd.DataFrame) -> dict[tuple[str, str], date]:
    """For each (practice, indicator): first period of the unbroken run of its latest funnel flag."""
    ordered = practice.sort_values("period", ascending=False)
    since: dict[tuple[str, str], date] = {}
    current: dict[tuple[str, str], object] = {}
    broken: set[tuple[str, str]] = set()
    for code, indicator_id, period, flag in zip(ordered["area_code"], ordered["indicator_id"], ordered["period"],
                                                 ordered["funnel_scotland"], strict=True):
        key = (code, indicator_id)
        if key in broken:
            continue
        if key not in current:
            current[key] = flag
        if flag != current[key]:
            broken.add(key)
            continue
        since[key] = period
    return since


def _concern(indicator: Indicator, direction: str) -> bool | None:
    if indicator.polarity == "neither":
        return None
    return (direction == "above") == (indicator.polarity == "higher_is_worse")


def cluster_signals(history: pd.DataFrame, indicators: dict[str, Indicator]) -> list[Signal]:
    """Sentences for the latest period's flagged rows of a released cluster history, most unusual first."""
    practice = history[history["level"] == "practice"]
    if practice.empty:
        return []
    latest = practice["period"].max()
    since = _runs_since(practice)
    signals: list[Signal] = []
    for row in practice[practice["period"] == latest].to_dict("records"):
        code, indicator_id = row["area_code"], row["indicator_id"]
        if indicator_id not in indicators or pd.isna(row["value"]):
            continue  # suppressed: nothing may be said about it
        indicator = indicators[indicator_id]
        parts: list[str] = []
        severity = 2
        direction = ""
        flag = row["funnel_scotland"]
        if flag in _FUNNEL_WORDS and pd.notna(row["scotland_value"]) and row["scotland_value"]:
            direction, limit, severity = _FUNNEL_WORDS[flag]
            gap = abs(row["value"] / row["scotland_value"] - 1) * 100
            parts.append(f"{_lower_first(indicator.title)} {round_half_up(gap):.0f}% "
                         f"{direction} Scotland ({limit}) since {month_year(since[(code, indicator_id)])}")
        spc = row["spc_signal"]
        if spc in _SPC_CONCERN and isinstance(row["spc_rule"], str):
            if not parts:
                parts.append(f"{_lower_first(indicator.title)}: unusual pattern over time")
            parts.append(f"SPC rule: {row['spc_rule']}")
        if not parts:
            continue
        concern = _concern(indicator, direction) if direction else _SPC_MEANING.get(spc)
        signals.append(Signal(code, row["area_name"], indicator_id, severity,
                              f"{row['area_name']}: " + "; ".join(parts), concern))
    # signals with a direction that matters (worse, then better) before neutral ones such as age structure
    rank = {True: 0, False: 1, None: 2}
    return sorted(signals, key=lambda s: (rank[s.concern], s.severity, s.area_name, s.indicator_id))


def _lower_first(title: str) -> str:
    """'Emergency admissions' -> 'emergency admissions', but 'GP consultations' stays."""
    if len(title) > 1 and title[1].islower():
        return title[0].lower() + title[1:]
    return title
