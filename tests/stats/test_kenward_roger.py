"""Kenward-Roger small-sample inference (gpcluster.stats.kenward_roger) and the REML fit it adjusts
(gpcluster.stats.reml), checked against exact results and against R: pbkrtest for the adjustment, nlme's
gls for the AR(1)-plus-noise REML fit. The R script that made the reference files is beside them in
tests/stats/reference/kenward_roger.R."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gpcluster.stats import kenward_roger, reml

REFERENCE = Path(__file__).parent / "reference"


def _adjust(X, sigma, derivatives, L):
    W = np.linalg.inv(kenward_roger.reml_information(X, sigma, derivatives))
    return kenward_roger.adjust(X, sigma, derivatives, W, L)


def test_balanced_random_intercepts_give_the_exact_t_tests():
    """Kenward and Roger (1997): in balanced designs with an exact F test the approximation is exact. With 8
    groups of 5, a covariate constant within groups is tested on 8 - 2 = 6 df, a balanced within-group one
    on 8 x 4 - 1 = 31 df, with no scaling and no inflation of the covariance."""
    g, n = 8, 5
    Z = np.kron(np.eye(g), np.ones((n, 1)))
    between = np.repeat(np.random.default_rng(1).normal(size=g), n)
    within = np.tile(np.arange(n) - (n - 1) / 2, g)
    X = np.column_stack([np.ones(g * n), between, within])
    sigma = 2.0 * Z @ Z.T + np.eye(g * n)
    derivatives = [Z @ Z.T, np.eye(g * n)]
    for contrast, df in (([0, 1, 0], 6), ([0, 0, 1], 31)):
        result = _adjust(X, sigma, derivatives, np.array(contrast, float))
        assert result.df == pytest.approx(df, rel=1e-9)
        assert result.scale == pytest.approx(1.0, rel=1e-9)
        phi = np.linalg.inv(X.T @ np.linalg.solve(sigma, X))
        assert result.cov[1:, 1:] == pytest.approx(phi[1:, 1:], rel=1e-9)


def test_unbalanced_random_intercepts_match_pbkrtest():
    data = pd.read_csv(REFERENCE / "random_intercept_data.csv")
    expected = pd.read_csv(REFERENCE / "random_intercept_pbkrtest.csv").set_index("contrast")
    Z = pd.get_dummies(data["group"]).to_numpy(dtype=float)
    X = np.column_stack([np.ones(len(data)), data["x_between"], data["x_within"]])
    group_var, residual_var = expected["group_variance"].iloc[0], expected["residual_variance"].iloc[0]
    sigma = group_var * Z @ Z.T + residual_var * np.eye(len(data))
    for column, name in ((1, "x_between"), (2, "x_within")):
        c = np.eye(3)[column]
        result = _adjust(X, sigma, [Z @ Z.T, np.eye(len(data))], c)
        phi = np.linalg.inv(X.T @ np.linalg.solve(sigma, X))
        assert c @ phi @ c == pytest.approx(expected.loc[name, "unadjusted_variance"], rel=1e-5)
        assert c @ result.cov @ c == pytest.approx(expected.loc[name, "adjusted_variance"], rel=1e-5)
        assert result.df == pytest.approx(expected.loc[name, "ddf"], rel=1e-4)
        assert result.contrast_se(c) ** 2 * result.scale == pytest.approx(c @ result.cov @ c, rel=1e-12)


def test_reml_fit_of_ar1_plus_noise_matches_nlme_gls():
    data = pd.read_csv(REFERENCE / "ar1_noise_data.csv")
    expected = pd.read_csv(REFERENCE / "ar1_noise_nlme.csv")
    X = np.column_stack([np.ones(len(data)), data["t"], data["post"]])
    model = reml.fit(data["y"].to_numpy(), X)
    assert model.weight == pytest.approx(expected["weight"].iloc[0], abs=2e-3)
    assert model.rho == pytest.approx(expected["rho"].iloc[0], abs=2e-3)
    assert np.sqrt(model.sigma2) == pytest.approx(expected["sigma"].iloc[0], rel=2e-3)
    assert model.params == pytest.approx(expected["estimate"].to_numpy(), rel=1e-3, abs=1e-6)
    assert np.sqrt(np.diag(model.cov)) == pytest.approx(expected["std_error"].to_numpy(), rel=2e-3)


def _sigma(n, s_ar, s_white, rho):
    lag = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])
    return s_ar * rho**lag + s_white * np.eye(n)


def test_ar1_plus_noise_adjustment_uses_the_derivatives_of_its_covariance():
    """The REML fit's adjustment equals the general formula with the covariance differentiated
    numerically in (AR variance, white variance, rho); and it widens, never narrows, the interval."""
    data = pd.read_csv(REFERENCE / "ar1_noise_data.csv")
    X = np.column_stack([np.ones(len(data)), data["t"], data["post"]])
    model = reml.fit(data["y"].to_numpy(), X)
    theta = np.array([model.sigma2 * model.weight, model.sigma2 * (1 - model.weight), model.rho])
    n, h = len(data), 1e-6
    derivatives = []
    for i in range(3):
        step = np.eye(3)[i] * h
        derivatives.append((_sigma(n, *(theta + step)) - _sigma(n, *(theta - step))) / (2 * h))
    c = np.array([0.0, 0.0, 1.0])
    numeric = _adjust(X, _sigma(n, *theta), derivatives, c)
    ours = model.kenward_roger(c)
    assert c @ ours.cov @ c == pytest.approx(c @ numeric.cov @ c, rel=1e-6)
    assert ours.df == pytest.approx(numeric.df, rel=1e-5)
    assert c @ ours.cov @ c > c @ model.cov @ c


def test_a_variance_estimated_as_zero_is_held_fixed():
    """White noise only (no AR part): the error model has one parameter, the variance, and the exact
    t test on n - k df is recovered."""
    rng = np.random.default_rng(3)
    n = 40
    X = np.column_stack([np.ones(n), np.arange(n)])
    y = X @ [1.0, 0.1] + rng.normal(0, 1, n)
    model = reml.RemlFit(params=np.zeros(2), cov=np.eye(2), sigma2=1.0, weight=0.0, rho=0.3,
                         whitened_resid=y, df_resid=n - 4, design=X)
    result = model.kenward_roger(np.array([0.0, 1.0]))
    assert result.df == pytest.approx(n - 2, rel=1e-9)
    assert result.scale == pytest.approx(1.0, rel=1e-9)
