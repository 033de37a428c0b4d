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
