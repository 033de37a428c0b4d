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
