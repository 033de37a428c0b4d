"""Numbers formatted for people, the same in every output: the web app's pages (gpcluster.web.formatting)
and the cluster packs (gpcluster.packs.formatting) both take their figures from here.

Whole numbers without decimals (list size 15,133, not 15,133.0), counts and ranks whole, everything else
to one decimal, a practice's urban-rural class as 3 (not 3.0) while a cluster's mean class keeps its
decimal (2.4); never "nan" or "-0.0". Halves round up as Public Health Scotland publishes. A figure
withheld by disclosure control is `*`; a figure that does not exist is `–` (never `*`).

It imports nothing of the web app or the packs, so either can use it without importing the other.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from gpcluster.stats.disclosure import round_half_up

SUPPRESSED = "*"
MISSING = "–"

#: measure types whose values are counts of people or posts: shown whole
WHOLE_MEASURES = frozenset({"count"})


def is_missing(value) -> bool:
    """True for None, NaN, NaT and pandas' NA."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(isinstance(value, float | np.floating) and math.isnan(value))
    except TypeError:
        return False


def number(value, digits: int = 1, missing: str = MISSING) -> str:
    """A number with thousands separators, rounded half-up as PHS publishes: 15133.0 -> '15,133' with
    digits=0; -0.04 -> '0.0' (never '-0.0')."""
    if is_missing(value):
        return missing
    rounded = round_half_up(float(value), digits)
    if rounded == 0:
        rounded = 0.0  # no negative zero
    return f"{rounded:,.{digits}f}"


def whole(value, missing: str = MISSING) -> str:
    """A count: 15,133."""
    return number(value, 0, missing)


def unit_digits(unit: str | None, measure_type: str | None = None) -> int:
    """Decimals an indicator's values are shown with: counts and ranks whole, everything else one."""
    if measure_type in WHOLE_MEASURES or "rank" in (unit or "").lower():
        return 0
    return 1


def indicator_figure(value, unit: str | None = None, measure_type: str | None = None,
                     suppressed=False, two_figures: bool = False) -> str:
    """An indicator's value as a table shows it: '*' when suppressed, '–' when there is none, else
    rounded for its unit (a mean of a whole-number class keeps its decimal only when it has one).
    `two_figures`: the value was rounded to two significant figures (a practice the viewer may not name),
    so it shows no decimal the rounding did not keep: '1,100', not '1,100.0'."""
    if not is_missing(suppressed) and bool(suppressed):
        return SUPPRESSED
    if is_missing(value):
        return MISSING
    digits = unit_digits(unit, measure_type)
    if (unit or "").lower().startswith("class") and float(value) == round(float(value)):
        digits = 0  # a practice's urban-rural class is 3, not 3.0; a cluster's mean class is 2.4
    if two_figures and float(value) != 0:
        digits = min(digits, max(0, 1 - math.floor(math.log10(abs(float(value))))))
    return number(value, digits)
