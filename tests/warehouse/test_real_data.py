"""Loading the real PHS files in ../shared/data/raw (skipped when absent). Expected figures are the
published counts for April 2024 and sums computed here directly from the raw CSVs with the csv module."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date

import pytest

from gpcluster.warehouse import load_paths, open_warehouse, summary

pytestmark = pytest.mark.realdata
APRIL = date(2024, 4, 1)
FOLDERS = ("phs_gp_practices", "phs_simd", "humaniverse_scot", "phs_geography", "phs_populations")


@pytest.fixture(scope="module")
def warehouse(raw_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("real") / "warehouse.duckdb"
    load_paths([raw_dir / f for f in FOLDERS], warehouse=path)
    load_paths([raw_dir / "phs_gp_workforce"], warehouse=path, release_date=date(2020, 12, 1))
    con = open_warehouse(path)
    yield con
    con.close()


def test_april_2024_national_counts(warehouse):
    facts = summary(warehouse)
    assert facts["latest_release"] == APRIL
    # PHS's April 2024 file names 153 clusters, four of them placeholders ("... Undefined"): 149 clusters
    assert (facts["practices"], facts["clusters"], facts["boards"], facts["hscps"]) == (891, 149, 14, 31)
    assert facts["releases"] == 3 and facts["synthetic"] is False


def test_every_practice_has_deprivation_and_rurality(warehouse):
    missing = warehouse.execute("""SELECT count(*) FROM practice_period WHERE release_date = ?
        AND (simd_quintile IS NULL OR urban_rural_6 IS NULL OR urban_rural_2 IS NULL
             OR (cluster_id IS NULL) <> (cluster_status = 'not_in_cluster'))""",
                                [APRIL]).fetchall()[0][0]
    assert missing == 0


def test_practice_simd_matches_raw_lookup(warehouse, raw_dir):
    with open(raw_dir / "phs_gp_practices/practice_contactdetails_apr2024-open-data.csv", encoding="utf-8") as f:
        zone_of = {r["PracticeCode"].zfill(5): r["DataZone"] for r in csv.DictReader(f)}
    with open(raw_dir / "phs_simd/simd2020v2_22062020.csv", encoding="utf-8-sig") as f:
        quintile = {r["DataZone"]: int(r["SIMD2020V2CountryQuintile"]) for r in csv.DictReader(f)}
    expected = Counter(quintile[z] for z in zone_of.values())
    got = dict(warehouse.execute("SELECT simd_quintile, count(*) FROM practice_period WHERE release_date = ? "
                                 "GROUP BY 1", [APRIL]).fetchall())
    assert got == dict(expected)


@pytest.mark.parametrize("month", ["apr2024", "jan2024", "oct2023"])
def test_population_by_age_and_sex_sums_to_published_totals(warehouse, raw_dir, month):
    expected: Counter = Counter()
    with open(raw_dir / f"phs_gp_practices/practice_listsizes_{month}-open-data.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            released = date(int(row["Date"][:4]), int(row["Date"][4:6]), 1)
            for column, value in row.items():
                if (column.startswith("Age") or column == "AllAges") and not column.endswith("QF") and value:
                    expected[(released, row["Sex"], column)] += int(value)
    names = {"AllAges": "All", "Ages0to4": "0-4", "Ages5to14": "5-14", "Ages15to24": "15-24",
             "Ages25to44": "25-44", "Ages45to64": "45-64", "Ages65to74": "65-74", "Ages75to84": "75-84",
             "Ages85plus": "85+"}
    got = {(d, s, b): v for d, s, b, v in warehouse.execute(
        "SELECT release_date, sex, age_band, sum(population) FROM list_population GROUP BY ALL").fetchall()}
    released = next(iter(expected))[0]
    assert {k: v for k, v in got.items() if k[0] == released} == {
        (d, s, names[c]): v for (d, s, c), v in expected.items()}


def test_data_zone_population_total_is_the_published_5466000(warehouse):
    assert warehouse.execute("SELECT sum(population) FROM data_zone").fetchall()[0][0] == 5_466_000
    assert warehouse.execute("SELECT sum(population) FROM data_zone_population WHERE sex = 'All'"
                             ).fetchall()[0][0] == 5_466_000


def test_clusters_spanning_two_hscps_are_one_cluster(warehouse):
    got = warehouse.execute("""SELECT cluster_id, count(DISTINCT hscp_code) FROM practice_release
        WHERE release_date = ? AND cluster_name IN ('Doon Valley Cluster', 'Kinross/Errol/Bridge of Earn')
        GROUP BY 1 ORDER BY 1""", [APRIL]).fetchall()
    assert got == [("S37000008/doon-valley", 2), ("S37000033/kinross-errol-bridge-of-earn", 2)]


def test_board_population_and_headcount_loaded(warehouse, raw_dir):
    scotland_2020 = warehouse.execute("SELECT sum(population) FROM board_population WHERE year = 2020 AND "
                                      "area_code = 'S92000003' AND sex = 'All'").fetchall()[0][0]
    with open(raw_dir / "phs_populations/HBdemography.csv", encoding="utf-8-sig") as f:
        published = next(int(r["AllAges"]) for r in csv.DictReader(f)
                         if r["Year"] == "2020" and r["HB"] == "S92000003" and r["Sex"] == "All")
    assert scotland_2020 == published
    with open(raw_dir / "phs_gp_workforce/gp_contact_details_headcount_by_practice_2020.csv", encoding="utf-8") as f:
        total = sum(int(r["Headcount"]) for r in csv.DictReader(f))
    assert warehouse.execute("SELECT sum(headcount) FROM gp_headcount").fetchall()[0][0] == total


def test_urban_rural_two_fold_follows_six_fold(warehouse):
    pairs = set(warehouse.execute("SELECT DISTINCT urban_rural_6, urban_rural_2 FROM data_zone").fetchall())
    assert pairs == {(1, 1), (2, 1), (3, 1), (4, 1), (5, 2), (6, 2)}



def _raw_lists(raw_dir, month):
    with open(raw_dir / f"phs_gp_practices/practice_listsizes_{month}-open-data.csv", encoding="utf-8") as f:
        return [r for r in csv.DictReader(f) if r["Sex"] == "All"]


def test_placeholder_clusters_are_not_clusters(warehouse, raw_dir):
    with open(raw_dir / "phs_gp_practices/practice_contactdetails_apr2024-open-data.csv", encoding="utf-8") as f:
        placeholders = {r["PracticeCode"].zfill(5): r["GPCluster"] for r in csv.DictReader(f)
                        if "undefined" in r["GPCluster"].lower()}
    assert len(placeholders) == 4
    got = warehouse.execute("""SELECT practice_code, cluster_id, cluster_status, hscp_code IS NOT NULL
        FROM practice_period WHERE release_date = ? AND cluster_status <> 'cluster' ORDER BY 1""",
                            [APRIL]).fetchall()
    assert got == [(code, None, "not_in_cluster", True) for code in sorted(placeholders)]
    assert warehouse.execute("SELECT count(*) FROM cluster WHERE cluster_name ILIKE '%undefined%'").fetchone()[0] == 0


@pytest.mark.parametrize(("month", "release", "unknown", "patients"),
                         [("oct2023", date(2023, 10, 1), 15, 67_046), ("jan2024", date(2024, 1, 1), 7, 35_052)])
def test_practices_without_contact_details_keep_the_hscp_and_board_the_list_file_gives(
        warehouse, raw_dir, month, release, unknown, patients):
    raw = {r["PracticeCode"].zfill(5): r for r in _raw_lists(raw_dir, month)}
    got = warehouse.execute("""SELECT practice_code, hscp_code, board_code, list_size FROM practice_period
        WHERE release_date = ? AND cluster_status = 'unknown'""", [release]).fetchall()
    assert len(got) == unknown and sum(r[3] for r in got) == patients
    assert all((r[1], r[2]) == (raw[r[0]]["HSCP"], raw[r[0]]["HB"]) for r in got)
    # every practice counts in the HSCP and board the file publishes: area sums equal the file's
    published = Counter()
    for r in raw.values():
        published[r["HSCP"]] += int(r["AllAges"])
    ours = dict(warehouse.execute("SELECT hscp_code, sum(list_size) FROM practice_period WHERE release_date = ? "
                                  "GROUP BY 1", [release]).fetchall())
    assert ours == dict(published)
    assert ours["S37000002"] in (255_103, 255_190)  # Aberdeenshire, as PHS publishes it (no false 8% jump)


def test_closures_mergers_and_new_codes_are_events(warehouse):
    events = set(warehouse.execute("SELECT release_date, practice_code, event, detail FROM practice_event "
                                   "WHERE event IN ('merged_into', 'recoded_as')").fetchall())
    jan, apr = date(2024, 1, 1), date(2024, 4, 1)
    # two North Lanarkshire practices closed and their neighbours grew by about their lists (Jan 2024)
    assert (jan, "61305", "merged_into", "61339") in events
    assert (jan, "62914", "merged_into", "62933") in events
    # three Glasgow practices closed as one new practice opened with their combined list (Apr 2024)
    assert {(apr, c, "merged_into", "40761") for c in ("40210", "40578", "40737")} <= events
    # a practice that closed as another opened with nearly the same list in the same HSCP is a new code
    assert (jan, "18396", "recoded_as", "18659") in events
