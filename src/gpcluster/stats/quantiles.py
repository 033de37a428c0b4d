"""Quantiles of the normal and chi-squared distributions, from scipy.special.

scipy.stats.norm.ppf and chi2.ppf compute exactly these (ndtri; 2 * gammaincinv(df / 2, p)), but importing
scipy.stats brings in scipy.sparse, linalg and optimize: about 46 MB of memory and a third of a second in
every process that computes indicators, which needs only these two functions. Out-of-range arguments give
NaN, and p = 0 or 1 the ends of the support, as scipy.stats does.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def normal_quantile(p):
    """The standard normal distribution's quantile function (scipy.stats.norm.ppf)."""
    return special.ndtri(p)


def chi2_quantile(p, df):
    """The chi-squared distribution's quantile function with `df` degrees of freedom (scipy.stats.chi2.ppf):
    NaN where df <= 0 or p is outside [0, 1] (gammaincinv alone gives 0 for p < 0 when df is tiny)."""
    df, p = np.asarray(df, dtype=float), np.asarray(p, dtype=float)
    with np.errstate(invalid="ignore"):
        valid = (df > 0) & (p >= 0) & (p <= 1)
        return 2.0 * special.gammaincinv(np.where(valid, df / 2.0, np.nan), np.where(valid, p, np.nan))
