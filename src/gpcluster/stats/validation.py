"""Input checks shared by the statistics modules: bad input raises StatsInputError, never a silent NaN."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gpcluster.errors import UserError


class StatsInputError(UserError, ValueError):
    """Input to a statistical method is invalid (negative count, x > n, mismatched lengths, empty...)."""


def as_float_array(values, name: str) -> np.ndarray:
    """Convert numbers, lists, numpy arrays or pandas Series to a float array, naming `name` on failure."""
    try:
        if isinstance(values, pd.Series | pd.DataFrame):
            # nullable pandas columns (Int64, Float64) carry pd.NA, which numpy cannot cast directly
            return values.to_numpy(dtype=float, na_value=np.nan)
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise StatsInputError(f"{name}: expected numbers, got {values!r:.80}") from exc
    return arr


def first_bad(mask: np.ndarray) -> int:
    """Flat index of the first True in `mask` (for error messages)."""
    return int(np.flatnonzero(np.ravel(mask))[0])


def check_finite(arr: np.ndarray, name: str) -> None:
    """Reject NaN and infinite values, naming the first offending position."""
    bad = ~np.isfinite(arr)
    if bad.any():
        i = first_bad(bad)
        raise StatsInputError(
            f"{name}: value at position {i} is missing or not finite ({np.ravel(arr)[i]!r})"
        )


def check_nonnegative(arr: np.ndarray, name: str) -> None:
    """Reject missing, infinite or negative values."""
    check_finite(arr, name)
    bad = arr < 0
    if bad.any():
        i = first_bad(bad)
        raise StatsInputError(f"{name}: value at position {i} is negative ({np.ravel(arr)[i]!r})")


def check_positive(arr: np.ndarray, name: str) -> None:
    """Reject missing, infinite, zero or negative values."""
    check_finite(arr, name)
    bad = arr <= 0
    if bad.any():
        i = first_bad(bad)
        raise StatsInputError(
            f"{name}: value at position {i} must be greater than zero ({np.ravel(arr)[i]!r})"
        )


def broadcast(**arrays: np.ndarray) -> list[np.ndarray]:
    """Broadcast arrays together; mismatched shapes raise StatsInputError naming the arguments."""
    if any(a.size == 0 for a in arrays.values()):
        empty = [k for k, a in arrays.items() if a.size == 0]
        raise StatsInputError(f"{', '.join(empty)}: empty input")
    try:
        return list(np.broadcast_arrays(*arrays.values()))
    except ValueError as exc:
        shapes = ", ".join(f"{k} {a.shape}" for k, a in arrays.items())
        raise StatsInputError(f"lengths do not match: {shapes}") from exc


def check_level(level: float) -> float:
    """A confidence level must be a fraction strictly between 0 and 1 (0.95, 0.998), not a percentage."""
    try:
        level = float(level)
    except (TypeError, ValueError) as exc:
        raise StatsInputError(f"confidence level must be a number, got {level!r}") from exc
    if not 0.0 < level < 1.0:
        raise StatsInputError(f"confidence level must be between 0 and 1 (e.g. 0.95), got {level!r}")
    return level
