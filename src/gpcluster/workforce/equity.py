"""Equity measures over a deprivation ranking.

Concentration index (Kakwani, Wagstaff & van Doorslaer 1997; O'Donnell et al. 2008, 'Analyzing Health
Equity Using Household Survey Data', ch. 8, the 'convenient covariance' formula):
    CI = 2 cov_w(h, r) / mean_w(h)
with r the weighted fractional rank of the population ordered from MOST to LEAST deprived, so CI < 0
means the resource is concentrated among the more deprived. Tied deprivation ranks share their mean
fractional rank.

Slope index of inequality (the PHE/ScotPHO method): the slope of a population-weighted least-squares
line of the value on the ridit score of deprivation (mid-point of each group's cumulative population
share, 0 = most deprived, 1 = least deprived). SII > 0 means less deprived groups get more;
RII = SII / population-weighted mean."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gpcluster.errors import UserError


def _arrays(values, order, weights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    h = np.asarray(values, dtype=float)
    o = np.asarray(order, dtype=float)
    w = np.ones_like(h) if weights is None else np.asarray(weights, dtype=float)
    if not (h.shape == o.shape == w.shape) or h.ndim != 1:
        raise UserError("equity: values, deprivation order and weights must be 1-D and the same length")
    if len(h) < 2:
        raise UserError("equity: need at least two observations")
    if not (np.isfinite(h).all() and np.isfinite(o).all() and np.isfinite(w).all()):
        raise UserError("equity: values, deprivation order and weights must be finite")
    if (w < 0).any() or w.sum() <= 0:
        raise UserError("equity: weights must be non-negative with a positive total")
    return h, o, w


def fractional_rank(order, weights=None) -> np.ndarray:
    """Weighted fractional rank in (0, 1) of each observation when sorted by `order` ascending
    (pass SIMD rank: 1 = most deprived). r_i = (cumulative weight before i + w_i / 2) / total; ties share
    the mean rank of their group."""
    o = np.asarray(order, dtype=float)
    w = np.ones_like(o) if weights is None else np.asarray(weights, dtype=float)
    if not len(o):
        return np.empty(0)
    distinct, where = np.unique(o, return_inverse=True)
    grouped = np.bincount(where.reshape(-1), weights=w, minlength=len(distinct))
    mid = (np.cumsum(grouped) - grouped / 2) / grouped.sum()
    return mid[where.reshape(-1)]


def concentration_index(values, order, weights=None, rank: np.ndarray | None = None) -> float:
    """Concentration index of `values` (e.g. MDT hours per patient) over the population ranked by
    `order` (most deprived first), weighted by `weights` (e.g. list size). `rank`: fractional_rank(order,
    weights) when already known (it does not depend on the values)."""
    h, o, w = _arrays(values, order, weights)
    mean = np.average(h, weights=w)
    if mean == 0:
        raise UserError("equity: the concentration index is undefined when the mean is zero")
    r = fractional_rank(o, w) if rank is None else rank
    cov = np.average((h - mean) * (r - np.average(r, weights=w)), weights=w)
    return float(2 * cov / mean)


@dataclass(frozen=True)
class SlopeIndex:
    """Result of slope_index_of_inequality."""

    sii: float
    rii: float
    intercept: float
    groups: pd.DataFrame


def slope_index_of_inequality(values, order, weights) -> SlopeIndex:
    """SII of group values (e.g. hours per 10,000 patients by SIMD decile) ordered by `order` (most deprived
    first), with population `weights`. Groups are aggregated by `order` first (weighted mean value)."""
    h, o, w = _arrays(values, order, weights)
    distinct, where = np.unique(o, return_inverse=True)
    where = where.reshape(-1)
    pw = np.bincount(where, weights=w, minlength=len(distinct))
    y = np.bincount(where, weights=h * w, minlength=len(distinct)) / pw
    if len(distinct) < 2:
        raise UserError("equity: the slope index needs at least two deprivation groups")
    x = (np.cumsum(pw) - pw / 2) / pw.sum()
    xm, ym = np.average(x, weights=pw), np.average(y, weights=pw)
    slope = float(np.sum(pw * (x - xm) * (y - ym)) / np.sum(pw * (x - xm) ** 2))
    intercept = float(ym - slope * xm)
    groups = pd.DataFrame({"order": distinct, "value": y, "pop": pw, "ridit": x})
    return SlopeIndex(sii=slope, rii=slope / ym if ym else float("nan"), intercept=intercept, groups=groups)
