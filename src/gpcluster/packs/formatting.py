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
