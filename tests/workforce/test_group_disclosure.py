"""Planner tables never publish a group of one (or two) practices: the red-team's "accessible rural" row
was a single practice outside the cluster, with its exact list size."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gpcluster.workforce.export import disclose


def test_a_group_smaller_than_the_minimum_shows_no_figure():
    table = pd.DataFrame({"urban_rural_8": [1, 6, 8], "urban_rural_class": ["Large urban", "Accessible rural",
                                                                            "Very remote rural"],
                          "practices": [12, 1, 2], "list_size": [80_000.0, 4_321.0, 2_900.0],
                          "hours_a": [400.0, 21.5, 14.0], "change_hours": [-3.0, 2.5, 0.5]})
    out = disclose(table)
    assert out.loc[0, "list_size"] == 80_000 and out.loc[0, "hours_a"] == 400
    for row in (1, 2):  # one and two practices: below the default minimum of three
        assert np.isnan(out.loc[row, ["list_size", "hours_a", "change_hours"]].astype(float)).all()
        assert out.loc[row, "urban_rural_class"] == table.loc[row, "urban_rural_class"]
    assert "4321" not in out.to_csv()


def test_the_minimum_is_a_setting(monkeypatch):
    from gpcluster import config

    monkeypatch.setenv("GPCLUSTER_DISCLOSURE_MIN_GROUP", "1")
    config.clear_cache()
    table = pd.DataFrame({"practices": [1], "list_size": [4_321.0], "hours_a": [21.5]})
    assert disclose(table).loc[0, "hours_a"] == 21.5
