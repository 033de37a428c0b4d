"""Concentration index and slope index of inequality against hand-worked examples and independent
computations (the concentration-curve formula of Fuller & Lury 1977 / Kakwani et al. 1997, and
statsmodels WLS for the 'convenient regression' of O'Donnell et al. 2008 and for the SII)."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

from gpcluster.errors import UserError
from gpcluster.workforce.equity import concentration_index, fractional_rank, slope_index_of_inequality


def fuller_lury(values, pops):
    """CI from grouped data already sorted most to least deprived: sum of p[t-1] L[t] - p[t] L[t-1]."""
    values, pops = np.asarray(values, float), np.asarray(pops, float)
    p = np.concatenate([[0], np.cumsum(pops) / pops.sum()])
    L = np.concatenate([[0], np.cumsum(values * pops) / (values * pops).sum()])
    return float(np.sum(p[:-1] * L[1:] - p[1:] * L[:-1]))


def test_concentration_index_hand_worked():
    # 4 equal groups, most deprived first, h = 4, 3, 2, 1; mean 2.5
    # fractional ranks 0.125, 0.375, 0.625, 0.875; cov = (-0.5625 - 0.0625 - 0.0625 - 0.5625) / 4 = -0.3125
    # CI = 2 x -0.3125 / 2.5 = -0.25 (concentration curve: p .25 .5 .75 1, L .4 .7 .9 1 -> -0.25 too)
    assert concentration_index([4, 3, 2, 1], [1, 2, 3, 4]) == pytest.approx(-0.25)
    assert fuller_lury([4, 3, 2, 1], [1, 1, 1, 1]) == pytest.approx(-0.25)
    assert concentration_index([1, 1, 1, 1], [1, 2, 3, 4]) == pytest.approx(0.0)


def test_concentration_index_weighted_matches_curve_and_convenient_regression():
    rng = np.random.default_rng(7)
    h = rng.gamma(2.0, 3.0, 40)
    pop = rng.integers(500, 15_000, 40).astype(float)
    order = rng.permutation(40) + 1
    ci = concentration_index(h, order, pop)
    srt = np.argsort(order)
    assert ci == pytest.approx(fuller_lury(h[srt], pop[srt]), abs=1e-12)
    # O'Donnell et al. (2008) eq. 8.6: regress 2 var(r) h / mean(h) on r with weights; the slope is the CI.
    r = fractional_rank(order, pop)
    var_r = np.average((r - np.average(r, weights=pop)) ** 2, weights=pop)
    y = 2 * var_r * h / np.average(h, weights=pop)
    fit = sm.WLS(y, sm.add_constant(r), weights=pop).fit()
    assert ci == pytest.approx(fit.params[1], abs=1e-10)


def test_tied_ranks_share_their_mean_rank():
    # Two practices in the same data zone (order 1) with 100 patients each, then one of 200:
    # the tied pair spans (0, 0.5) so both get 0.25; the last gets 0.75.
    assert fractional_rank([1, 1, 2], [100, 100, 200]).tolist() == pytest.approx([0.25, 0.25, 0.75])


def test_slope_index_hand_worked():
    # groups (most deprived first): pop 100, 200, 100; value 30, 20, 10
    # ridits 0.125, 0.5, 0.875; weighted means x 0.5, y 20
    # Sxy = 100(-0.375)(10) + 100(0.375)(-10) = -750; Sxx = 2 x 100 x 0.140625 = 28.125
    # SII = -750 / 28.125 = -26.667 (more for the deprived); RII = SII / 20 = -1.333
    result = slope_index_of_inequality([30, 20, 10], [1, 2, 3], [100, 200, 100])
    assert result.sii == pytest.approx(-26.6666667)
    assert result.rii == pytest.approx(-1.3333333)
    assert result.groups["ridit"].tolist() == pytest.approx([0.125, 0.5, 0.875])


def test_slope_index_matches_statsmodels_wls():
    rng = np.random.default_rng(3)
    pop = rng.integers(20_000, 80_000, 10).astype(float)
    value = rng.normal(50, 10, 10)
    ridit = (np.cumsum(pop) - pop / 2) / pop.sum()
    fit = sm.WLS(value, sm.add_constant(ridit), weights=pop).fit()
    result = slope_index_of_inequality(value, np.arange(1, 11), pop)
    assert result.sii == pytest.approx(fit.params[1])
    assert result.intercept == pytest.approx(fit.params[0])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0.1, 100), st.floats(1, 1000)), min_size=2, max_size=12),
       st.floats(0.1, 10))
def test_concentration_index_is_scale_invariant_and_bounded(rows, k):
    h = [r[0] for r in rows]
    w = [r[1] for r in rows]
    order = list(range(len(rows)))
    ci = concentration_index(h, order, w)
    assert -1 <= ci <= 1
    assert concentration_index([x * k for x in h], order, w) == pytest.approx(ci, abs=1e-9)


def test_bad_equity_input_is_refused():
    with pytest.raises(UserError, match="same length"):
        concentration_index([1, 2], [1, 2, 3])
    with pytest.raises(UserError, match="mean is zero"):
        concentration_index([0, 0], [1, 2])
    with pytest.raises(UserError, match="two deprivation groups"):
        slope_index_of_inequality([1, 2], [1, 1], [5, 5])
