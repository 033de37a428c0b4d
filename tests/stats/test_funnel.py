"""Funnel plots against OHID fixtures (METHODS.md §1c), FunnelPlotR's Poisson limits (§1b),
PHStatsMethods on random inputs, hand-worked Spiegelhalter and HSMR examples, and properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from gpcluster.stats import StatsInputError, funnel
from gpcluster.stats.funnel import (
    geometric_grid,
    hsmr,
    proportion_limits,
    proportion_significance,
    rate_significance,
    ratio_limits,
    ratio_limits_by_observed,
    ratio_significance,
    spiegelhalter,
    to_ohid,
)

PBAR = 0.80642448  # the fixture prints the baseline and limits to 6 dp (in %), so compare to 1e-6
# n, lower95 %, upper95 %, lower99.8 %, upper99.8 % (PHE testdata_funnel_prop_outputs.csv)
PROP_LIMITS_SPEC = [
    (1, 3.204264, 100, 0, 100),
    (2, 25.885383, 100, 0, 100),
    (3, 35.933491, 100, 10.150815, 100),
    (10, 56.154344, 100, 42.03259, 100),
]
# E, ll95, ul95, ll99.8, ul99.8 (FunnelPlotR tests/testthat/test-poisson_limits.R)
POISSON_SPEC = [
    (15, 0.5596924, 1.649348, 0.3862650, 2.082907),
    (20, 0.6108260, 1.544419, 0.4479107, 1.902094),
    (30, 0.6746958, 1.427562, 0.5289724, 1.702771),
]
# O, lower_2s_exp, upper_2s_exp, lower_3s_exp, upper_3s_exp (PHE testdata_funnel_ratio_outputs.csv)
RATIO_LINES_SPEC = [
    (1, 5.571644585, 0.025317898, 9.233410143, 0.001000547),
    (10, 18.39035799, 4.795387629, 24.13397235, 2.960519925),
]


@pytest.mark.parametrize(("n", "l95", "u95", "l998", "u998"), PROP_LIMITS_SPEC)
def test_proportion_limits_published(n, l95, u95, l998, u998):
    row = proportion_limits([n], PBAR).iloc[0] * 100
    assert row.lower_95 == pytest.approx(l95, abs=1e-6)
    assert row.upper_95 == pytest.approx(u95, abs=1e-6)
    assert row.lower_998 == pytest.approx(l998, abs=1e-6)
    assert row.upper_998 == pytest.approx(u998, abs=1e-6)


def test_proportion_limits_fixture_file(oracles_dir):
    ref = pd.read_csv(oracles_dir / "funnel_prop_outputs.csv")
    got = proportion_limits(ref.Population, ref.Baseline.iloc[0] / 100) * 100
    np.testing.assert_allclose(got.lower_95, ref.Lower2s0025limit, atol=1e-6)
    np.testing.assert_allclose(got.upper_95, ref.Upper2s0025limit, atol=1e-6)
    np.testing.assert_allclose(got.lower_998, ref.Lower3s0001limit, atol=1e-6)
    np.testing.assert_allclose(got.upper_998, ref.Upper3s0001limit, atol=1e-6)


def test_proportion_significance_fixture_file(oracles_dir):
    df = pd.read_csv(oracles_dir / "funnel_prop_inputs.csv")
    assert len(df) == 303
    got = to_ohid(proportion_significance(df.numerator, df.denominator))
    assert (got == df.significance.to_numpy()).all()


def test_ratio_significance_fixture_file(oracles_dir):
    df = pd.read_csv(oracles_dir / "funnel_ratio_inputs.csv")
    assert len(df) == 300
    got = to_ohid(ratio_significance(df.obs, df.expected))
    assert (got == df.significance.to_numpy()).all()


@pytest.mark.parametrize(("e", "l95", "u95", "l998", "u998"), POISSON_SPEC)
def test_funnelplotr_poisson_limits(e, l95, u95, l998, u998):
    row = ratio_limits([e]).iloc[0]
    for got, want in ((row.lower_95, l95), (row.upper_95, u95), (row.lower_998, l998), (row.upper_998, u998)):
        assert got == pytest.approx(want, rel=1e-6)


# The funnel workbook's chi-squared quantiles are spreadsheet-precision (up to 5e-5 relative in the far
# tail); the same quantities from R's qchisq in testdata_Rate.xlsx are matched to 1e-9 below.
FUNNEL_WORKBOOK_RTOL = 5e-5


@pytest.mark.parametrize(("o", "l2", "u2", "l3", "u3"), RATIO_LINES_SPEC)
def test_ratio_lines_published(o, l2, u2, l3, u3):
    row = ratio_limits_by_observed([o]).iloc[0]
    assert row.lower_95_expected == pytest.approx(l2, rel=FUNNEL_WORKBOOK_RTOL)
    assert row.upper_95_expected == pytest.approx(u2, rel=FUNNEL_WORKBOOK_RTOL)
    assert row.lower_998_expected == pytest.approx(l3, rel=FUNNEL_WORKBOOK_RTOL)
    assert row.upper_998_expected == pytest.approx(u3, rel=FUNNEL_WORKBOOK_RTOL)
    assert row.lower_95 == pytest.approx(o / row.lower_95_expected, rel=1e-12)


def test_ratio_lines_match_r_qchisq_values():
    # exact Poisson limits of 1 event per 100 (testdata_Rate.xlsx, R qchisq): 5.571643390938898 and
    # 9.2334134764515845 per 100 are the expected counts at which 1 event sits on the lower funnel lines
    row = ratio_limits_by_observed([1]).iloc[0]
    assert row.lower_95_expected == pytest.approx(5.571643390938898, rel=1e-9)
    assert row.lower_998_expected == pytest.approx(9.2334134764515845, rel=1e-9)
    assert row.upper_95_expected == pytest.approx(2.5317807984289897e-2, rel=1e-9)
    assert row.upper_998_expected == pytest.approx(1.0005003335835344e-3, rel=1e-9)


def test_ratio_lines_fixture_file(oracles_dir):
    ref = pd.read_csv(oracles_dir / "funnel_ratio_outputs.csv", encoding="utf-8-sig")
    ref = ref.rename(columns={ref.columns[0]: "obs"}).dropna(subset=["obs"])
    assert len(ref) == 100
    got = ratio_limits_by_observed(ref.obs)
    rtol = FUNNEL_WORKBOOK_RTOL
    np.testing.assert_allclose(got.lower_95_expected, ref.lower_2s_exp_events, rtol=rtol)
    np.testing.assert_allclose(got.upper_95_expected, ref.upper_2s_exp_events, rtol=rtol)
    np.testing.assert_allclose(got.lower_998_expected, ref.lower_3s_exp_events, rtol=rtol)
    np.testing.assert_allclose(got.upper_998_expected, ref.upper_3s_exp_events, rtol=rtol)
    np.testing.assert_allclose(got.lower_95 * 100, ref.lower_2s_isr, rtol=rtol)


def test_against_phstatsmethods_random():
    ph = pytest.importorskip("PHStatsMethods")
    rng = np.random.default_rng(42)
    n = rng.integers(50, 20_000, 200)
    x = rng.binomial(n, np.clip(0.3 + rng.normal(0, 0.05, 200), 0.01, 0.99))
    df = pd.DataFrame({"x": x, "n": n})
    ref = ph.assign_funnel_significance(df, "x", "proportion", "n")["significance"].to_numpy()
    assert (to_ohid(proportion_significance(x, n)) == ref).all()
    o = rng.integers(0, 400, 200)
    e = rng.uniform(3, 300, 200)
    ref = ph.assign_funnel_significance(pd.DataFrame({"o": o, "e": e}), "o", "ratio", "e")["significance"]
    assert (to_ohid(ratio_significance(o, e)) == ref.to_numpy()).all()
    df3 = df.assign(r=df.x / df.n * 100_000)
    ref = ph.assign_funnel_significance(
        df3, "x", "rate", "n", rate="r", rate_type="crude", multiplier=100_000
    )
    assert (to_ohid(rate_significance(x, n, multiplier=100_000)) == ref["significance"].to_numpy()).all()


def test_rate_significance_hand_example():
    # 30 per 1000 against 0.01: Byar's 99.8% lower limit of 30 events is 15.8, i.e. 0.0158 > 0.01;
    # 10 per 1000 sits on the target
    labels = rate_significance([30, 10, 10], [1000, 1000, 1000], target=0.01)
    assert labels[0] == funnel.HIGH_998
    assert labels[1] == funnel.NOT_SIGNIFICANT


def test_dsr_significance_not_applicable_below_ten():
    got = funnel.dsr_significance([5, 50], [1, 120], [9, 180], [0.5, 110], [12, 190], target=100)
    assert got.tolist() == ["not_applicable", funnel.HIGH_998]


def test_grid_is_geometric():
    g = geometric_grid(1, 10_000)
    assert len(g) == 100 and g[0] == pytest.approx(1) and g[-1] == pytest.approx(10_000)
    np.testing.assert_allclose(g[1:] / g[:-1], 10 ** (4 / 99))


def test_spiegelhalter_shmi_hand_worked():
    o = np.array([12, 30, 45, 25, 80, 60, 15, 95, 40, 70], dtype=float)
    e = np.array([20, 25, 40, 30, 60, 65, 18, 70, 45, 60], dtype=float)
    res = spiegelhalter(o, e)
    z = np.sqrt(e) * np.log(o / e)
    order = np.argsort(z)
    kept = np.ones(10, dtype=bool)
    kept[[order[0], order[-1]]] = False  # k = 10, n = 10: ranks 1 and 10 fall outside 0 < sp < 9
    np.testing.assert_array_equal(res.kept, kept)
    phi = np.mean(z[kept] ** 2)
    assert res.phi == pytest.approx(phi, rel=1e-12)
    w = e[kept]  # 1/s² = E on the log scale
    tau2 = max(0.0, (8 * phi - 7) / (w.sum() - (w**2).sum() / w.sum()))
    assert res.tau2 == pytest.approx(tau2, rel=1e-12)
    assert res.adjusted == (phi > 1)
    zq = sps.norm.ppf(0.975)
    np.testing.assert_allclose(res.upper_95, np.exp(zq * np.sqrt(1 / e + tau2)), rtol=1e-12)
    lines = res.limits(geometric_grid(5, 100))
    assert (np.diff(lines.upper_95) < 0).all()  # limits widen as the denominator shrinks


def test_spiegelhalter_proportions_winsorised_hand_worked():
    n = np.array([200, 500, 800, 1000, 1500, 2500, 3000, 4000, 6000, 9000], dtype=float)
    x = np.round(n * np.array([0.10, 0.25, 0.18, 0.22, 0.30, 0.15, 0.21, 0.27, 0.19, 0.24]))
    res = spiegelhalter(x, n, data_type="PR")
    pbar = x.sum() / n.sum()
    z = (np.arcsin(np.sqrt(x / n)) - np.arcsin(np.sqrt(pbar))) * 2 * np.sqrt(n)
    lo, hi = np.quantile(z, [0.1, 0.9])
    phi = np.mean(np.clip(z, lo, hi) ** 2)
    assert res.phi == pytest.approx(phi, rel=1e-12)
    w = 4 * n
    tau2 = max(0.0, (10 * phi - 9) / (w.sum() - (w**2).sum() / w.sum()))
    assert res.tau2 == pytest.approx(tau2, rel=1e-12)
    assert res.adjusted
    zq = sps.norm.ppf(0.999)
    want = np.sin(np.arcsin(np.sqrt(pbar)) + zq * np.sqrt(1 / (4 * n) + tau2)) ** 2
    np.testing.assert_allclose(res.upper_998, want, rtol=1e-12)


def test_overdispersion_alone_is_the_sqrt_scale_hand_calculation():
    # what the indicator engine fits per level and period: O/E on the square-root scale ("CQC"),
    # winsorised at 5%; z = 2 sqrt(E) (sqrt(O/E) - 1), w = 4E
    o = np.array([12, 30, 45, 25, 80, 60, 15, 95, 40, 70, 0, 33], dtype=float)
    e = np.array([20, 25, 40, 30, 60, 65, 18, 70, 45, 60, 4, 30], dtype=float)
    got = funnel.overdispersion(o, e, "SR", "CQC", trim_by=0.05)
    z = 2 * np.sqrt(e) * (np.sqrt(o / e) - 1)
    lo, hi = np.quantile(z, [0.05, 0.95])
    phi = np.mean(np.clip(z, lo, hi) ** 2)
    w = 4 * e
    tau2 = max(0.0, (12 * phi - 11) / (w.sum() - (w**2).sum() / w.sum()))
    assert got.phi == pytest.approx(phi, rel=1e-12)
    assert got.tau2 == pytest.approx(tau2, rel=1e-12)
    assert got.adjusted == (phi > 1) and got.adjusted
    full = spiegelhalter(o, e, "SR", "CQC", trim_by=0.05)
    assert (full.phi, full.tau2, full.adjusted) == (got.phi, got.tau2, got.adjusted)
    with pytest.raises(StatsInputError, match="at least 3 units"):
        funnel.overdispersion(o[:2], e[:2], "SR", "CQC", trim_by=0.05)


def test_overdispersion_by_group_is_the_hand_calculation_of_each_group():
    # the sqrt-scale hand calculation above, for two funnels fitted in one call (units interleaved),
    # plus a funnel of the PR hand example above fitted alone
    o = np.array([12, 30, 45, 25, 80, 60, 15, 95, 40, 70, 0, 33], dtype=float)
    e = np.array([20, 25, 40, 30, 60, 65, 18, 70, 45, 60, 4, 30], dtype=float)
    o2, e2 = o[::-1] * 1.5, e[::-1] + 3
    group = np.array([0, 1] * 12)
    num = np.empty(24)
    den = np.empty(24)
    num[0::2], num[1::2] = o, o2
    den[0::2], den[1::2] = e, e2
    got = funnel.overdispersion_by_group(num, den, group, "SR", "CQC", trim_by=0.05)
    for g, (oo, ee) in enumerate(((o, e), (o2, e2))):
        z = 2 * np.sqrt(ee) * (np.sqrt(oo / ee) - 1)
        lo, hi = np.quantile(z, [0.05, 0.95])
        phi = np.mean(np.clip(z, lo, hi) ** 2)
        w = 4 * ee
        tau2 = max(0.0, (12 * phi - 11) / (w.sum() - (w**2).sum() / w.sum()))
        assert got.units[g] == 12
        assert got.phi[g] == pytest.approx(phi, rel=1e-12)
        assert got.tau2[g] == pytest.approx(tau2, rel=1e-12)
        assert got.adjusted[g] == (phi > 1)
    np.testing.assert_allclose(got.z[0::2], 2 * np.sqrt(e) * (np.sqrt(o / e) - 1), rtol=1e-12)
    n = np.array([200, 500, 800, 1000, 1500, 2500, 3000, 4000, 6000, 9000], dtype=float)
    x = np.round(n * np.array([0.10, 0.25, 0.18, 0.22, 0.30, 0.15, 0.21, 0.27, 0.19, 0.24]))
    pbar = x.sum() / n.sum()
    pr = funnel.overdispersion_by_group(x, n, np.zeros(10, dtype=int), "PR", trim_by=0.1, target=pbar)
    single = spiegelhalter(x, n, data_type="PR")
    assert pr.phi[0] == pytest.approx(single.phi, rel=1e-12)
    assert pr.tau2[0] == pytest.approx(single.tau2, rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 200), st.integers(1, 300)), min_size=1, max_size=80),
       st.sampled_from([0.05, 0.1, 0.25]))
def test_overdispersion_by_group_equals_one_fit_per_group(units, trim):
    # ties, tiny groups, empty group codes and zero counts: each group as `overdispersion` fits it alone
    group = np.array([g for g, _, _ in units])
    o = np.array([float(v) for _, v, _ in units])
    e = np.array([float(v) for _, _, v in units])
    got = funnel.overdispersion_by_group(o, e, group, "SR", "CQC", trim_by=trim)
    for g in range(int(group.max()) + 1):
        at = group == g
        assert got.units[g] == at.sum()
        if at.sum() < 3:
            assert np.isnan(got.phi[g]) and np.isnan(got.tau2[g])
            continue
        one = funnel.overdispersion(o[at], e[at], "SR", "CQC", trim_by=trim)
        assert got.phi[g] == pytest.approx(one.phi, rel=1e-12, abs=1e-300)
        assert got.tau2[g] == pytest.approx(one.tau2, rel=1e-12, abs=1e-300)
        assert bool(got.adjusted[g]) == one.adjusted
        np.testing.assert_array_equal(got.z[at], one.z)


def test_overdispersion_by_group_refuses_what_it_cannot_fit():
    o, e = np.array([1.0, 2, 3]), np.array([1.0, 2, 3])
    with pytest.raises(StatsInputError, match="SHMI"):
        funnel.overdispersion_by_group(o, e, np.zeros(3, dtype=int), "SR", "SHMI")
    with pytest.raises(StatsInputError, match="integer codes"):
        funnel.overdispersion_by_group(o, e, np.array([0, -1, 0]), "SR", "CQC")
    with pytest.raises(StatsInputError, match="same length"):
        funnel.overdispersion_by_group(o, e, np.zeros(2, dtype=int), "SR", "CQC")


def test_spiegelhalter_without_overdispersion_uses_exact_poisson():
    e = np.array([50.0, 80, 120, 200, 300, 400, 90, 150, 250, 60])
    o = np.round(e * np.array([1.01, 0.99, 1.0, 1.02, 0.98, 1.0, 1.01, 0.99, 1.0, 1.0]))
    res = spiegelhalter(o, e)
    assert not res.adjusted
    np.testing.assert_allclose(res.lower_95, sps.chi2.ppf(0.025, 2 * e) / (2 * e), rtol=1e-12)
    assert (res.labels == funnel.NOT_SIGNIFICANT).all()


def test_hsmr_hand_worked():
    o = np.array([90.0, 110, 130, 70, 100, 250])
    e = np.array([100.0, 100, 100, 100, 100, 240])
    res = hsmr(o, e, is_hospital=[True, True, True, True, True, False])
    z = np.array([-1.0, 1.0, 3.0, -3.0, 0.0, 0.0])  # (SMR-1)/sqrt(1/E); Scotland row (not a hospital) -> 0
    np.testing.assert_allclose(res.z, z, atol=1e-8)
    zw = np.array([-1.0, 1.0, 1.0, -1.0, 0.0, 0.0])  # max 3 -> next (1), min -3 -> next (-1)
    w = np.sqrt((zw**2).sum() / 4)
    assert res.w == pytest.approx(w, abs=1e-8)
    np.testing.assert_allclose(res.ucl[:5], 1 + 3.09 * 0.1 * w, atol=1e-8)
    # SMR 1.30 lies between the warning (1.196) and control (1.309) limits
    ns = funnel.NOT_SIGNIFICANT
    assert res.labels.tolist() == [ns, ns, funnel.HIGH_95, funnel.LOW_95, ns, ns]


@settings(max_examples=50, deadline=None)
@given(
    pbar=st.floats(0.01, 0.99),
    n=st.integers(2, 100_000),
    k=st.integers(2, 100),
)
def test_proportion_limits_widen_as_denominator_shrinks(pbar, n, k):
    small = proportion_limits([n], pbar).iloc[0]
    big = proportion_limits([n * k], pbar).iloc[0]
    assert small.lower_95 <= big.lower_95 + 1e-12 and small.upper_95 >= big.upper_95 - 1e-12
    assert small.lower_998 <= small.lower_95 <= pbar <= small.upper_95 <= small.upper_998
    assert small.lower_998 >= 0 and small.upper_998 <= 1


@settings(max_examples=50, deadline=None)
@given(e=st.floats(0.5, 10_000), k=st.floats(1.5, 50))
def test_ratio_limits_widen_as_expected_shrinks(e, k):
    small = ratio_limits([e]).iloc[0]
    big = ratio_limits([e * k]).iloc[0]
    assert small.lower_998 <= big.lower_998 and small.upper_998 >= big.upper_998
    assert small.lower_998 <= small.lower_95 <= 1 <= small.upper_95 <= small.upper_998


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: proportion_significance([5, 11], [10, 10]), "greater than denominator"),
        (lambda: proportion_significance([5, 1], [10, 10, 10]), "lengths do not match"),
        (lambda: ratio_significance([-1], [3]), "negative"),
        (lambda: ratio_significance([1], [0]), "greater than zero"),
        (lambda: proportion_significance([1], [10], levels=(0.998, 0.95)), "increasing"),
        (lambda: spiegelhalter([1, 2], [3, 4]), "at least 3"),
        (lambda: spiegelhalter([0, 2, 3], [3, 4, 5]), "log"),
        (lambda: spiegelhalter([1, 2, 3], [3, 4, 5], data_type="XX"), "data_type"),
        (lambda: hsmr([1, 2], [1, 2]), "at least 3"),
        (lambda: proportion_limits([1], 1.5), "between 0 and 1"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(StatsInputError, match=message):
        call()


def test_limit_lines_span_the_observed_range():
    lines = funnel.proportion_limit_lines([120, 5000, 800], 0.3)
    assert (
        len(lines) == 100
        and lines.n.iloc[0] == pytest.approx(120)
        and lines.n.iloc[-1] == pytest.approx(5000)
    )
    assert (np.diff(lines.upper_998) < 0).all()
    lines = funnel.ratio_limit_lines([2.5, 40.0], points=10)
    assert len(lines) == 10 and lines.expected.iloc[-1] == pytest.approx(40.0)


def test_nullable_pandas_columns_are_accepted():
    x = pd.Series([5, 7, 9], dtype="Int64")
    n = pd.Series([100, 120, 110], dtype="Int64")
    assert len(proportion_significance(x, n)) == 3
    with pytest.raises(StatsInputError, match="missing"):
        proportion_significance(pd.Series([5, None, 9], dtype="Int64"), n)
