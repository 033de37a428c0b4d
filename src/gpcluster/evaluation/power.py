"""Before the change: could the planned design see an effect? Power and minimum detectable effect
(MDE) from the indicator's own history.

From the quarters before the start, the outcome (log rate for count indicators) of the candidate units
is taken net of unit and quarter effects. What is left is each unit's own quarter-to-quarter variation:
its standard deviation sigma and autocorrelation, modelled as white noise plus an AR(1) part
(correlation rho at lag 1, decaying by phi per further lag: counting noise is white, a practice's own
drift persists). Removing unit means biases autocovariances down by about the long-run variance / T
(Nickell 1981); the estimates are corrected for it.

Analytic standard errors for the planned estimate:

* difference-in-differences (and, approximately, staggered adoption and synthetic control): the change
  from the mean before to the mean after, a' R a sigma^2 (1/n_treated + 1/n_comparison) with
  a = (-1/pre, ..., +1/post) and R the correlation matrix above, times the design effect 1 + cv^2 of
  unit sizes (the Poisson estimator weights larger units more);
* interrupted time series: the sandwich (X'X)^-1 X' S X (X'X)^-1 of the segmented-regression contrast,
  S the AR(1) covariance of the combined treated series (its own sigma and rho).

MDE = (t(1 - alpha/2) + t(power)) x SE on the log scale, reported as the smaller relative change in
either direction. tests/evaluation validate the standard errors and the 80% power by simulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy import stats

from gpcluster.errors import UserError
from gpcluster.evaluation.its import design, window_contrast
from gpcluster.evaluation.panel import Panel, aggregate, quarter_index
from gpcluster.evaluation.result import METHOD_NAMES
from gpcluster.evaluation.sentences import in_sentence

MIN_HISTORY_QUARTERS = 6


@dataclass(frozen=True)
class Variation:
    """Quarter-to-quarter variation of the outcome, net of unit and quarter effects."""

    sigma: float
    rho: float  # correlation at lag 1
    units: int
    quarters: int
    phi: float | None = None  # decay per further lag; None means AR(1) (phi = rho)

    def correlation(self, n: int) -> np.ndarray:
        """n x n correlation matrix of n consecutive quarters."""
        lag = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])
        phi = self.rho if self.phi is None else self.phi
        return np.where(lag == 0, 1.0, self.rho * phi ** np.maximum(lag - 1, 0))


@dataclass(frozen=True)
class PowerResult:
    method: str
    n_treated: int
    n_comparison: int
    pre_quarters: int
    post_quarters: int
    se: float
    mde: float  # on the analysis scale (log rate ratio, or indicator units)
    relative: bool  # True when mde is a log rate ratio
    alpha: float
    power: float
    variation: Variation
    sentence: str

    @property
    def mde_percent(self) -> float:
        """The smaller relative change (a fall or a rise) the design would detect, in percent."""
        return 100 * min(-math.expm1(-self.mde), math.expm1(self.mde))


MAX_LAG = 6


def unit_variation(panel: Panel, units: list[str] | None = None) -> Variation:
    """sigma and rho of the units' outcome after removing unit and quarter means (balanced units only)."""
    keep = set(panel.complete_units()) & (set(units) if units is not None else set(panel.units))
    if len(keep) < 2:
        raise UserError("at least two units with complete history are needed to estimate variation")
    sub = panel.subset(keep)
    wide = sub.frame.assign(y=sub.analysis_value().to_numpy()).pivot(index="unit", columns="period", values="y")
    n, t = wide.shape
    if t < MIN_HISTORY_QUARTERS:
        raise UserError(f"at least {MIN_HISTORY_QUARTERS} quarters of history are needed; {t} available")
    e = wide.to_numpy()
    e = e - e.mean(axis=1, keepdims=True) - e.mean(axis=0, keepdims=True) + e.mean()
    lags = min(MAX_LAG, t - 2)
    raw = np.array([(e[:, k:] * e[:, : t - k]).sum() / (n * (t - k)) for k in range(lags + 1)])
    raw *= n / (n - 1)  # the quarter means removed one unit's worth
    gamma = raw.copy()
    for _ in range(5):  # removing unit means lowers every autocovariance by about the long-run variance / T
        long_run = gamma[0] + 2 * gamma[1:].clip(min=0).sum()
        gamma = raw + long_run / t
    rho = float(np.clip(gamma[1] / gamma[0], -0.95, 0.95))
    phi = float(np.clip(gamma[2] / gamma[1], 0.0, 0.95)) if lags >= 2 and gamma[1] > 0 else 0.0
    return Variation(float(np.sqrt(gamma[0])), rho, n, t, phi)


def series_variation(series: pd.DataFrame, counts: bool) -> Variation:
    """sigma and rho of one series around its own trend and season (for interrupted time series)."""
    y = np.log(series["numerator"] / series["denominator"]) if counts else series["value"].astype(float)
    y = y.to_numpy(dtype=float)
    periods = list(series["period"])
    X, _ = design(periods, periods[-1] + pd.DateOffset(months=3), seasonal=len(periods) >= 8)
    X = X[["const", "trend"] + [c for c in X.columns if c.startswith("season")]].to_numpy()
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    e = y - X @ beta
    t, k = len(y), X.shape[1]
    sigma = float(np.sqrt((e**2).sum() / (t - k)))
    rho_hat = float((e[1:] * e[:-1]).sum() / (e**2).sum())
    rho = rho_hat + (1 + 3 * rho_hat) / t + k / t  # short-series bias of residual autocorrelation
    return Variation(sigma, float(np.clip(rho, -0.95, 0.95)), 1, t)


