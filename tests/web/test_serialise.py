"""The JSON records of a released table (gpcluster.web.serialise.records): converted a column at a time,
each cell exactly as `json_value` makes it, for every type a released table holds."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd

from gpcluster.web.serialise import json_value, records


def _cell_by_cell(frame: pd.DataFrame) -> list[dict]:
    columns = list(frame.columns)
    return [{c: json_value(v) for c, v in zip(columns, row, strict=True)}
            for row in frame.itertuples(index=False, name=None)]


def test_records_are_json_value_of_every_cell_whatever_the_column_type():
    frame = pd.DataFrame({
        "value": [1.5, np.nan, -0.0], "count": np.array([1, 2, 3], dtype=np.int64), "suppressed": [True, False, True],
        "numerator_date": pd.to_datetime(["2024-01-01", None, "1969-12-31 23:00"], format="ISO8601").astype("datetime64[us]"),
        "area_name": ["x", None, np.nan], "period": pd.Series([dt.date(2024, 1, 1), None, np.nan], dtype=object),
        "rank": pd.array([1, None, 3], dtype="Int64"), "code": pd.Series(["p", None, "q"], dtype="str"),
        "small": np.array([1.25, np.nan, 3], dtype=np.float32), "mixed": pd.Series([np.float64(2.0), pd.NaT, 7], dtype=object),
        "byte": np.array([1, 2, 3], dtype=np.uint8)})
    got = records(frame)
    assert got == _cell_by_cell(frame)
    assert json.dumps(got, allow_nan=False) == json.dumps(_cell_by_cell(frame), allow_nan=False)
    assert got[1] == {c: None for c in frame.columns if c not in ("count", "suppressed", "byte")} | {
        "count": 2, "suppressed": False, "byte": 2}
    assert got[2]["numerator_date"] == "1969-12-31" and type(got[0]["count"]) is int and type(got[0]["small"]) is float


def test_records_of_a_released_table_match_cell_by_cell(warehouse_file):
    from gpcluster.web.access import Viewer
    from gpcluster.web.data import WebData
    from gpcluster.web.release import Pseudonyms
    from gpcluster.web.tables import indicator_funnel, practice_series

    data = WebData(warehouse_file)
    try:
        viewer = Viewer(0, "t", "t", "hscp", "hscp", "S37000030")
        for frame in (practice_series(data, viewer, Pseudonyms(), "80001"),
                      indicator_funnel(data, viewer, Pseudonyms(), "high_risk_prescribing")):
            assert len(frame) and records(frame) == _cell_by_cell(frame)
    finally:
        data.close()


def test_records_of_an_empty_table():
    assert records(pd.DataFrame({"a": pd.Series(dtype=float)})) == []
    assert records(pd.DataFrame(index=range(2))) == [{}, {}]
