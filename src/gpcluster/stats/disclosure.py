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

import heapq
import math

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
_WHOLE_FLOATS = 2.0**52  # every float at least this large (or infinite) is a whole number already


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
    if isinstance(values, float) and math.isfinite(values):
        # one number (every figure a page formats): the same arithmetic without numpy's per-call overhead
        scale = 10.0**digits
        shifted = abs(values) * scale + 0.5 + _HALF_UP_NUDGE
        size = (math.trunc(shifted) if shifted < _WHOLE_FLOATS else shifted) / scale
        return size if values > 0 else -size if values < 0 else 0.0
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


def determined(equations, hidden: np.ndarray, tolerance: float = 1e-9) -> np.ndarray:
    """Which hidden cells the published cells pin down exactly through linear equations.

    `equations` is a scipy.sparse matrix (one row per equation Σ a_ij x_j = 0 over all cells); `hidden`
    marks the cells not published. A hidden cell j is determined when e_j lies in the row space of the
    equations restricted to hidden cells, i.e. when every vector of that restriction's null space is 0 at
    j (differencing, chains of subtraction and any other linear combination). Works per connected
    component of hidden cells, so each singular value decomposition stays small.
    """
    from scipy.sparse import csc_matrix
    from scipy.sparse.csgraph import connected_components

    hidden = np.asarray(hidden, dtype=bool)
    out = np.zeros(hidden.shape, dtype=bool)
    cols = np.flatnonzero(hidden)
    if not cols.size:
        return out
    sub = csc_matrix(equations)[:, cols]
    rows = np.flatnonzero(np.diff(sub.tocsr().indptr))
    if not rows.size:
        return out  # no equation touches a hidden cell
    sub = sub.tocsr()[rows]
    # cells linked through a shared equation form one component
    link = (sub.T @ sub).astype(bool)
    count, label = connected_components(link, directed=False)
    dense_rows = sub.tocsc()
    for component in range(count):
        members = np.flatnonzero(label == component)
        block = dense_rows[:, members]
        used = np.flatnonzero(np.diff(block.tocsr().indptr))
        matrix = block.tocsr()[used].toarray()
        _, singular, vt = np.linalg.svd(matrix, full_matrices=True)
        rank = int((singular > tolerance * max(1.0, singular.max(initial=0.0))).sum())
        null = vt[rank:]
        pinned = np.all(np.abs(null) < 1e-7, axis=0) if null.size else np.ones(members.size, dtype=bool)
        out[cols[members[pinned]]] = True
    return out


def complementary_mask(equations, values, hidden, sensitive=None, protectable=None,
                       max_rounds: int = 50) -> np.ndarray:
    """Hide more cells until no sensitive hidden cell can be recovered from the published ones.

    `equations`: sparse matrix of linear relations among the cells (a total minus its parts, a parent area
    minus its practices, ...); `values`: every cell's value; `hidden`: cells already suppressed;
    `sensitive`: the hidden cells that must stay unknown (default: all hidden); `protectable`: cells that
    may be hidden as complements (default: all).

    First, as sdcshinyapp does row by row, no equation may be left with a single hidden cell: the
    smallest non-zero visible protectable cell of such an equation is hidden too, preferring a cell that
    also completes another such equation (so suppressions close into small rectangles instead of
    spreading). Then the exact audit (`determined`) looks for sensitive cells still recoverable through
    longer chains, and hides the smallest candidate cell of their equations; repeated until none is.
    """
    from scipy.sparse import csc_matrix, csr_matrix

    values = np.asarray(values, dtype=float)
    hidden = np.array(hidden, dtype=bool)
    sensitive = hidden.copy() if sensitive is None else np.asarray(sensitive, dtype=bool) & hidden
    protectable = np.ones(hidden.shape, dtype=bool) if protectable is None else np.asarray(protectable, dtype=bool)
    rows = csr_matrix(equations)
    by_cell = csc_matrix(equations)
    sizes = np.diff(rows.indptr)
    hidden_count = np.asarray(abs(rows).astype(bool).astype(np.int64) @ hidden.astype(np.int64)).ravel()

    def members(eq: int) -> np.ndarray:
        return rows.indices[rows.indptr[eq]:rows.indptr[eq + 1]]

    def equations_of(cell: int) -> np.ndarray:
        return by_cell.indices[by_cell.indptr[cell]:by_cell.indptr[cell + 1]]

    def candidates(eq: int) -> np.ndarray:
        cells = members(eq)
        return cells[~hidden[cells] & protectable[cells] & (values[cells] > 0)]

    def hide(cell: int) -> None:
        hidden[cell] = True
        hidden_count[equations_of(cell)] += 1

    for _ in range(max_rounds):
        # the smallest (most local) equations first: a practice's partner in its cluster, not in Scotland
        queue = [(int(sizes[e]), int(e)) for e in np.flatnonzero(hidden_count == 1)]
        heapq.heapify(queue)
        while queue:
            _, eq = heapq.heappop(queue)
            if hidden_count[eq] != 1:
                continue
            pool = candidates(eq)
            if not pool.size:
                continue  # nothing to hide here; the exact audit decides whether it matters
            closes = np.array([(hidden_count[equations_of(c)] == 1).sum() > 1 for c in pool])
            pick = int(pool[np.argmin(values[pool] / np.where(closes, 10.0, 1.0))])
            hide(pick)
            for e in equations_of(pick):
                if hidden_count[e] == 1:
                    heapq.heappush(queue, (int(sizes[e]), int(e)))
        exposed = np.flatnonzero(determined(rows, hidden) & sensitive)
        if not exposed.size:
            return hidden
        added = False
        for cell in exposed:
            pools = [candidates(eq) for eq in equations_of(cell)]
            pool = np.concatenate(pools) if pools else np.array([], dtype=int)
            if pool.size:
                hide(int(pool[np.argmin(values[pool])]))
                added = True
        if not added:
            raise StatsInputError(f"{exposed.size} suppressed cell(s) cannot be protected: no visible "
                                  "cell left to hide in any equation they appear in")
    raise StatsInputError(f"complementary suppression did not settle in {max_rounds} rounds")
