"""Disclosure control: sdcshinyapp examples (METHODS.md §5), ScotPHO indicator rules, PHS rounding."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpcluster.stats import StatsInputError, disclosure
from gpcluster.stats.disclosure import (
    apply_indicator_rule,
    primary_suppress,
    round_half_up,
    round_to_base,
    secondary_mask,
    secondary_suppress,
)


def test_primary_keeps_zeros_and_missing_by_default():
    got = primary_suppress([0, 1, 3, 4, np.nan, 10, 11], threshold=3)
    np.testing.assert_array_equal(np.isnan(got), [False, True, True, False, True, False, False])
    assert got[0] == 0 and got[3] == 4
    got = primary_suppress([0, 1, 5], threshold=3, suppress_zeros=True)
    np.testing.assert_array_equal(np.isnan(got), [True, True, False])
    assert disclosure.SDC_THRESHOLD == 10
    assert np.isnan(primary_suppress([10])[0]) and primary_suppress([11])[0] == 11


def test_sdcshinyapp_secondary_example():
    # sdcshinyapp test: rows Total = 1..5, every age column = 1..5, k = 3 -> rows 1-3 fully suppressed
    f = pd.DataFrame(
        {"Total": [1, 2, 3, 4, 5], "a": [1, 2, 3, 4, 5], "b": [1, 2, 3, 4, 5], "c": [1, 2, 3, 4, 5]}
    )
    got = secondary_suppress(f, "Total", ["a", "b", "c"], threshold=3)
    assert got.iloc[:3].isna().all().all()
    pd.testing.assert_frame_equal(got.iloc[3:], f.iloc[3:].astype(float))


def test_secondary_adds_smallest_cell_and_handles_zeros():
    f = pd.DataFrame({"Total": [30, 20, 25], "a": [2, 2, 20], "b": [18, 18, 5], "c": [10, 0, 0]})
    m = secondary_mask(f, "Total", ["a", "b", "c"], threshold=3)
    assert m.loc[0].tolist() == [False, True, False, True]  # 2 suppressed -> smallest other non-zero (10)
    assert m.loc[1].tolist() == [False, True, True, False]  # zero is not chosen while a non-zero exists
    assert not m.loc[2].any()


def test_secondary_falls_back_to_a_zero_cell_then_the_total():
    # totals that include an unlisted category: no visible non-zero cell is left to add
    f = pd.DataFrame({"Total": [10, 10], "a": [2, 2], "b": [0, np.nan], "c": [0, np.nan]})
    m = secondary_mask(f, "Total", ["a", "b", "c"], threshold=3)
    assert m.loc[0].tolist() == [False, True, True, False]
    assert m.loc[1].tolist() == [True, True, False, False]


@settings(max_examples=80, deadline=None)
@given(
    cells=st.lists(st.lists(st.integers(0, 40), min_size=2, max_size=6), min_size=1, max_size=8).filter(
        lambda rows: len({len(r) for r in rows}) == 1
    ),
    k=st.integers(1, 10),
    zeros=st.booleans(),
)
def test_no_row_left_with_one_unknown(cells, k, zeros):
    arr = np.array(cells)
    cols = [f"c{i}" for i in range(arr.shape[1])]
    f = pd.DataFrame(arr, columns=cols)
    f.insert(0, "total", arr.sum(axis=1))
    m = secondary_mask(f, "total", cols, threshold=k, suppress_zeros=zeros)
    unknowns = m.sum(axis=1)
    # a single unknown in total = sum(cells) could be recovered by subtraction
    assert not (unknowns == 1).any()
    # primary cells are always suppressed
    primary = (f[cols] <= k) & ((f[cols] > 0) | zeros)
    assert not (primary & ~m[cols]).any().any()


def test_round_to_base_sdcshinyapp_example():
    got = round_to_base([1, 9, 14, 11, 20, 3, 14, 10, 44], 3)
    np.testing.assert_array_equal(got, [0, 9, 15, 12, 21, 3, 15, 9, 45])
    np.testing.assert_array_equal(round_to_base([5, 15, 25], 10), [0, 20, 20])  # half to even


@pytest.mark.parametrize(
    ("x", "digits"),
    [(2.675, 2), (0.125, 2), (1.005, 2), (2.5, 0), (0.5, 0), (1.5, 0), (12.345, 2), (80.645, 1), (-2.5, 0)],
)
def test_round_half_up_matches_decimal(x, digits):
    q = Decimal(1).scaleb(-digits)
    expected = float(Decimal(str(x)).quantize(q, rounding=ROUND_HALF_UP))
    assert round_half_up(x, digits) == expected
    if x == 2.5:
        assert round(x) == 2  # Python rounds half to even; PHS figures must not


def test_round_half_up_vectorised():
    np.testing.assert_array_equal(round_half_up(np.array([0.5, 1.5, 2.5]), 0), [1, 2, 3])


@settings(max_examples=2000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False), st.integers(min_value=-2, max_value=4))
def test_one_number_rounds_exactly_as_an_array_of_it(x, digits):
    """A single float takes a path without numpy (pages format thousands of figures a request); it must
    give the array path's result bit for bit, the sign of a zero included."""
    one, array = round_half_up(x, digits), round_half_up(np.array([x]), digits)[0]
    assert one == array and np.signbit(one) == np.signbit(array)
    assert type(one) is float


FRAME = pd.DataFrame(
    {"numerator": [3, 12, 0, np.nan], "value": [1.5, 6.0, 0.0, np.nan], "lower": [0.3, 3.1, 0.0, np.nan],
     "upper": [4.4, 10.5, 1.8, np.nan]}
)  # fmt: skip


@pytest.mark.parametrize("measure", ["crude_rate", "cr", "percentage", "%"])
def test_indicator_rule_blanks_back_calculable_measures(measure):
    got = apply_indicator_rule(FRAME, disclosure.SCOTPHO_SUPPRESS_LESS_THAN_5, measure)
    assert got.loc[[0, 2], ["numerator", "value", "lower", "upper"]].isna().all().all()
    assert got.loc[1, "value"] == 6.0 and got.loc[1, "numerator"] == 12
    assert got["suppressed"].tolist() == [True, False, True, False]


def test_indicator_rule_keeps_standardised_rates():
    got = apply_indicator_rule(FRAME, 5, "sr")
    assert np.isnan(got.loc[0, "numerator"])
    assert got.loc[0, ["value", "lower", "upper"]].tolist() == [1.5, 0.3, 4.4]


def test_threshold_is_strictly_less_than_for_indicator_rules():
    got = apply_indicator_rule(FRAME, 12, "cr")
    assert got.loc[1, "numerator"] == 12


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: primary_suppress([1, -2]), "negative"),
        (lambda: apply_indicator_rule(FRAME, 5, "rate"), "unknown measure type"),
        (lambda: apply_indicator_rule(FRAME.drop(columns="lower"), 5, "cr"), "lower"),
        (lambda: secondary_suppress(FRAME, "numerator", ["value"]), "at least two"),
        (lambda: round_to_base([1], 0), "greater than zero"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(StatsInputError, match=message):
        call()
