"""Roster import: every bad input gives a clear file/row/column error and leaves the stored roster unchanged."""

from __future__ import annotations

import shutil
from datetime import date

import pytest

from gpcluster.errors import ValidationFailed
from gpcluster.workforce.roster import COLUMNS, read_roster, template_path
from gpcluster.workforce.store import import_roster, read_agesex, read_practices, read_roster_tables

HEADER = ",".join(COLUMNS)
GOOD = [
    "P1,pharmacist,1.0,S37000099,90005,90005:5; 90006:4,2019-04-01,,Lead pharmacist,1.0",
    "P2,community_link_worker,0.4,S37000099,hub,90001:2; 90002:1,2020-01-06,2026-03-31,CLW manager,",
]


def write(tmp_path, lines, name="roster.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def test_good_roster_loads_with_a_ledger_record(tmp_path, warehouse):
    result = import_roster(warehouse, write(tmp_path, [HEADER, *GOOD]))
    assert (result.posts, result.sessions, result.total_wte) == (2, 4, pytest.approx(1.4))
    posts, sessions = read_roster_tables(warehouse)
    assert posts.set_index("post_id").loc["P2", "end_date"].date() == date(2026, 3, 31)
    assert sessions.groupby("post_id")["sessions_per_week"].sum().to_dict() == {"P1": 9.0, "P2": 3.0}
    ledger = warehouse.execute("SELECT source, file_name, row_count FROM load_ledger").fetchall()
    assert ledger == [("mdt_roster", "roster.csv", 2)]
    again = import_roster(warehouse, write(tmp_path, [HEADER, *GOOD]))
    assert again.unchanged
    assert warehouse.execute("SELECT count(*) FROM load_ledger").fetchone()[0] == 1
    # As at 2019-06-01 only P1 was in post.
    assert read_roster_tables(warehouse, as_at=date(2019, 6, 1))[0]["post_id"].tolist() == ["P1"]


BAD_CASES = {
    "missing column": ([HEADER.replace(",wte", ""), "P3,anp,S37000099,x,90001:1,2020-01-01,,,"], 1, "wte", "missing_column"),
    "unknown role": ([HEADER, "P3,surgeon,1,S37000099,x,90001:1,2020-01-01,,,"], 2, "role", "unknown_role"),
    "negative WTE": ([HEADER, "P3,anp,-0.5,S37000099,x,90001:1,2020-01-01,,,"], 2, "wte", "negative"),
    "end before start": ([HEADER, "P3,anp,1,S37000099,x,90001:1,2020-01-01,2019-12-31,,"], 2, "end_date", "end_before_start"),
    "unknown practice": ([HEADER, "P3,anp,1,S37000099,x,99999:1,2020-01-01,,,"], 2, "practice_sessions", "unknown_practice"),
    "duplicate post id": ([HEADER, "P3,anp,1,S37000099,x,90001:1,2020-01-01,,,", "P3,app,1,S37000099,x,90002:1,2020-01-01,,,"], 3, "post_id", "duplicate_post"),
    "too many sessions": ([HEADER, "P3,anp,0.2,S37000099,x,90001:1; 90002:1,2020-01-01,,,"], 2, "practice_sessions", "sessions_exceed_wte"),
    "bad date": ([HEADER, "P3,anp,1,S37000099,x,90001:1,01/02/2020,,,"], 2, "start_date", "bad_date"),
}


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_is_refused_whole_and_names_row_and_column(tmp_path, warehouse, case):
    import_roster(warehouse, write(tmp_path, [HEADER, *GOOD], "first.csv"))
    before = read_roster_tables(warehouse)
    lines, row, column, kind = BAD_CASES[case]
    with pytest.raises(ValidationFailed) as err:
        import_roster(warehouse, write(tmp_path, lines, "bad.csv"))
    problem = err.value.problems[0]
    assert (problem.file, problem.row, problem.column, problem.kind) == ("bad.csv", row, column, kind)
    assert "nothing was loaded" in str(err.value) and f"row {row}" in str(err.value)
    after = read_roster_tables(warehouse)
    assert after[0].equals(before[0]) and after[1].equals(before[1])
    assert warehouse.execute("SELECT count(*) FROM load_ledger").fetchone()[0] == 1


def test_latin1_file_names_the_line(tmp_path, warehouse):
    path = write(tmp_path, [HEADER, GOOD[0], "P3,anp,1,S37000099,Caf\u00e9 hub,90001:1,2020-01-01,,,"],
                 encoding="latin-1")
    with pytest.raises(ValidationFailed) as err:
        import_roster(warehouse, path)
    problem = err.value.problems[0]
    assert (problem.kind, problem.row) == ("encoding", 3) and "UTF-8" in problem.message
    assert read_roster_tables(warehouse)[0].empty


def test_empty_files_are_refused(tmp_path):
    with pytest.raises(ValidationFailed, match="no header and no rows"):
        read_roster(write(tmp_path, [""]))
    with pytest.raises(ValidationFailed, match="header but no posts"):
        read_roster(write(tmp_path, [HEADER]))


def test_every_problem_is_reported_at_once(tmp_path):
    lines = [HEADER, "P3,surgeon,-1,S37000099,x,90001:1,2020-01-01,2019-01-01,,"]
    with pytest.raises(ValidationFailed) as err:
        read_roster(write(tmp_path, lines))
    assert {p.kind for p in err.value.problems} == {"unknown_role", "negative", "end_before_start"}


@pytest.mark.parametrize("xlsx", [False, True])
def test_shipped_templates_are_valid(tmp_path, xlsx):
    posts, sessions = read_roster(template_path(xlsx))
    assert posts["post_id"].tolist() == ["PHARM-001", "CLW-001"]
    assert sessions["sessions_per_week"].sum() == pytest.approx(14)
    if xlsx:  # the Excel template goes through the same checks as a CSV
        shutil.copy(template_path(True), tmp_path / "t.xlsx")
        with pytest.raises(ValidationFailed, match="not in the warehouse"):
            read_roster(tmp_path / "t.xlsx", known_practices={"90001"})


def test_warehouse_adapter_reads_one_release(warehouse):
    practices = read_practices(warehouse)
    lochside = practices.set_index("practice_code").loc["90001"]
    assert (lochside["list_size"], lochside["urban_rural_8"], lochside["cluster_name"]) == (1500, 8, "island")
    agesex = read_agesex(warehouse)
    assert agesex.groupby("practice_code")["population"].sum().to_dict()["90006"] == 12000
    assert set(agesex["sex"]) == {"Male", "Female"}
