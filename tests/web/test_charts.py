"""The spine chart puts each indicator on the 0-1 range of Scotland's practices."""

import pandas as pd
import pytest

from gpcluster.web.charts import spine_spec


def test_spine_positions_are_fractions_of_the_practice_range_and_totals_are_left_out():
    rows = pd.DataFrame({"indicator_id": ["pct65", "list_size"], "value": [30.0, 6000.0],
                         "cluster_value": [25.0, 41000.0], "scotland_value": [20.0, 5_900_000.0]})
    spread = pd.DataFrame({"indicator_id": ["pct65", "list_size"], "min": [10.0, 500.0], "q1": [15.0, 3000.0],
                           "q3": [25.0, 8000.0], "max": [50.0, 30500.0]})
    points = {p["indicator"]: p for p in spine_spec(rows, spread, {})["data"]["values"]}
    # (30 - 10) / (50 - 10) = 0.5; cluster (25 - 10) / 40 = 0.375; Scotland (20 - 10) / 40 = 0.25
    assert points["pct65"]["practice"] == pytest.approx(0.5)
    assert points["pct65"]["cluster"] == pytest.approx(0.375)
    assert points["pct65"]["scotland"] == pytest.approx(0.25)
    # list size: the practice sits at (6000 - 500) / 30000; the cluster and Scotland totals are off the scale
    assert points["list_size"]["practice"] == pytest.approx(5500 / 30000)
    assert points["list_size"]["cluster"] is None and points["list_size"]["scotland"] is None


def _indicator(purpose: str = "performance"):
    from gpcluster.web.data import Indicator

    return Indicator("adm", "Emergency admissions", "", "", "rate", 1000.0, "per 1,000 patients", "lower_better",
                     True, purpose)


def test_trend_lines_keep_each_series_in_quarter_order_and_leave_out_missing_figures():
    from datetime import date

    from gpcluster.web.charts import trend_spec

    # quarters given out of order; the practice has no figure in the second, the cluster none in the first
    series = pd.DataFrame({"period": [date(2024, 7, 1), date(2024, 1, 1), date(2024, 4, 1)],
                           "value": [12.5, 10.0, float("nan")], "cluster_value": [11.0, None, 9.5],
                           "hscp_value": [8.0, 7.0, 7.5], "scotland_value": [9.0, 9.0, 9.0]})
    spec = trend_spec(_indicator("context"), series, "practice", "Firhill")
    lines = spec["layer"][-1]["data"]["values"]
    assert [(r["series"], r["period"], r["value"]) for r in lines[:4]] == [
        ("Firhill", "2024-01-01", 10.0), ("Firhill", "2024-07-01", 12.5),
        ("Cluster", "2024-04-01", 9.5), ("Cluster", "2024-07-01", 11.0)]
    assert lines[0] == {"period": "2024-01-01", "series": "Firhill", "value": 10.0, "label": "Jan 2024"}
    assert len(lines) == 2 + 2 + 3 + 3
    assert spec["layer"][-1]["encoding"]["color"]["scale"]["domain"] == ["Firhill", "Cluster", "HSCP", "Scotland"]


