"""Numbers, dates and short texts formatted for people: the one place every template and page gets them.

Rules (issue 11): whole numbers without decimals (list size 15,133, not 15,133.0), ranks as ranks
(6,748; 12th of 933), percentages and rates to one decimal, never "nan" or "-0.0". A figure withheld by
disclosure control is `*`; a figure that does not exist is `–` (never `*`, which means suppressed);
an open-ended date says so; times to the minute, in UTC, without microseconds.
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime

import numpy as np
import pandas as pd
from markupsafe import Markup, escape

from gpcluster.formatting import MISSING, SUPPRESSED, indicator_figure, is_missing, number, unit_digits, whole


def signed(value, digits: int = 1) -> str:
    """A change with its sign: +1.2, −0.5 (a true minus sign), 0.0."""
    text = number(value, digits)
    if text in (MISSING, SUPPRESSED) or float(text.replace(",", "")) == 0:
        return text
    return ("+" + text) if not text.startswith("-") else "−" + text[1:]


def ordinal(n) -> str:
    """12 -> '12th', 1 -> '1st', 1,001 -> '1,001st'."""
    if is_missing(n):
        return MISSING
    k = int(round(float(n)))
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k:,}{suffix}"


def percent(value, digits: int = 1) -> str:
    """12.345 -> '12.3%'."""
    text = number(value, digits)
    return text if text == MISSING else text + "%"


def digits_for(indicator) -> int:
    """Decimals an indicator's values are shown with: counts and ranks whole, everything else one."""
    if indicator is None:
        return 1
    return unit_digits(getattr(indicator, "unit", "") or "", getattr(indicator, "measure_type", ""))


def figure(value, indicator=None, suppressed: bool = False, two_figures: bool = False) -> str:
    """An indicator's value as a table shows it: '*' when suppressed, '–' when there is none, else
    rounded for its unit (a mean of a whole-number class keeps its decimal only when it has one);
    `two_figures`: a value rounded to two significant figures (gpcluster.formatting.indicator_figure)."""
    if indicator is None:
        if not is_missing(suppressed) and bool(suppressed):
            return SUPPRESSED
        return number(value, 1)
    return indicator_figure(value, getattr(indicator, "unit", "") or "", getattr(indicator, "measure_type", ""),
                            suppressed, two_figures)


def with_unit(value, indicator=None, suppressed: bool = False) -> str:
    """'12.3%', '15,133 patients', '64.3 per 1,000 patients per quarter'."""
    text = figure(value, indicator, suppressed)
    if text in (SUPPRESSED, MISSING) or indicator is None:
        return text
    unit = getattr(indicator, "unit", "") or ""
    if unit.strip() == "%":
        return text + "%"
    if unit.startswith(("SIMD rank", "class")):
        return text
    return f"{text} {unit}"


def day(value, missing: str = MISSING) -> str:
    """A date: '1 Apr 2024'."""
    if is_missing(value):
        return missing
    d = pd.Timestamp(value)
    return f"{d.day} {d:%b %Y}"


def end_date(value) -> str:
    """An end date that may be open: 'open-ended' (never '*', which means suppressed)."""
    return day(value, missing="open-ended")


def month(value) -> str:
    """'January 2025'."""
    if is_missing(value):
        return MISSING
    return f"{pd.Timestamp(value):%B %Y}"


def quarter(value) -> str:
    """The quarter a period opens: date(2024, 10, 1) -> 'Oct–Dec 2024' (as the signal sentences say)."""
    return MISSING if is_missing(value) else _quarter_words(value)


def short_quarter(value) -> str:
    """'Oct 2024' (chart axes and narrow tables)."""
    return MISSING if is_missing(value) else _short_quarter(value)


# a page names the same few dozen quarters many times (tables, chart labels): each worded once per process
@functools.lru_cache(maxsize=1024)
def _quarter_words(value) -> str:
    from gpcluster.signals.build import quarter_words

    return quarter_words(value)


@functools.lru_cache(maxsize=1024)
def _short_quarter(value) -> str:
    return f"{pd.Timestamp(value):%b %Y}"


def timestamp(value) -> str:
    """A time to the minute, in UTC: '2025-03-01 14:03 UTC' (stored times have microseconds)."""
    if is_missing(value):
        return MISSING
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return day(value)
    return f"{pd.Timestamp(value):%Y-%m-%d %H:%M} UTC"


_BACKTICKS = re.compile(r"`([^`]+)`")


def inline_code(text) -> Markup:
    """Escape a short text and show `quoted` parts as code (API summaries are written in Markdown)."""
    if is_missing(text):
        return Markup("")
    escaped = str(escape(str(text)))
    return Markup(_BACKTICKS.sub(lambda m: f"<code>{m.group(1)}</code>", escaped))


def plural(n: int, one: str, many: str | None = None) -> str:
    """'1 practice', '7 practices', '1,204 posts'."""
    count = int(n)
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def column_digits(values, column: str = "") -> int:
    """Decimals for one column of measured figures, from its typical size, so a column reads at one
    precision: whole when every value is whole or the typical value is 100 or more (hours a week: 1,174,
    not 1,174.0), one decimal from 10 (and for percentages), two below, three under 0.1."""
    if column.endswith(("pct", "percent")):
        return 1
    if isinstance(values, pd.Series) and pd.api.types.is_float_dtype(values):  # one conversion, not one per cell
        finite = values.to_numpy(dtype=float, na_value=np.nan)
    else:
        finite = np.asarray([float(v) for v in values if not is_missing(v)], dtype=float)
    finite = finite[np.isfinite(finite)]
    if not len(finite) or np.all(finite == np.round(finite)):
        return 0
    size = float(np.median(np.abs(finite[finite != 0]))) if np.any(finite != 0) else 0.0
    return 0 if size >= 100 else 1 if size >= 10 else 2 if size >= 0.1 or size == 0 else 3


def cell(value, column: str = "", whole_number: bool = False, digits: int | None = None) -> str:
    """One cell of a generic table (planner tables, downloads shown on a page): dates as dates, open end
    dates as 'open-ended', whole numbers whole, other numbers to `digits` decimals (column_digits of the
    column) or, alone, by their own size; text as text."""
    if isinstance(value, str):  # most cells of a text column: none of the checks below applies
        return value
    if column.endswith("end_date") and is_missing(value):
        return "open-ended"
    if is_missing(value):
        return MISSING
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, datetime | pd.Timestamp):
        ts = pd.Timestamp(value)
        return day(ts) if ts == ts.normalize() else timestamp(ts)
    if isinstance(value, date):
        return day(value)
    if isinstance(value, int | np.integer):
        return whole(value)
    if isinstance(value, float | np.floating):
        if whole_number:
            return whole(value)
        if digits is not None:
            return number(value, digits)
        if column.endswith(("pct", "percent")):
            return number(value, 1)
        size = abs(float(value))
        return number(value, 3 if 0 < size < 0.1 else 2 if size < 10 else 1)
    return str(value)


def released(value, digits: int = 1) -> str:
    """A figure of a series where a missing value was withheld by disclosure control: '*' (the evaluation
    pages' `fmt` filter)."""
    return number(value, digits, missing=SUPPRESSED)


#: Jinja2 filters, registered by gpcluster.web.render for every template
FILTERS = {
    "fmt": released,
    "figure": figure, "with_unit": with_unit, "number": number, "whole": whole, "signed": signed,
    "ordinal": ordinal, "percent": percent, "day": day, "end_date": end_date, "month": month,
    "quarter": quarter, "short_quarter": short_quarter, "timestamp": timestamp, "inline_code": inline_code,
    "plural": plural, "cell": cell,
}
