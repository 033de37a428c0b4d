"""Funnel plots: control limits, significance labels and overdispersion.

* OHID/Fingertips exact funnels (PHEindicatormethods 2.1.0 ``R/Funnels.R``): Wilson-inverted limits for
  proportions, exact/Byar's Poisson limits for ratios and rates, at 95% and 99.8%, no overdispersion.
* Spiegelhalter (2005, Qual Saf Health Care 14:347) overdispersion as FunnelPlotR 0.6.0 implements it:
  log (SHMI), square-root (CQC), arcsine (proportions) and log ratio-of-counts scales; 10% truncation
  (SHMI) or winsorisation; DerSimonian-Laird τ²; limits widened only when φ > 1.
* The PHS HSMR method (``Public-Health-Scotland/hsmr:create_smr_data.R``): multiplicative adjustment
  w = sqrt(Σz²/#z) after winsorising one z at each end, normal limits on the ratio scale.

Labels use one canonical set (`LABELS`); `OHID_LABELS` maps them to Fingertips' strings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gpcluster.stats import ci
from gpcluster.stats.disclosure import round_half_up
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

HIGH_998, HIGH_95, NOT_SIGNIFICANT, LOW_95, LOW_998 = (
    "high_998",
    "high_95",
    "not_significant",
    "low_95",
    "low_998",
)
LABELS = (HIGH_998, HIGH_95, NOT_SIGNIFICANT, LOW_95, LOW_998)
OHID_LABELS = {
    HIGH_998: "High (0.001)",
    HIGH_95: "High (0.025)",
    NOT_SIGNIFICANT: "Not significant",
    LOW_95: "Low (0.025)",
    LOW_998: "Low (0.001)",
}
LEVELS = (ci.LEVEL_95, ci.LEVEL_998)
DEFAULT_POINTS = 100


def _check_levels(levels) -> tuple[float, float]:
    if len(levels) != 2:
        raise StatsInputError(f"levels must be a pair (inner, outer), e.g. (0.95, 0.998); got {levels!r}")
    inner, outer = (check_level(v) for v in levels)
    if not inner < outer:
        raise StatsInputError(f"levels must be increasing (inner, outer); got {levels!r}")
    return inner, outer


_LABEL_ARRAY = np.array(LABELS, dtype=object)


def classify_codes(value, inner_lower, inner_upper, outer_lower, outer_upper) -> np.ndarray:
    """Significance as int8 codes indexing `LABELS` (0 = high_998 … 2 = not_significant … 4 = low_998).

    Strictly beyond a limit is significant; a value on a limit is not. Outer limits must lie outside
    the inner ones.
    """
    v = np.asarray(value, dtype=float)
    code = np.full(v.shape, 2, dtype=np.int8)
    code += np.asarray(v < inner_lower, dtype=np.int8)
    code += np.asarray(v < outer_lower, dtype=np.int8)
    code -= np.asarray(v > inner_upper, dtype=np.int8)
    code -= np.asarray(v > outer_upper, dtype=np.int8)
    return code


def classify(value, inner_lower, inner_upper, outer_lower, outer_upper) -> np.ndarray:
    """Canonical labels of values against an inner (95%) and outer (99.8%) pair of limits."""
    return _LABEL_ARRAY[classify_codes(value, inner_lower, inner_upper, outer_lower, outer_upper)]


def classify_interval(target, inner_lower, inner_upper, outer_lower, outer_upper) -> np.ndarray:
    """Labels from each unit's own confidence intervals against a comparator `target`.

    High when the interval lies wholly above the target (target < lower), low when wholly below; the
    outer interval decides the 99.8% labels (OHID ``assign_funnel_significance``, ScotPHO rank charts).
    """
    t = np.asarray(target, dtype=float)
    il, iu, ol, ou = (
        np.asarray(a, dtype=float) for a in (inner_lower, inner_upper, outer_lower, outer_upper)
    )
    shape = np.broadcast_shapes(t.shape, il.shape)
    out = np.full(shape, NOT_SIGNIFICANT, dtype=object)
    out[t > iu] = LOW_95
    out[t > ou] = LOW_998
    out[t < il] = HIGH_95
    out[t < ol] = HIGH_998
    return out


def to_ohid(labels) -> np.ndarray:
    """Map canonical labels to the OHID/Fingertips strings ("High (0.001)", "Not significant", ...)."""
    return np.vectorize(OHID_LABELS.__getitem__, otypes=[object])(np.asarray(labels, dtype=object))


def geometric_grid(low: float, high: float, points: int = DEFAULT_POINTS) -> np.ndarray:
    """`points` values spaced geometrically from `low` to `high` (x-axis of funnel limit lines)."""
    if not 0 < low < high:
        raise StatsInputError(f"grid needs 0 < low < high, got {low!r}, {high!r}")
    return np.geomspace(low, high, points)


def _proportion_limit(n: np.ndarray, pbar: float, level: float) -> tuple[np.ndarray, np.ndarray]:
    # OHID's Wilson-inverted formula, (A ∓ D/8)/L/n, simplifies algebraically to p̄ ∓ q·sqrt(p̄(1−p̄)/n):
    # with m = n/q², A = p̄(m+1), L·n = m+1 and (D/8)² = (m+1)²·p̄(1−p̄)/m. The short form is used for speed;
    # tests check it against OHID's published limits and labels.
    q = normal_quantile(0.5 + level / 2.0)
    half = q * np.sqrt(pbar * (1.0 - pbar) / n)
    return np.clip(pbar - half, 0.0, 1.0), np.clip(pbar + half, 0.0, 1.0)


def _pbar(x, n, target):
    if target is None:
        return float(np.sum(x) / np.sum(n))
    t = float(target)
    if not 0.0 <= t <= 1.0:
        raise StatsInputError(f"target proportion must be between 0 and 1, got {target!r}")
    return t


def proportion_limits(n, pbar: float, levels=LEVELS) -> pd.DataFrame:
    """OHID funnel limits for a proportion with average `pbar` at denominators `n` (proportions 0..1).

    The limits are the proportions whose Wilson score interval at level has `pbar` on its boundary
    (PHEindicatormethods ``calculate_funnel_limits``, statistic "proportion"). Use `geometric_grid` for
    plot lines. Columns: n, lower_95, upper_95, lower_998, upper_998 (named after `levels`).
    """
    inner, outer = _check_levels(levels)
    na = as_float_array(n, "denominator")
    check_positive(na, "denominator")
    p = _pbar(None, None, pbar)
    il, iu = _proportion_limit(na, p, inner)
    ol, ou = _proportion_limit(na, p, outer)
    return _limit_frame("n", na, (il, iu, ol, ou), (inner, outer))


def _suffix(level: float) -> str:
    return f"{level * 100:g}".replace(".", "")


def _limit_frame(xname, x, limits, levels) -> pd.DataFrame:
    inner, outer = (_suffix(v) for v in levels)
    il, iu, ol, ou = limits
    return pd.DataFrame(
        {xname: x, f"lower_{inner}": il, f"upper_{inner}": iu, f"lower_{outer}": ol, f"upper_{outer}": ou}
    )


def _grid_from(values, name: str, points: int) -> np.ndarray:
    arr = as_float_array(values, name)
    check_positive(arr, name)
    low, high = float(arr.min()), float(arr.max())
    return np.geomspace(low, high, points) if high > low else np.array([low])


def proportion_limit_lines(n, pbar: float, levels=LEVELS, points: int = DEFAULT_POINTS) -> pd.DataFrame:
    """Funnel lines for plotting: `proportion_limits` on `points` geometric steps across the range of `n`."""
    return proportion_limits(_grid_from(n, "denominator", points), pbar, levels)


def ratio_limit_lines(
    expected, levels=LEVELS, target: float = 1.0, points: int = DEFAULT_POINTS
) -> pd.DataFrame:
    """Funnel lines for plotting: `ratio_limits` on `points` geometric steps across the range of `expected`."""
    return ratio_limits(_grid_from(expected, "expected", points), levels, target)


def _check_xn(x, n, proportion: bool):
    xa = as_float_array(x, "numerator")
    na = as_float_array(n, "denominator")
    xa, na = broadcast(numerator=xa, denominator=na)
    check_nonnegative(xa, "numerator")
    check_positive(na, "denominator")
    if proportion and (xa > na).any():
        i = first_bad(xa > na)
        raise StatsInputError(
            f"numerator greater than denominator at position {i} ({xa.flat[i]!r} > {na.flat[i]!r})"
        )
    return xa, na


def proportion_significance(
    x, n, levels=LEVELS, target: float | None = None, as_codes: bool = False
) -> np.ndarray:
    """Canonical significance labels for proportions x/n on an OHID funnel.

    Each p_i = x_i/n_i is compared with the Wilson-inverted limits at n_i around p̄ = Σx/Σn (or `target`).
    With ``as_codes`` the result is int8 codes indexing `LABELS` (cheaper for millions of rows).
    """
    inner, outer = _check_levels(levels)
    xa, na = _check_xn(x, n, True)
    p = _pbar(xa, na, target)
    # p_i beyond p̄ ± q·sqrt(p̄(1−p̄)/n_i) (see _proportion_limit) is the same as |z_i| > q; clamping the
    # limits to [0, 1] cannot change a comparison for a proportion, so it is skipped here.
    z = (xa / na - p) / np.sqrt(p * (1.0 - p) / na) if 0.0 < p < 1.0 else np.zeros(xa.shape)
    q_in, q_out = (normal_quantile(0.5 + lv / 2.0) for lv in (inner, outer))
    codes = classify_codes(z, -q_in, q_in, -q_out, q_out)
    return codes if as_codes else _LABEL_ARRAY[codes]


def ratio_significance(
    observed, expected, levels=LEVELS, target: float = 1.0, method: str = "ohid"
) -> np.ndarray:
    """Canonical labels for standardised ratios O/E: the ratio's Poisson interval against `target`.

    OHID ``funnel_ratio_significance``: exact limits below 10 events, Byar's from 10 (`ci.poisson`).
    """
    inner, outer = _check_levels(levels)
    o = as_float_array(observed, "observed")
    e = as_float_array(expected, "expected")
    o, e = broadcast(observed=o, expected=e)
    check_nonnegative(o, "observed")
    check_positive(e, "expected")
    il, iu = ci.poisson(o, inner, method)
    ol, ou = ci.poisson(o, outer, method)
    return classify_interval(target, il / e, iu / e, ol / e, ou / e)


def rate_significance(
    x, n, levels=LEVELS, target: float | None = None, multiplier: float = 1.0, method: str = "ohid"
) -> np.ndarray:
    """Canonical labels for crude rates x/n: each rate's Poisson interval against the average Σx/Σn.

    `target`, if given, is in the same units as the rate (i.e. already × `multiplier`).
    """
    inner, outer = _check_levels(levels)
    xa, na = _check_xn(x, n, False)
    comp = float(np.sum(xa) / np.sum(na) * multiplier) if target is None else float(target)
    il, iu = ci.rate(xa, na, multiplier, inner, method)
    ol, ou = ci.rate(xa, na, multiplier, outer, method)
    return classify_interval(comp, il, iu, ol, ou)


def dsr_significance(observed, inner_lower, inner_upper, outer_lower, outer_upper, target, min_events=10):
    """Labels for directly standardised rates from their Dobson intervals; OHID gives fewer than
    `min_events` events the label "not_applicable" instead of a judgement."""
    o = as_float_array(observed, "observed")
    check_nonnegative(o, "observed")
    few = o < min_events if min_events is not None else np.zeros(o.shape, dtype=bool)
    safe = [
        np.where(few, 0.0, np.asarray(a, dtype=float))
        for a in (inner_lower, inner_upper, outer_lower, outer_upper)
    ]
    labels = classify_interval(np.where(few, 0.0, target), *safe)
    labels[few] = "not_applicable"
    return labels


def ratio_limits(expected, levels=LEVELS, target: float = 1.0) -> pd.DataFrame:
    """Exact Poisson funnel limits for a standardised ratio against expected counts E (x-axis).

    lower = target·χ²(α/2; 2E)/(2E), upper = target·χ²(1−α/2; 2(E+1))/(2E) (FunnelPlotR's unadjusted
    SR limits). Columns: expected, lower_95, upper_95, lower_998, upper_998.
    """
    inner, outer = _check_levels(levels)
    e = as_float_array(expected, "expected")
    check_positive(e, "expected")
    lims = []
    for lv in (inner, outer):
        a = (1 - lv) / 2
        lims += [
            target * chi2_quantile(a, 2 * e) / (2 * e),
            target * chi2_quantile(1 - a, 2 * (e + 1)) / (2 * e),
        ]
    return _limit_frame("expected", e, lims, (inner, outer))


def ratio_limits_by_observed(observed, levels=LEVELS) -> pd.DataFrame:
    """OHID ratio funnel lines indexed by observed events O: the expected counts at which O sits on each
    limit, E_low = χ²((1+level)/2; 2(O+1))/2 and E_high = χ²((1−level)/2; 2O)/2, and the ratios O/E.

    Columns: observed, lower_95_expected, lower_95 (ratio), upper_95_expected, upper_95, and the same
    for the outer level.
    """
    inner, outer = _check_levels(levels)
    o = as_float_array(observed, "observed")
    check_positive(o, "observed")
    out = {"observed": o}
    for lv in (inner, outer):
        sfx = _suffix(lv)
        e_low = chi2_quantile((1 + lv) / 2, 2 * (o + 1)) / 2
        e_high = chi2_quantile((1 - lv) / 2, 2 * o) / 2
        out[f"lower_{sfx}_expected"], out[f"lower_{sfx}"] = e_low, o / e_low
        out[f"upper_{sfx}_expected"], out[f"upper_{sfx}"] = e_high, o / e_high
    return pd.DataFrame(out)


# --- Spiegelhalter overdispersion (FunnelPlotR) -------------------------------------------------------

SPIEGELHALTER_TYPES = ("SR", "PR", "RC")
SR_METHODS = ("SHMI", "CQC")


@dataclass(frozen=True)
class SpiegelhalterResult:
    """Overdispersion analysis: per-unit values, z-scores, limits at each unit's denominator and labels.

    `value` is O/E (SR), p (PR) or the ratio of counts (RC); `target` is on the same scale. `adjusted`
    tells whether the limits were widened (φ > 1); `limits(x)` gives plot lines at denominators x.
    """

    value: np.ndarray
    z: np.ndarray
    kept: np.ndarray
    phi: float
    tau2: float
    target: float
    adjusted: bool
    lower_95: np.ndarray
    upper_95: np.ndarray
    lower_998: np.ndarray
    upper_998: np.ndarray
    labels: np.ndarray
    data_type: str
    sr_method: str
    levels: tuple[float, float]

    def limits(self, x) -> pd.DataFrame:
        """Limit lines (inner/outer level) at denominators `x`, e.g. `geometric_grid(...)`."""
        xa = as_float_array(x, "denominator")
        check_positive(xa, "denominator")
        lims = [
            a
            for lv in self.levels
            for a in _sp_limits(xa, lv, self.data_type, self.sr_method, self.target, self.tau2, self.adjusted)
        ]
        return _limit_frame("denominator", xa, lims, self.levels)


def spiegelhalter_scale(num, den, data_type: str = "SR", sr_method: str = "SHMI", target: float = 1.0):
    """(Y, s, Y_target): the transformed values, their standard errors and the transformed target on the
    scale FunnelPlotR compares on (METHODS.md 1b), so z = (Y - Y_target) / sqrt(s² + τ²)."""
    return _transform(np.asarray(num, dtype=float), np.asarray(den, dtype=float), data_type, sr_method, target)


def _transform(num, den, data_type, sr_method, target):
    if data_type == "SR":
        if sr_method == "SHMI":
            return np.log(num / den), 1 / np.sqrt(den), 0.0
        return np.sqrt(num / den), 1 / (2 * np.sqrt(den)), 1.0
    if data_type == "PR":
        return np.arcsin(np.sqrt(num / den)), 1 / (2 * np.sqrt(den)), float(np.arcsin(np.sqrt(target)))
    y = np.log((num + 0.5) / (den + 0.5))
    s = np.sqrt(num / (num + 0.5) ** 2 + den / (den + 0.5) ** 2)
    return y, s, float(np.log(target))


def _sp_limits(den, level, data_type, sr_method, target, tau2, adjusted, s=None):
    z = normal_quantile(0.5 + level / 2)
    if data_type == "SR" and not adjusted:
        a = (1 - level) / 2
        return target * chi2_quantile(a, 2 * den) / (2 * den), target * chi2_quantile(
            1 - a, 2 * (den + 1)
        ) / (2 * den)
    if data_type == "SR" and sr_method == "SHMI":
        half = z * np.sqrt(1 / den + tau2)
        return target * np.exp(-half), target * np.exp(half)
    if data_type == "SR":
        half = z * np.sqrt(1 / (4 * den) + tau2)
        return np.maximum(1 - half, 0.0) ** 2 * target, (1 + half) ** 2 * target
    if data_type == "PR":
        centre = np.arcsin(np.sqrt(target))
        half = z * np.sqrt(1 / (4 * den) + tau2)
        # Clamp the angle to [0, π/2] so limits stay in [0, 1] and monotone in n.
        return np.sin(np.clip(centre - half, 0, np.pi / 2)) ** 2, np.sin(
            np.clip(centre + half, 0, np.pi / 2)
        ) ** 2
    if s is None:
        raise StatsInputError("RC limits need each unit's standard error; plot lines are not defined for RC")
    half = z * np.sqrt(s**2 + tau2)
    return target * np.exp(-half), target * np.exp(half)


@dataclass(frozen=True)
class Overdispersion:
    """The overdispersion estimate of a Spiegelhalter funnel, without its limits."""

    z: np.ndarray  # each unit's unadjusted z on the comparison scale
    kept: np.ndarray  # units retained (SHMI truncation; all units when winsorised)
    phi: float
    tau2: float  # DerSimonian-Laird τ² (reported even when φ <= 1)
    target: float
    adjusted: bool  # φ > 1: limits are widened by τ²


def _check_options(data_type: str, sr_method: str, trim_by: float) -> None:
    if data_type not in SPIEGELHALTER_TYPES:
        raise StatsInputError(f"data_type must be one of {SPIEGELHALTER_TYPES}, got {data_type!r}")
    if sr_method not in SR_METHODS:
        raise StatsInputError(f"sr_method must be one of {SR_METHODS}, got {sr_method!r}")
    if not 0 < trim_by < 0.5:
        raise StatsInputError(f"trim_by must be between 0 and 0.5, got {trim_by!r}")


def _spiegelhalter_inputs(numerator, denominator, data_type: str, sr_method: str, trim_by: float):
    _check_options(data_type, sr_method, trim_by)
    num, den = _check_xn(numerator, denominator, data_type == "PR")
    if num.ndim != 1 or num.size < 3:
        raise StatsInputError("an overdispersion analysis needs at least 3 units in a 1-D array")
    if data_type == "SR" and sr_method == "SHMI" and (num <= 0).any():
        raise StatsInputError(
            f"numerator at position {first_bad(num <= 0)} is 0: log(O/E) is undefined (SHMI)"
        )
    if data_type == "RC" and (den <= 0).any():
        raise StatsInputError("denominator counts must be greater than zero")
    return num, den


def _overdispersion(num, den, data_type, sr_method, trim_by, target) -> tuple[Overdispersion, np.ndarray]:
    if target is None:
        target = 1.0 if data_type == "SR" else float(num.sum() / den.sum())
    y, s, t_tr = _transform(num, den, data_type, sr_method, target)
    z = (y - t_tr) / s
    if data_type == "SR" and sr_method == "SHMI":
        from scipy.stats import rankdata  # SHMI's trimming only: scipy.stats is heavy to import (quantiles)

        k = 1 / trim_by
        rank = rankdata(z, method="average")
        sp = np.floor(rank * k / (z.size + 1))
        kept = (sp > 0) & (sp < k - 1)
        wz = z[kept]
    else:
        lz, uz = np.quantile(z, [trim_by, 1 - trim_by])
        kept = np.ones(z.shape, dtype=bool)
        wz = np.clip(z, lz, uz)
    n = wz.size
    phi = float(np.sum(wz**2) / n) if n else 0.0
    w = 1 / s[kept] ** 2
    if n == 0 or n * phi < n - 1:
        tau2 = 0.0
    else:
        tau2 = max(0.0, float((n * phi - (n - 1)) / (w.sum() - (w**2).sum() / w.sum())))
    return Overdispersion(z=z, kept=kept, phi=phi, tau2=tau2, target=float(target), adjusted=phi > 1), s


def overdispersion(
    numerator,
    denominator,
    data_type: str = "SR",
    sr_method: str = "SHMI",
    trim_by: float = 0.1,
    target: float | None = None,
) -> Overdispersion:
    """φ and τ² of `spiegelhalter` (same inputs, same arithmetic) without computing limits or labels:
    for callers that fit many funnels and place units by z themselves."""
    num, den = _spiegelhalter_inputs(numerator, denominator, data_type, sr_method, trim_by)
    return _overdispersion(num, den, data_type, sr_method, trim_by, target)[0]


@dataclass(frozen=True)
class GroupedOverdispersion:
    """`overdispersion` of many funnels at once: per unit its unadjusted z; per group (index = group code)
    its number of units, φ, τ² and whether its limits are widened (φ > 1)."""

    z: np.ndarray
    units: np.ndarray
    phi: np.ndarray
    tau2: np.ndarray
    adjusted: np.ndarray


def _lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """numpy's quantile interpolation, term for term (from the nearer end), so the limits are its own."""
    diff = b - a
    return np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)


