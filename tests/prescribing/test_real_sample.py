"""Real data: the shared PHS Prescriptions in the Community extract (Apr-Aug 2019, practice *names*, not
codes) matched to practice codes through the real April 2024 contact details. Skipped without ../shared.

The last test recomputes a catalogue measure from the raw files with plain pandas (its own name matching,
sums and ratios), independently of the loader, the BNF views and the indicator engine.
"""

from __future__ import annotations

import csv
import re
from datetime import date

import numpy as np
import pandas as pd
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
    # the column is called HB2014 but carries today's codes for Fife, Tayside, Glasgow and Lanarkshire
    boards = con.execute("SELECT DISTINCT p.board_code FROM prescribing x JOIN practice_release p USING "
                         "(practice_code)").fetchall()
    assert {"S08000029", "S08000030", "S08000031", "S08000032"} <= {b for (b,) in boards}


# --- the measure recomputed with pandas --------------------------------------------------------------------

DOACS = ("0208020Z0", "0208020X0", "0208020AA", "0208020Y0")  # apixaban, dabigatran, edoxaban, rivaroxaban
OLD_BOARDS = {"S08000018": "S08000029", "S08000027": "S08000030", "S08000021": "S08000031", "S08000023": "S08000032"}


def _key(name: str) -> str:
    name = re.sub(r"[^A-Z0-9 ]", " ", name.upper().replace("&", " AND "))
    return " ".join(name.split())


def _pandas_names_to_codes(contacts: pd.DataFrame) -> pd.DataFrame:
    keyed = contacts.assign(key=contacts["GPPracticeName"].map(_key))
    unique = keyed.groupby(["HB", "key"])["PracticeCode"].nunique()
    keyed = keyed.set_index(["HB", "key"]).loc[unique[unique == 1].index].reset_index()
    return keyed[["HB", "key", "PracticeCode"]].rename(columns={"PracticeCode": "practice_code"})


@pytest.fixture(scope="module")
def as_if_2019(raw_dir, tmp_path_factory):
    """The sample is of 2019 and the only real lists are of 2023-24, so this warehouse treats the April
    2024 contact details and list sizes as the releases in force on 1 April 2019: it checks the matching
    and the arithmetic of the measure on real data, not 2019 rates."""
    folder = tmp_path_factory.mktemp("rx-real-2019")
    practices = raw_dir / "phs_gp_practices"
    contacts = folder / "practice_contactdetails_apr2019-open-data.csv"
    contacts.write_bytes((practices / "practice_contactdetails_apr2024-open-data.csv").read_bytes())
    lists = pd.read_csv(practices / "practice_listsizes_apr2024-open-data.csv", dtype=str)
    lists["Date"] = "20190401"
    lists.to_csv(folder / "practice_listsizes_apr2019-open-data.csv", index=False)
    warehouse = folder / "warehouse.duckdb"
    load_paths([contacts, folder / "practice_listsizes_apr2019-open-data.csv"], warehouse=warehouse)
    load_prescribing([raw_dir / "phs_prescribing_sample" / "prescribing.csv"], warehouse=warehouse)
    con = open_warehouse(warehouse)
    yield con, pd.read_csv(contacts, dtype=str, encoding="utf-8-sig"), lists
    con.close()


