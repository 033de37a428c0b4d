"""Statistical process control: XmR charts with the NHS England "Making Data Count" rules, plus
p-, u-, c- and Laney p′/u′ charts.

Limits follow NHSRplotthedots (``ptd_spc_standard``): mean ± 2.66·AMR with moving ranges at or above
3.267·AMR screened out first (Nelson 1982; ``screen_outliers=False`` reproduces the MDC Excel tool), and
"near" lines at mean ± (2/3)·2.66·AMR. Special-cause rules (``ptd_calculate_point_type``), in label
precedence: point outside the limits; trend of `trend_length` points each strictly above (below) the one
before; two of three consecutive points beyond a near line with all three on the same side of the mean
(only the close points are flagged); shift of `shift_length` points on one side of the mean (a point on
the mean breaks it). Attribute charts follow qicharts2's limits (Laney 2002 for p′/u′).

The rule engine works on a 2-D array (series × time) with no per-point Python loop. Values are centred
on each series' first value before any comparison, so signals are exactly invariant to adding a
constant whenever the shifted differences are exact (and numerically robust for large offsets).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from gpcluster.stats.validation import (
    StatsInputError,
    as_float_array,
    check_finite,
    check_nonnegative,
    first_bad,
)

LIMIT = 2.66
NEAR_LIMIT = 2.0 * LIMIT / 3.0
SCREEN_FACTOR = 3.267
#: Making Data Count: fewer points than this give "trial limits".
MIN_POINTS_FOR_LIMITS = 13
MIN_FIX_AFTER_N_POINTS = 12

#: Rule codes (int8) and their labels as NHSRplotthedots/MDC print them; 0 = no special cause.
RULES = (
    "none", "outside_upper", "outside_lower", "trend_increasing", "trend_decreasing",
    "two_of_three_high", "two_of_three_low", "shift_high", "shift_low",
)  # fmt: skip
MDC_RULE_LABELS = (
    "", "Above UCL", "Below LCL", "7 Point Trend (Increasing)", "7 Point Trend (Decreasing)",
    "2 in 3 Above CL", "2 in 3 Below CL", "7 Points Above CL", "7 Points Below CL",
)  # fmt: skip
#: Point type codes (int8); -1 marks a missing value (NaN padding).
POINT_TYPES = (
    "common_cause", "special_cause_improvement", "special_cause_concern",
    "special_cause_neutral_high", "special_cause_neutral_low",
)  # fmt: skip
MISSING = -1
DIRECTIONS = {"increase": 1, "decrease": -1, "neutral": 0}


def _direction(improvement: str) -> int:
    try:
        return DIRECTIONS[improvement]
    except KeyError:
        raise StatsInputError(
            f"improvement must be one of {', '.join(DIRECTIONS)}, got {improvement!r}"
        ) from None


def _shift(a: np.ndarray, by: int) -> np.ndarray:
    """Shift along time, filling with False: by > 0 moves values later, by < 0 earlier."""
    out = np.zeros_like(a)
    if by > 0:
        out[:, by:] = a[:, :-by]
    elif by < 0:
        out[:, :by] = a[:, -by:]
    else:
        out[:] = a
    return out


def _window(flags: np.ndarray, k: int, combine, direction: int) -> np.ndarray:
    """Combine flags over windows of k points by binary doubling (O(log k) whole-array operations).

    direction +1: window t-k+1..t (ending at t); direction -1: window t..t+k-1 (starting at t).
    """
    result = None
    block, size, offset = flags, 1, 0
    while k:
        if k & 1:
            part = _shift(block, direction * offset)
            result = part if result is None else combine(result, part)
            offset += size
        k >>= 1
        if k:
            block = combine(block, _shift(block, direction * size))
            size *= 2
    return result


def _run_ends(flags: np.ndarray, k: int) -> np.ndarray:
    """True at t when flags[t-k+1..t] are all True (along the last axis)."""
    return _window(flags, k, np.logical_and, 1)


def _spread_back(ends: np.ndarray, width: int) -> np.ndarray:
    """True at t when some run end lies in t..t+width-1: every point of a run of `width` gets flagged."""
    return _window(ends, width, np.logical_or, -1)


def _apply_rules(d, upper, lower, near_upper, near_lower, trend_length, shift_length):
    """Rule codes for centred values d (series × time) against limits relative to the centre line."""
    valid = ~np.isnan(d)
    above_mean = d > 0  # NaN compares False on both sides, so missing points have side 0
    below_mean = d < 0
    side = above_mean.view(np.int8) - below_mean.view(np.int8)
    above_upl = d > upper
    below_lpl = d < lower
    outside = above_upl | below_lpl
    close = ~outside & ((d > near_upper) | (d < near_lower))

    inc = np.zeros(d.shape, dtype=bool)
    dec = np.zeros(d.shape, dtype=bool)
    inc[:, 1:] = d[:, 1:] > d[:, :-1]
    dec[:, 1:] = d[:, 1:] < d[:, :-1]
    trend_up = _spread_back(_run_ends(inc, trend_length - 1), trend_length)
    trend_down = _spread_back(_run_ends(dec, trend_length - 1), trend_length)

    n_time = d.shape[1]
    in_window = np.zeros(d.shape, dtype=bool)
    if n_time >= 3:
        c = close.astype(np.int8)
        close3 = c[:, :-2] + c[:, 1:-1] + c[:, 2:]
        side3 = side[:, :-2] + side[:, 1:-1] + side[:, 2:]
        qual = (close3 >= 2) & (np.abs(side3) == 3)
        in_window[:, :-2] |= qual
        in_window[:, 1:-1] |= qual
        in_window[:, 2:] |= qual
    two3 = in_window & close

    shift_up = _spread_back(_run_ends(above_mean, shift_length), shift_length)
    shift_down = _spread_back(_run_ends(below_mean, shift_length), shift_length)

    code = np.zeros(d.shape, dtype=np.int8)
    # Lowest precedence first so that higher-precedence rules overwrite.
    for value, mask in (
        (8, shift_down), (7, shift_up), (6, two3 & (side < 0)), (5, two3 & (side > 0)),
        (4, trend_down), (3, trend_up), (2, below_lpl), (1, above_upl),
    ):  # fmt: skip
        np.copyto(code, value, where=mask)
    return code, side, valid


def _point_types(code, side, valid, direction: int) -> np.ndarray:
    one, two, three, four = (np.int8(v) for v in (1, 2, 3, 4))
    kind = np.where(side > 0, three, four) if direction == 0 else np.where(side == direction, one, two)
    out = np.where(code > 0, kind, np.int8(0))
    np.copyto(out, np.int8(MISSING), where=~valid)
    return out


def _assurance(target, lpl, upl, direction: int):
    """MDC assurance from a target and the last point's limits (None when neutral or no target)."""
    if target is None or direction == 0:
        return None
    t = np.asarray(target, dtype=float)
    above = t > upl
    below = t < lpl
    if direction == 1:
        return np.where(above, "consistent_fail", np.where(below, "consistent_pass", "inconsistent"))
    return np.where(above, "consistent_pass", np.where(below, "consistent_fail", "inconsistent"))