def _by_group_sorted(z: np.ndarray, group: np.ndarray) -> np.ndarray:
    """z sorted by group, then by value (the values of np.lexsort((z, group))): the values by a quick sort,
    then the groups by a stable one, a radix sort when the codes fit 16 bits."""
    order = np.argsort(z)
    keys = group[order]
    if keys.size and keys.max() <= np.iinfo(np.uint16).max:  # codes are non-negative
        keys = keys.astype(np.uint16)
    return z[order[np.argsort(keys, kind="stable")]]


def _group_quantiles(ordered: np.ndarray, units: np.ndarray, q: float) -> np.ndarray:
    """np.quantile(z[group == g], q) (its default 'linear' method) of every group g with units, at once, from
    `ordered` (_by_group_sorted) and the units of each group."""
    start = np.cumsum(units) - units
    virtual = (units - 1) * q
    below = np.floor(virtual)
    above = below + 1
    at_top = virtual >= units - 1
    below = np.where(at_top, units - 1, below).astype(np.int64)
    above = np.where(at_top, units - 1, above).astype(np.int64)
    gamma = np.where(at_top, 0.0, virtual - below)  # at the top both ends are the last value
    has = units > 0
    out = np.full(units.size, np.nan)
    out[has] = _lerp(ordered[(start + below)[has]], ordered[(start + above)[has]], gamma[has])
    return out


