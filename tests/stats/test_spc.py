"""SPC: Making Data Count XmR rules (NHSRplotthedots oracles, METHODS.md §4), attribute charts by hand
calculation, a loop-based reference transcription of the R rules, and Hypothesis properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpcluster.stats import StatsInputError, spc
from gpcluster.stats.spc import Phase, xmr, xmr_signals_batch

from .spc_reference import reference_xmr

RNORM_123 = [
    -0.56047565, -0.23017749, 1.55870831, 0.07050839, 0.12928774, 1.71506499, 0.46091621, -1.26506123,
    -0.68685285, -0.44566197, 1.22408180, 0.35981383, 0.40077145, 0.11068272, -0.55584113, 1.78691314,
    0.49785048, -1.96661716, 0.70135590, -0.47279141,
]  # fmt: skip
DEVIATIONS = [1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1]


def test_ptd_snapshot_limits():
    r = xmr(RNORM_123)
    assert r.mean[0] == pytest.approx(0.1416238, abs=5e-8)
    assert r.lpl[0] == pytest.approx(-3.01138, abs=5e-6)
    assert r.upl[0] == pytest.approx(3.294627, abs=5e-7)
    assert (r.point_type == "common_cause").all()


@pytest.mark.parametrize(("screen", "upl", "lpl"), [(True, 4.60, -0.72), (False, 6.95, -3.06)])
def test_deviations_vignette_screening(screen, upl, lpl):
    r = xmr(DEVIATIONS, screen_outliers=screen)
    assert round(r.mean[0], 2) == 1.94
    assert round(r.upl[0], 2) == upl
    assert round(r.lpl[0], 2) == lpl
    if screen:
        assert r.rule_label[4] == "Above UCL"


def _rules(d, upper=100.0, near=50.0, shift_length=7, trend_length=7):
    d = np.asarray(d, dtype=float)[None, :]
    code, _, _ = spc._apply_rules(d, upper, -upper, near, -near, trend_length, shift_length)
    return code[0]


def test_seven_point_trend_unit_vector():
    # ptd test: seven_point_trend(c(2, 1:7, 3)) marks the 7-point run 1..7 (part_of_seven_trend)
    code = _rules([2, 1, 2, 3, 4, 5, 6, 7, 3])
    assert (code == 3).tolist() == [False, True, True, True, True, True, True, True, False]
    code = _rules([2, 1, 2, 3, 3, 5, 6, 7, 8])  # a tie breaks the trend
    assert not (code == 3).any()


def test_two_in_three_unit_vector():
    # ptd test: two_in_three(c(0,0,1,1,0,0,0), rep(1,7)) = 0,1,1,1,1,0,0; only close points are flagged
    code = _rules([0.5, 0.5, 60, 60, 0.5, 0.5, 0.5], shift_length=8)  # 7 on one side would also be a shift
    assert code.tolist() == [0, 0, 5, 5, 0, 0, 0]
    # close points on opposite sides of the mean do not qualify (NHSRplotthedots issue #143)
    assert not _rules([0.5, 60, -60, 0.5]).any()
    assert not _rules([1, -1, 1, -1, 60, -60, 1, -1, 1]).any()


def test_seven_points_one_side_unit_vector():
    # ptd test: seven_point_one_side_mean(c(rep(1,8),-1)) ends at points 7 and 8 -> all 8 flagged
    code = _rules([1] * 8 + [-1])
    assert code.tolist() == [7] * 8 + [0]
    assert not _rules([1, 1, 1, 0, 1, 1, 1, 1]).any()  # a point on the mean breaks the run


def test_rule_precedence_and_point_types():
    y = [5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 6, 7, 8, 9, 10, 11, 30]
    r = xmr(y, improvement="decrease")
    assert r.rule_label[-1] == "Above UCL"
    assert r.point_type[-1] == "special_cause_concern"
    r_up = xmr(y, improvement="increase")
    assert r_up.point_type[-1] == "special_cause_improvement"
    assert xmr(y).point_type[-1] == "special_cause_neutral_high"


@pytest.mark.parametrize(
    ("improvement", "target", "expected"),
    [
        ("increase", 100.0, "consistent_fail"),
        ("increase", -100.0, "consistent_pass"),
        ("increase", 0.1, "inconsistent"),
        ("decrease", 100.0, "consistent_pass"),
        ("decrease", -100.0, "consistent_fail"),
        ("neutral", 100.0, None),
        ("increase", None, None),
    ],
)
def test_assurance_table(improvement, target, expected):
    assert xmr(RNORM_123, improvement=improvement, target=target).assurance == expected


def test_phases_rebase_with_reason_and_short_phase_warning():
    y = RNORM_123 + [v + 10 for v in RNORM_123[:8]]
    r = xmr(y, phases=[Phase(20, "new triage model")])
    np.testing.assert_allclose(r.mean[:20], xmr(RNORM_123).mean[0])
    np.testing.assert_allclose(r.mean[20:], np.mean(y[20:]))
    assert r.phase.tolist() == [0] * 20 + [1] * 8
    assert r.phases[1].reason == "new triage model"
    assert len(r.warnings) == 1 and "new triage model" in r.warnings[0] and "13" in r.warnings[0]
    assert xmr(RNORM_123).warnings == []
    with pytest.raises(StatsInputError, match="no reason"):
        xmr(y, phases={20: " "})


def test_fix_after_n_points_uses_only_the_baseline():
    y = RNORM_123 + [50.0] * 5
    r = xmr(y, fix_after_n_points=20)
    assert r.mean[0] == pytest.approx(np.mean(RNORM_123), rel=1e-12)
    assert (r.rule_label[20:] == "Above UCL").all()
    with pytest.raises(StatsInputError, match="at least 12"):
        xmr(y, fix_after_n_points=5)


def test_trend_and_shift_lengths_are_parameters():
    y = [-3, -2, -1, 1, 2, 3, -1, 1, -1, 1]
    assert not (_rules(y) == 3).any()
    assert (_rules(y, trend_length=6) == 3).tolist() == [True] * 6 + [False] * 4
    assert (_rules([1] * 5 + [-1], shift_length=5) == 7).tolist() == [True] * 5 + [False]
    assert not _rules([1] * 5 + [-1]).any()


def test_batch_matches_loop_reference_on_random_series():
    rng = np.random.default_rng(2024)
    for screen in (True, False):
        for direction, name in ((1, "increase"), (-1, "decrease"), (0, "neutral")):
            values = rng.integers(0, 12, size=(40, 30)).astype(float)
            values[:10] += np.arange(30) * 0.7  # drifts give trends and shifts
            res = xmr_signals_batch(values, name, screen_outliers=screen)
            for i, row in enumerate(values):
                mean, lpl, upl, codes, types = reference_xmr(list(row), direction, screen)
                assert res.mean[i] == pytest.approx(mean, rel=1e-12)
                assert res.lpl[i] == pytest.approx(lpl, rel=1e-9, abs=1e-12)
                assert res.rule[i].tolist() == codes
                assert res.point_type[i].tolist() == types


def test_batch_nan_padding_and_last_only():
    a = np.array(RNORM_123)
    padded = np.vstack([np.r_[a[:15], [np.nan] * 5], a])
    res = xmr_signals_batch(padded, "increase", last_only=True)
    short = xmr_signals_batch(a[None, :15], "increase")
    assert res.mean[0] == pytest.approx(short.mean[0])
    assert res.rule[0] == short.rule[0, -1]
    full = xmr_signals_batch(padded, "increase")
    assert (full.point_type[0, 15:] == spc.MISSING).all()
    assert res.rule.shape == (2,)


@settings(max_examples=50, deadline=None)
@given(
    y=st.lists(st.integers(-50, 50), min_size=3, max_size=40),
    c=st.integers(-(10**6), 10**6),
    screen=st.booleans(),
)
def test_flags_invariant_to_adding_a_constant(y, c, screen):
    base = xmr_signals_batch(np.array([y], dtype=float), "increase", screen_outliers=screen)
    shifted = xmr_signals_batch(np.array([y], dtype=float) + c, "increase", screen_outliers=screen)
    np.testing.assert_array_equal(base.rule, shifted.rule)
    np.testing.assert_array_equal(base.point_type, shifted.point_type)


def test_p_chart_hand_calculation():
    x = np.array([10, 12, 8, 15, 30])
    n = np.array([100, 120, 90, 110, 100])
    r = spc.p_chart(x, n)
    pbar = 75 / 520
    np.testing.assert_allclose(r.centre, pbar)
    np.testing.assert_allclose(r.upper, pbar + 3 * np.sqrt(pbar * (1 - pbar) / n))
    np.testing.assert_allclose(r.lower, np.maximum(pbar - 3 * np.sqrt(pbar * (1 - pbar) / n), 0))
    assert r.rule[-1] == 1  # 30% is above the upper limit


def test_u_and_c_chart_hand_calculation():
    r = spc.u_chart([4, 9, 2], [1000, 1500, 800])
    ubar = 15 / 3300
    np.testing.assert_allclose(r.upper, ubar + 3 * np.sqrt(ubar / np.array([1000, 1500, 800])))
    r = spc.c_chart([3, 5, 4, 8])
    np.testing.assert_allclose(r.upper, 5 + 3 * np.sqrt(5))
    np.testing.assert_allclose(r.lower, 0)


def test_laney_p_hand_calculation_and_widening():
    rng = np.random.default_rng(5)
    n = rng.integers(5000, 12000, 24)
    p = 0.3 + rng.normal(0, 0.02, 24)  # overdispersed relative to binomial
    x = np.round(p * n)
    pbar = x.sum() / n.sum()
    sig = np.sqrt(pbar * (1 - pbar) / n)
    z = (x / n - pbar) / sig
    sz = np.mean(np.abs(np.diff(z))) / 1.128
    r = spc.laney_p(x, n)
    assert r.sigma_z == pytest.approx(sz, rel=1e-12)
    np.testing.assert_allclose(r.upper, pbar + 3 * sig * sz, rtol=1e-12)
    plain = spc.p_chart(x, n)
    assert (r.upper > plain.upper).all()
    assert (plain.rule > 0).sum() > (r.rule > 0).sum()
    ru = spc.laney_u(x, n)
    ubar = pbar
    zu = (x / n - ubar) / np.sqrt(ubar / n)
    assert ru.sigma_z == pytest.approx(np.mean(np.abs(np.diff(zu))) / 1.128, rel=1e-12)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: xmr([]), "non-empty"),
        (lambda: xmr([1.0, np.nan, 2.0]), "missing"),
        (lambda: xmr([1, 2, 3], improvement="up"), "improvement"),
        (lambda: xmr_signals_batch(np.array([[1.0, np.nan, np.nan]])), "at least 2"),
        (lambda: xmr_signals_batch(np.empty((0, 5))), "non-empty"),
        (lambda: spc.p_chart([5, 11], [10, 10]), "greater than denominator"),
        (lambda: spc.p_chart([5, 1], [10]), "equal-length"),
        (lambda: spc.u_chart([-1, 1], [10, 10]), "negative"),
        (lambda: xmr([1, 2, 3], trend_length=1), "trend_length"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(StatsInputError, match=message):
        call()


def test_flat_series_has_collapsed_limits_and_no_signals():
    r = xmr([4.0] * 15, improvement="increase")
    assert r.lpl[0] == r.upl[0] == 4.0
    assert (r.point_type == "common_cause").all()


def test_batch_assurance_per_series_matches_single_charts():
    rng = np.random.default_rng(9)
    values = rng.normal(50, 5, (3, 24))
    targets = np.array([100.0, 0.0, 50.0])
    res = xmr_signals_batch(values, "increase", target=targets)
    for i in range(3):
        assert res.assurance[i] == xmr(values[i], "increase", target=targets[i]).assurance
    assert res.assurance.tolist() == ["consistent_fail", "consistent_pass", "inconsistent"]
