"""Which practices and clusters show a performance figure worth a conversation, and since when.

A signal needs evidence that persists, from either of two detectors on each series of a performance
indicator (observed count O against expected count E, per practice or cluster and quarter):

* **Level**: the unit sits beyond the 99.8% limits of the overdispersion-adjusted funnel this quarter
  (z-score against Scotland with the between-unit variance τ², stored by the engine) and beyond the 95%
  limits the quarter before, on the same side, at least MIN_LEVEL_DIFFERENCE from what is expected, and
  a discovery when the false discovery rate across all units of the quarter is held at 1%
  (Benjamini-Hochberg): with 930 practices, about two would pass 99.8% limits by chance every quarter. Being unusual once is not enough; genuine, lasting
  differences between practices are allowed for by τ².
* **Change**: the unit's own series of log(O/E) (E carries the season, Scotland's trend and, where
  standardised, the list's age and sex), taken relative to its HSCP's (so that a change the whole HSCP
  shares, such as a service rolled out across it, is not read as the practice's own), moves away from its
  own baseline (the 12 quarters before the last two): both of the last two quarters beyond the baseline's two-sigma lines on the same side and one of
  them beyond its three-sigma limits (Making Data Count's "two of three beyond the near limits" and
  "outside the limits" rules, confirmed over two quarters), and the change is at least
  MIN_RELATIVE_CHANGE. Limits are mean ± 2.66 x the mean moving range, ranges of 3.267 x the mean or more
  screened out (NHSRplotthedots). With fewer than 12 baseline quarters there is no change test: "too few
  points for SPC".

A signal starts in the first quarter of an unbroken run of quarters with evidence in the same direction;
its id (level, area, indicator, start quarter) stays the same while the run lasts, so responses and
actions can be attached to it. A run that stops is reported once as resolved.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from gpcluster.stats import spc

Z_95, Z_998 = 1.959964, 3.090232
BASELINE_POINTS = spc.MIN_FIX_AFTER_N_POINTS  # 12 quarters, as Making Data Count fixes limits after 12
TESTED_POINTS = 2
MIN_RELATIVE_CHANGE = 0.15  # a change smaller than 15% of the unit's own baseline is not worth a meeting
MIN_LEVEL_DIFFERENCE = 0.2  # nor is a level within 20% of what is expected of units like it
FALSE_DISCOVERY_RATE = 0.01  # Benjamini-Hochberg, across the units of one indicator and quarter
SIGMA_PER_AMR = spc.LIMIT / 3.0  # 2.66 / 3: one sigma in units of the mean moving range


@dataclass(frozen=True)
class Series:
    """One indicator's performance series, as a (unit x quarter) grid."""

    keys: pd.DataFrame  # one row per unit: indicator_id, level, area_code
    periods: np.ndarray  # quarter start dates, ascending
    observed: np.ndarray  # O
    expected: np.ndarray  # E
    z: np.ndarray  # adjusted funnel z-score against Scotland (NaN: none)
    position: np.ndarray  # row of the source frame for each cell (-1: no row)


def grid(frame: pd.DataFrame) -> Series:
    """Stored performance rows of one indicator and level as a unit x quarter grid."""
    periods = np.sort(frame["period"].unique())
    keys = frame[["indicator_id", "level", "area_code"]].drop_duplicates().reset_index(drop=True)
    row = pd.Index(keys["area_code"]).get_indexer(frame["area_code"])
    col = np.searchsorted(periods, frame["period"].to_numpy())
    shape = (len(keys), len(periods))
    out = {name: np.full(shape, np.nan) for name in ("observed", "expected", "z")}
    for name, column in (("observed", "numerator"), ("expected", "expected"), ("z", "z_score")):
        out[name][row, col] = frame[column].to_numpy(dtype=float)
    usable = (out["expected"] > 0) & ~np.isnan(out["observed"])
    for name in out:
        out[name][~usable] = np.nan
    position = np.full(shape, -1)
    position[row, col] = np.arange(len(frame))
    return Series(keys, periods, position=position, **out)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values) of each column's finite p-values."""
    q = np.full(p.shape, np.nan)
    for col in range(p.shape[1]):
        at = np.flatnonzero(np.isfinite(p[:, col]))
        if not at.size:
            continue
        order = at[np.argsort(p[at, col], kind="stable")]
        ranked = p[order, col] * at.size / np.arange(1, at.size + 1)
        q[order, col] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    return q


def level_evidence(series: Series) -> np.ndarray:
    """+1 / -1 where the unit is beyond 99.8% now and beyond 95% the quarter before (same side), at least
    MIN_LEVEL_DIFFERENCE away from what is expected of it, and a discovery at FALSE_DISCOVERY_RATE among
    all units that quarter (with 930 practices, about two would pass 99.8% limits by chance alone); else 0."""
    z = series.z
    with np.errstate(invalid="ignore", divide="ignore"):
        large = np.abs(series.observed / series.expected - 1) >= MIN_LEVEL_DIFFERENCE
    discovered = benjamini_hochberg(2 * norm.sf(np.abs(z))) <= FALSE_DISCOVERY_RATE
    keep = large & discovered
    now = np.where(keep & (z > Z_998), 1, np.where(keep & (z < -Z_998), -1, 0))
    before = np.zeros_like(now)
    previous = z[:, :-1]
    before[:, 1:] = np.where(previous > Z_95, 1, np.where(previous < -Z_95, -1, 0))
    first = np.zeros_like(now, dtype=bool)  # the first quarter of a series has no "before": 99.8% suffices
    has_value = ~np.isnan(z)
    first[:, 0] = has_value[:, 0]
    first[:, 1:] = has_value[:, 1:] & ~has_value[:, :-1]
    return np.where((now != 0) & ((before == now) | first), now, 0)


