"""Statistical disclosure control for every figure that leaves the server.

Conventions (docs METHODS.md section 5):

* Primary suppression as PHS ``sdcshinyapp`` ``Stat_Primary_Supress``: a count at or below the threshold
  is suppressed; zeros are kept unless ``suppress_zeros`` is set; missing values stay missing.
* Secondary suppression for a table with a total column and two or more cell columns. sdcshinyapp adds the
  smallest remaining cell when exactly one cell in a row is suppressed; here the rule is applied until
  stable and also covers a suppressed total, so no row is left with a single unknown in
  total = Σ cells (a lone unknown can be recovered by subtraction).
* Rounding to a base as sdcshinyapp ``Stat_Round`` (``plyr::round_any``, round half to even).
* Round half up for displayed figures, as PHS publications do (``janitor::round_half_up``).
* Per-indicator rules as ScotPHO ``apply_suppressions.R``: numerator below the indicator's threshold is
  blanked; for crude rates and percentages the value and its confidence interval are blanked too;
  standardised rates are kept.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gpcluster.stats.validation import StatsInputError, as_float_array, first_bad

#: sdcshinyapp's default threshold (counts 1-10 suppressed); NES policy also flags counts 1-9.
SDC_THRESHOLD = 10
#: ScotPHO per-indicator thresholds are "suppress if numerator < n"; 5 and 10 are the values in use.
SCOTPHO_SUPPRESS_LESS_THAN_5 = 5
SCOTPHO_SUPPRESS_LESS_THAN_10 = 10

#: Measure types for `apply_indicator_rule` (ScotPHO codes in brackets).
CRUDE_RATE = "crude_rate"  # 'cr'
PERCENTAGE = "percentage"  # '%'
STANDARDISED_RATE = "standardised_rate"  # 'sr'
_MEASURE_ALIASES = {
    "cr": CRUDE_RATE,
    CRUDE_RATE: CRUDE_RATE,
    "%": PERCENTAGE,
    "percent": PERCENTAGE,
    PERCENTAGE: PERCENTAGE,
    "sr": STANDARDISED_RATE,
    STANDARDISED_RATE: STANDARDISED_RATE,
}
_BACK_CALCULABLE = {CRUDE_RATE, PERCENTAGE}

# janitor::round_half_up adds sqrt(double eps) so that 2.675 (stored as 2.67499999...) rounds to 2.68.
_HALF_UP_NUDGE = float(np.sqrt(np.finfo(float).eps))


def _check_counts(arr: np.ndarray, name: str) -> None:
    bad = np.isfinite(arr) & (arr < 0)
    if bad.any():
        i = first_bad(bad)
        raise StatsInputError(f"{name}: count at position {i} is negative ({arr.flat[i]!r})")
    if np.isinf(arr).any():
        i = first_bad(np.isinf(arr))
        raise StatsInputError(f"{name}: count at position {i} is infinite")


def primary_mask(values, threshold: float = SDC_THRESHOLD, suppress_zeros: bool = False) -> np.ndarray:
    """Boolean mask of cells to suppress: count ≤ threshold (and > 0 unless ``suppress_zeros``).

    Missing values are never flagged (they are already blank). Negative counts raise StatsInputError.
    """
    arr = as_float_array(values, "counts")
    _check_counts(arr, "counts")
    with np.errstate(invalid="ignore"):
        mask = arr <= threshold
        if not suppress_zeros:
            mask &= arr > 0
    return mask & ~np.isnan(arr)


def primary_suppress(values, threshold: float = SDC_THRESHOLD, suppress_zeros: bool = False):
    """Blank (set to NaN) every count at or below `threshold` (sdcshinyapp ``Stat_Primary_Supress``).

    Accepts an array, Series or all-numeric DataFrame and returns the same kind with floats.
    """
    mask = primary_mask(values, threshold, suppress_zeros)
    if isinstance(values, pd.DataFrame | pd.Series):
        return values.astype(float).mask(mask)
    out = as_float_array(values, "counts").copy()
    out[mask] = np.nan
    return out


def secondary_mask(
    frame: pd.DataFrame,
    total_col: str,
    cell_cols: list[str],
    threshold: float = SDC_THRESHOLD,
    suppress_zeros: bool = False,
) -> pd.DataFrame:
    """Suppression mask (True = suppress) for a table whose rows satisfy total = Σ cells.

    Starts from primary suppression of the total and the cells. While a row has exactly one suppressed
    entry among total and cells, the smallest visible non-zero cell (every cell equal to it) is
    suppressed as well; if no such cell is left, a visible zero cell, and failing that the total.
    """
    if len(cell_cols) < 2:
        raise StatsInputError("secondary suppression needs at least two cell columns besides the total")
    missing = [c for c in [total_col, *cell_cols] if c not in frame.columns]
    if missing:
        raise StatsInputError(f"columns not in the table: {', '.join(missing)}")
    if frame.empty:
        raise StatsInputError("secondary suppression: empty table")
    cells = frame[cell_cols].to_numpy(dtype=float)
    total = frame[total_col].to_numpy(dtype=float)
    _check_counts(cells, "cells")
    _check_counts(total, total_col)
    cell_mask = primary_mask(cells, threshold, suppress_zeros)
    total_mask = primary_mask(total, threshold, suppress_zeros)
    inf = np.inf
    while True:
        lone = (cell_mask.sum(axis=1) + total_mask) == 1
        if not lone.any():
            break
        visible = ~cell_mask & ~np.isnan(cells)
        nonzero = np.where(visible & (cells > 0), cells, inf)
        zero = np.where(visible & (cells == 0), 0.0, inf)
        row_min = nonzero.min(axis=1)
        use_nonzero = lone & np.isfinite(row_min)
        cell_mask |= use_nonzero[:, None] & (cells == row_min[:, None]) & visible
        use_zero = lone & ~use_nonzero & np.isfinite(zero.min(axis=1))
        first_zero = np.argmin(zero, axis=1)
        cell_mask[np.flatnonzero(use_zero), first_zero[use_zero]] = True
        total_mask |= lone & ~use_nonzero & ~use_zero
    out = pd.DataFrame(cell_mask, index=frame.index, columns=cell_cols)
    out.insert(0, total_col, total_mask)
    return out


def secondary_suppress(
    frame: pd.DataFrame,
    total_col: str,
    cell_cols: list[str],
    threshold: float = SDC_THRESHOLD,
    suppress_zeros: bool = False,
) -> pd.DataFrame:
    """Copy of `frame` with primary and secondary suppression applied (suppressed cells are NaN).

    See `secondary_mask` for the rule; other columns are returned unchanged.
    """
    mask = secondary_mask(frame, total_col, cell_cols, threshold, suppress_zeros)
    out = frame.copy()
    for col in mask.columns:
        out[col] = out[col].astype(float).mask(mask[col])
    return out


def round_to_base(values, base: float = 5):
    """Round counts to the nearest multiple of `base`, halves to even (sdcshinyapp ``Stat_Round``).

    E.g. base 10: 5 → 0, 15 → 20, 25 → 20. Missing values stay missing.
    """
    if base <= 0:
        raise StatsInputError(f"rounding base must be greater than zero, got {base!r}")
    arr = as_float_array(values, "counts")
    out = np.round(arr / base) * base
    if isinstance(values, pd.DataFrame | pd.Series):
        return type(values)(out, index=values.index, **_columns(values))
    return out


def _columns(values) -> dict:
    return {"columns": values.columns} if isinstance(values, pd.DataFrame) else {"name": values.name}


def round_half_up(values, digits: int = 0):
    """Round to `digits` decimals with halves away from zero, as PHS publications display figures.

    Same rule as R ``janitor::round_half_up`` (used by PHS ``hsmr`` and ``phsmethods``), including its
    small nudge so that decimal halves stored inexactly in binary (2.675) still round up. Python's
    ``round`` and ``numpy.round`` round halves to even instead.
    """
    arr = as_float_array(values, "values")
    scale = 10.0**digits
    out = np.sign(arr) * np.trunc(np.abs(arr) * scale + 0.5 + _HALF_UP_NUDGE) / scale
    if isinstance(values, pd.DataFrame | pd.Series):
        return type(values)(out, index=values.index, **_columns(values))
    if np.ndim(out) == 0:
        return float(out)
    return out


def apply_indicator_rule(
    frame: pd.DataFrame,
    suppress_less_than: float,
    measure_type: str,
    numerator_col: str = "numerator",
    value_col: str = "value",
    ci_cols: tuple[str, ...] = ("lower", "upper"),
) -> pd.DataFrame:
    """Apply a ScotPHO per-indicator suppression rule and return a copy of `frame`.

    Rows with numerator < `suppress_less_than` get a blank numerator. For crude rates and percentages
    (``"crude_rate"``/``"cr"``, ``"percentage"``/``"%"``) the value and every column in `ci_cols` are
    blanked too, because they would reveal the numerator; for standardised rates (``"sr"``) they are kept.
    A boolean column ``suppressed`` records which rows were affected.
    """
    kind = _MEASURE_ALIASES.get(measure_type)
    if kind is None:
        raise StatsInputError(
            f"unknown measure type {measure_type!r}; use one of {', '.join(sorted(_MEASURE_ALIASES))}"
        )
    needed = [numerator_col, *([value_col, *ci_cols] if kind in _BACK_CALCULABLE else [])]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise StatsInputError(f"columns not in the table: {', '.join(missing)}")
    num = frame[numerator_col].to_numpy(dtype=float)
    _check_counts(num, numerator_col)
    hit = np.isfinite(num) & (num < suppress_less_than)
    out = frame.copy()
    blank = [numerator_col, *([value_col, *ci_cols] if kind in _BACK_CALCULABLE else [])]
    for col in blank:
        out[col] = out[col].astype(float).mask(hit)
    out["suppressed"] = hit
    return out
