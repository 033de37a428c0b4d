"""Statistics for rolled-up indicator values, from gpcluster.stats: confidence intervals, funnel
significance (against Scotland and within the HSCP) and SPC signals over time.

Works on numpy columns, vectorised across all rows of one indicator (one Python iteration per
indicator, never per practice or per period). Labels are returned as small integer codes into the
label tuples below, so the engine can join them back in DuckDB without moving strings through Python.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from gpcluster.indicators.definition import LEVELS, Definition
from gpcluster.stats import ci, funnel, spc

FUNNEL_LABELS: tuple[str, ...] = tuple(funnel.LABELS)
SPC_SIGNALS: tuple[str, ...] = tuple(spc.POINT_TYPES)
SPC_RULES: tuple[str | None, ...] = tuple(label or None for label in spc.MDC_RULE_LABELS)
NO_CODE = -1

_IMPROVEMENT = {"higher_is_better": "increase", "higher_is_worse": "decrease", "neither": "neutral"}
_FUNNEL_LEVELS_SCOTLAND = [LEVELS.index(v) for v in ("practice", "cluster", "hscp", "board")]
_FUNNEL_LEVELS_HSCP = [LEVELS.index(v) for v in ("practice", "cluster")]
_COMMON_CAUSE = SPC_SIGNALS.index("common_cause")
INPUT_COLUMNS = ("indicator_no", "level_no", "series_no", "period_no", "numerator", "denominator", "value",
                 "hscp_value", "scotland_value")


def _intervals(definition: Definition, num: np.ndarray, den: np.ndarray, level: float):
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


def _label_codes(labels: np.ndarray) -> np.ndarray:
    codes = np.full(labels.shape, NO_CODE, dtype=np.int8)
    for code, label in enumerate(FUNNEL_LABELS):
        codes[labels == label] = code
    return codes


def _intervals_and_funnels(cols: dict[str, np.ndarray], out: dict[str, np.ndarray], idx: np.ndarray,
                           definition: Definition) -> None:
    num, den, value = cols["numerator"][idx], cols["denominator"][idx], cols["value"][idx]
    ok = ~np.isnan(value) & (den > 0)
    at = idx[ok]
    if not at.size:
        return
    for level, low_col, high_col in ((ci.LEVEL_95, "lower95", "upper95"), (ci.LEVEL_998, "lower998", "upper998")):
        out[low_col][at], out[high_col][at] = _intervals(definition, num[ok], den[ok], level)
    # Funnel significance with a comparator per row (each period's Scotland, each practice's HSCP).
    # A unit lies outside the OHID funnel around a target exactly when its own interval excludes the
    # target (the funnel limits are the values whose Wilson/Poisson interval has the target on its
    # boundary), so the labels come from the intervals just computed via funnel.classify_interval.
    level_no = cols["level_no"][at]
    limits = [out[c][at] for c in ("lower95", "upper95", "lower998", "upper998")]
    for column, target_col, levels in (
        ("funnel_scotland", "scotland_value", _FUNNEL_LEVELS_SCOTLAND),
        ("funnel_hscp", "hscp_value", _FUNNEL_LEVELS_HSCP),
    ):
        target = cols[target_col][at]
        use = np.isin(level_no, levels) & np.isfinite(target)
        if use.any():
            labels = funnel.classify_interval(target[use], *(lim[use] for lim in limits))
            out[column][at[use]] = _label_codes(labels)


def _spc(cols: dict[str, np.ndarray], out: dict[str, np.ndarray], idx: np.ndarray, definition: Definition) -> None:
    series, series_index = np.unique(cols["series_no"][idx], return_inverse=True)
    periods, col = np.unique(cols["period_no"][idx], return_inverse=True)
    value = cols["value"][idx]
    grid = np.full((series.size, periods.size), np.nan)
    grid[series_index, col] = value
    valid = ~np.isnan(grid)
    # an XmR chart needs at least one pair of consecutive points to estimate its spread, and a spread
    # above zero; a series that never changes shows only common-cause variation by definition
    paired = (valid[:, 1:] & valid[:, :-1]).any(axis=1)
    varies = np.nan_to_num(np.abs(np.diff(grid, axis=1)), nan=0.0).max(axis=1, initial=0.0) > 0
    charted = paired & varies
    out["spc_signal"][idx[paired[series_index] & ~varies[series_index] & ~np.isnan(value)]] = _COMMON_CAUSE
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


def compute_statistics(cols: dict[str, np.ndarray], definitions: Sequence[Definition]) -> dict[str, np.ndarray]:
    """CI limits (float columns) and funnel/SPC codes (int8, NO_CODE = none) for every row.

    `cols` holds INPUT_COLUMNS as arrays: `indicator_no` indexes `definitions`, `level_no` indexes
    LEVELS, `series_no` numbers each indicator x level x area series and `period_no` orders periods.
    """
    n = len(cols["value"])
    out = {name: np.full(n, np.nan) for name in ("lower95", "upper95", "lower998", "upper998")}
    out.update({name: np.full(n, NO_CODE, dtype=np.int8)
                for name in ("funnel_scotland", "funnel_hscp", "spc_signal", "spc_rule")})
    indicator_no = np.asarray(cols["indicator_no"])
    if not n:
        return out
    order = np.argsort(indicator_no, kind="stable")
    numbers, starts = np.unique(indicator_no[order], return_index=True)
    for number, idx in zip(numbers, np.split(order, starts[1:]), strict=True):
        definition = definitions[int(number)]
        if definition.has_ci:
            _intervals_and_funnels(cols, out, idx, definition)
        _spc(cols, out, idx, definition)
    return out


def decode(codes: np.ndarray, labels: Sequence[str | None]) -> np.ndarray:
    """Integer codes back to labels (NO_CODE -> None)."""
    table = np.array([*labels, None], dtype=object)
    return table[np.where(codes == NO_CODE, len(labels), codes)]


def attach_statistics(frame: pd.DataFrame, definitions: dict[str, Definition]) -> pd.DataFrame:
    """Pandas convenience: fill CI, funnel and SPC columns of a frame with one row per indicator x
    period x area (columns indicator_id, level, area_code, period, numerator, denominator, value,
    hscp_value, scotland_value)."""
    frame = frame.reset_index(drop=True)
    ids = list(definitions)
    cols = {
        "indicator_no": frame["indicator_id"].map(ids.index).to_numpy(),
        "level_no": frame["level"].map(LEVELS.index).to_numpy(),
        "series_no": frame.groupby(["indicator_id", "level", "area_code"], sort=False).ngroup().to_numpy(),
        "period_no": pd.factorize(frame["period"], sort=True)[0],
    }
    cols.update({name: frame[name].to_numpy(dtype=float)
                 for name in ("numerator", "denominator", "value", "hscp_value", "scotland_value")})
    out = compute_statistics(cols, [definitions[i] for i in ids])
    for name in ("lower95", "upper95", "lower998", "upper998"):
        frame[name] = out[name]
    frame["funnel_scotland"] = decode(out["funnel_scotland"], FUNNEL_LABELS)
    frame["funnel_hscp"] = decode(out["funnel_hscp"], FUNNEL_LABELS)
    frame["spc_signal"] = decode(out["spc_signal"], SPC_SIGNALS)
    frame["spc_rule"] = decode(out["spc_rule"], SPC_RULES)
    return frame
