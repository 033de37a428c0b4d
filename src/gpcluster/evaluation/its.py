"""Interrupted time series by segmented regression (Lopez Bernal, Cummins and Gasparrini, IJE 2017):

    log E[y_t] = log(n_t) + b0 + b1 t + b2 X_t + b3 (t - T0) X_t + quarter-of-year terms

with X_t = 1 from the start quarter T0, fitted as a quasi-Poisson GLM (Pearson scale) with the
denominator as offset for count indicators, or by least squares on the value otherwise; Newey-West
(HAC) standard errors with statsmodels' small-sample correction and a t reference distribution.

The reported effect is the mean log rate ratio over the first `post_quarters` quarters,
b2 + b3 * mean(h) for h = 0 .. post_quarters - 1, a linear contrast with an exact interval. The
counterfactual is the fitted model with the post-start terms set to zero.
"""

from __future__ import annotations

import time
from datetime import date

import numpy as np
import pandas as pd
from scipy import stats

from gpcluster.errors import UserError
from gpcluster.evaluation.panel import Panel, aggregate, quarter_index
from gpcluster.evaluation.result import Diagnostic, Effect, EvaluationResult

MIN_PRE_QUARTERS = 6
SEASONAL_MIN_PRE = 8  # quarter-of-year terms need two years before the start


def newey_west_lags(n: int) -> int:
    """statsmodels' default rule, floor(4 (n/100)^(2/9))."""
    return int(np.floor(4 * (n / 100) ** (2 / 9)))


def design(periods, start: date, seasonal: bool) -> tuple[pd.DataFrame, np.ndarray]:
    """Segmented-regression design matrix and h (quarters since the start) for the given periods."""
    h = quarter_index(periods, start)
    t = h - h.min()
    post = (h >= 0).astype(float)
    columns = {"const": np.ones(len(h)), "trend": t.astype(float), "level_change": post,
               "slope_change": post * np.maximum(h, 0)}
    if seasonal:
        quarter = (pd.to_datetime(pd.Series(list(periods))).dt.month.to_numpy() - 1) // 3
        for q in (1, 2, 3):
            columns[f"season_q{q + 1}"] = (quarter == q).astype(float)
    return pd.DataFrame(columns), h


def segmented_fit(series: pd.DataFrame, start: date, counts: bool, maxlags: int | None = None,
                  seasonal: bool | None = None):
    """Fit the segmented regression to one series (columns period, numerator, denominator, value).
    Returns (statsmodels results, design, h, maxlags)."""
    import statsmodels.api as sm

    h_all = quarter_index(series["period"], start)
    pre = int((h_all < 0).sum())
    seasonal = pre >= SEASONAL_MIN_PRE if seasonal is None else seasonal
    X, h = design(series["period"], start, seasonal)
    lags = newey_west_lags(len(series)) if maxlags is None else maxlags
    cov = {"maxlags": lags, "use_correction": True}
    if counts:
        model = sm.GLM(series["numerator"].to_numpy(dtype=float), X, family=sm.families.Poisson(),
                       offset=np.log(series["denominator"].to_numpy(dtype=float)))
        fit = model.fit(scale="X2", cov_type="HAC", cov_kwds=cov)
    else:
        fit = sm.OLS(series["value"].to_numpy(dtype=float), X).fit(cov_type="HAC", cov_kwds=cov)
    return fit, X, h, lags


def window_contrast(columns, post_quarters: int) -> np.ndarray:
    """Weights giving the mean effect over quarters 0 .. post_quarters - 1 after the start."""
    c = np.zeros(len(columns))
    c[list(columns).index("level_change")] = 1.0
    c[list(columns).index("slope_change")] = (post_quarters - 1) / 2
    return c


