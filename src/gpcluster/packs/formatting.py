"""Numbers and dates for people: '15,133' not '15133.0', '0.0' not '-0.0', '*' for a suppressed figure and
'–' for one that does not exist, never 'nan'. Halves round up as Public Health Scotland publishes."""

from __future__ import annotations

import math
from datetime import date, datetime

from gpcluster.stats.disclosure import round_half_up

SUPPRESSED = "*"
MISSING = "–"


def _number(value) -> float | None:
    if value is None or isinstance(value, bool | str):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def figure(value, digits: int = 1, suppressed: bool = False) -> str:
    """A value with `digits` decimals and thousands separators; '*' when suppressed, '–' when absent."""
    if suppressed:
        return SUPPRESSED
    number = _number(value)
    if number is None:
        return MISSING
    rounded = float(round_half_up(number, digits))
    if rounded == 0:
        rounded = 0.0  # no '-0.0'
    return f"{rounded:,.{digits}f}"


def whole(value, suppressed: bool = False) -> str:
    """A count: '15,133'."""
    return figure(value, 0, suppressed)


#: units whose figures are whole numbers (counts of people, ranks)
WHOLE_UNITS = ("patients", "GPs", "weighted patients")
WHOLE_UNIT_STARTS = ("SIMD rank",)


def unit_digits(unit: str) -> int:
    """Decimals a figure in this unit is shown with: none for counts and ranks, one otherwise."""
    return 0 if unit in WHOLE_UNITS or unit.startswith(WHOLE_UNIT_STARTS) else 1


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
    a, b = _number(now), _number(before)
    if a is None or b is None or b == 0:
        return MISSING
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
