"""Plain-language results (spec table), and disclosure control on the drawn series."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from gpcluster.evaluation.panel import Outcome
from gpcluster.evaluation.report import release_series
from gpcluster.evaluation.result import Effect, EvaluationResult
from gpcluster.evaluation.sentences import effect_sentence, expectation_sentence, percent
from gpcluster.exports import IndicatorRule
from gpcluster.indicators.definition import Disclosure

GP = Outcome("gp_consultation_rate", "GP consultations per 1,000 patients", "per 1,000 patients per quarter", 1000.0,
             "crude_rate")


def _result(estimate, lower, upper, method="did", post=4, treated=8, outcome=GP, scale="log_ratio"):
    return EvaluationResult(method=method, outcome=outcome, effect=Effect(scale, estimate, lower, upper, 0.02, 0.01),
                            start=date(2021, 4, 1), post_quarters=post, pre_quarters=12,
                            treated=[f"{i}" for i in range(treated)])


@pytest.mark.parametrize("effect, expected", [
    ((math.log(0.94), math.log(0.90), math.log(0.98)),
     "GP consultations per 1,000 patients fell by 6% (95% CI 2% to 10%) in the year after the change in 8 "
     "practices, compared with matched practices that did not change."),
    ((math.log(1.031), math.log(1.004), math.log(1.06)),
     "GP consultations per 1,000 patients rose by 3.1% (95% CI 0.4% to 6%) in the year after the change in 8 "
     "practices, compared with matched practices that did not change."),
    ((math.log(0.99), math.log(0.96), math.log(1.02)),
     "GP consultations per 1,000 patients changed by -1% (95% CI -4% to +2%) in the year after the change in 8 "
     "practices, compared with matched practices that did not change: not a clear change either way."),
])
def test_effect_sentences(effect, expected):
    assert effect_sentence(_result(*effect)) == expected


def test_sentence_for_an_indicator_in_its_own_units_and_other_methods():
    mean = Outcome("simd_rank_mean", "Mean SIMD rank", "rank", 1.0, "mean")
    text = effect_sentence(_result(-120.4, -200.0, -40.25, method="its", post=8, treated=1, outcome=mean,
                                   scale="difference"), level="cluster", what="the change")
    assert text == ("Mean SIMD rank fell by 120 rank (95% CI 40.3 to 200) in the two years after the change in "
                    "1 cluster, compared with what the trend before predicted.")


@pytest.mark.parametrize("value, text", [(0.0612, "6.1%"), (-0.0004, "0%"), (0.25, "25%"), (-0.0951, "9.5%"),
                                         (0.09951, "10%")])
def test_percentages_are_rounded_for_people(value, text):
    assert percent(value) == text


def test_expectation_is_compared_with_the_result():
    assert "this is what was seen" in expectation_sentence(_result(-0.06, -0.1, -0.02), "decrease")
    assert "moved the other way" in expectation_sentence(_result(0.06, 0.02, 0.1), "decrease")
    assert "cannot confirm or rule out" in expectation_sentence(_result(0.01, -0.02, 0.04), "increase")


def test_small_combined_counts_are_hidden_and_counts_never_leave():
    result = _result(-0.06, -0.1, -0.02)
    result.series = pd.DataFrame({"period": [date(2021, 1, 1), date(2021, 4, 1), date(2021, 7, 1)],
                                  "observed": [10.0, 2.0, 0.0], "fitted": [9.0, 8.0, 7.0],
                                  "counterfactual": [9.0, 9.0, 9.0], "numerator": [40.0, 4.0, 0.0],
                                  "units": [1, 1, 1]})
    rule = IndicatorRule("crude_rate", Disclosure(rule="suppress_small_counts", columns=["numerator"]), True)
    released = release_series(result, rule)
    assert "numerator" not in released and "units" not in released
    assert released["observed"].tolist()[0] == 10.0
    assert np.isnan(released["observed"].tolist()[1])  # 4 <= threshold 5
    assert released["observed"].tolist()[2] == 0.0  # zeros are not suppressed by default
    assert released["fitted"].tolist() == [9.0, 8.0, 7.0]


def test_a_combined_series_never_gives_back_a_figure_the_release_suppresses():
    """Eight practices combined: if one practice's figure is suppressed in a quarter, the combined value
    minus the other seven published ones would give it back, so that quarter is not shown."""
    result = _result(-0.06, -0.1, -0.02)
    result.series = pd.DataFrame({"period": [date(2021, 1, 1), date(2021, 4, 1)], "observed": [10.0, 11.0],
                                  "fitted": [9.0, 8.0], "counterfactual": [9.0, 9.0], "numerator": [400.0, 420.0],
                                  "units": [8, 8]})
    rule = IndicatorRule("crude_rate", Disclosure(rule="suppress_small_counts", columns=["numerator"]), True)
    released = release_series(result, rule, {("3", date(2021, 4, 1)), ("99", date(2021, 1, 1))})
    assert released["observed"].tolist()[0] == 10.0  # practice 99 is not one of the eight
    assert np.isnan(released["observed"].tolist()[1]) and released["suppressed"].tolist() == [False, True]


def test_results_round_trip_through_json():
    result = _result(-0.06, -0.1, -0.02)
    result.series = pd.DataFrame({"period": [date(2021, 1, 1)], "observed": [float("nan")], "fitted": [1.0],
                                  "counterfactual": [1.0], "numerator": [3.0], "units": [1]})
    again = EvaluationResult.from_dict(result.to_dict())
    assert again.effect == result.effect and again.treated == result.treated
    assert again.series["period"].tolist() == [date(2021, 1, 1)] and again.series["observed"].isna().all()


@pytest.mark.parametrize("p, text", [(0.0004, "< 0.001"), (0.001, "0.001"), (0.0046, "0.005"), (0.046, "0.05"),
                                     (0.392, "0.39"), (1.0, "1.00")])
def test_p_values_are_written_for_people(p, text):
    from gpcluster.evaluation.sentences import p_text

    assert p_text(p) == text


@pytest.mark.parametrize("value, kind, text", [(24.0, "value", "24"), (3.0, "value", "3"), (1234.0, "value", "1,234"),
                                               (0.00853, "value", "0.00853"), (-0.0000001, "value", "0"),
                                               (-0.0006, "value", "-0.0006"),
                                               (1.974, "value", "1.97"), (0.0004, "p", "< 0.001"),
                                               (None, "value", "–"), (float("nan"), "p", "–")])
def test_diagnostic_values_are_written_for_people(value, kind, text):
    from gpcluster.evaluation.result import Diagnostic

    assert Diagnostic("x", value, "", kind=kind).display == text


def test_chart_marks_the_start_on_the_calendar_and_never_hides_the_observed_line():
    from gpcluster.evaluation.charts import series_spec

    periods = [date(2020, 4, 1), date(2020, 7, 1), date(2020, 10, 1), date(2021, 1, 1), date(2021, 4, 1),
               date(2021, 7, 1)]
    observed = [50.0, 52.0, 51.0, 53.0, 45.0, 46.0]
    series = pd.DataFrame({"period": periods, "observed": observed, "fitted": observed,
                           "counterfactual": observed[:4] + [52.0, 53.0]})
    spec = series_spec(_result(-0.1, -0.15, -0.05, method="synth"), series, "t")
    rule = spec["layer"][1]["encoding"]["x"]
    assert rule == {"datum": {"year": 2021, "month": 4, "date": 1}, "type": "temporal"}
    counterfactual = [r["period"] for r in spec["data"]["values"] if r["series"].startswith("Counterfactual")]
    assert counterfactual == ["2021-01-01", "2021-04-01", "2021-07-01"]  # joined at the last quarter before
    assert len([r for r in spec["data"]["values"] if r["series"] == "Observed"]) == 6


@pytest.mark.parametrize("title, text", [("A&E attendances per 1,000 patients", "A&E attendances per 1,000 patients"),
                                         ("GP consultations per 1,000 patients", "GP consultations per 1,000 patients"),
                                         ("Emergency admissions per 1,000 patients",
                                          "emergency admissions per 1,000 patients")])
def test_indicator_titles_inside_sentences_keep_their_acronyms(title, text):
    from gpcluster.evaluation.sentences import in_sentence

    assert in_sentence(title) == text
