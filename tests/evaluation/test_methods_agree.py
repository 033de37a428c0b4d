"""Point estimates and standard errors agree with the reference libraries called directly on the same data,
and with independent implementations: statsmodels and a hand-written Newey-West sandwich for the
interrupted time series; pyfixest for difference-in-differences; csdid and differences (two other ports of
R `did`) for Callaway and Sant'Anna, on simulated data and on the published minimum-wage panel (mpdta);
pysyncon's solver for synthetic-control weights."""

from __future__ import annotations

import warnings
from datetime import date

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from gpcluster.evaluation.did import difference_in_differences
from gpcluster.evaluation.its import design, interrupted_time_series, newey_west_lags, window_contrast
from gpcluster.evaluation.panel import Outcome, Panel, aggregate
from gpcluster.evaluation.simulate import EMERGENCY_ADMISSIONS, group_units, plant, quarters, simulate_panel
from gpcluster.evaluation.staggered import adoption_frame, staggered_adoption
from gpcluster.evaluation.synth import simplex_weights, synthetic_control
from gpcluster.stats import reml

PERIODS = quarters(date(2016, 4, 1), 28)
START = PERIODS[18]


@pytest.fixture(scope="module")
def practices() -> Panel:
    rng = np.random.default_rng(11)
    panel, _ = simulate_panel(rng, 30, 28)
    return plant(rng, panel, {u: START for u in panel.units[:6]}, "step", 0.9)


# --- interrupted time series ---------------------------------------------------------------------------

def _treated_series(panel: Panel):
    series = aggregate(panel.window(last=PERIODS[25]), panel.units[:6])  # 8 quarters after the start
    X, _ = design(series["period"], START, seasonal=True)
    return series, X


def test_its_equals_statsmodels_gls_at_the_fitted_error_correlation(practices):
    result = interrupted_time_series(practices, practices.units[:6], START, post_quarters=8, pre_quarters=None)
    series, X = _treated_series(practices)
    d = result.details
    assert d["error_model"] == "reml"
    y = np.log(series["numerator"] / series["denominator"])
    fit = sm.GLS(y.to_numpy(), X, sigma=reml.correlation(len(y), d["error_weight"], d["error_rho"])).fit()
    c = window_contrast(X.columns, 8)
    assert result.effect.estimate == pytest.approx(float(c @ fit.params), rel=1e-8)
    assert d["coefficients"]["level_change"] == pytest.approx(fit.params["level_change"], rel=1e-8)
    assert d["df"] == len(y) - X.shape[1] - 2
    # the plug-in GLS error, widened for the uncertainty of the estimated error model (Kenward-Roger)
    plug_in = float(np.sqrt(c @ fit.cov_params() @ c))
    adjusted = reml.fit(y.to_numpy(), X.to_numpy()).kenward_roger(c).cov
    assert result.effect.se == pytest.approx(float(np.sqrt(c @ adjusted @ c)), rel=1e-8)
    assert plug_in < result.effect.se < 2 * plug_in


def test_reml_criterion_is_the_likelihood_of_error_contrasts():
    """Harville (1974): REML is the likelihood of K'y, K an orthonormal basis orthogonal to X. Written with
    scipy's multivariate normal (sigma^2 profiled), it differs from ours by a constant across (w, rho)."""
    from scipy import linalg, stats

    rng = np.random.default_rng(4)
    n = 30
    X = np.column_stack([np.ones(n), np.arange(n), (np.arange(n) >= 20).astype(float)])
    y = X @ [1.0, 0.02, -0.1] + rng.normal(0, 0.05, n)
    K = linalg.null_space(X.T)
    z = K.T @ y

    def contrasts_loglik(w, rho):
        S = K.T @ reml.correlation(n, w, rho) @ K
        s2 = float(z @ np.linalg.solve(S, z)) / len(z)
        return stats.multivariate_normal(np.zeros(len(z)), s2 * S).logpdf(z)

    points = [(0.1, 0.3), (0.5, 0.5), (0.9, -0.4), (0.7, 0.9)]
    ours = np.array([reml.restricted_loglik(y, X, w, r) for w, r in points])
    theirs = np.array([contrasts_loglik(w, r) for w, r in points])
    assert np.allclose(ours - ours[0], theirs - theirs[0], atol=1e-8)


