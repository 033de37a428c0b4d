"""Confidence intervals for proportions, counts, rates and directly standardised rates.

Methods and conventions (see docs METHODS.md section 2):

* Wilson score interval for proportions (Wilson 1927; PHEindicatormethods ``wilson_lower/upper``,
  ScotPHO ``calculate_percent``).
* Byar's approximation to the Poisson interval (Breslow & Day 1987), used by ScotPHO for every count.
* Exact Poisson interval from the chi-squared distribution (Garwood 1936).
* The OHID/Fingertips convention: exact below 10 events, Byar's from 10 upwards (``phe_rate``).
* Dobson et al. (1991) interval for directly standardised rates (``calculate_dsr``, ScotPHO ``calculate_easr``).

Every function is vectorised: arguments may be scalars, lists, numpy arrays or pandas Series and are
broadcast together; results are numpy float arrays.
"""

from __future__ import annotations

import numpy as np

from gpcluster.stats.quantiles import chi2_quantile, normal_quantile
from gpcluster.stats.validation import (
    StatsInputError,
    as_float_array,
    broadcast,
    check_level,
    check_nonnegative,
    check_positive,
    first_bad,
)

#: Levels used in Scottish and English publications: 95% and 99.8% ("2 and 3 sigma").
LEVEL_95 = 0.95
LEVEL_998 = 0.998
#: OHID switches from the exact Poisson interval to Byar's at this many events.
OHID_EXACT_BELOW = 10
#: ScotPHO indicator code hard-codes z = 1.96 for 95% intervals.
SCOTPHO_Z95 = 1.96

POISSON_METHODS = ("ohid", "scotpho", "exact", "byars")


def z_value(level: float) -> float:
    """Two-sided standard normal quantile for a confidence level: z = Φ⁻¹(level + (1 − level)/2)."""
    level = check_level(level)
    return float(normal_quantile(0.5 + level / 2.0))


