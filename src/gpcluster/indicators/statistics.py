"""Statistics for rolled-up indicator values, from gpcluster.stats: confidence intervals, funnel
positions (against Scotland and within the HSCP) and SPC over time.

Context indicators (age, deprivation, list size...) get intervals and their national position only: they
describe a practice and are never flagged as unusual. Performance indicators are compared with what is
expected of them: each unit's observed count O against its expected count E (indirectly standardised for
age and sex where the definition gives reference rates, else the unit's denominator times Scotland's
rate), on the funnel of Spiegelhalter (2005) as FunnelPlotR draws it: the overdispersion φ and the
between-unit variance τ² (DerSimonian-Laird) are estimated for each indicator, level and period, and the
limits widened by τ² when φ > 1, because full counts of practices that genuinely differ are not samples
and a binomial funnel would flag most of them. Where a definition asks (`adjust_for`), expected counts
also allow for the practice's deprivation and rurality (case-mix adjustment). Rates, ratios and
proportions alike are compared as O/E on the square-root scale ("CQC" in FunnelPlotR, which copes with
zero counts). SPC uses the Making Data Count rules, only where a series has enough points.

Works on numpy columns (loops over indicators, levels and periods, never over practices). Labels are
returned as small integer codes into the label tuples below, so the engine can join them back in DuckDB
without moving strings through Python.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from gpcluster.indicators.definition import LEVELS, Definition
from gpcluster.stats import ci, funnel, spc

FUNNEL_LABELS: tuple[str, ...] = tuple(funnel.LABELS)
TOO_FEW_POINTS = "too_few_points"
SPC_SIGNALS: tuple[str, ...] = (*spc.POINT_TYPES, TOO_FEW_POINTS)
SPC_RULES: tuple[str | None, ...] = tuple(label or None for label in spc.MDC_RULE_LABELS)
NO_CODE = -1

_IMPROVEMENT = {"higher_is_better": "increase", "higher_is_worse": "decrease", "neither": "neutral"}
_FUNNEL_LEVELS_SCOTLAND = [LEVELS.index(v) for v in ("practice", "cluster", "hscp", "board")]
_FUNNEL_LEVELS_HSCP = [LEVELS.index(v) for v in ("practice", "cluster")]
_COMMON_CAUSE = SPC_SIGNALS.index("common_cause")
_TOO_FEW = SPC_SIGNALS.index(TOO_FEW_POINTS)
INPUT_COLUMNS = ("indicator_no", "level_no", "series_no", "period_no", "numerator", "denominator", "value",
                 "expected", "cluster_area", "hscp_area", "board_area", "case_deprivation", "case_rurality",
                 "hscp_value", "scotland_value")
CASE_MIX = {"deprivation": "case_deprivation", "rurality": "case_rurality", "hscp": "hscp_area"}
PER_PERIOD = {"hscp"}  # factors fitted each quarter (an HSCP's provision changes); others across all quarters
RAKING_ROUNDS = 20
Z_95, Z_998 = 1.959964, 3.090232
# Winsorise z at the 5th and 95th centiles when estimating φ. FunnelPlotR's default is 10%; with practices
# that differ normally, 10% understated τ by about a third on the synthetic Scotland (so ~3x too many units
# fell outside 99.8%), while 5% still keeps a handful of extreme units from inflating it.
TRIM = 0.05
MIN_UNITS = 5  # fewer units than this give no overdispersion estimate (limits stay unadjusted)
MODEL_COLUMNS = ("indicator_no", "level_no", "period_no", "scale", "units", "phi", "tau2", "adjusted",
                 "target")


def _interval_limits(definition: Definition, num: np.ndarray, den: np.ndarray, level: float):
    mult = definition.multiplier
    if definition.measure_type == "proportion":
        lower, upper = ci.wilson(num, den, level=level)
        return lower * mult, upper * mult
    # crude rates and indirectly standardised ratios (O/E): Poisson limits of the count over the
    # denominator; exact below 10 events, Byar's from 10 (OHID convention, see METHODS.md 2b)
    # (the same as ci.rate(method="ohid"), split so the slow exact quantiles run only for small counts)
    small = num < ci.OHID_EXACT_BELOW
    lower, upper = np.empty_like(num), np.empty_like(num)
    if small.any():
        lower[small], upper[small] = ci.rate(num[small], den[small], mult, level, method="exact")
    if (~small).any():
        lower[~small], upper[~small] = ci.rate(num[~small], den[~small], mult, level, method="byars")
    return lower, upper


def _intervals(cols: dict[str, np.ndarray], out: dict[str, np.ndarray], idx: np.ndarray,
               definition: Definition) -> None:
    num, den, value = cols["numerator"][idx], cols["denominator"][idx], cols["value"][idx]
    ok = ~np.isnan(value) & (den > 0)
    at = idx[ok]
    if not at.size:
        return
    for level, low_col, high_col in ((ci.LEVEL_95, "lower95", "upper95"), (ci.LEVEL_998, "lower998", "upper998")):
        out[low_col][at], out[high_col][at] = _interval_limits(definition, num[ok], den[ok], level)


def _codes_from_z(z: np.ndarray) -> np.ndarray:
    """Funnel label codes (indexes of FUNNEL_LABELS) from z-scores: beyond 99.8% / 95% two-sided."""
    code = np.full(z.shape, FUNNEL_LABELS.index(funnel.NOT_SIGNIFICANT), dtype=np.int8)
    code[z > Z_95] = FUNNEL_LABELS.index(funnel.HIGH_95)
    code[z > Z_998] = FUNNEL_LABELS.index(funnel.HIGH_998)
    code[z < -Z_95] = FUNNEL_LABELS.index(funnel.LOW_95)
    code[z < -Z_998] = FUNNEL_LABELS.index(funnel.LOW_998)
    code[np.isnan(z)] = NO_CODE
    return code


def _observed_expected(cols: dict[str, np.ndarray], idx: np.ndarray, definition: Definition):
    """(O, E) of each row: the events observed, and those expected at Scotland's rates (by age and sex
    where the definition gives reference rates; for a proportion, Scotland's share of the denominator)."""
    num, den = cols["numerator"][idx], cols["denominator"][idx]
    usable = ~np.isnan(cols["value"][idx])
    crude = den * cols["scotland_value"][idx] / definition.multiplier  # at Scotland's rate (or share) then
    if definition.measure_type == "standardised_ratio":
        expected = den
    elif definition.expected is not None:
        # standardised where reference rates exist for the quarter and the unit's list has age bands
        expected = np.where(np.isfinite(cols["expected"][idx]), cols["expected"][idx], crude)
    else:
        expected = crude
    ok = usable & (expected > 0)
    return np.where(ok, num, np.nan), np.where(ok, expected, np.nan)