def test_reml_recovers_the_error_model_of_a_long_series():
    rng = np.random.default_rng(5)
    n, w, rho = 1200, 0.6, 0.7
    ar = np.zeros(n)
    ar[0] = rng.normal()
    for t in range(1, n):
        ar[t] = rho * ar[t - 1] + rng.normal(0, np.sqrt(1 - rho**2))
    e = np.sqrt(w) * ar + np.sqrt(1 - w) * rng.normal(size=n)
    X = np.column_stack([np.ones(n), np.arange(n) / n])
    model = reml.fit(X @ [2.0, 1.0] + 0.1 * e, X)
    assert model.weight == pytest.approx(w, abs=0.1)
    assert model.rho == pytest.approx(rho, abs=0.08)
    assert model.sigma2 == pytest.approx(0.01, rel=0.2)


def _with_an_empty_quarter(panel: Panel) -> Panel:
    f = panel.frame.copy()
    f.loc[f["unit"].isin(panel.units[:6]) & (f["period"] == PERIODS[3]), "numerator"] = 0.0
    f["value"] = f["numerator"] / f["denominator"] * panel.outcome.multiplier
    return Panel(panel.outcome, panel.level, f, panel.names)


def test_its_with_an_empty_quarter_equals_statsmodels_quasi_poisson(practices):
    panel = _with_an_empty_quarter(practices)
    result = interrupted_time_series(panel, panel.units[:6], START, post_quarters=8, pre_quarters=None)
    series, X = _treated_series(panel)
    fit = sm.GLM(series["numerator"], X, family=sm.families.Poisson(), offset=np.log(series["denominator"])).fit(
        scale="X2", cov_type="HAC", cov_kwds={"maxlags": newey_west_lags(len(series)), "use_correction": True})
    c = window_contrast(X.columns, 8)
    assert result.details["error_model"] == "hac"
    assert result.effect.estimate == pytest.approx(float(c @ fit.params), rel=1e-10)
    assert result.effect.se == pytest.approx(float(np.sqrt(c @ fit.cov_params() @ c)), rel=1e-10)
    assert any("no events" in caveat for caveat in result.caveats)


def test_its_newey_west_errors_match_an_independent_sandwich(practices):
    """Bartlett-weighted score autocovariances around the Poisson information matrix, written out in numpy."""
    panel = _with_an_empty_quarter(practices)
    result = interrupted_time_series(panel, panel.units[:6], START, post_quarters=8, pre_quarters=None)
    series, X = _treated_series(panel)
    Xa = X.to_numpy()
    beta = np.array(list(result.details["coefficients"].values()))
    mu = np.exp(Xa @ beta + np.log(series["denominator"].to_numpy()))
    scores = Xa * (series["numerator"].to_numpy() - mu)[:, None]
    lags, n, k = result.details["hac_lags"], len(mu), Xa.shape[1]
    meat = scores.T @ scores
    for lag in range(1, lags + 1):
        gamma = scores[lag:].T @ scores[:-lag]
        meat += (1 - lag / (lags + 1)) * (gamma + gamma.T)
    bread = np.linalg.inv(Xa.T @ (mu[:, None] * Xa))
    cov = bread @ meat @ bread * n / (n - k)
    se = np.sqrt(np.diag(cov))
    assert np.allclose(list(result.details["standard_errors"].values()), se, rtol=1e-6)


def test_its_counterfactual_is_the_fit_without_the_change(practices):
    result = interrupted_time_series(practices, practices.units[:6], START, post_quarters=8, pre_quarters=None)
    s = result.series
    before = s["period"] < START
    assert np.allclose(s.loc[before, "fitted"], s.loc[before, "counterfactual"])
    ratio = (s.loc[~before, "fitted"] / s.loc[~before, "counterfactual"]).to_numpy()
    c = result.details["coefficients"]
    expected = np.exp(c["level_change"] + c["slope_change"] * np.arange((~before).sum()))
    assert np.allclose(ratio, expected)


# --- difference-in-differences -------------------------------------------------------------------------