def test_run_chart_points_name_the_engines_labels_and_blank_missing_rules():
    from datetime import date

    from gpcluster.stats import spc
    from gpcluster.web.charts import spc_spec

    n = spc.MIN_POINTS_FOR_LIMITS + 1
    periods = [date(2020 + (q // 4), 1 + 3 * (q % 4), 1) for q in range(n)]
    values = [10.0 + (q % 3) for q in range(n)]
    values[2] = float("nan")  # a suppressed quarter: no point, but the chart still has enough
    signals = ["common_cause"] * n
    signals[-1] = "special_cause_concern"
    rules = [None] * n
    rules[-1] = "Above UCL"
    series = pd.DataFrame({"period": periods[::-1], "value": values[::-1], "spc_signal": signals[::-1],
                           "spc_rule": rules[::-1]})
    spec = spc_spec(_indicator(), series)
    points = spec["layer"][1]["data"]["values"]
    assert len(points) == n - 1 and [p["period"] for p in points] == [p.isoformat() for q, p in enumerate(periods)
                                                                       if q != 2]
    assert points[0] == {"period": "2020-01-01", "label": "Jan 2020", "value": 10.0, "signal": "Common cause",
                         "rule": ""}
    assert points[-1]["signal"] == "Special cause: concern" and points[-1]["rule"] == "Above UCL"
    # too few quarters with a figure: no chart at all (the page says so)
    assert spc_spec(_indicator(), series.iloc[: spc.MIN_POINTS_FOR_LIMITS - 1]) is None


def test_a_count_shows_the_area_alone_because_larger_areas_are_totals_on_another_scale():
    from datetime import date

    from gpcluster.web.charts import trend_spec
    from gpcluster.web.data import Indicator

    list_size = Indicator("list_size", "Registered list size", "", "", "count", 1.0, "patients", "neither", False)
    series = pd.DataFrame({"period": [date(2023, 10, 1), date(2024, 1, 1), date(2024, 4, 1)],
                           "value": [8167.0, 8140.0, 8109.0], "cluster_value": [41000.0, 41100.0, 41200.0],
                           "hscp_value": [250_000.0] * 3, "scotland_value": [5_960_000.0] * 3})
    spec = trend_spec(list_size, series, "practice", "Peterculter")
    lines = spec["layer"][-1]["data"]["values"]
    assert {r["series"] for r in lines} == {"Peterculter"} and [r["value"] for r in lines] == [8167, 8140, 8109]
    assert "totals" in " ".join(spec["title"]["subtitle"])
    # a rate keeps its comparators: they are on the same scale
    rate = trend_spec(_indicator("context"), series.assign(value=[20.0, 21.0, 22.0], cluster_value=19.0,
                                                           hscp_value=18.0, scotland_value=19.5),
                      "practice", "Peterculter")
    assert {r["series"] for r in rate["layer"][-1]["data"]["values"]} == {"Peterculter", "Cluster", "HSCP",
                                                                          "Scotland"}


def test_few_quarters_each_get_a_label_and_a_long_series_one_every_six_months():
    from datetime import date

    from gpcluster.web.charts import trend_spec

    def axis(periods):
        series = pd.DataFrame({"period": periods, "value": 1.0, "cluster_value": 1.0, "hscp_value": 1.0,
                               "scotland_value": 1.0})
        return trend_spec(_indicator("context"), series, "practice", "Firhill")["layer"][-1]["encoding"]["x"]["axis"]

    three = axis([date(2024, 4, 1), date(2023, 10, 1), date(2024, 1, 1)])
    assert three["values"] == [{"year": 2023, "month": 10, "date": 1, "utc": True},
                               {"year": 2024, "month": 1, "date": 1, "utc": True},
                               {"year": 2024, "month": 4, "date": 1, "utc": True}]
    many = axis([date(2015 + q // 4, 1 + 3 * (q % 4), 1) for q in range(36)])
    assert "values" not in many and many["tickCount"] == {"interval": "month", "step": 6}


def test_a_count_is_shown_as_how_many_practices_have_each_size_without_scotlands_total():
    from datetime import date

    from gpcluster.web.charts import deciles_spec, funnel_spec
    from gpcluster.web.data import Indicator

    list_size = Indicator("list_size", "Registered list size", "", "", "count", 1.0, "patients", "neither", False)
    rows = pd.DataFrame({"level": ["practice"] * 3 + ["scotland"], "area_name": ["A", "B", "C", "Scotland"],
                         "cluster_id": ["c1", "c2", "c1", None], "value": [8109.0, 3000.0, None, 5_991_571.0],
                         "denominator": [None] * 4})
    spec = funnel_spec(list_size, rows, "c1")
    assert spec["mark"]["type"] == "bar" and spec["encoding"]["x"]["bin"] == {"maxbins": 30}
    assert spec["encoding"]["y"]["aggregate"] == "count"
    # the practices with a figure, the viewer's own marked; no Scotland total among them or as a rule
    assert spec["data"]["values"] == [{"area_name": "A", "value": 8109.0, "group": "Your cluster"},
                                      {"area_name": "B", "value": 3000.0, "group": "Other practices"}]
    assert "layer" not in spec

    deciles = pd.DataFrame({"period": [date(2024, 1, 1), date(2024, 4, 1)], "p10": [2000.0, 2010.0],
                            "p50": [5000.0, 5010.0], "p90": [11000.0, 11010.0],
                            "scotland": [5_980_000.0, 5_991_571.0], "your_cluster": [41000.0, 41100.0]})
    series = {r["series"] for r in deciles_spec(list_size, deciles)["data"]["values"]}
    assert series == {"10th centile", "Median practice", "90th centile"}
    rate = Indicator("pct65", "Patients aged 65 and over", "", "", "proportion", 100.0, "%", "neither", False)
    assert {r["series"] for r in deciles_spec(rate, deciles)["data"]["values"]} == series | {"Scotland",
                                                                                           "Your cluster"}


def test_a_chart_of_only_the_viewers_own_practices_does_not_call_itself_scotlands():
    from gpcluster.web.charts import funnel_spec
    from gpcluster.web.data import Indicator

    rows = pd.DataFrame({"level": ["practice", "practice", "scotland"], "area_name": ["A", "B", "Scotland"],
                         "cluster_id": ["c1", "c1", None], "value": [8109.0, 3000.0, 5_991_571.0],
                         "denominator": [None] * 3})
    for measure_type in ("count", "proportion"):
        indicator = Indicator("x", "Figure", "", "", measure_type, 1.0, "patients", "neither", False)
        assert funnel_spec(indicator, rows, "c1")["title"]["text"] == "Figure: your cluster's practices"
        assert funnel_spec(indicator, rows, "c2")["title"]["text"] == "Figure: practices in Scotland"


def test_a_long_subtitle_is_given_in_lines_that_fit_and_loses_no_word():
    from gpcluster.web.charts import SUBTITLE_WIDTH, funnel_caption, funnel_spec

    model = {"adjusted": True, "phi": 2.9, "tau2": 0.0023, "scale": "sqrt"}
    rows = pd.DataFrame({"level": ["practice"] * 3, "area_name": ["A", "B", "C"], "cluster_id": ["c"] * 3,
                         "value": [10.0, 12.0, 9.0], "denominator": [1000.0, 1200.0, 900.0],
                         "expected": [11.0, 11.5, 10.0], "numerator": [10.0, 12.0, 9.0],
                         "funnel_scotland": ["not_significant"] * 3})
    spec = funnel_spec(_indicator("performance"), rows, "c", model)
    lines = spec["title"]["subtitle"]
    caption = funnel_caption(model)
    assert len(caption) > SUBTITLE_WIDTH and len(lines) > 1  # the sentence that was cut off on the page
    assert all(len(line) <= SUBTITLE_WIDTH for line in lines) and " ".join(lines) == caption
