"""Real data: the shared PHS Prescriptions in the Community extract (Apr-Aug 2019, practice *names*, not
codes) matched to practice codes through the real April 2024 contact details. Skipped without ../shared."""

from __future__ import annotations

import csv
from datetime import date

import pytest

from gpcluster.prescribing.ingest import load_prescribing
from gpcluster.warehouse import load_paths, open_warehouse

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def loaded(raw_dir, tmp_path_factory):
    warehouse = tmp_path_factory.mktemp("rx-real") / "warehouse.duckdb"
    load_paths([raw_dir / "phs_gp_practices" / "practice_contactdetails_apr2024-open-data.csv"], warehouse=warehouse)
    sample = raw_dir / "phs_prescribing_sample" / "prescribing.csv"
    loads = load_prescribing([sample], warehouse=warehouse)
    con = open_warehouse(warehouse)
    yield sample, loads, con
    con.close()


def _file(sample):
    with sample.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_every_month_of_the_extract_loads_on_its_own_and_no_item_is_lost(loaded):
    sample, loads, con = loaded
    rows = _file(sample)
    assert [m.month for m in loads] == [date(2019, m, 1) for m in range(4, 9)]
    assert all(m.layout == "names" for m in loads)
    assert sum(m.source_rows for m in loads) == len(rows) == 2951
    items_in_file = sum(float(r["NumberOfPaidItems"]) for r in rows)
    kept = con.execute("SELECT (SELECT sum(items) FROM prescribing) + (SELECT sum(items) FROM prescribing_other)"
                       ).fetchone()[0]
    assert kept == items_in_file


def test_names_are_matched_to_codes_within_their_board_and_the_rest_reported(loaded):
    sample, loads, con = loaded
    rows = _file(sample)
    names = {(r["HB2014"], r["GPPracticeName"]) for r in rows}
    unmatched = {name for m in loads for name, _ in m.unmatched_names}
    matched = con.execute("SELECT count(DISTINCT practice_code) FROM prescribing").fetchone()[0]
    # most practices of 2019 still exist under the same name in 2024; the rest are listed, not dropped
    assert matched >= 100 and len(names) == 136
    assert len({n for _, n in names} - unmatched) >= matched  # a matched code comes from a listed name
    assert unmatched, "some 2019 practices have closed or been renamed by 2024"
    rows_unmatched = sum(n for m in loads for _, n in m.unmatched_names)
    assert con.execute("SELECT count(*) FROM prescribing_other WHERE prescriber_type = 'unmatched_name'"
                       ).fetchone()[0] <= rows_unmatched  # rows of one name, code and month are summed
    # a spot check against the contact details: the Ayrshire practice SOUTH BEACH MEDICAL CENTRE
    code = con.execute("SELECT practice_code FROM practice_release WHERE upper(practice_name) = "
                       "'SOUTH BEACH MEDICAL CENTRE'").fetchone()
    if code:
        got = con.execute("SELECT sum(items) FROM prescribing WHERE practice_code = ? AND month = DATE '2019-08-01' "
                          "AND bnf_code = '0208020Z0BBABAB'", [code[0]]).fetchone()[0]
        assert got == 41  # ELIQUIS_TAB 5MG in August 2019, as in the file
    # Fife, Tayside, Glasgow and Lanarkshire carry 2014 board codes in the file: they match today's boards
    boards = con.execute("SELECT DISTINCT p.board_code FROM prescribing x JOIN practice_release p USING "
                         "(practice_code)").fetchall()
    assert {"S08000029", "S08000030", "S08000031", "S08000032"} <= {b for (b,) in boards}