def _case_mix(cols: dict[str, np.ndarray], idx: np.ndarray, definition: Definition, obs: np.ndarray,
              exp: np.ndarray) -> np.ndarray:
    """Expected counts that also allow for where each practice is: Poisson main effects of the declared
    factors (SIMD quintile, urban-rural class), fitted across practices and all periods by iterative
    proportional fitting (the maximum-likelihood solution of that log-linear model), so each class's
    expected total equals its observed total. These factors are the same in every period, so they move no
    practice's series over time (a change detector must not see the adjustment); an HSCP factor, for
    services the HSCP allocates, is fitted per period and is shared by all of the HSCP's practices. Areas
    then sum their practices' expected counts."""
    level_no, period_no = cols["level_no"][idx], cols["period_no"][idx]
    practice = (level_no == 0) & ~np.isnan(obs) & ~np.isnan(exp)
    adjusted = exp.copy()
    at = np.flatnonzero(practice)
    if not at.size:
        return adjusted
    e, o = exp[at].copy(), obs[at]
    periods = pd.factorize(period_no[at])[0]
    factors = []
    for name in definition.adjust_for:
        group = pd.factorize(pd.Series(cols[CASE_MIX[name]][idx][at]).fillna(-1).to_numpy())[0]
        factors.append(group * (periods.max() + 1) + periods if name in PER_PERIOD else group)
    observed = [np.bincount(group, weights=o) for group in factors]  # the same every round
    for _ in range(RAKING_ROUNDS):
        for group, totals in zip(factors, observed, strict=True):
            ratio = totals / np.maximum(np.bincount(group, weights=e), 1e-12)
            e *= ratio[group]
    adjusted[at] = e
    # every area's expected count is the sum of its usable practices' (NaN for an area with none)
    period_values, period_at = np.unique(period_no, return_inverse=True)
    for level, column in ((1, "cluster_area"), (2, "hscp_area"), (3, "board_area"), (4, None)):
        rows = np.flatnonzero((level_no == level) & ~np.isnan(exp))
        if not rows.size:
            continue
        parent = (cols[column][idx][at] if column else np.zeros(at.size, dtype=np.int64)).astype(np.int64)
        target = (cols["series_no"][idx][rows] if column else np.zeros(rows.size, dtype=np.int64)).astype(np.int64)
        member = parent >= 0  # (a practice outside any such area: -1 from attach_statistics)
        key = parent[member] * period_values.size + period_at[at][member]
        wanted = target * period_values.size + period_at[rows]
        size = int(max(key.max(initial=0), wanted.max(initial=0))) + 1
        sums = np.bincount(key, weights=e[member], minlength=size)
        sums[np.bincount(key, minlength=size) == 0] = np.nan
        adjusted[rows] = sums[wanted]
    return adjusted