def test_a_measure_recomputed_from_the_raw_files_with_pandas_agrees_with_the_engine(raw_dir, as_if_2019):
    from gpcluster.indicators.definition import load_definition
    from gpcluster.indicators.engine import compute_frame
    from gpcluster.prescribing.measures import monthly_values

    con, contacts, lists = as_if_2019
    rx = pd.read_csv(raw_dir / "phs_prescribing_sample" / "prescribing.csv", dtype=str)
    rx["items"] = rx["NumberOfPaidItems"].astype(float)
    rx["HB"] = rx["HB2014"].replace(OLD_BOARDS)
    rx["key"] = rx["GPPracticeName"].map(_key)
    rx = rx.merge(_pandas_names_to_codes(contacts), on=["HB", "key"], how="inner")
    rx["month"] = pd.to_datetime(rx["PaidDateMonth"]).dt.date
    rx["doac"] = rx["items"].where(rx["BNFItemCode"].str[:9].isin(DOACS), 0.0)
    by_month = rx.groupby(["practice_code", "month"])["doac"].sum()

    definition = load_definition("rx_doac_items_65_plus")
    # month by month: every matched practice-month, DOAC items (0 where the practice had other items only)
    engine = monthly_values(con, definition).set_index(["practice_code", "month"])["numerator"]
    assert len(by_month) > 500 and engine.sort_index().to_dict() == by_month.sort_index().to_dict()

    # the quarterly catalogue measure, Apr-Jun 2019 over the list at 1 April, at practice, cluster and Scotland
    quarter = rx[rx["month"].isin([date(2019, 4, 1), date(2019, 5, 1), date(2019, 6, 1)])]
    items = quarter.groupby("practice_code")["doac"].sum()
    everyone = lists[lists["Sex"] == "All"].set_index("PracticeCode")
    # age bands are blank where PHS withholds them (QF 'c'): no denominator, so no value
    older = everyone[["Ages65to74", "Ages75to84", "Ages85plus"]].astype(float).sum(axis=1, min_count=3)
    expected = pd.DataFrame({"items": items, "older": older.reindex(items.index)}).dropna()
    expected["value"] = expected["items"] / expected["older"] * 1000
    frame = compute_frame(con, [definition])
    frame = frame[pd.to_datetime(frame["period"]) == pd.Timestamp("2019-04-01")]
    practices = frame[(frame["level"] == "practice") & frame["value"].notna()].set_index("area_code")
    assert len(expected) >= 100 and sorted(practices.index) == sorted(expected.index)
    np.testing.assert_allclose(practices.loc[expected.index, "value"], expected["value"], rtol=1e-12)
    assert (practices.loc[expected.index, "numerator"] == expected["items"]).all()
    clusters = contacts.set_index("PracticeCode")[["HSCP", "GPCluster"]].loc[expected.index]
    by_cluster = expected.join(clusters).groupby(["HSCP", "GPCluster"])[["items", "older"]].sum()
    np.testing.assert_allclose(sorted(frame.loc[frame["level"] == "cluster", "value"]),
                               sorted(by_cluster["items"] / by_cluster["older"] * 1000), rtol=1e-12)
    scotland = frame.loc[frame["level"] == "scotland", "value"].iloc[0]
    assert scotland == pytest.approx(expected["items"].sum() / expected["older"].sum() * 1000, rel=1e-12)


def test_with_the_real_list_sizes_the_page_says_why_no_measure_has_values(raw_dir, tmp_path):
    """The sample's months (2019) and PHS's list-size releases (2023-24) do not meet: the measures are per
    patient on the list at the quarter's first day, so none has a value, and the reason is given in full."""
    from gpcluster.indicators.definition import load_catalogue
    from gpcluster.indicators.engine import compute
    from gpcluster.prescribing.measures import is_prescribing
    from gpcluster.prescribing.warehouse import prescribing_coverage

    practices = raw_dir / "phs_gp_practices"
    warehouse = tmp_path / "warehouse.duckdb"
    load_paths(sorted(practices.glob("*.csv")), warehouse=warehouse)
    sample = raw_dir / "phs_prescribing_sample" / "prescribing.csv"
    load_prescribing([sample], warehouse=warehouse)
    con = open_warehouse(warehouse)
    try:
        assert compute(con, [d for d in load_catalogue() if is_prescribing(d)]).rows == 0
        coverage = prescribing_coverage(con)
    finally:
        con.close()
    # independently, from the raw files: the months in the extract and the release dates of the list files
    months = sorted(set(pd.to_datetime(pd.read_csv(sample)["PaidDateMonth"]).dt.to_period("M").dt.start_time))
    by_quarter = pd.Series(months).dt.to_period("Q").value_counts()
    complete = sorted(q.start_time.date() for q, n in by_quarter.items() if n == 3)
    releases = sorted({pd.Timestamp(str(d)).date() for f in practices.glob("practice_listsizes_*.csv")
                       for d in pd.read_csv(f)["Date"]})
    assert (coverage.first, coverage.last, coverage.months) == (months[0].date(), months[-1].date(), len(months))
    assert list(coverage.quarters) == complete == [date(2019, 4, 1)]
    assert list(coverage.list_dates) == releases and coverage.computable == ()
    why = coverage.why_no_values()
    assert "April 2019 to August 2019 (5 months)" in why and "(1 April 2019)" in why
    assert f"{releases[0].day} {releases[0]:%B %Y} to {releases[-1].day} {releases[-1]:%B %Y}" in why