@dataclass(frozen=True)
class XmRBatchResult:
    """Per-series limits and per-point rule/point-type codes (see RULES, POINT_TYPES)."""

    mean: np.ndarray
    amr: np.ndarray
    lpl: np.ndarray
    upl: np.ndarray
    lower_near: np.ndarray
    upper_near: np.ndarray
    rule: np.ndarray
    point_type: np.ndarray
    assurance: np.ndarray | None
    n_points: np.ndarray


def _check_lengths(trend_length: int, shift_length: int) -> None:
    for name, val in (("trend_length", trend_length), ("shift_length", shift_length)):
        if int(val) != val or val < 2:
            raise StatsInputError(f"{name} must be a whole number of at least 2, got {val!r}")


def xmr_signals_batch(
    values,
    improvement: str = "neutral",
    target=None,
    screen_outliers: bool = True,
    trend_length: int = 7,
    shift_length: int = 7,
    fix_after_n_points: int | None = None,
    last_only: bool = False,
) -> XmRBatchResult:
    """XmR limits and Making Data Count signals for many series at once.

    `values` is a 2-D array (series × time); ragged series are padded with NaN (missing points get point
    type -1 and break runs). Each series needs at least two values. `target` (scalar or one per series)
    gives the assurance. With ``last_only`` the rule and point-type arrays hold only the last column.
    """
    y = as_float_array(values, "values")
    if y.ndim == 1:
        y = y[None, :]
    if y.ndim != 2 or y.size == 0:
        raise StatsInputError(f"values must be a non-empty 2-D array (series × time), got shape {y.shape}")
    if np.isinf(y).any():
        raise StatsInputError(f"values: infinite value at position {first_bad(np.isinf(y))}")
    _check_lengths(trend_length, shift_length)
    direction = _direction(improvement)
    valid = ~np.isnan(y)
    n_valid = valid.sum(axis=1)
    if (n_valid < 2).any():
        i = int(np.flatnonzero(n_valid < 2)[0])
        raise StatsInputError(f"series {i} has {n_valid[i]} value(s); an XmR chart needs at least 2")
    first_idx = np.argmax(valid, axis=1)
    origin = y[np.arange(y.shape[0]), first_idx]
    d = y - origin[:, None]
    base = d
    if fix_after_n_points is not None:
        if fix_after_n_points < MIN_FIX_AFTER_N_POINTS:
            raise StatsInputError(f"fix_after_n_points must be at least {MIN_FIX_AFTER_N_POINTS}")
        base = np.where(np.cumsum(valid, axis=1) <= fix_after_n_points, d, np.nan)
    complete = fix_after_n_points is None and bool(valid.all())
    mean_c = base.mean(axis=1) if complete else np.nanmean(base, axis=1)
    mr = np.abs(np.diff(base, axis=1))
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows are reported below
        amr = mr.mean(axis=1) if complete else np.nanmean(mr, axis=1)
        if screen_outliers:
            # A flat series (AMR 0) keeps its zero ranges; NHSRplotthedots would screen them all out and
            # give missing limits.
            keep = (mr < SCREEN_FACTOR * amr[:, None]) | (mr == 0)
            amr = np.nanmean(np.where(keep, mr, np.nan), axis=1)
    if np.isnan(amr).any():
        i = int(np.flatnonzero(np.isnan(amr))[0])
        raise StatsInputError(f"series {i} has no two consecutive values to form a moving range")
    dc = d - mean_c[:, None]
    code, side, ok = _apply_rules(
        dc, (LIMIT * amr)[:, None], (-LIMIT * amr)[:, None],
        (NEAR_LIMIT * amr)[:, None], (-NEAR_LIMIT * amr)[:, None], trend_length, shift_length,
    )  # fmt: skip
    ptype = _point_types(code, side, ok, direction)
    mean = origin + mean_c
    lpl, upl = mean - LIMIT * amr, mean + LIMIT * amr
    if target is not None:
        target = as_float_array(target, "target")
    assurance = _assurance(target, lpl, upl, direction)
    if last_only:
        last = y.shape[1] - 1 - np.argmax(valid[:, ::-1], axis=1)
        rows = np.arange(y.shape[0])
        code, ptype = code[rows, last], ptype[rows, last]
    return XmRBatchResult(
        mean=mean, amr=amr, lpl=lpl, upl=upl,
        lower_near=mean - NEAR_LIMIT * amr, upper_near=mean + NEAR_LIMIT * amr,
        rule=code, point_type=ptype, assurance=assurance, n_points=n_valid,
    )  # fmt: skip