def interrupted_time_series(panel: Panel, treated: list[str], start: date, post_quarters: int = 8,
                            pre_quarters: int | None = None, maxlags: int | None = None,
                            level: float = 0.95) -> EvaluationResult:
    """Segmented regression on the treated units' combined series (see module docstring)."""
    began = time.perf_counter()
    windowed = panel.around(start, post_quarters, pre_quarters)
    units = sorted(set(treated) & set(windowed.complete_units()))
    if not units:
        raise UserError(f"none of the treated units has {panel.outcome.title} for every quarter of the analysis")
    series = aggregate(windowed, units)
    hs = quarter_index(series["period"], start)
    n_pre, n_post = int((hs < 0).sum()), int((hs >= 0).sum())
    if n_pre < MIN_PRE_QUARTERS:
        raise UserError(f"interrupted time series needs at least {MIN_PRE_QUARTERS} quarters before the start; "
                        f"{n_pre} available")
    if n_post < 1:
        raise UserError("no quarters after the start yet: nothing to evaluate")
    counts = panel.outcome.counts
    try:
        fit, X, hs, lags = segmented_fit(series, start, counts, maxlags)
    except (ValueError, np.linalg.LinAlgError) as exc:
        raise UserError(f"the segmented regression could not be fitted to {panel.outcome.title}: {exc}") from exc
    window = min(post_quarters, n_post)
    c = window_contrast(X.columns, window)
    beta = np.asarray(fit.params)
    cov = np.asarray(fit.cov_params())
    estimate = float(c @ beta)
    se = float(np.sqrt(c @ cov @ c))
    df = len(series) - X.shape[1]
    crit = stats.t.ppf(0.5 + level / 2, df)
    p = float(2 * stats.t.sf(abs(estimate / se), df)) if se > 0 else float("nan")
    effect = Effect("log_ratio" if counts else "difference", estimate, estimate - crit * se, estimate + crit * se,
                    se, p, level)

    post_columns = ["level_change", "slope_change"]
    X_cf = X.copy()
    X_cf[post_columns] = 0.0
    linear_fit, linear_cf = X.to_numpy() @ beta, X_cf.to_numpy() @ beta
    if counts:
        fitted = np.exp(linear_fit) * panel.outcome.multiplier
        counterfactual = np.exp(linear_cf) * panel.outcome.multiplier
    else:
        fitted, counterfactual = linear_fit, linear_cf
    out_series = pd.DataFrame({"period": series["period"], "observed": series["value"], "fitted": fitted,
                               "counterfactual": counterfactual, "numerator": series["numerator"],
                               "units": series["units"]})
    diagnostics, caveats = _diagnostics(fit, counts, n_pre, lags, X)
    return EvaluationResult(
        method="its", outcome=panel.outcome, effect=effect, start=start, post_quarters=window, pre_quarters=n_pre,
        treated=units, series=out_series, diagnostics=diagnostics, caveats=caveats,
        details={"coefficients": dict(zip(X.columns, beta.tolist(), strict=True)),
                 "standard_errors": dict(zip(X.columns, np.sqrt(np.diag(cov)).tolist(), strict=True)),
                 "hac_lags": lags, "df": df},
        seconds=time.perf_counter() - began)


def _diagnostics(fit, counts: bool, n_pre: int, lags: int, X: pd.DataFrame) -> tuple[list[Diagnostic], list[str]]:
    from statsmodels.stats.diagnostic import acorr_ljungbox
    from statsmodels.stats.stattools import durbin_watson

    resid = np.asarray(fit.resid_pearson if counts else fit.resid)
    dw = float(durbin_watson(resid))
    lb_lags = min(4, len(resid) // 4)
    lb = float(acorr_ljungbox(resid, lags=[lb_lags])["lb_pvalue"].iloc[0]) if lb_lags >= 1 else float("nan")
    out = [Diagnostic("Durbin-Watson", dw, "Near 2 means little autocorrelation left in the residuals; below 1.5 "
                      "suggests positive autocorrelation (the Newey-West errors allow for it, imperfectly in "
                      "short series).", 1.5 <= dw <= 2.5),
           Diagnostic(f"Ljung-Box p (lag {lb_lags})", lb, "A small p-value means the residuals are autocorrelated.",
                      None if np.isnan(lb) else lb >= 0.05),
           Diagnostic("Newey-West lags", float(lags), "Autocorrelation allowed for in the standard errors.", None),
           Diagnostic("Quarters before the start", float(n_pre), "At least 8 give a trend and seasonality to project; "
                      "Turner et al. suggest 12 or more.", n_pre >= 8)]
    if counts:
        phi = float(fit.pearson_chi2 / fit.df_resid)
        out.append(Diagnostic("Overdispersion (Pearson chi-squared / df)", phi,
                              "1 is Poisson variation; larger means extra variation, allowed for by the "
                              "quasi-Poisson scale.", None))
    caveats = ["Interrupted time series has no comparison group: anything else that changed at the same time "
               "(national policy, coding, a pandemic) would be attributed to the intervention.",
               "The counterfactual assumes the trend and seasonal pattern before the start would have continued."]
    if len(resid) < 40:
        caveats.append(f"With {len(resid)} quarters, Newey-West intervals are too narrow when the series is "
                       "autocorrelated (95% intervals covered the truth about 80% of the time in gpcluster's "
                       "benchmark, as Turner et al. 2021 found): prefer difference-in-differences or a synthetic "
                       "control where comparison units exist.")
    if "season_q2" not in X.columns:
        caveats.append("Fewer than 8 quarters before the start: no seasonal terms were fitted.")
    return out, caveats
