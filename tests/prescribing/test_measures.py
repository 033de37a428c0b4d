"""Monthly prescribing values, national centiles and savings at the 10th centile."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import numpy as np
import pandas as pd
import pytest

from gpcluster.errors import UserError
from gpcluster.indicators.definition import load_definition
from gpcluster.prescribing.measures import centiles, monthly_unit, monthly_values, savings


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    from indicators.conftest import build_fixture_warehouse

    path = tmp_path_factory.mktemp("rx-measures") / "w.duckdb"
    build_fixture_warehouse(path).close()
    copy = path.with_name("copy.duckdb")
    shutil.copyfile(path, copy)
    connection = duckdb.connect(str(copy))
    yield connection
    connection.close()


def test_a_monthly_value_is_the_month_over_the_list_in_force_and_says_which_list(con):
    from indicators.conftest import BANDS, band_population

    frame = monthly_values(con, load_definition("rx_cost_per_patient"))
    august = frame[(frame["practice_code"] == "10002") & (frame["month"] == dt.date(2023, 8, 1))].iloc[0]
    cost = con.execute("SELECT sum(cost) FROM prescribing WHERE practice_code = '10002' AND month = '2023-08-01'"
                       ).fetchone()[0]
    patients = sum(band_population("10002", s, b, dt.date(2023, 7, 1)) for s in ("Male", "Female") for b in BANDS)
    assert august["numerator"] == pytest.approx(cost) and august["denominator"] == patients
    assert august["denominator_date"] == dt.date(2023, 7, 1)  # the July list, shown with the August figure
    assert august["value"] == pytest.approx(cost / patients)
    assert august["cluster_id"] == "S37000003/north"
    assert len(frame) == 6 * 12
    assert monthly_unit(load_definition("rx_gabapentinoid_items")) == "items per 1,000 patients per month"


def test_centiles_are_numpys_linear_percentiles_of_each_month():
    monthly = pd.DataFrame({"month": [1] * 5 + [2] * 3, "value": [1.0, 2.0, 3.0, 4.0, 100.0, 5.0, np.nan, 7.0]})
    out = centiles(monthly).set_index("month")
    assert out.loc[1, "p10"] == pytest.approx(np.percentile([1, 2, 3, 4, 100], 10))  # 1.4
    assert out.loc[1, "p50"] == 3.0 and out.loc[1, "practices"] == 5
    assert out.loc[2, "p90"] == pytest.approx(6.8) and out.loc[2, "practices"] == 2


def test_savings_are_what_each_practice_above_the_10th_centile_would_save_at_it():
    definition = load_definition("rx_cost_per_patient")  # pounds per patient, multiplier 1
    monthly = pd.DataFrame({
        "month": [dt.date(2024, 1, 1)] * 5, "practice_code": ["a", "b", "c", "d", "e"],
        "cluster_id": None, "hscp_code": None, "board_code": None,
        "numerator": [1000.0, 2000.0, 3000.0, 4000.0, 5000.0], "denominator": [1000.0] * 5})
    monthly["value"] = monthly["numerator"] / monthly["denominator"]
    out = savings(monthly, definition).set_index("practice_code")
    target = np.percentile([1, 2, 3, 4, 5], 10)  # 1.4 pounds per patient
    assert out.loc["e", "saving"] == pytest.approx(5000 - target * 1000)  # 3,600
    assert out.loc["a", "saving"] == 0  # below the target: no saving, never a negative one
    assert out["saving"].sum() == pytest.approx(sum(max(v - 1400, 0) for v in (1000, 2000, 3000, 4000, 5000)))
    with pytest.raises(UserError, match="not a cost measure"):
        savings(monthly, load_definition("rx_gabapentinoid_items"))
