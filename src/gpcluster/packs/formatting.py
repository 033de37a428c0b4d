"""Numbers and dates for people in the packs: '15,133' not '15133.0', '0.0' not '-0.0', '*' for a
suppressed figure and '–' for one that does not exist, never 'nan'. The numbers follow the web app's rules
(gpcluster.formatting, shared by both), so a pack and a page show a figure alike."""

from __future__ import annotations

from datetime import date, datetime

from gpcluster.formatting import MISSING, SUPPRESSED, indicator_figure, is_missing, number
from gpcluster.formatting import whole as whole_number
from gpcluster.stats.disclosure import round_half_up


def figure(value, indicator: dict | None = None, suppressed: bool = False) -> str:
    """An indicator's value as the web app shows it (`indicator`: the pack content's entry, with its unit
    and measure type); without an indicator, one decimal. '*' when suppressed, '–' when absent."""
    if indicator is None:
        return SUPPRESSED if suppressed else number(value, 1)
    return indicator_figure(value, indicator.get("unit"), indicator.get("measure_type"), suppressed)


def whole(value, suppressed: bool = False) -> str:
    """A count: '15,133'."""
    return SUPPRESSED if suppressed else whole_number(value)


def _words(text: str) -> list[str]:
    return text.lower().replace("(", " ").replace(")", " ").split()


def unit_note(title: str, unit: str) -> str:
    """What a table should print after an indicator's title so its unit is clear without saying it twice:
    '' when the title already says it all ('GPs (headcount) per 1,000 patients' in 'GPs per 1,000 patients'),
    the rest of the unit when the title ends with its start ('... per 1,000 patients' + 'per quarter'),
    else the whole unit."""
    title_words, unit_words = _words(title), _words(unit)
    if set(unit_words) <= set(title_words):
        return ""
    for k in range(len(unit_words) - 1, 0, -1):
        if title_words[-k:] == unit_words[:k]:
            return " ".join(unit.split()[k:])
    return unit


def percent_change(now, before) -> str:
    """'up 4.2%', 'down 0.3%', 'no change' or '–' when either is missing or the base is zero."""
    if is_missing(now) or is_missing(before) or float(before) == 0:
        return MISSING
    a, b = float(now), float(before)
    change = float(round_half_up((a - b) / abs(b) * 100, 1))
    if change == 0:
        return "no change"
    return f"{'up' if change > 0 else 'down'} {abs(change):,.1f}%"


def day(value) -> str:
    """'3 March 2026' (no leading zero)."""
    if value is None:
        return MISSING
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return f"{value.day} {value:%B %Y}"


def period_key(period) -> str:
    """date(2024, 10, 1) -> '2024-10', the period's name in addresses and file names."""
    if isinstance(period, str):
        period = date.fromisoformat(period[:10])
    return f"{period:%Y-%m}"


def parse_period(text: str) -> date:
    """'2024-10' or '2024-10-01' -> date(2024, 10, 1); ValueError otherwise."""
    text = text.strip()
    if len(text) == 7:
        text += "-01"
    parsed = date.fromisoformat(text)
    if parsed.day != 1:
        raise ValueError(f"{text!r} is not the first day of a month")
    return parsed