def wilson(x, n, level: float = LEVEL_95, z: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for the proportion x/n, returned as proportions in [0, 1].

    lower/upper = (2x + z² ∓ z·sqrt(z² + 4x(1 − x/n))) / (2(n + z²)), z = Φ⁻¹(0.5 + level/2)
    (Wilson 1927; as PHEindicatormethods and ScotPHO compute it). Pass ``z=SCOTPHO_Z95`` to reproduce
    ScotPHO's hard-coded 1.96. Non-integer x is allowed (weighted counts).
    """
    xa = as_float_array(x, "numerator")
    na = as_float_array(n, "denominator")
    xa, na = broadcast(numerator=xa, denominator=na)
    check_nonnegative(xa, "numerator")
    check_positive(na, "denominator")
    over = xa > na
    if over.any():
        i = first_bad(over)
        raise StatsInputError(
            f"numerator greater than denominator at position {i} ({xa.flat[i]!r} > {na.flat[i]!r})"
        )
    zz = z_value(level) if z is None else float(z)
    z2 = zz * zz
    root = zz * np.sqrt(z2 + 4.0 * xa * (1.0 - xa / na))
    denom = 2.0 * (na + z2)
    lower = (2.0 * xa + z2 - root) / denom
    upper = (2.0 * xa + z2 + root) / denom
    # At x = 0 and x = n the limits are exactly 0 and 1; rounding would otherwise exclude the estimate.
    lower = np.where(xa == 0, 0.0, np.clip(lower, 0.0, 1.0))
    upper = np.where(xa == na, 1.0, np.clip(upper, 0.0, 1.0))
    return lower, upper


def _counts(o) -> np.ndarray:
    arr = as_float_array(o, "observed count")
    if arr.size == 0:
        raise StatsInputError("observed count: empty input")
    check_nonnegative(arr, "observed count")
    return arr


def _byars_arrays(o: np.ndarray, zz: float) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = o * (1.0 - 1.0 / (9.0 * o) - zz / (3.0 * np.sqrt(o))) ** 3
    # O = 0 has no lower tail; Byar's can go negative for tiny O at high levels: floor at 0 (ScotPHO).
    lower = np.where(o > 0, np.maximum(lower, 0.0), 0.0)
    o1 = o + 1.0
    upper = o1 * (1.0 - 1.0 / (9.0 * o1) + zz / (3.0 * np.sqrt(o1))) ** 3
    return lower, upper


def byars(o, level: float = LEVEL_95, z: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Byar's approximate Poisson interval for an observed count O (limits are counts).

    lower = O(1 − 1/(9O) − z/(3√O))³, upper = (O+1)(1 − 1/(9(O+1)) + z/(3√(O+1)))³
    (Breslow & Day 1987, as in PHEindicatormethods ``byars_lower/upper``). A negative lower limit
    (only possible for O < 1 at high levels) and O = 0 give 0, as ScotPHO does.
    """
    oa = _counts(o)
    zz = z_value(level) if z is None else float(z)
    return _byars_arrays(oa, zz)


def _exact_arrays(o: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = 1.0 - level
    with np.errstate(invalid="ignore"):
        lower = np.where(o > 0, chi2_quantile(alpha / 2.0, 2.0 * np.maximum(o, 1e-300)) / 2.0, 0.0)
    upper = chi2_quantile(1.0 - alpha / 2.0, 2.0 * o + 2.0) / 2.0
    return lower, upper


def exact_poisson(o, level: float = LEVEL_95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood) Poisson interval for an observed count O (limits are counts).

    lower = χ²(α/2; 2O)/2 (0 when O = 0), upper = χ²(1 − α/2; 2O + 2)/2, α = 1 − level.
    """
    oa = _counts(o)
    return _exact_arrays(oa, check_level(level))


def poisson(o, level: float = LEVEL_95, method: str = "ohid") -> tuple[np.ndarray, np.ndarray]:
    """Poisson interval for counts under a named convention.

    * ``"ohid"``: exact below 10 events, Byar's from 10 (OHID Fingertips ``phe_rate``, ``calculate_ISRatio``);
    * ``"scotpho"``: Byar's for every count with z = 1.96 at 95% (ScotPHO ``calculate_crude_rate``);
      other levels use the exact normal quantile;
    * ``"exact"``: exact throughout; ``"byars"``: Byar's throughout with the exact normal quantile.
    """
    level = check_level(level)
    oa = _counts(o)
    zz = z_value(level)
    if method == "ohid":
        bl, bu = _byars_arrays(oa, zz)
        el, eu = _exact_arrays(oa, level)
        small = oa < OHID_EXACT_BELOW
        return np.where(small, el, bl), np.where(small, eu, bu)
    if method == "scotpho":
        return _byars_arrays(oa, SCOTPHO_Z95 if level == LEVEL_95 else zz)
    if method == "exact":
        return _exact_arrays(oa, level)
    if method == "byars":
        return _byars_arrays(oa, zz)
    raise StatsInputError(f"unknown Poisson method {method!r}; choose one of {', '.join(POISSON_METHODS)}")


def rate(x, n, multiplier: float = 100_000, level: float = LEVEL_95, method: str = "ohid"):
    """Interval for the crude rate x/n × multiplier: Poisson limits of x (see `poisson`) divided by n."""
    xa = as_float_array(x, "numerator")
    na = as_float_array(n, "denominator")
    xa, na = broadcast(numerator=xa, denominator=na)
    check_positive(na, "denominator")
    lower, upper = poisson(xa, level, method)
    return lower / na * multiplier, upper / na * multiplier


def dobson(value, variance, observed, level: float = LEVEL_95, z: float | None = None):
    """Dobson et al. (1991) interval for a directly standardised rate.

    lower/upper = DSR + sqrt(var/O)·(Byar's limit(O) − O), with O the total observed events and var the
    variance of the DSR in the same units as DSR² (PHEindicatormethods ``calculate_dsr``; ScotPHO
    ``calculate_easr`` uses z = 1.96 and sets a negative lower limit to 0, which the caller may do).
    O must be greater than zero.
    """
    va = as_float_array(value, "dsr")
    var = as_float_array(variance, "variance")
    oa = as_float_array(observed, "observed count")
    va, var, oa = broadcast(dsr=va, variance=var, observed=oa)
    check_nonnegative(var, "variance")
    check_positive(oa, "observed count")
    zz = z_value(level) if z is None else float(z)
    bl, bu = _byars_arrays(oa, zz)
    scale = np.sqrt(var / oa)
    return va + scale * (bl - oa), va + scale * (bu - oa)