def _adjusted_funnels(cols: dict[str, np.ndarray], out: dict[str, np.ndarray], idx: np.ndarray,
                      definition: Definition, number: int, models: list[tuple]) -> None:
    """Expected counts, z-scores against Scotland with overdispersion, and labels against Scotland and
    against the row's HSCP, for every level and period of one performance indicator."""
    obs, exp = _observed_expected(cols, idx, definition)
    if definition.adjust_for:
        exp = _case_mix(cols, idx, definition, obs, exp)
    level_no, period_no = cols["level_no"][idx], cols["period_no"][idx]
    out["expected"][idx] = exp
    y_all = np.full(idx.size, np.nan)
    s_all = np.full(idx.size, np.nan)
    z_all = np.full(idx.size, np.nan)
    # one funnel per level (below Scotland) and period, over the rows with O and E > 0, all fitted at once
    rows = np.flatnonzero((level_no <= 3) & ~np.isnan(obs) & (exp > 0))
    periods = np.unique(period_no)
    tau2_of = np.zeros((4, periods.size))
    if rows.size:
        period_at = np.searchsorted(periods, period_no[rows])
        group = level_no[rows].astype(np.int64) * periods.size + period_at
        fit = funnel.overdispersion_by_group(obs[rows], exp[rows], group, "SR", "CQC", trim_by=TRIM)
        fitted = fit.units >= MIN_UNITS
        tau2 = np.where(fitted & fit.adjusted, fit.tau2, 0.0)
        y, s, y_target = funnel.spiegelhalter_scale(obs[rows], exp[rows], "SR", "CQC", 1.0)
        z_all[rows] = (y - y_target) / np.sqrt(s**2 + tau2[group])
        y_all[rows], s_all[rows] = y, s
        tau2_of.flat[: tau2.size] = tau2
        for code in np.flatnonzero(fit.units):
            level, period = divmod(int(code), periods.size)
            models.append((number, level, int(periods[period]), "sqrt(O/E)", int(fit.units[code]),
                           float(fit.phi[code]) if fitted[code] else float("nan"), float(tau2[code]),
                           bool(fitted[code] and fit.adjusted[code]), 1.0))
    out["z_score"][idx[rows]] = z_all[rows]
    out["funnel_scotland"][idx[rows]] = _codes_from_z(z_all[rows])
    _against_hscp(cols, out, idx, obs, exp, y_all, s_all, tau2_of, periods)