def _pyfixest_did(panel: Panel, treated, comparison, vcov_cluster="unit"):
    import pyfixest as pf

    f = panel.subset(set(treated) | set(comparison)).frame.copy()
    f = f[(f["period"] >= PERIODS[6]) & (f["period"] < PERIODS[26])]
    f["treat_post"] = (f["unit"].isin(treated) & (f["period"] >= START)).astype(float)
    f["log_den"] = np.log(f["denominator"])
    f["period_id"] = f["period"].astype(str)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = pf.fepois("numerator ~ treat_post | unit + period_id", data=f, offset="log_den",
                        vcov={"CRV1": vcov_cluster}, ssc=pf.ssc(k_adj=True, k_fixef="full", G_adj=True))
    return float(fit.coef()["treat_post"]), float(fit.se()["treat_post"])


def test_did_equals_pyfixest_poisson_with_two_way_fixed_effects(practices):
    treated, comparison = practices.units[:6], practices.units[6:]
    result = difference_in_differences(practices, treated, START, post_quarters=8, pre_quarters=12,
                                       comparison=comparison)
    estimate, se = _pyfixest_did(practices, treated, comparison)
    assert result.effect.estimate == pytest.approx(estimate, rel=1e-6)
    assert result.effect.se == pytest.approx(se, rel=1e-6)


def test_did_interval_allows_for_few_treated_clusters(practices):
    """The pyfixest standard error, with a t reference on (treated clusters - 1) degrees of freedom when they
    are fewer than the comparison clusters (on G - 1 the benchmark rejected a true null 8% of the time)."""
    from scipy import stats

    treated, comparison = practices.units[:6], practices.units[6:]
    result = difference_in_differences(practices, treated, START, post_quarters=8, pre_quarters=12,
                                       comparison=comparison)
    _, se = _pyfixest_did(practices, treated, comparison)
    assert result.details["df"] == 5
    assert result.effect.upper - result.effect.lower == pytest.approx(2 * stats.t.ppf(0.975, 5) * se, rel=1e-6)


def test_did_linear_model_equals_pyfixest_feols(practices):
    import pyfixest as pf

    treated, comparison = practices.units[:6], practices.units[6:]
    mean_panel = Panel(Outcome("x", "A mean", "units", 1.0, "mean"), "practice", practices.frame)
    result = difference_in_differences(mean_panel, treated, START, post_quarters=8, pre_quarters=12,
                                       comparison=comparison)
    f = practices.frame[(practices.frame["period"] >= PERIODS[6]) & (practices.frame["period"] < PERIODS[26])].copy()
    f["treat_post"] = (f["unit"].isin(treated) & (f["period"] >= START)).astype(float)
    f["period_id"] = f["period"].astype(str)
    fit = pf.feols("value ~ treat_post | unit + period_id", data=f, vcov={"CRV1": "unit"},
                   ssc=pf.ssc(k_adj=True, k_fixef="full", G_adj=True))
    assert result.effect.estimate == pytest.approx(float(fit.coef()["treat_post"]), rel=1e-8)
    assert result.effect.se == pytest.approx(float(fit.se()["treat_post"]), rel=1e-6)


def test_matching_picks_the_untreated_units_closest_before_the_start():
    """A spec table: three treated units, candidates at known levels and trends."""
    rows = []
    spec = {"T1": (1.0, 0.0), "T2": (2.0, 0.0), "C1": (1.05, 0.0), "C2": (3.0, 0.0), "C3": (1.9, 0.0),
            "C4": (1.0, 0.05), "C5": (2.1, 0.0)}
    for unit, (level, trend) in spec.items():
        for i, period in enumerate(PERIODS[:10]):
            rows.append({"unit": unit, "period": period, "value": level + trend * i})
    panel = Panel(Outcome("x", "X", "u", 1.0, "mean"), "practice", pd.DataFrame(rows))
    from gpcluster.evaluation.did import match_comparison

    assert match_comparison(panel, ["T1", "T2"], PERIODS[8], matches=1) == ["C1", "C3"]
    # C4 sits at T1's level but rises: a different trend keeps it out even at matches=2
    assert match_comparison(panel, ["T1", "T2"], PERIODS[8], matches=2) == ["C1", "C2", "C3", "C5"]


# --- staggered adoption --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def staggered():
    rng = np.random.default_rng(5)
    panel, _ = simulate_panel(rng, 24 * 8, 20, model=EMERGENCY_ADMISSIONS)
    group = {u: f"H{i // 8:02d}" for i, u in enumerate(panel.units)}
    starts = {"H00": PERIODS[8], "H01": PERIODS[8], "H02": PERIODS[11], "H03": PERIODS[11]}
    panel = plant(rng, panel, {u: starts[g] for u, g in group.items() if g in starts}, "ramp", 0.85, 4)
    return group_units(panel, group, "hscp"), starts


