"""The ``prescribing`` series kind through the indicator engine, checked against sums of the fixture's
prescribing rows for hand-picked presentations and months (tests/indicators/conftest.py)."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import pytest

from gpcluster.indicators.definition import load_definition
from gpcluster.indicators.engine import compute_frame

Q3 = dt.date(2023, 7, 1)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    from indicators.conftest import build_fixture_warehouse

    path = tmp_path_factory.mktemp("rx-series") / "template.duckdb"
    build_fixture_warehouse(path).close()
    return path


@pytest.fixture
def con(template, tmp_path):
    path = tmp_path / "w.duckdb"
    shutil.copyfile(template, path)
    connection = duckdb.connect(str(path))
    yield connection
    connection.close()


def quarter(con, practice: str, codes: list[str], start: dt.date = Q3) -> float:
    """Items of exactly these presentations over the quarter's three months, read row by row."""
    months = [dt.date(start.year, start.month + m, 1) for m in range(3)]
    return con.execute("SELECT sum(items) FROM prescribing WHERE practice_code = ? AND list_contains(?, bnf_code) "
                       "AND list_contains(?, month)", [practice, codes, months]).fetchone()[0]


def row(frame, level, area, period=Q3):
    hit = frame[(frame["level"] == level) & (frame["area_code"] == area) & (frame["period"] == str(period))]
    assert len(hit) == 1
    return hit.iloc[0]


def test_a_share_measure_sums_the_quarter_and_excludes_what_the_definition_excludes(con):
    frame = compute_frame(con, [load_definition("rx_broad_spectrum_antibiotics")])
    broad = ["0501013K0AAAAAA", "0501021L0AAAAAA"]
    all_antibacterials = [*broad, "0501013B0AAABAB"]  # isoniazid (antituberculosis) is excluded
    got = row(frame, "practice", "10001")
    assert got["numerator"] == quarter(con, "10001", broad)
    assert got["denominator"] == quarter(con, "10001", all_antibacterials)
    assert got["value"] == pytest.approx(100 * got["numerator"] / got["denominator"])
    cluster = row(frame, "cluster", "S37000003/north")  # 10001, 10002 and (until April 2024) 10004
    members = ["10001", "10002", "10004"]
    assert cluster["numerator"] == sum(quarter(con, p, broad) for p in members)
    assert cluster["denominator"] == sum(quarter(con, p, all_antibacterials) for p in members)


def test_a_rate_measure_divides_the_quarter_by_the_list_at_its_first_day(con):
    from indicators.conftest import BANDS, band_population

    frame = compute_frame(con, [load_definition("rx_gabapentinoid_items")])
    got = row(frame, "practice", "10005")
    patients = sum(band_population("10005", s, b, Q3) for s in ("Male", "Female") for b in BANDS)
    assert got["numerator"] == quarter(con, "10005", ["0408010AEAAAAAA"]) and got["denominator"] == patients
    assert got["value"] == pytest.approx(1000 * got["numerator"] / patients)


def test_a_practice_that_prescribed_none_of_the_selection_counts_zero_and_an_incomplete_quarter_is_left_out(con):
    con.execute("DELETE FROM prescribing WHERE practice_code = '10006' AND bnf_code LIKE '0408010AE%'")
    con.execute("DELETE FROM prescribing_month WHERE month = DATE '2024-06-01'")
    frame = compute_frame(con, [load_definition("rx_gabapentinoid_items")])
    assert row(frame, "practice", "10006")["numerator"] == 0 and row(frame, "practice", "10006")["value"] == 0
    assert set(frame["period"].astype(str)) == {"2023-07-01", "2023-10-01", "2024-01-01"}  # April 2024 lacks June


def test_description_rules_pick_the_inhaler_type(con):
    frame = compute_frame(con, [load_definition("rx_inhaler_mdi_share")])
    got = row(frame, "practice", "10003")
    mdi, dpi = quarter(con, "10003", ["0302000C0BQAABX"]), quarter(con, "10003", ["0302000N0AAAAAA"])
    assert (got["numerator"], got["denominator"]) == (mdi, mdi + dpi)


def test_whole_chapter_measures_read_the_chapter_summary_and_agree_with_the_rows(con):
    months = [dt.date(2023, 7 + m, 1) for m in range(3)]
    generic, medicines = con.execute(
        "SELECT sum(items) FILTER (WHERE substr(bnf_code, 10, 2) = 'AA'), sum(items) FROM prescribing "
        "WHERE practice_code = '10002' AND list_contains(?, month) AND left(bnf_code, 2) < '16' "
        "AND length(bnf_code) = 15", [months]).fetchone()
    got = row(compute_frame(con, [load_definition("rx_generic_prescribing")]), "practice", "10002")
    assert (got["numerator"], got["denominator"]) == (generic, medicines) and 0 < generic < medicines
    # the measure reads the summary: a summary that disagreed with the rows would show
    con.execute("UPDATE prescribing_practice_chapter SET items = items + 1000 WHERE practice_code = '10002' "
                "AND month = DATE '2023-07-01' AND is_generic")
    again = row(compute_frame(con, [load_definition("rx_generic_prescribing")]), "practice", "10002")
    assert again["numerator"] > got["numerator"]


def test_the_chapter_summary_is_written_with_each_loaded_month(tmp_path):
    from gpcluster.prescribing.ingest import load_prescribing
    from gpcluster.warehouse import open_warehouse
    from prescribing.conftest import HEADER_2023, ROWS_2023, write_file

    path = write_file(tmp_path, "pitc202404.csv", HEADER_2023, ROWS_2023)
    load_prescribing([path], warehouse=tmp_path / "w.duckdb")
    con = open_warehouse(tmp_path / "w.duckdb")
    try:
        summary = con.execute("SELECT practice_code, chapter, is_generic, items, cost FROM "
                              "prescribing_practice_chapter ORDER BY ALL").fetchall()
        rows = con.execute("SELECT practice_code, left(bnf_code, 2), substr(bnf_code, 10, 2) = 'AA', sum(items), "
                           "sum(cost) FROM prescribing GROUP BY ALL ORDER BY ALL").fetchall()
    finally:
        con.close()
    assert summary == rows and len(summary) >= 2
