"""The normal and chi-squared quantiles the CIs and funnels use, against scipy.stats (the reference
implementation they replace), including the ends and outside of their ranges."""

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from gpcluster.stats.quantiles import chi2_quantile, normal_quantile

P = np.array([0.0, 1e-12, 0.001, 0.0025, 0.025, 0.05, 0.1, 0.5, 0.8, 0.95, 0.975, 0.9975, 0.999, 1.0, -0.1, 1.1,
              np.nan])


def test_normal_quantile_is_scipy_stats_norm_ppf():
    np.testing.assert_array_equal(normal_quantile(P), stats.norm.ppf(P))
    assert normal_quantile(0.975) == pytest.approx(1.959963984540054, abs=1e-15)  # the familiar 1.96
    assert normal_quantile(0.9985) == pytest.approx(2.967737925342113, abs=1e-12)  # 99.8% two-sided


@pytest.mark.parametrize("df", [0.0, -1.0, 1e-300, 0.5, 1.0, 2.0, 7.0, 40.0, 2_000.0, 2e6, np.nan])
def test_chi2_quantile_is_scipy_stats_chi2_ppf(df):
    np.testing.assert_allclose(chi2_quantile(P, df), stats.chi2.ppf(P, df), rtol=1e-14, equal_nan=True)


def test_chi2_quantile_broadcasts_and_matches_published_tables():
    o = np.array([0.0, 1.0, 5.0, 100.0])
    np.testing.assert_allclose(chi2_quantile(0.975, 2 * o + 2), stats.chi2.ppf(0.975, 2 * o + 2), rtol=1e-14)
    # chi-squared table: 95th centile with 1 and 10 degrees of freedom
    assert chi2_quantile(0.95, 1) == pytest.approx(3.841459, abs=1e-6)
    assert chi2_quantile(0.95, 10) == pytest.approx(18.307038, abs=1e-6)


def test_computing_indicators_does_not_import_scipy_stats():
    """scipy.stats costs about 46 MB in every process that computes the catalogue (issue 12's memory
    target): the engine and the CIs and funnels it uses must not import it."""
    code = ("import sys, json\n"
            "import gpcluster.indicators.engine, gpcluster.stats.ci, gpcluster.stats.funnel\n"
            "print(json.dumps('scipy.stats' in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) is False
