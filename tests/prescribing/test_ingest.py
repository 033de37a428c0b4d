"""The prescribing loader: real layouts and their variants, non-practice prescribers kept apart and counted,
bad input reported with file, row and column, and a refused month changing nothing."""

from __future__ import annotations

from datetime import date

import pytest

from gpcluster.prescribing.ingest import PrescribingLoadFailed, load_prescribing

from .conftest import HEADER_2023, ROWS_2023, write_file

TABLES = ("prescribing", "prescribing_practice_total", "prescribing_other", "prescribing_month", "bnf_presentation",
          "load_ledger")


def snapshot(con) -> dict:
    return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES
            if t != "load_ledger"} | {"ledger": con.execute("SELECT file_name, sha256 FROM load_ledger ORDER BY 1").fetchall()}


def test_a_month_in_the_phs_layout_is_loaded_with_non_practice_rows_kept_apart(warehouse, good_month):
    [load] = load_prescribing([good_month], con=warehouse)
    assert load.month == date(2024, 4, 1) and load.layout == "codes"
    assert load.source_rows == 8 and load.practice_rows == 4
    assert load.other_rows == {"dental": 1, "hospital": 1, "unallocated": 1, "unrecognised_code": 1}
    practice = warehouse.execute("SELECT practice_code, bnf_code, sum(items), sum(quantity), round(sum(cost), 2) "
                                 "FROM prescribing GROUP BY ALL ORDER BY ALL").fetchall()
    assert practice == [("01017", "0103050P0AAAAAA", 40, 1120.0, 33.6), ("10002", "0501013B0AAABAB", 35, 735.0, 29.4),
                        ("10002", "0501013K0AAAJAJ", 12, 252.0, 30.24)]
    totals = warehouse.execute("SELECT practice_code, items FROM prescribing_practice_total ORDER BY 1").fetchall()
    assert totals == [("01017", 40), ("10002", 47)]
    other = warehouse.execute("SELECT prescriber_type, prescriber_code, items FROM prescribing_other ORDER BY 1").fetchall()
    assert other == [("dental", "99999", 3), ("hospital", "99998", 7), ("unallocated", "", 2),
                     ("unrecognised_code", "ABCDE", 1)]
    # nothing lost: every item of the file is in one table or the other
    file_items = sum(int(r.split(",")[-4]) for r in ROWS_2023)
    kept = warehouse.execute("SELECT (SELECT sum(items) FROM prescribing) + (SELECT sum(items) FROM prescribing_other)"
                             ).fetchone()[0]
    assert kept == file_items == 100
    ledger = warehouse.execute("SELECT source, file_name, row_count, release_date FROM load_ledger").fetchall()
    assert ledger == [("prescriptions", "pitc202404.csv", 8, date(2024, 4, 1))]
    description = warehouse.execute("SELECT description FROM bnf_presentation WHERE bnf_code = '0501013B0AAABAB'"
                                    ).fetchone()[0]
    assert description == "AMOXICILLIN_CAP 500MG"  # the description of most items


def test_the_older_layout_with_hbt2014_and_no_dmd_code_loads_the_same(warehouse, tmp_path, good_month):
    header = "HBT2014,GPPractice,BNFItemCode,BNFItemDescription,ClassOfPreparationCode,NumberOfPaidItems,PaidQuantity," \
             "GrossIngredientCost,PaidDateMonth"
    rows = [",".join(r.split(",")[:2] + r.split(",")[3:]) for r in ROWS_2023[:4]]
    older = write_file(tmp_path, "pitc201604.csv", header, [r.replace("202404", "201604") for r in rows])
    [load] = load_prescribing([older], con=warehouse)
    assert load.month == date(2016, 4, 1) and load.practice_rows == 4
    assert warehouse.execute("SELECT sum(items) FROM prescribing").fetchone()[0] == 87


def test_the_same_file_twice_is_skipped_and_a_corrected_month_replaces_the_old(warehouse, tmp_path, good_month):
    load_prescribing([good_month], con=warehouse)
    [again] = load_prescribing([good_month], con=warehouse)
    assert again.skipped == "already loaded (same checksum)"
    corrected = write_file(tmp_path / "..", "pitc202404.csv", HEADER_2023, [ROWS_2023[0].replace(",12,", ",13,")])
    load_prescribing([corrected], con=warehouse)
    assert warehouse.execute("SELECT count(*), sum(items) FROM prescribing").fetchone() == (1, 13)
    assert warehouse.execute("SELECT count(*) FROM prescribing_other").fetchone()[0] == 0


def _problems(warehouse, path):
    with pytest.raises(PrescribingLoadFailed) as caught:
        load_prescribing([path], con=warehouse)
    return caught.value.problems


