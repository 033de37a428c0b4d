"""Direct and indirect standardisation.

* Direct standardisation to the European Standard Population 2013 (19 five-year bands, 0-4 … 90+,
  summing to 100,000; Eurostat 2013) with the Dobson interval, as PHEindicatormethods ``calculate_dsr``
  (OHID: value withheld below 10 events) and ScotPHO ``calculate_easr`` (by sex, z = 1.96, no minimum).
* Indirect standardisation: observed/expected ratios and indirectly standardised rates with exact or
  Byar's Poisson limits, as PHEindicatormethods ``calculate_ISRatio``/``calculate_ISRate``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gpcluster.stats import ci
from gpcluster.stats.validation import (
    StatsInputError,
    as_float_array,
    broadcast,
    check_nonnegative,
    check_positive,
)

ESP2013_BANDS: tuple[str, ...] = (
    "0-4", "5-9", "10-14", "15-19", "20-24", "25-29", "30-34", "35-39", "40-44", "45-49",
    "50-54", "55-59", "60-64", "65-69", "70-74", "75-79", "80-84", "85-89", "90+",
)  # fmt: skip
_ESP2013_WEIGHTS = (
    5000, 5500, 5500, 5500, 6000, 6000, 6500, 7000, 7000, 7000,
    7000, 6500, 6000, 5500, 5000, 4000, 2500, 1500, 1000,
)  # fmt: skip

#: European Standard Population 2013, indexed by band label; sums to 100,000.
ESP2013 = pd.Series(_ESP2013_WEIGHTS, index=pd.Index(ESP2013_BANDS, name="band"), name="esp2013", dtype=float)
#: OHID withholds a DSR (and its interval) when the total count is below this.
OHID_DSR_MIN_EVENTS = 10


def esp2013_by_sex(sexes: tuple[str, ...] = ("female", "male")) -> pd.Series:
    """ESP2013 repeated for each sex (each sums to 100,000), indexed by (sex, band).

    This is ScotPHO's all-persons EASR standard: each sex standardised to its own ESP, total 200,000.
    """
    index = pd.MultiIndex.from_product([list(sexes), list(ESP2013_BANDS)], names=["sex", "band"])
    return pd.Series(np.tile(ESP2013.to_numpy(), len(sexes)), index=index, name="esp2013")


@dataclass(frozen=True)
class StandardisedResult:
    """A standardised value with its interval; `note` explains a value withheld by rule."""

    value: float
    lower: float
    upper: float
    observed: float
    note: str = ""


def _dsr_core(obs, weighted, var, total_weight, multiplier, level, min_events, method):
    """DSR and Dobson limits from per-group sums (arrays)."""
    value = weighted / total_weight
    variance = var / total_weight**2
    z = ci.SCOTPHO_Z95 if method == "scotpho" and level == ci.LEVEL_95 else None
    positive = obs > 0
    safe_obs = np.where(positive, obs, 1.0)
    lower, upper = ci.dobson(value, variance, safe_obs, level, z=z)
    lower = np.where(positive, lower, 0.0)
    upper = np.where(positive, upper, value)  # no events: Dobson is undefined; OHID withholds it anyway
    if method == "scotpho":
        lower = np.maximum(lower, 0.0)
    withheld = np.zeros(np.shape(obs), dtype=bool) if min_events is None else obs < min_events
    out = [np.where(withheld, np.nan, a * multiplier) for a in (value, lower, upper)]
    return (*out, withheld)


def _check_method(method: str) -> None:
    if method not in ("ohid", "scotpho"):
        raise StatsInputError(f"unknown DSR method {method!r}; use 'ohid' or 'scotpho'")


def dsr(
    counts,
    populations,
    standard=ESP2013,
    multiplier: float = 100_000,
    level: float = ci.LEVEL_95,
    min_events: int | None = OHID_DSR_MIN_EVENTS,
    method: str = "ohid",
) -> StandardisedResult:
    """Directly standardised rate for one area, with the Dobson interval.

    DSR = Σ(x_k·w_k/n_k)/Σw_k × multiplier; var = Σ x_k(w_k/n_k)² / (Σw_k)² (Dobson et al. 1991).
    `counts`, `populations` and `standard` are aligned by position (one entry per band). With
    ``min_events`` (OHID default 10) a smaller total count withholds the value; ``None`` keeps it
    (ScotPHO). ``method="scotpho"`` uses z = 1.96 at 95% and floors the lower limit at 0.
    """
    _check_method(method)
    x = as_float_array(counts, "counts")
    n = as_float_array(populations, "populations")
    w = as_float_array(standard, "standard population")
    if not (x.ndim == n.ndim == w.ndim == 1) or not (len(x) == len(n) == len(w)):
        raise StatsInputError(
            f"counts ({x.size}), populations ({n.size}) and standard ({w.size}) must be 1-D and of equal length"
        )
    if x.size == 0:
        raise StatsInputError("counts: empty input")
    check_nonnegative(x, "counts")
    check_positive(n, "populations")
    check_nonnegative(w, "standard population")
    obs = x.sum()
    value, lower, upper, withheld = _dsr_core(
        obs, (x * w / n).sum(), (x * (w / n) ** 2).sum(), w.sum(), multiplier, level, min_events, method
    )
    note = f"withheld: fewer than {min_events} events" if bool(withheld) else ""
    return StandardisedResult(float(value), float(lower), float(upper), float(obs), note)


def dsr_grouped(
    df: pd.DataFrame,
    group_cols: str | list[str],
    count_col: str,
    pop_col: str,
    band_col: str | list[str],
    standard: pd.Series = ESP2013,
    multiplier: float = 100_000,
    level: float = ci.LEVEL_95,
    min_events: int | None = OHID_DSR_MIN_EVENTS,
    method: str = "ohid",
) -> pd.DataFrame:
    """Directly standardised rates for many groups at once (set-based, no per-group Python loop).

    `standard` is a Series of weights indexed by the band label(s) in `band_col` (a list of columns,
    e.g. ``["sex", "band"]`` with `esp2013_by_sex()`, for sex-specific standards). Every group must have
    exactly one row per band of the standard. Returns one row per group with columns
    observed, population, value, lower, upper and note.
    """
    _check_method(method)
    groups = [group_cols] if isinstance(group_cols, str) else list(group_cols)
    bands = [band_col] if isinstance(band_col, str) else list(band_col)
    missing = [c for c in [*groups, count_col, pop_col, *bands] if c not in df.columns]
    if missing:
        raise StatsInputError(f"columns not in the table: {', '.join(missing)}")
    if df.empty:
        raise StatsInputError("dsr_grouped: empty table")
    x = df[count_col].to_numpy(dtype=float)
    n = df[pop_col].to_numpy(dtype=float)
    check_nonnegative(x, count_col)
    check_positive(n, pop_col)
    keys = pd.MultiIndex.from_frame(df[bands]) if len(bands) > 1 else pd.Index(df[bands[0]])
    w = standard.reindex(keys).to_numpy(dtype=float)
    if np.isnan(w).any():
        i = int(np.flatnonzero(np.isnan(w))[0])
        raise StatsInputError(f"row {i}: band {keys[i]!r} in {bands} is not in the standard population")
    dup = df.duplicated([*groups, *bands])
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise StatsInputError(
            f"row {i}: band {keys[i]!r} appears twice in group {df[groups].iloc[i].tolist()}"
        )
    work = df[groups].copy()
    work["_x"], work["_n"], work["_w"] = x, n, w
    work["_xw"] = x * w / n
    work["_var"] = x * (w / n) ** 2
    sums = work.groupby(groups, sort=True, dropna=False).agg(
        observed=("_x", "sum"), population=("_n", "sum"), weight=("_w", "sum"),
        xw=("_xw", "sum"), var=("_var", "sum"), bands=("_w", "size"),
    )  # fmt: skip
    short = sums["bands"] != len(standard)
    if short.any():
        raise StatsInputError(
            f"group {sums.index[short][0]!r} has {sums['bands'][short].iloc[0]} bands; "
            f"the standard has {len(standard)} (give a zero-count row for empty bands)"
        )
    value, lower, upper, withheld = _dsr_core(
        sums["observed"].to_numpy(), sums["xw"].to_numpy(), sums["var"].to_numpy(),
        sums["weight"].to_numpy(), multiplier, level, min_events, method,
    )  # fmt: skip
    out = sums[["observed", "population"]].reset_index()
    out["value"], out["lower"], out["upper"] = value, lower, upper
    out["note"] = np.where(withheld, f"withheld: fewer than {min_events} events", "")
    return out


def expected_counts(populations, reference_counts, reference_populations) -> np.ndarray:
    """Expected events per band: population × reference rate (reference count / reference population)."""
    n = as_float_array(populations, "populations")
    rc = as_float_array(reference_counts, "reference counts")
    rp = as_float_array(reference_populations, "reference populations")
    n, rc, rp = broadcast(populations=n, reference_counts=rc, reference_populations=rp)
    check_nonnegative(n, "populations")
    check_nonnegative(rc, "reference counts")
    check_positive(rp, "reference populations")
    return n * rc / rp


def indirect(
    observed,
    expected,
    level: float = ci.LEVEL_95,
    method: str = "ohid",
    reference_rate=1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indirectly standardised ratio (O/E) or rate, with Poisson limits of O divided by E.

    Returns (value, lower, upper) with value = O/E × `reference_rate`. Leave `reference_rate` at 1 for a
    standardised ratio, use 100 for an SMR ×100, or the reference rate per 100,000 for an indirectly
    standardised rate (PHEindicatormethods ``calculate_ISRatio``/``calculate_ISRate``). `method` is a
    `ci.poisson` method: ``"ohid"`` (exact below 10 events, Byar's above) by default.
    """
    o = as_float_array(observed, "observed")
    e = as_float_array(expected, "expected")
    r = as_float_array(reference_rate, "reference rate")
    o, e, r = broadcast(observed=o, expected=e, reference_rate=r)
    check_nonnegative(o, "observed")
    check_positive(e, "expected")
    check_positive(r, "reference rate")
    lower, upper = ci.poisson(o, level, method)
    return o / e * r, lower / e * r, upper / e * r