def _against_hscp(cols, out, idx, obs, exp, y_all, s_all, tau2_of, periods) -> None:
    """Practice and cluster rows against their HSCP: z = (Y - Y_hscp) / sqrt(s² + τ²), same scale."""
    level_no, period_no = cols["level_no"][idx], cols["period_no"][idx]
    hscp_rows = np.flatnonzero(level_no == 2)
    if not hscp_rows.size:
        return
    period_at = np.searchsorted(periods, period_no)
    # (series, period) of each HSCP row as one integer key, looked up by binary search
    key = cols["series_no"][idx].astype(np.int64) * periods.size + period_at
    hscp_keys = key[hscp_rows]
    by_key = np.argsort(hscp_keys, kind="stable")
    sorted_keys = hscp_keys[by_key]
    for level in (0, 1):
        rows = np.flatnonzero((level_no == level) & ~np.isnan(y_all))
        if not rows.size:
            continue
        wanted = cols["hscp_area"][idx][rows].astype(np.int64) * periods.size + period_at[rows]
        found = np.minimum(np.searchsorted(sorted_keys, wanted), sorted_keys.size - 1)
        ok = sorted_keys[found] == wanted
        rows, partner = rows[ok], hscp_rows[by_key[found[ok]]]
        if not rows.size:
            continue
        y_h = np.sqrt(obs[partner] / exp[partner])
        tau2 = tau2_of[level, period_at[rows]]
        z = (y_all[rows] - y_h) / np.sqrt(s_all[rows] ** 2 + tau2)
        out["funnel_hscp"][idx[rows]] = _codes_from_z(z)


def _spc(cols: dict[str, np.ndarray], out: dict[str, np.ndarray], idx: np.ndarray, definition: Definition) -> None:
    series, series_index = np.unique(cols["series_no"][idx], return_inverse=True)
    periods, col = np.unique(cols["period_no"][idx], return_inverse=True)
    value = cols["value"][idx]
    grid = np.full((series.size, periods.size), np.nan)
    grid[series_index, col] = value
    valid = ~np.isnan(grid)
    # Making Data Count: limits need enough points; with fewer, say so rather than "common cause"
    enough = valid.sum(axis=1) >= spc.MIN_POINTS_FOR_LIMITS
    out["spc_signal"][idx[~enough[series_index] & ~np.isnan(value)]] = _TOO_FEW
    # a series that never changes shows only common-cause variation by definition
    varies = np.nan_to_num(np.abs(np.diff(grid, axis=1)), nan=0.0).max(axis=1, initial=0.0) > 0
    charted = enough & varies
    out["spc_signal"][idx[enough[series_index] & ~varies[series_index] & ~np.isnan(value)]] = _COMMON_CAUSE
    if not charted.any():
        return
    result = spc.xmr_signals_batch(grid[charted], improvement=_IMPROVEMENT[definition.polarity])
    position = np.full(series.size, -1)
    position[charted] = np.arange(int(charted.sum()))
    pos = position[series_index]
    has = pos >= 0
    point_type = result.point_type[pos[has], col[has]]
    present = point_type >= 0
    target = idx[has][present]
    out["spc_signal"][target] = point_type[present]
    out["spc_rule"][target] = result.rule[pos[has], col[has]][present]