@dataclass(frozen=True)
class Phase:
    """A rebase: limits are recalculated from index `start` onwards, for a recorded `reason`."""

    start: int
    reason: str


@dataclass(frozen=True)
class XmRResult:
    """One XmR chart: per-point limits, rule labels and point types, plus assurance and warnings."""

    y: np.ndarray
    mean: np.ndarray
    lpl: np.ndarray
    upl: np.ndarray
    lower_near: np.ndarray
    upper_near: np.ndarray
    rule: np.ndarray
    rule_label: np.ndarray
    point_type: np.ndarray
    phase: np.ndarray
    phases: tuple[Phase, ...]
    assurance: str | None
    warnings: list[str] = field(default_factory=list)


def _phases(phases, n: int) -> tuple[Phase, ...]:
    if phases is None:
        return (Phase(0, "baseline"),)
    items = phases.items() if isinstance(phases, Mapping) else phases
    out = [p if isinstance(p, Phase) else Phase(*p) for p in items]
    for p in out:
        if not str(p.reason).strip():
            raise StatsInputError(f"phase starting at {p.start} has no reason recorded")
        if not 0 < int(p.start) < n:
            raise StatsInputError(f"phase start {p.start} is outside the series (1..{n - 1})")
    starts = [p.start for p in out]
    if len(set(starts)) != len(starts):
        raise StatsInputError("two phases start at the same point")
    return (Phase(0, "baseline"), *sorted(out, key=lambda p: p.start))