def overdispersion_by_group(
    numerator,
    denominator,
    group,
    data_type: str = "SR",
    sr_method: str = "CQC",
    trim_by: float = 0.1,
    target: float = 1.0,
) -> GroupedOverdispersion:
    """`overdispersion` of each group of units (`group`: a code 0..G-1 per unit) in one pass, for the
    winsorised methods (PR, RC and SR on the CQC scale) with a target common to all groups: the same
    quantiles (numpy's linear interpolation), φ and τ² as one call per group, up to the order of the sums.
    A group needs at least 3 units for an estimate; smaller ones get NaN."""
    if data_type == "SR" and sr_method == "SHMI":
        raise StatsInputError("SHMI truncation ranks each funnel's units: call overdispersion per group")
    _check_options(data_type, sr_method, trim_by)
    num, den = _check_xn(numerator, denominator, data_type == "PR")
    group = np.asarray(group)
    if group.shape != num.shape or num.ndim != 1:
        raise StatsInputError("numerator, denominator and group must be 1-D arrays of the same length")
    if not np.issubdtype(group.dtype, np.integer) or (group.size and group.min() < 0):
        raise StatsInputError("group must hold non-negative integer codes")
    if data_type == "RC" and (den <= 0).any():
        raise StatsInputError("denominator counts must be greater than zero")
    group = group.astype(np.int64)
    groups = int(group.max()) + 1 if group.size else 0
    units = np.bincount(group, minlength=groups)
    y, s, t_tr = _transform(num, den, data_type, sr_method, target)
    z = (y - t_tr) / s
    ordered = _by_group_sorted(z, group)
    lower = _group_quantiles(ordered, units, trim_by)
    upper = _group_quantiles(ordered, units, 1 - trim_by)
    del ordered
    wz = np.minimum(np.maximum(z, lower[group]), upper[group])
    n = units.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = np.bincount(group, weights=wz**2, minlength=groups) / n
        w = 1 / s**2
        sw = np.bincount(group, weights=w, minlength=groups)
        sw2 = np.bincount(group, weights=w**2, minlength=groups)
        tau2 = np.where(n * phi < n - 1, 0.0, np.maximum(0.0, (n * phi - (n - 1)) / (sw - sw2 / sw)))
    few = units < 3
    phi[few], tau2[few] = np.nan, np.nan
    return GroupedOverdispersion(z=z, units=units, phi=phi, tau2=tau2, adjusted=phi > 1)