def _csdid_dynamic(frame: pd.DataFrame, max_e: int, min_e: int):
    import contextlib
    import io

    from csdid.att_gt import ATTgt

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ATTgt(yname="y", tname="t", idname="id", gname="g", data=frame,
                      control_group="nevertreated").fit(est_method="reg", bstrap=False)
        model.aggte(typec="dynamic", min_e=min_e, max_e=max_e, balance_e=max_e, bstrap=False)
    return float(model.atte["overall_att"]), float(model.atte["overall_se"])


def test_callaway_santanna_equals_csdid_on_the_same_data(staggered):
    panel, starts = staggered
    result = staggered_adoption(panel, starts, post_quarters=4, pre_quarters=4)
    frame = adoption_frame(panel, starts)
    att, se = _csdid_dynamic(frame, 3, -4)
    assert result.effect.estimate == pytest.approx(att, rel=1e-6)
    assert result.effect.se == pytest.approx(se, rel=1e-4)


def test_callaway_santanna_equals_differences_on_the_same_data(staggered):
    from differences import ATTgt

    panel, starts = staggered
    result = staggered_adoption(panel, starts, post_quarters=4, pre_quarters=4)
    frame = adoption_frame(panel, starts)
    data = frame.assign(g=frame["g"].replace(0, np.nan)).set_index(["id", "t"])[["y", "g"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ATTgt(data=data, cohort_column="g")
        model.fit(formula="y", est_method="reg", control_group="never_treated", progress_bar=False)
        by_event = model.aggregate("event")
    estimates = by_event.xs("ATT", axis=1, level=-1).iloc[:, 0] if isinstance(by_event.columns, pd.MultiIndex) \
        else by_event["ATT"]
    post = estimates[[e for e in estimates.index if 0 <= (e if np.isscalar(e) else e[-1]) <= 3]]
    ours = result.event_study.set_index("relative_quarter")["estimate"]
    assert np.allclose(np.sort(post.to_numpy(dtype=float)), np.sort(ours.loc[0:3].to_numpy()), rtol=1e-6)
    assert result.effect.estimate == pytest.approx(float(post.mean()), rel=1e-6)


def test_callaway_santanna_on_the_published_minimum_wage_panel_matches_csdid():
    """mpdta (Callaway and Sant'Anna 2021): county teen employment, states raising the minimum wage in
    2004, 2006 and 2007. Our wrapper (moderndid) against csdid on the same published data."""
    from moderndid import load_mpdta

    data = load_mpdta().to_pandas()
    frame = data.rename(columns={"lemp": "value", "countyreal": "unit"})
    frame["period"] = [date(int(y), 1, 1) for y in frame["year"]]
    panel = Panel(Outcome("lemp", "Log teen employment", "log", 1.0, "mean"), "county",
                  frame[["unit", "period", "value"]].assign(unit=frame["unit"].astype(str)))
    starts = {str(u): date(int(g), 1, 1) for u, g in zip(frame["unit"], frame["first.treat"], strict=True) if g > 0}
    # yearly data: one "quarter" step is a year here, which quarter_index does not know; map years to quarters
    yearly = {date(y, 1, 1): date(2000 + (y - 2003) // 4, 1 + 3 * ((y - 2003) % 4), 1) for y in range(2003, 2008)}
    panel.frame["period"] = panel.frame["period"].map(yearly)
    starts = {u: yearly[s] for u, s in starts.items()}
    result = staggered_adoption(panel, starts, post_quarters=2, pre_quarters=2)
    f = adoption_frame(panel, starts)
    att, se = _csdid_dynamic(f, 1, -2)
    assert result.effect.estimate == pytest.approx(att, rel=1e-6)
    assert result.effect.se == pytest.approx(se, rel=1e-4)
    assert -0.06 < result.effect.estimate < -0.01  # the published finding: employment fell after increases


# --- synthetic control ---------------------------------------------------------------------------------

def test_synthetic_control_weights_equal_pysyncon_solver():
    from pysyncon.base import VanillaOptimMixin

    rng = np.random.default_rng(3)
    donors = rng.normal(size=(16, 12))
    target = donors[:, :3] @ np.array([0.5, 0.3, 0.2]) + rng.normal(0, 0.05, 16)
    ours = simplex_weights(target, donors)
    theirs, _ = VanillaOptimMixin.w_optimize(V_mat=np.eye(16), X0=donors, X1=target)
    assert np.allclose(ours, theirs, atol=2e-3)
    assert ours.sum() == pytest.approx(1.0) and (ours >= 0).all()
    loss = lambda w: np.sum((target - donors @ w) ** 2)  # noqa: E731
    assert loss(ours) <= loss(theirs) + 1e-9


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_synthetic_control_weights_match_pysyncon_with_more_donors_than_periods(seed):
    """The benchmark's shape (20 quarters before, 40 donors), the target outside the donors' hull. The
    weights are checked against pysyncon's loss and against the optimality (KKT) conditions of the
    problem: the gradient is equal on the donors used and no smaller on the others."""
    from pysyncon.base import VanillaOptimMixin

    rng = np.random.default_rng(seed)
    donors = np.cumsum(rng.normal(0, 0.03, size=(20, 40)), axis=0)
    target = donors[:, :4] @ np.array([0.4, 0.3, 0.2, 0.1]) + 0.02 + rng.normal(0, 0.01, 20)
    ours = simplex_weights(target, donors)
    theirs, _ = VanillaOptimMixin.w_optimize(V_mat=np.eye(20), X0=donors, X1=target)
    loss = lambda w: np.sum((target - donors @ w) ** 2)  # noqa: E731
    assert ours.sum() == pytest.approx(1.0, abs=1e-12) and (ours >= 0).all()
    assert loss(ours) <= loss(theirs) * (1 + 1e-6) + 1e-12
    gradient = donors.T @ (donors @ ours - target)
    used = ours > 1e-9
    level = gradient[used].mean()
    assert np.allclose(gradient[used], level, atol=1e-7)
    assert (gradient[~used] >= level - 1e-7).all()


def test_synthetic_control_interval_is_the_placebo_test_inverted():
    from gpcluster.evaluation.synth import PlaceboTest

    rng = np.random.default_rng(9)
    panel, _ = simulate_panel(rng, 25 * 6, 28)
    cluster = {u: f"C{i // 6:02d}" for i, u in enumerate(panel.units)}
    clusters = group_units(panel, cluster, "cluster")
    result = synthetic_control(clusters, "C00", START, post_quarters=8)
    gap = result.event_study.set_index("relative_quarter")["estimate"]
    rmspe = result.details["pre_rmspe"]
    assert rmspe == pytest.approx(float(np.sqrt((gap.loc[:-1] ** 2).mean())))
    assert result.effect.estimate == pytest.approx(float(gap.loc[0:].mean()))
    gaps = np.array(result.details["placebo_gaps"])
    test = PlaceboTest(result.effect.estimate, rmspe, gaps[:, -8:].mean(axis=1),
                       np.array(result.details["placebo_rmspe"]), np.array(result.details["placebo_treated_weight"]))
    assert test.p_value(0.0) == pytest.approx(result.effect.p_value)
    step = (result.effect.upper - result.effect.lower) / 1000
    for edge, outward in ((result.effect.lower, -1), (result.effect.upper, 1)):
        assert test.p_value(edge) > 0.05  # the interval's ends are not rejected
        assert test.p_value(edge + outward * 3 * step) <= 0.05  # just beyond them is
    # by hand at the estimate: nothing is more extreme than a zero gap, so p = 1
    assert test.p_value(result.effect.estimate) == pytest.approx(
        (1 + np.sum(np.abs(gaps[:, -8:].mean(axis=1) + test.weight * result.effect.estimate) / test.rmspe >= 0))
        / (len(gaps) + 1))


def test_synthetic_control_refuses_too_few_donors_for_the_interval():
    from gpcluster.errors import UserError

    rng = np.random.default_rng(9)
    panel, _ = simulate_panel(rng, 10 * 6, 28)
    clusters = group_units(panel, {u: f"C{i // 6:02d}" for i, u in enumerate(panel.units)}, "cluster")
    with pytest.raises(UserError, match="at least 19 donor units"):
        synthetic_control(clusters, "C00", START)