@dataclass(frozen=True)
class ChangeEvidence:
    direction: np.ndarray  # +1 / -1 / 0
    tested: np.ndarray  # True where the series had enough baseline quarters to be tested
    z: np.ndarray  # (log(O/E) - baseline mean) / sigma of the latest quarter
    relative: np.ndarray  # exp(log(O/E) - baseline mean) - 1: the change against the unit's own baseline
    baseline_ratio: np.ndarray  # exp(baseline mean): the unit's usual O/E


def relative_log_rate(series: Series, reference: Series | None = None, reference_row=None) -> np.ndarray:
    """log(O/E) of each unit and quarter, minus that of its reference area (its HSCP) where given: a
    change the whole HSCP shares (a service rolled out across it) is the HSCP's, not the practice's."""
    r = np.log((series.observed + 0.5) / (series.expected + 0.5))
    if reference is None:
        return r
    ref = np.log((reference.observed + 0.5) / (reference.expected + 0.5))
    row = np.asarray(reference_row)
    has = row >= 0
    out = np.full_like(r, np.nan)
    out[has] = r[has] - ref[row[has], np.nonzero(has)[1]]
    out[~has] = r[~has]
    return out


def change_evidence(series: Series, r: np.ndarray | None = None) -> ChangeEvidence:
    """The change detector (module docstring), for every unit and quarter, on `r` (default log(O/E))."""
    r = np.log((series.observed + 0.5) / (series.expected + 0.5)) if r is None else r
    n_units, n_periods = r.shape
    out = {name: np.full((n_units, n_periods), np.nan) for name in ("z", "relative", "baseline_ratio")}
    direction = np.zeros((n_units, n_periods), dtype=np.int8)
    tested = np.zeros((n_units, n_periods), dtype=bool)
    for t in range(BASELINE_POINTS + TESTED_POINTS - 1, n_periods):
        base = r[:, t - TESTED_POINTS - BASELINE_POINTS + 1: t - TESTED_POINTS + 1]
        latest = r[:, t - TESTED_POINTS + 1: t + 1]
        full = (~np.isnan(base)).all(axis=1) & (~np.isnan(latest)).all(axis=1)
        if not full.any():
            continue
        mean = base.mean(axis=1)
        ranges = np.abs(np.diff(base, axis=1))
        amr = ranges.mean(axis=1)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # series with missing quarters are not tested
            kept = np.where((ranges < spc.SCREEN_FACTOR * amr[:, None]) | (ranges == 0), ranges, np.nan)
            amr = np.nanmean(kept, axis=1)
        # a count varies at least as a Poisson count does: a short baseline's moving ranges can understate it
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            poisson = np.sqrt(1 / np.nanmean(series.expected[:, t - TESTED_POINTS - BASELINE_POINTS + 1:
                                                              t - TESTED_POINTS + 1], axis=1))
        sigma = np.fmax(amr * SIGMA_PER_AMR, poisson)
        ok = full & (sigma > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            zz = (latest - mean[:, None]) / sigma[:, None]
        side = np.sign(zz)
        near_both = (np.abs(zz) > 2).all(axis=1) & (side[:, 0] == side[:, -1])
        beyond_one = (np.abs(zz) > 3).any(axis=1)
        relative = np.exp(latest[:, -1] - mean) - 1
        # the weaker of the two confirming quarters, as a discovery among all units this quarter
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            weaker = np.where(ok, np.nanmin(np.abs(zz), axis=1), np.nan)
        discovered = benjamini_hochberg((2 * norm.sf(weaker))[:, None])[:, 0] <= FALSE_DISCOVERY_RATE
        hit = ok & near_both & beyond_one & discovered & (np.abs(relative) >= MIN_RELATIVE_CHANGE)
        tested[:, t] = ok
        direction[:, t] = np.where(hit, side[:, -1], 0).astype(np.int8)
        out["z"][:, t] = np.where(ok, zz[:, -1], np.nan)
        out["relative"][:, t] = np.where(ok, relative, np.nan)
        out["baseline_ratio"][:, t] = np.where(ok, np.exp(mean), np.nan)
    return ChangeEvidence(direction, tested, **out)


@dataclass(frozen=True)
class Runs:
    direction: np.ndarray  # +1 / -1 while a run lasts, 0 otherwise
    start: np.ndarray  # column index of the run's first quarter (-1 outside runs)
    persistence: np.ndarray  # quarters the run has lasted, this one included
    resolved: np.ndarray  # True in the first quarter after a run ends (the run's direction in `ended`)
    ended: np.ndarray  # direction of the run that ended here


def runs(evidence: np.ndarray) -> Runs:
    """Unbroken runs of evidence in one direction along each row (quarters)."""
    n_units, n_periods = evidence.shape
    start = np.full((n_units, n_periods), -1)
    persistence = np.zeros((n_units, n_periods), dtype=int)
    ended = np.zeros((n_units, n_periods), dtype=np.int8)
    for t in range(n_periods):
        now = evidence[:, t]
        continuing = (now != 0) & (t > 0) & (evidence[:, t - 1] == now) if t else np.zeros(n_units, dtype=bool)
        fresh = (now != 0) & ~continuing
        if t:
            start[:, t] = np.where(continuing, start[:, t - 1], np.where(fresh, t, -1))
            persistence[:, t] = np.where(continuing, persistence[:, t - 1] + 1, np.where(fresh, 1, 0))
            stopped = (evidence[:, t - 1] != 0) & ~continuing
            ended[:, t] = np.where(stopped, evidence[:, t - 1], 0)
        else:
            start[:, t] = np.where(fresh, 0, -1)
            persistence[:, t] = fresh.astype(int)
    return Runs(evidence, start, persistence, ended != 0, ended)