def spiegelhalter(
    numerator,
    denominator,
    data_type: str = "SR",
    sr_method: str = "SHMI",
    trim_by: float = 0.1,
    levels=LEVELS,
    target: float | None = None,
) -> SpiegelhalterResult:
    """Spiegelhalter (2005) overdispersed funnel, following FunnelPlotR 0.6.0.

    data_type "SR" (numerator O, denominator E; ``sr_method`` "SHMI" = log scale with 10% truncation, or
    "CQC" = square-root scale), "PR" (proportion, arcsine scale) or "RC" (ratio of counts, log scale);
    PR/RC/CQC use winsorisation at the `trim_by` quantiles. φ = mean of squared retained z;
    τ² = max(0, (nφ − (n−1)) / (Σw − Σw²/Σw)), w = 1/s² (DerSimonian-Laird), 0 if nφ < n − 1.
    Limits are widened by τ² only when φ > 1; otherwise SR uses exact Poisson limits.
    """
    num, den = _spiegelhalter_inputs(numerator, denominator, data_type, sr_method, trim_by)
    levels = _check_levels(levels)
    fit, s = _overdispersion(num, den, data_type, sr_method, trim_by, target)
    target, tau2, adjusted = fit.target, fit.tau2, fit.adjusted
    tau2_used = tau2 if adjusted else 0.0
    value = num / den
    lims = [
        a for lv in levels for a in _sp_limits(den, lv, data_type, sr_method, target, tau2_used, adjusted, s)
    ]
    labels = classify(value, *lims)
    return SpiegelhalterResult(
        value=value, z=fit.z, kept=fit.kept, phi=fit.phi, tau2=tau2, target=target, adjusted=adjusted,
        lower_95=lims[0], upper_95=lims[1], lower_998=lims[2], upper_998=lims[3], labels=labels,
        data_type=data_type, sr_method=sr_method, levels=levels,
    )  # fmt: skip