def compute_statistics(cols: dict[str, np.ndarray], definitions: Sequence[Definition]
                       ) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Per row: CI limits, expected count and z-score (float columns) and funnel/SPC codes (int8,
    NO_CODE = none); and the funnel model (φ, τ²) of each performance indicator, level and period.

    `cols` holds INPUT_COLUMNS as arrays: `indicator_no` indexes `definitions`, `level_no` indexes
    LEVELS, `series_no` numbers each indicator x level x area series (the area number), `period_no` orders
    periods and `hscp_area` is the series number of the row's HSCP.
    """
    n = len(cols["value"])
    out = {name: np.full(n, np.nan) for name in ("lower95", "upper95", "lower998", "upper998", "expected",
                                                  "z_score")}
    out.update({name: np.full(n, NO_CODE, dtype=np.int8)
                for name in ("funnel_scotland", "funnel_hscp", "spc_signal", "spc_rule")})
    models: list[tuple] = []
    indicator_no = np.asarray(cols["indicator_no"])
    if n:
        order = np.argsort(indicator_no, kind="stable")
        numbers, starts = np.unique(indicator_no[order], return_index=True)
        for number, idx in zip(numbers, np.split(order, starts[1:]), strict=True):
            definition = definitions[int(number)]
            if definition.has_ci:
                _intervals(cols, out, idx, definition)
            if definition.is_performance:
                _adjusted_funnels(cols, out, idx, definition, int(number), models)
                _spc(cols, out, idx, definition)
    return out, pd.DataFrame(models, columns=list(MODEL_COLUMNS))


def decode(codes: np.ndarray, labels: Sequence[str | None]) -> np.ndarray:
    """Integer codes back to labels (NO_CODE -> None)."""
    table = np.array([*labels, None], dtype=object)
    return table[np.where(codes == NO_CODE, len(labels), codes)]


def attach_statistics(frame: pd.DataFrame, definitions: dict[str, Definition]) -> pd.DataFrame:
    """Pandas convenience: fill CI, expected, z-score, funnel and SPC columns of a frame with one row per
    indicator x period x area (columns indicator_id, level, area_code, period, numerator, denominator, value,
    scotland_value; optionally expected, hscp_value, cluster_id, hscp_code, board_code and the case-mix
    columns case_deprivation, case_rurality)."""
    frame = frame.reset_index(drop=True)
    ids = list(definitions)
    n = len(frame)
    series = frame.groupby(["indicator_id", "level", "area_code"], sort=False).ngroup().to_numpy()
    series_of = dict(zip(zip(frame["indicator_id"], frame["level"], frame["area_code"], strict=True), series,
                         strict=True))

    def parent(level: str, column: str) -> np.ndarray:
        codes = frame[column] if column in frame else pd.Series([None] * n)
        return np.array([series_of.get((i, level, c), -1) for i, c in zip(frame["indicator_id"], codes, strict=True)])

    cols = {
        "indicator_no": frame["indicator_id"].map(ids.index).to_numpy(),
        "level_no": frame["level"].map(LEVELS.index).to_numpy(),
        "series_no": series,
        "period_no": pd.factorize(frame["period"], sort=True)[0],
        "cluster_area": parent("cluster", "cluster_id"), "hscp_area": parent("hscp", "hscp_code"),
        "board_area": parent("board", "board_code"),
    }
    cols.update({name: frame[name].to_numpy(dtype=float) if name in frame else np.full(n, np.nan)
                 for name in ("numerator", "denominator", "value", "expected", "hscp_value", "scotland_value",
                              "case_deprivation", "case_rurality")})
    out, _ = compute_statistics(cols, [definitions[i] for i in ids])
    for name in ("lower95", "upper95", "lower998", "upper998", "expected", "z_score"):
        frame[name] = out[name]
    frame["funnel_scotland"] = decode(out["funnel_scotland"], FUNNEL_LABELS)
    frame["funnel_hscp"] = decode(out["funnel_hscp"], FUNNEL_LABELS)
    frame["spc_signal"] = decode(out["spc_signal"], SPC_SIGNALS)
    frame["spc_rule"] = decode(out["spc_rule"], SPC_RULES)
    return frame