BAD = [  # (row to put at line 3, expected kind, column, words in the message)
    ("S08000030,10002,1,0501013B0AAABAB,X_TAB,1,ten,1,1,202404", "not_integer", "NumberOfPaidItems", "'ten'"),
    ("S08000030,10002,1,0501013B0AAABAB,X_TAB,1,-2,1,1,202404", "out_of_range", "NumberOfPaidItems", "-2"),
    ("S08000030,10002,1,0501013B0AAABAB,X_TAB,1,2.5,1,1,202404", "out_of_range", "NumberOfPaidItems", "2.5"),
    ("S08000030,10002,1,0501013B0AAABAB,X_TAB,1,2,,1,202404", "not_number", "PaidQuantity", "blank"),
    ("S08000030,10002,1,0501013b0AAABAB,X_TAB,1,2,1,1,202404", "bad_code", "BNFItemCode", "0501013b0AAABAB"),
    ("S08000030,10002,1,0501013B0AA ABAB,X_TAB,1,2,1,1,202404", "bad_code", "BNFItemCode", "not a BNF code"),
    ("S8000030,10002,1,0501013B0AAABAB,X_TAB,1,2,1,1,202404", "bad_code", "HBT", "health board"),
    ("S08000030,10002,1,0501013B0AAABAB,X_TAB,1,2,1,1,202405", "mixed_months", "PaidDateMonth", "2024-05"),
    ("S08000030,10002,1,0501013B0AAABAB,X_TAB,1,2,1,1,2024-13", "bad_date", "PaidDateMonth", "2024-13"),
    ("S08000030,10002,1,0501013B0AAABAB,X_TAB,1,2,1", "truncated_row", "GrossIngredientCost", "Found: 8"),
    ("S08000030,10002,1,0501013B0AAABAB,X_TAB,1,2,1,1,202404,extra", "malformed_row", None, "Expected Number"),
]


@pytest.mark.parametrize(("row", "kind", "column", "words"), BAD, ids=[b[1] + "-" + str(i) for i, b in enumerate(BAD)])
def test_bad_rows_are_reported_with_file_row_and_column_and_nothing_is_written(warehouse, tmp_path, good_month,
                                                                              row, kind, column, words):
    load_prescribing([good_month], con=warehouse)
    before = snapshot(warehouse)
    bad = write_file(tmp_path / "..", "pitc202404.csv", HEADER_2023, [ROWS_2023[0], row, *ROWS_2023[1:]])
    problems = _problems(warehouse, bad)
    hit = [p for p in problems if p.kind == kind]
    assert hit, problems
    assert hit[0].file == "pitc202404.csv" and hit[0].row == 3 and hit[0].column == column
    assert words in hit[0].message
    assert snapshot(warehouse) == before  # the earlier load of this month is untouched


def test_a_file_not_in_utf8_is_refused_with_its_line(warehouse, tmp_path):
    path = tmp_path / "pitc202404.csv"
    rows = [ROWS_2023[0], ROWS_2023[1].replace("AMOXICILLIN", "AMOXICILLIN \u00e9")]
    path.write_bytes(("\n".join([HEADER_2023, *rows]) + "\n").encode("latin-1"))
    [problem] = _problems(warehouse, path)
    assert (problem.kind, problem.row) == ("encoding", 3) and "UTF-8" in problem.message


def test_missing_columns_an_empty_file_and_a_month_that_disagrees_with_the_file_name(warehouse, tmp_path):
    header = HEADER_2023.replace(",NumberOfPaidItems", "")
    rows = [",".join(r.split(",")[:6] + r.split(",")[7:]) for r in ROWS_2023[:1]]
    [problem] = _problems(warehouse, write_file(tmp_path, "pitc202404.csv", header, rows))
    assert (problem.kind, problem.row, problem.column) == ("missing_column", 1, "NumberOfPaidItems")
    [problem] = _problems(warehouse, write_file(tmp_path, "pitc202405.csv", HEADER_2023, []))
    assert problem.kind == "empty_file"
    [problem] = _problems(warehouse, write_file(tmp_path, "pitc202406.csv", HEADER_2023, ROWS_2023[:2]))
    assert problem.kind == "month_mismatch" and "2024-06" in problem.message and problem.column == "PaidDateMonth"
    assert warehouse.execute("SELECT count(*) FROM prescribing_month").fetchone()[0] == 0


def test_a_failure_while_writing_rolls_the_month_back(warehouse, good_month, tmp_path, monkeypatch):
    import gpcluster.prescribing.ingest as ingest

    load_prescribing([good_month], con=warehouse)
    before = snapshot(warehouse)
    real = ingest._write_month

    def failing(con, load, sha256, synthetic):
        real(con, load, sha256, synthetic)  # every table written ...
        raise RuntimeError("disk full")  # ... then the commit never happens

    monkeypatch.setattr(ingest, "_write_month", failing)
    changed = write_file(tmp_path / "..", "pitc202404.csv", HEADER_2023, ROWS_2023[:3])
    with pytest.raises(RuntimeError, match="disk full"):
        load_prescribing([changed], con=warehouse)
    assert snapshot(warehouse) == before


def test_other_months_still_load_when_one_is_refused(warehouse, tmp_path, good_month):
    bad = write_file(tmp_path, "pitc202405.csv", HEADER_2023,
                     [r.replace("202404", "202405").replace(",12,", ",x,") for r in ROWS_2023])
    with pytest.raises(PrescribingLoadFailed) as caught:
        load_prescribing([bad, good_month], con=warehouse)
    assert "1 other month(s) loaded" in str(caught.value) and "pitc202405.csv, row 2" in str(caught.value)
    assert warehouse.execute("SELECT month FROM prescribing_month").fetchall() == [(date(2024, 4, 1),)]


def test_gpcluster_load_routes_prescribing_files_to_the_streaming_loader(tmp_path, good_month):
    from gpcluster.warehouse import load_paths, open_warehouse

    report = load_paths([good_month], warehouse=tmp_path / "w.duckdb")
    assert [(f.source, f.rows, f.release_date) for f in report.loaded] == [("prescriptions", 8, date(2024, 4, 1))]
    con = open_warehouse(tmp_path / "w.duckdb")
    assert con.execute("SELECT sum(items) FROM prescribing").fetchone()[0] == 87
    con.close()