def did_standard_error(variation: Variation, n_treated: int, n_comparison: int, pre: int, post: int,
                       design_effect: float = 1.0) -> float:
    """`design_effect`: 1 + cv^2 of the units' sizes, since the Poisson estimator weights units by size."""
    a = np.r_[np.full(pre, -1.0 / pre), np.full(post, 1.0 / post)]
    per_unit = variation.sigma**2 * float(a @ variation.correlation(pre + post) @ a)
    return math.sqrt(per_unit * design_effect * (1 / n_treated + 1 / n_comparison))


def size_design_effect(panel: Panel) -> float:
    """1 + squared coefficient of variation of the units' mean denominators (1 for non-count outcomes)."""
    if not panel.outcome.counts or "denominator" not in panel.frame:
        return 1.0
    sizes = panel.frame.groupby("unit")["denominator"].mean().to_numpy(dtype=float)
    return float(1 + (sizes.std() / sizes.mean()) ** 2) if len(sizes) > 1 and sizes.mean() > 0 else 1.0


def its_standard_error(variation: Variation, pre: int, post: int, start: date = date(2020, 1, 1)) -> float:
    months = np.arange(-pre, post) * 3
    periods = [date(start.year + (start.month - 1 + int(m)) // 12, (start.month - 1 + int(m)) % 12 + 1, 1)
               for m in months]
    X, _ = design(periods, start, seasonal=pre >= 8)
    c = window_contrast(X.columns, post)
    Xa = X.to_numpy()
    bread = np.linalg.inv(Xa.T @ Xa)
    S = variation.sigma**2 * variation.correlation(len(periods))
    return math.sqrt(float(c @ bread @ Xa.T @ S @ Xa @ bread @ c))


def minimum_detectable_effect(se: float, df: int, alpha: float = 0.05, power: float = 0.8) -> float:
    return (stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)) * se


def plan_power(panel: Panel, method: str, treated: list[str], start: date, post_quarters: int,
               pre_quarters: int | None = None, n_comparison: int | None = None, alpha: float = 0.05,
               power: float = 0.8) -> PowerResult:
    """Power of the planned analysis from the history before `start` (or all history when the start is
    after the last quarter with data)."""
    if method not in METHOD_NAMES:
        raise UserError(f"method must be one of {', '.join(METHOD_NAMES)}, got {method!r}")
    history = panel.window(last=max([p for p in panel.periods if p < start], default=None))
    if not any(p < start for p in panel.periods):
        raise UserError("no history before the start to estimate variation from")
    if pre_quarters is not None:
        h = quarter_index(history.periods, start)
        history = history.window(first=min(p for p, q in zip(history.periods, h, strict=True) if q >= -pre_quarters))
    pre = len(history.periods)
    treated_here = sorted(set(treated) & set(history.complete_units()))
    if not treated_here:
        raise UserError("none of the planned units has a complete history for this indicator")
    if method == "its":
        variation = series_variation(aggregate(history, treated_here), panel.outcome.counts)
        se = its_standard_error(variation, pre, post_quarters, start)
        n_comparison, df = 0, pre + post_quarters - 7
    else:
        others = len(set(history.complete_units()) - set(treated_here))
        if n_comparison is None:
            n_comparison = {"did": 4 * len(treated_here)}.get(method, others)
        n_comparison = max(1, min(n_comparison, others))
        variation = unit_variation(history)
        se = did_standard_error(variation, len(treated_here), n_comparison, pre, post_quarters,
                                size_design_effect(history))
        df = len(treated_here) + n_comparison - 1
    mde = minimum_detectable_effect(se, max(df, 1), alpha, power)
    result = PowerResult(method, len(treated_here), n_comparison, pre, post_quarters, se, mde, panel.outcome.counts,
                         alpha, power, variation, "")
    return PowerResult(**{**result.__dict__, "sentence": power_sentence(result, panel)})


def power_sentence(result: PowerResult, panel: Panel) -> str:
    """'With 8 practices and 12 quarters after the start, a change smaller than 7% in ... would probably
    not be detected (80% power, 5% two-sided test).'"""
    noun = {"practice": "practice", "cluster": "cluster", "hscp": "HSCP", "board": "board"}.get(panel.level, "unit")
    units = f"{result.n_treated} {noun}{'' if result.n_treated == 1 else 's'}"
    if result.method == "its":
        design_text = f"{units} and {result.pre_quarters} quarters before"
    else:
        design_text = f"{units}, {result.n_comparison} for comparison, {result.pre_quarters} quarters before"
    size = (f"{result.mde_percent:.0f}%" if result.relative
            else f"{result.mde:,.2f} {panel.outcome.unit}")
    return (f"With {design_text} and {result.post_quarters} quarters after the start, a change in "
            f"{in_sentence(panel.outcome.title)} smaller than {size} would probably not be detected "
            f"({result.power:.0%} power, {result.alpha:.0%} two-sided test, {METHOD_NAMES[result.method]}).")