# --- PHS HSMR ----------------------------------------------------------------------------------------

HSMR_Z95 = 1.96
HSMR_Z998 = 3.09


@dataclass(frozen=True)
class HSMRResult:
    """PHS HSMR funnel: SMR, its SE and z, the multiplicative factor w, warning/control limits, labels."""

    smr: np.ndarray
    se: np.ndarray
    z: np.ndarray
    w: float
    lwl: np.ndarray
    uwl: np.ndarray
    lcl: np.ndarray
    ucl: np.ndarray
    labels: np.ndarray


def hsmr(observed, predicted, is_hospital=None, rounding: bool = True) -> HSMRResult:
    """PHS HSMR funnel with its multiplicative overdispersion factor (hsmr ``create_smr_data.R``).

    SMR = O/E, SE = sqrt(1/E), z = (SMR − 1)/SE (0 for units that are not hospitals, e.g. Scotland); the
    largest and smallest z are each replaced by the next one in; w = sqrt(Σz²/#(z ≠ 0)), applied always.
    Limits 1 ± 1.96·SE·w (warning) and 1 ± 3.09·SE·w (control). With ``rounding`` the intermediates are
    rounded half-up to 8 dp as PHS does. Labels: beyond a control limit = 99.8%, beyond warning = 95%.
    """
    o = as_float_array(observed, "observed")
    e = as_float_array(predicted, "predicted")
    o, e = broadcast(observed=o, predicted=e)
    check_nonnegative(o, "observed")
    check_positive(e, "predicted")
    hosp = np.ones(o.shape, dtype=bool) if is_hospital is None else np.asarray(is_hospital, dtype=bool)
    if hosp.shape != o.shape:
        raise StatsInputError(f"is_hospital has shape {hosp.shape}, observed has {o.shape}")
    if hosp.sum() < 3:
        raise StatsInputError("the HSMR funnel needs at least 3 hospitals")

    def r8(v):
        return round_half_up(v, 8) if rounding else v

    smr = o / e
    se = r8(np.sqrt(1 / e))
    z = r8(np.where(hosp, (smr - 1) / se, 0.0))
    zw = z.copy()
    idx = np.flatnonzero(hosp)
    order = idx[np.argsort(z[idx], kind="stable")]
    zw[order[-1]] = z[order[-2]]
    zw[order[0]] = z[order[1]]
    w = float(r8(np.sqrt(np.sum(zw**2) / np.count_nonzero(zw))))
    sw = r8(se * w)
    lwl, uwl = 1 - HSMR_Z95 * sw, 1 + HSMR_Z95 * sw
    lcl, ucl = 1 - HSMR_Z998 * sw, 1 + HSMR_Z998 * sw
    labels = classify(smr, lwl, uwl, lcl, ucl)
    return HSMRResult(smr, se, z, w, lwl, uwl, lcl, ucl, labels)