def xmr(
    y,
    improvement: str = "neutral",
    target: float | None = None,
    screen_outliers: bool = True,
    phases: Sequence[Phase] | Mapping[int, str] | None = None,
    trend_length: int = 7,
    shift_length: int = 7,
    fix_after_n_points: int | None = None,
) -> XmRResult:
    """XmR chart of one series with Making Data Count rules, rebased at `phases`.

    `phases` lists rebases as `Phase(start, reason)` (or a mapping start → reason); each phase gets its own
    limits and its own rule evaluation, and a phase with fewer than 13 points adds a trial-limits warning.
    Assurance compares `target` with the last point's limits.
    """
    ya = as_float_array(y, "values")
    if ya.ndim != 1 or ya.size == 0:
        raise StatsInputError(f"values must be a non-empty 1-D series, got shape {ya.shape}")
    check_finite(ya, "values")
    direction = _direction(improvement)
    plist = _phases(phases, ya.size)
    bounds = [p.start for p in plist] + [ya.size]
    n = ya.size
    cols = {k: np.empty(n) for k in ("mean", "lpl", "upl", "lower_near", "upper_near")}
    rule = np.zeros(n, dtype=np.int8)
    ptype = np.zeros(n, dtype=np.int8)
    phase_id = np.zeros(n, dtype=np.int32)
    warnings: list[str] = []
    for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        if b - a < 2:
            raise StatsInputError(
                f"phase {k} ({plist[k].reason}) has {b - a} point(s); at least 2 are needed"
            )
        res = xmr_signals_batch(
            ya[None, a:b], improvement, None, screen_outliers, trend_length, shift_length, fix_after_n_points
        )
        for key in cols:
            cols[key][a:b] = getattr(res, key)[0]
        rule[a:b], ptype[a:b], phase_id[a:b] = res.rule[0], res.point_type[0], k
        if b - a < MIN_POINTS_FOR_LIMITS:
            warnings.append(
                f"phase {k} ({plist[k].reason}) has {b - a} points; fewer than {MIN_POINTS_FOR_LIMITS} "
                "give trial limits only"
            )
    assurance = _assurance(target, cols["lpl"][-1], cols["upl"][-1], direction)
    return XmRResult(
        y=ya, **cols, rule=rule, rule_label=np.asarray(MDC_RULE_LABELS, dtype=object)[rule],
        point_type=np.asarray(POINT_TYPES, dtype=object)[ptype], phase=phase_id, phases=plist,
        assurance=None if assurance is None else str(assurance), warnings=warnings,
    )  # fmt: skip


@dataclass(frozen=True)
class AttributeChartResult:
    """p/u/c/Laney chart: per-point centre, 3-sigma and 2-sigma limits, rules and point types."""

    value: np.ndarray
    centre: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    lower_near: np.ndarray
    upper_near: np.ndarray
    rule: np.ndarray
    point_type: np.ndarray
    sigma_z: float | None = None


def _attribute_chart(
    value, centre, sigma, floor, ceiling, improvement, trend_length, shift_length, sigma_z=None
):
    _check_lengths(trend_length, shift_length)
    direction = _direction(improvement)
    lower = np.maximum(centre - 3 * sigma, floor)
    upper = centre + 3 * sigma if ceiling is None else np.minimum(centre + 3 * sigma, ceiling)
    lower_near = np.maximum(centre - 2 * sigma, floor)
    upper_near = centre + 2 * sigma if ceiling is None else np.minimum(centre + 2 * sigma, ceiling)
    d = (value - centre)[None, :]
    code, side, ok = _apply_rules(
        d, (upper - centre)[None, :], (lower - centre)[None, :], (upper_near - centre)[None, :],
        (lower_near - centre)[None, :], trend_length, shift_length,
    )  # fmt: skip
    ptype = _point_types(code, side, ok, direction)
    c = np.broadcast_to(centre, value.shape).astype(float)
    return AttributeChartResult(value, c, lower, upper, lower_near, upper_near, code[0], ptype[0], sigma_z)


