"""Figures formatted for people (issue 11): the raw values new users met, one by one, and the rules for
flags, themes, an area's one line and paging."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from gpcluster.web import formatting, heat, summary, themes
from gpcluster.web.paging import Paging, page_number


def indicator(indicator_id="x", measure_type="proportion", unit="%", purpose="context", polarity="neither",
              title="X"):
    return SimpleNamespace(indicator_id=indicator_id, measure_type=measure_type, unit=unit, purpose=purpose,
                           polarity=polarity, title=title)


LIST_SIZE = indicator("list_size", "count", "patients")
SIMD = indicator("simd_rank_mean", "mean", "SIMD rank (1 = most deprived)")
URBAN_RURAL = indicator("urban_rural_class", "mean", "class (1 urban to 6 remote rural)")
RATE = indicator("emergency_admission_rate", "crude_rate", "per 1,000 patients per quarter", "performance",
                 "higher_is_worse")


@pytest.mark.parametrize(("value", "ind", "text"), [
    (15133.0, LIST_SIZE, "15,133"),  # was 15,133.0
    (6748.0, SIMD, "6,748"),  # a rank is a whole number: was 6,748.0
    (3011.4, SIMD, "3,011"),  # a cluster's mean rank, still a rank
    (-0.004, indicator(), "0.0"),  # was -0.00
    (-0.04, indicator(), "0.0"),  # half-up rounding gives 0.0, never -0.0
    (float("nan"), indicator(), "–"),  # was nan: no figure, not suppressed
    (None, RATE, "–"),
    (64.25, RATE, "64.3"),  # half-up, as PHS publishes (binary floats would give 64.2)
    (3.0, URBAN_RURAL, "3"),  # a practice's class
    (2.35, URBAN_RURAL, "2.4"),  # a cluster's mean class
])
def test_figures_by_unit(value, ind, text):
    assert formatting.figure(value, ind) == text


@pytest.mark.parametrize(("value", "ind", "text"), [
    (1100.0, RATE, "1,100"),  # was 1,100.0 on another cluster's page: a decimal the rounding did not keep
    (320.0, RATE, "320"),
    (36.0, RATE, "36"),
    (6.7, RATE, "6.7"),
    (0.067, RATE, "0.1"),  # never more decimals than the unit's
    (0.0, RATE, "0.0"),
    (-12.0, indicator(), "-12"),
    (3.0, URBAN_RURAL, "3"),
])
def test_a_value_rounded_to_two_significant_figures_shows_no_decimal_it_lost(value, ind, text):
    assert formatting.figure(value, ind, two_figures=True) == text


def test_a_practice_the_viewer_may_not_name_reads_to_two_figures_in_the_cluster_table():
    row = SimpleNamespace(level="practice", named=False, value=1100.0, suppressed=False, funnel_scotland=None)
    assert heat.cell_for(row, RATE).text == "1,100"
    assert heat.cell_for(SimpleNamespace(**{**vars(row), "named": True}), RATE).text == "1,100.0"


def test_suppressed_is_a_star_and_missing_is_a_dash():
    assert formatting.figure(12.0, RATE, suppressed=True) == "*"
    assert formatting.figure(12.0, RATE, suppressed=np.True_) == "*"  # as pandas hands it over
    assert formatting.figure(float("nan"), RATE, suppressed=np.nan) == "–"
    assert formatting.with_unit(12.34, indicator()) == "12.3%"
    assert formatting.with_unit(15133.0, LIST_SIZE) == "15,133 patients"


def test_dates_times_ranks_and_signs():
    assert formatting.end_date(None) == "open-ended" and formatting.end_date(pd.NaT) == "open-ended"  # was *
    assert formatting.day(date(2024, 4, 1)) == "1 Apr 2024"
    assert formatting.timestamp(datetime(2025, 3, 1, 14, 3, 22, 123456, tzinfo=UTC)) == "2025-03-01 14:03 UTC"
    assert formatting.quarter(date(2024, 10, 1)) == "Oct–Dec 2024"
    assert [formatting.ordinal(n) for n in (1, 2, 3, 11, 12, 22, 101, 1001.0)] == [
        "1st", "2nd", "3rd", "11th", "12th", "22nd", "101st", "1,001st"]
    assert formatting.signed(1.25) == "+1.3" and formatting.signed(-0.5) == "−0.5" and formatting.signed(0.01) == "0.0"
    assert formatting.plural(1, "practice") == "1 practice" and formatting.plural(1204, "post") == "1,204 posts"


def test_generic_cells_for_planner_tables():
    assert formatting.cell(pd.NaT, "end_date") == "open-ended"
    assert formatting.cell(pd.Timestamp("2020-04-01"), "start_date") == "1 Apr 2020"
    assert formatting.cell(np.int64(3407)) == "3,407"
    assert formatting.cell(12.0, "list_size", whole_number=True) == "12"
    assert formatting.cell(-9.8312, "change_pct") == "-9.8"  # percentages to one decimal
    assert formatting.cell(0.0123) == "0.012" and formatting.cell(2.345) == "2.35"
    assert formatting.cell(None) == "–" and formatting.cell(True) == "yes"


def test_a_column_reads_at_one_precision():
    hours = pd.Series([1174.0, 314.0, 86.4, 100.0])  # hours a week: typical size in the hundreds
    digits = formatting.column_digits(hours, "hours")
    assert [formatting.cell(v, "hours", digits=digits) for v in hours] == ["1,174", "314", "86", "100"]
    assert formatting.column_digits(pd.Series([31.3, 8.37, 43.9]), "wte") == 1
    assert formatting.column_digits(pd.Series([4.37, 3.61, np.nan]), "per_10k") == 2
    assert formatting.column_digits(pd.Series([0.012, 0.03]), "ci") == 3
    assert formatting.column_digits(pd.Series([2.0, 5.0, np.nan]), "x") == 0  # whole values stay whole
    assert formatting.column_digits(pd.Series([123.4]), "change_pct") == 1
    assert formatting.cell(-0.04, "gap", digits=1) == "0.0"


def test_api_summaries_show_code_not_backticks_and_stay_escaped():
    assert str(formatting.inline_code("Rows of `cluster` by `key`")) == "Rows of <code>cluster</code> by <code>key</code>"
    assert str(formatting.inline_code("`<script>`")) == "<code>&lt;script&gt;</code>"


@pytest.mark.parametrize(("label", "polarity", "css", "words"), [
    ("high_998", "higher_is_worse", "worse-strong", "much higher than expected (worse)"),
    ("high_95", "higher_is_worse", "worse", "higher than expected (worse)"),
    ("low_95", "higher_is_worse", "better", "lower than expected (better)"),
    ("high_95", "higher_is_better", "better", "higher than expected (better)"),
    ("low_998", "higher_is_better", "worse-strong", "much lower than expected (worse)"),
    ("high_998", "neither", "unusual-strong", "much higher than expected"),  # no colour, a symbol only
])
def test_flags_take_their_colour_from_polarity(label, polarity, css, words):
    found = heat.flag(label, indicator(purpose="performance", polarity=polarity))
    assert (found.css, found.words) == (css, words)


def test_context_figures_and_unflagged_cells_have_no_flag():
    assert heat.flag("high_998", indicator(purpose="context", polarity="higher_is_worse")) is None
    assert heat.flag("not_significant", RATE) is None and heat.flag(None, RATE) is None


def test_themes_put_context_first_and_never_drop_an_indicator():
    items = [indicator("emergency_admission_rate", purpose="performance", title="Emergency"),
             indicator("rx_new_measure", purpose="performance", title="A new prescribing measure"),
             indicator("brand_new_context", title="Something new"), indicator("aged_65_plus", title="65+"),
             indicator("list_size", title="List"), indicator("mystery_perf", purpose="performance", title="M")]
    groups = [(t.slug, [i.indicator_id for i in members]) for t, members in themes.grouped(items)]
    assert groups == [("patients", ["list_size", "aged_65_plus"]), ("other-context", ["brand_new_context"]),
                      ("hospital", ["emergency_admission_rate"]), ("prescribing", ["rx_new_measure"]),
                      ("other-performance", ["mystery_perf"])]


def test_the_compact_default_is_the_key_indicators_and_those_flagged_here():
    items = [indicator("list_size"), indicator("female_patients"), indicator("aged_85_plus"),
             indicator("emergency_admission_rate", purpose="performance")]
    assert heat.default_columns(items, flagged={"aged_85_plus"}) == ["list_size", "aged_85_plus",
                                                                     "emergency_admission_rate"]
    shown, choice = heat.chosen_columns(["all"], items, set())
    assert choice == "all" and len(shown) == 4
    shown, choice = heat.chosen_columns(["female_patients", "not-an-indicator"], items, set())
    assert (shown, choice) == (["female_patients"], "custom")


def test_print_layout_has_every_indicator_in_narrow_tables():
    items = [indicator(f"aged_{n}", title=f"T{n}") for n in range(16)]
    groups = heat.print_groups(items)
    assert [len(m) for _, m in groups] == [7, 7, 2]
    assert sum(len(m) for _, m in groups) == 16


def _rows(level_values: dict) -> pd.DataFrame:
    return pd.DataFrame([{"level": level, "area_code": code, "indicator_id": i, "value": v, "suppressed": False}
                         for (level, code), values in level_values.items() for i, v in values.items()])


def test_an_area_in_one_line():
    frame = _rows({("cluster", "C1"): {"list_size": 48212.0, "aged_65_plus": 24.1, "list_in_simd_quintile_1": 19.0},
                   ("scotland", "S92000003"): {"list_size": 5.9e6, "aged_65_plus": 20.8,
                                               "list_in_simd_quintile_1": 18.8}})
    assert summary.area_line(frame, "cluster", "C1", 7, date(2025, 1, 1)) == [
        "7 practices with 48,212 patients in Jan–Mar 2025.",
        "Older than Scotland: 24.1% aged 65 and over (Scotland 20.8%).",
        "About as deprived as Scotland: 19.0% of patients at practices in the most deprived fifth of areas "
        "(Scotland 18.8%)."]


def test_an_area_line_falls_back_to_the_simd_rank_and_skips_what_is_missing():
    frame = _rows({("hscp", "H"): {"simd_rank_mean": 2500.0}, ("scotland", "S92000003"): {"simd_rank_mean": 3500.0}})
    assert summary.area_line(frame, "hscp", "H", 1, date(2025, 1, 1)) == [
        "1 practice in Jan–Mar 2025.",
        "More deprived than Scotland: average SIMD rank of its practices' areas 2,500 (Scotland 3,500; "
        "1 is the most deprived)."]


def test_paging():
    p = Paging(3, 3407, params=(("role", "anp"), ("q", "")))
    assert (p.pages, p.offset, p.first_row, p.last_row) == (69, 100, 101, 150)
    assert p.href(4) == "?role=anp&page=4"  # empty filters are left out
    assert [n for n, _ in p.links()] == [1, 2, 3, 4, 5, None, 69]
    assert Paging(99, 120).current == 3 and Paging(1, 0).last_row == 0
    assert list(Paging(2, 5, per_page=2).rows(list("abcde"))) == ["c", "d"]
    assert [page_number(t) for t in ("2", "0", "-3", "x", None)] == [2, 1, 1, 1, 1]
