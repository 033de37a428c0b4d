"""Exports apply disclosure control in every format and mark synthetic data.

In the fixture, practice 10006 has 2 + (2 + q) patients aged 85+ at release q (4, 5, 6, 7), so with the
default threshold 5 its first two releases must be suppressed and the last two shown; 10001 has
3 + q emergency admissions (3, 4, 5, 6), so only its last release may be shown.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from gpcluster.errors import UserError
from gpcluster.exports import SYNTHETIC_NOTE, export_indicators
from gpcluster.indicators.definition import load_catalogue, load_definition
from gpcluster.indicators.engine import compute

from .conftest import RELEASES

IDS = ["aged_85_plus", "emergency_admission_rate", "list_size", "sex_ratio"]


@pytest.fixture
def computed(fixture_con):
    compute(fixture_con, [load_definition(i) for i in IDS])
    return fixture_con


def read(path):
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype={"area_code": str})
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_excel(path, sheet_name="indicators", dtype={"area_code": str})


def _practice(frame, indicator, code):
    rows = frame[(frame.indicator_id == indicator) & (frame.level == "practice") & (frame.area_code == code)]
    return rows.sort_values("period").reset_index(drop=True)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".xlsx"])
def test_small_counts_never_leave_the_server(computed, tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    summary = export_indicators(computed, path)
    frame = read(path)
    assert len(frame) == summary.rows > 0
    old = _practice(frame, "aged_85_plus", "10006")
    assert list(old.suppressed) == [True, True, False, False]
    assert old.loc[:1, ["numerator", "value", "lower95", "upper95", "national_rank"]].isna().all().all()
    assert list(old.numerator[2:]) == [6, 7]
    admissions = _practice(frame, "emergency_admission_rate", "10001")
    assert list(admissions.suppressed) == [True, True, True, False]
    assert admissions.value[:3].isna().all() and admissions.numerator[3] == 6
    # no count at or below the threshold in a suppressible column, anywhere
    ruled = frame[frame.indicator_id.isin(["aged_85_plus", "emergency_admission_rate"])]
    shown = ruled.numerator.dropna()
    assert ((shown > 5) | (shown == 0)).all()
    # indicators without a small-number rule are untouched
    assert not frame[frame.indicator_id.isin(["list_size", "sex_ratio"])].suppressed.any()


def test_synthetic_indicators_are_marked_even_in_a_real_warehouse(computed, tmp_path):
    path = tmp_path / "out.csv"
    export_indicators(computed, path)
    frame = pd.read_csv(path)
    assert frame.columns[0] == "synthetic"
    marked = frame.groupby("indicator_id").synthetic.all().to_dict()
    assert marked == {"aged_85_plus": False, "emergency_admission_rate": True, "list_size": False,
                      "sex_ratio": False}


def test_synthetic_warehouse_marks_every_format(computed, tmp_path):
    computed.execute("INSERT INTO load_ledger (source, file_name, sha256, row_count, synthetic) "
                     "VALUES ('gp_practice_populations', 'synthetic.csv', 'abc', 1, TRUE)")
    export_indicators(computed, tmp_path / "out.parquet")
    export_indicators(computed, tmp_path / "out.xlsx")
    export_indicators(computed, tmp_path / "out.csv", indicator_ids=["list_size"], levels=["scotland"])
    meta = pq.read_schema(tmp_path / "out.parquet").metadata
    assert meta[b"gpcluster.synthetic"] == b"true"
    assert pd.read_parquet(tmp_path / "out.parquet").synthetic.all()
    about = pd.read_excel(tmp_path / "out.xlsx", sheet_name="about")
    assert about.notes.iloc[0] == SYNTHETIC_NOTE
    csv = pd.read_csv(tmp_path / "out.csv")
    assert csv.synthetic.all() and set(csv.level) == {"scotland"} and len(csv) == len(RELEASES)
    assert (csv.area_name == "Scotland").all()


def test_threshold_setting_is_respected(computed, tmp_path, monkeypatch):
    monkeypatch.setenv("GPCLUSTER_DISCLOSURE_THRESHOLD", "6")
    export_indicators(computed, tmp_path / "out.csv", indicator_ids=["aged_85_plus"])
    frame = pd.read_csv(tmp_path / "out.csv", dtype={"area_code": str})
    assert list(_practice(frame, "aged_85_plus", "10006").suppressed) == [True, True, True, False]
    assert np.nanmin(frame.numerator) > 6


def test_export_refuses_unknown_format_and_missing_results(computed, tmp_path):
    with pytest.raises(UserError, match="export format"):
        export_indicators(computed, tmp_path / "out.json")
    with pytest.raises(UserError, match="no stored results for aged_0_4"):
        export_indicators(computed, tmp_path / "out.csv", indicator_ids=["aged_0_4"])


def test_a_suppressed_area_is_not_revealed_as_a_comparator(fixture_con, tmp_path):
    # 10003 contributes 1 and every other practice 100; Angus South is 10003 alone until 10004 joins at
    # the last release, so the cluster's numerator (1) is suppressed at the first three releases, and its
    # value must not reappear in the cluster_value column of any practice row
    (tmp_path / "tiny_share.toml").write_text(textwrap.dedent("""\
        title = "A tiny share"
        description = "A proportion with one small practice."
        why_it_matters = "Checks that comparators cannot leak."
        measure_type = "proportion"
        purpose = "context"
        multiplier = 100
        unit = "%"
        polarity = "neither"
        source = "test"
        authored_by = "test"
        reviewed_by = "test"
        next_review = 2030-01-01

        [numerator]
        kind = "sql"
        sql = "SELECT release_date AS period, practice_code, CASE WHEN practice_code = '10003' THEN 1 ELSE 100 END AS value FROM list_population WHERE sex = 'All' AND age_band = 'All'"

        [denominator]
        kind = "population"
        """))
    compute(fixture_con, load_catalogue(tmp_path))
    export_indicators(fixture_con, tmp_path / "out.csv", levels=["practice"])
    frame = pd.read_csv(tmp_path / "out.csv", dtype={"area_code": str})
    small = _practice(frame, "tiny_share", "10003")
    assert small.suppressed.all()  # its own numerator is 1 throughout
    assert small.cluster_value[:3].isna().all() and small.cluster_value[3] > 0
    moved = _practice(frame, "tiny_share", "10004")  # in Angus North until the last release
    assert moved.cluster_value.notna().all()
    assert set(frame.level) == {"practice"}


def test_excel_refuses_more_rows_than_a_sheet_holds(computed, tmp_path, monkeypatch):
    import gpcluster.exports as exports

    monkeypatch.setattr(exports, "EXCEL_MAX_ROWS", 10)
    with pytest.raises(UserError, match="do not fit in an Excel sheet"):
        export_indicators(computed, tmp_path / "out.xlsx")
    assert not (tmp_path / "out.xlsx").exists()
    summary = export_indicators(computed, tmp_path / "small.xlsx", indicator_ids=["list_size"], levels=["scotland"])
    assert summary.rows == len(RELEASES)