def _xn(x, n, proportion: bool):
    xa = as_float_array(x, "numerator")
    na = as_float_array(n, "denominator")
    if xa.ndim != 1 or xa.shape != na.shape or xa.size == 0:
        raise StatsInputError(
            f"numerator {xa.shape} and denominator {na.shape} must be equal-length 1-D series"
        )
    check_nonnegative(xa, "numerator")
    check_nonnegative(na, "denominator")
    if (na <= 0).any():
        raise StatsInputError(f"denominator at position {first_bad(na <= 0)} must be greater than zero")
    if proportion and (xa > na).any():
        raise StatsInputError(f"numerator greater than denominator at position {first_bad(xa > na)}")
    return xa, na


def _laney_sigma_z(z: np.ndarray) -> float:
    # Laney (2002): sigma of the z-scores from their average moving range (d2 = 1.128).
    return float(np.mean(np.abs(np.diff(z))) / 1.128)


def p_chart(x, n, improvement: str = "neutral", trend_length: int = 7, shift_length: int = 7):
    """p-chart: p̄ = Σx/Σn, σ_i = sqrt(p̄(1−p̄)/n_i), limits p̄ ± 3σ_i clipped to [0, 1] (qicharts2)."""
    xa, na = _xn(x, n, True)
    pbar = xa.sum() / na.sum()
    sigma = np.sqrt(pbar * (1 - pbar) / na)
    return _attribute_chart(xa / na, pbar, sigma, 0.0, 1.0, improvement, trend_length, shift_length)


def u_chart(x, n, improvement: str = "neutral", trend_length: int = 7, shift_length: int = 7):
    """u-chart: ū = Σx/Σn, σ_i = sqrt(ū/n_i), limits ū ± 3σ_i with the lower limit floored at 0."""
    xa, na = _xn(x, n, False)
    ubar = xa.sum() / na.sum()
    sigma = np.sqrt(ubar / na)
    return _attribute_chart(xa / na, ubar, sigma, 0.0, None, improvement, trend_length, shift_length)


def c_chart(x, improvement: str = "neutral", trend_length: int = 7, shift_length: int = 7):
    """c-chart: c̄ ± 3√c̄ for counts from equal-sized opportunities, lower limit floored at 0."""
    xa = as_float_array(x, "counts")
    if xa.ndim != 1 or xa.size == 0:
        raise StatsInputError("counts must be a non-empty 1-D series")
    check_nonnegative(xa, "counts")
    cbar = xa.mean()
    sigma = np.full(xa.shape, np.sqrt(cbar))
    return _attribute_chart(xa, cbar, sigma, 0.0, None, improvement, trend_length, shift_length)


def laney_p(x, n, improvement: str = "neutral", trend_length: int = 7, shift_length: int = 7):
    """Laney p′-chart: p-chart limits widened by σ_z = mean|Δz|/1.128 of z_i = (p_i − p̄)/σ_i.

    Use for large denominators (practice lists), where plain p-chart limits are far too narrow
    (Laney 2002, Quality Engineering 14(4)).
    """
    xa, na = _xn(x, n, True)
    if xa.size < 2:
        raise StatsInputError("a Laney chart needs at least 2 points")
    pbar = xa.sum() / na.sum()
    sigma = np.sqrt(pbar * (1 - pbar) / na)
    if pbar in (0.0, 1.0):
        raise StatsInputError("p̄ is 0 or 1: a Laney chart is undefined")
    sz = _laney_sigma_z((xa / na - pbar) / sigma)
    return _attribute_chart(xa / na, pbar, sigma * sz, 0.0, 1.0, improvement, trend_length, shift_length, sz)


def laney_u(x, n, improvement: str = "neutral", trend_length: int = 7, shift_length: int = 7):
    """Laney u′-chart: u-chart limits widened by σ_z = mean|Δz|/1.128 of z_i = (u_i − ū)/σ_i."""
    xa, na = _xn(x, n, False)
    if xa.size < 2:
        raise StatsInputError("a Laney chart needs at least 2 points")
    ubar = xa.sum() / na.sum()
    if ubar == 0:
        raise StatsInputError("ū is 0: a Laney chart is undefined")
    sigma = np.sqrt(ubar / na)
    sz = _laney_sigma_z((xa / na - ubar) / sigma)
    return _attribute_chart(xa / na, ubar, sigma * sz, 0.0, None, improvement, trend_length, shift_length, sz)
