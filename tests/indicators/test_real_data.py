"""Indicators on the real PHS files (../shared/data/raw), against values computed here by hand from the
raw CSVs with the csv module and statsmodels (skipped when the files are absent)."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date

import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from gpcluster import config
from gpcluster.indicators.definition import load_definition
from gpcluster.indicators.engine import compute, compute_frame
from gpcluster.warehouse import load_paths, open_warehouse

pytestmark = pytest.mark.realdata
APRIL, JANUARY, OCTOBER = date(2024, 4, 1), date(2024, 1, 1), date(2023, 10, 1)
SAMPLE = ["10002", "10017", "16475"]
IDS = ["list_size", "aged_65_plus", "aged_0_4", "simd_rank_mean"]


def _read(path, encoding="utf-8"):
    with open(path, encoding=encoding) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def raw(raw_dir):
    lists = {}
    for month, when in (("apr2024", APRIL), ("oct2023", OCTOBER)):
        for r in _read(raw_dir / f"phs_gp_practices/practice_listsizes_{month}-open-data.csv"):
            if r["Sex"] == "All":
                lists[(when, r["PracticeCode"].zfill(5))] = r
    contacts = {r["PracticeCode"].zfill(5): r
                for r in _read(raw_dir / "phs_gp_practices/practice_contactdetails_apr2024-open-data.csv")}
    rank = {r["DataZone"]: int(r["SIMD2020V2Rank"])
            for r in _read(raw_dir / "phs_simd/simd2020v2_22062020.csv", "utf-8-sig")}
    gps: dict[str, int] = defaultdict(int)
    for r in _read(raw_dir / "phs_gp_workforce/gp_contact_details_headcount_by_practice_2020.csv"):
        gps[r["PracticeCode"].zfill(5)] += int(r["Headcount"])
    return lists, contacts, rank, gps


@pytest.fixture(scope="module")
def frame(raw_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("real-indicators") / "warehouse.duckdb"
    load_paths([raw_dir / f for f in ("phs_gp_practices", "phs_simd", "humaniverse_scot", "phs_geography")],
               warehouse=path)
    load_paths([raw_dir / "phs_gp_workforce"], warehouse=path, release_date=date(2020, 12, 1))
    with open_warehouse(path) as con:
        return compute_frame(con, [load_definition(i) for i in IDS])


def _row(frame, indicator, level, area, period):
    hit = frame[(frame.indicator_id == indicator) & (frame.level == level) & (frame.area_code == area)
                & (frame.period == pd.Timestamp(period))]
    assert len(hit) == 1
    return hit.iloc[0]


def _banded(r):
    """PHS suppresses the age bands of very small lists ('c'); such practices have no age indicators."""
    return r["Ages65to74"] != ""


def _older(r):
    return int(r["Ages65to74"]) + int(r["Ages75to84"]) + int(r["Ages85plus"])


@pytest.mark.parametrize("practice", SAMPLE)
def test_practice_values_and_intervals_match_raw_files(frame, raw, practice):
    lists, contacts, rank, _ = raw
    r = lists[(APRIL, practice)]
    n, x = int(r["AllAges"]), _older(r)
    assert _row(frame, "list_size", "practice", practice, APRIL).value == n
    got = _row(frame, "aged_65_plus", "practice", practice, APRIL)
    assert (got.numerator, got.denominator) == (x, n)
    assert got.value == pytest.approx(100 * x / n)
    lo, hi = proportion_confint(x, n, alpha=0.05, method="wilson")
    assert (got.lower95, got.upper95) == pytest.approx((100 * lo, 100 * hi))
    under5 = _row(frame, "aged_0_4", "practice", practice, APRIL)
    assert under5.value == pytest.approx(100 * int(r["Ages0to4"]) / n)
    assert _row(frame, "simd_rank_mean", "practice", practice, APRIL).value == rank[contacts[practice]["DataZone"]]


@pytest.mark.parametrize("practice", SAMPLE)
def test_cluster_comparator_is_the_sum_of_the_clusters_practices(frame, raw, practice):
    lists, contacts, _, _ = raw
    me = contacts[practice]
    cluster = [code for code, c in contacts.items()
               if c["GPCluster"] == me["GPCluster"] and c["HSCP"] == me["HSCP"] and _banded(lists[(APRIL, code)])]
    assert len(cluster) > 1
    x = sum(_older(lists[(APRIL, c)]) for c in cluster)
    n = sum(int(lists[(APRIL, c)]["AllAges"]) for c in cluster)
    got = _row(frame, "aged_65_plus", "practice", practice, APRIL)
    assert got.cluster_value == pytest.approx(100 * x / n)
    cluster_row = _row(frame, "aged_65_plus", "cluster", got.cluster_id, APRIL)
    assert (cluster_row.numerator, cluster_row.denominator) == (x, n)
    lo, hi = proportion_confint(x, n, alpha=0.002, method="wilson")
    assert (cluster_row.lower998, cluster_row.upper998) == pytest.approx((100 * lo, 100 * hi))
    hscp = [c for c, d in contacts.items() if d["HSCP"] == me["HSCP"] and _banded(lists[(APRIL, c)])]
    assert got.hscp_value == pytest.approx(
        100 * sum(_older(lists[(APRIL, c)]) for c in hscp) / sum(int(lists[(APRIL, c)]["AllAges"]) for c in hscp))


def test_scotland_total_and_national_rank(frame, raw):
    lists, _, _, _ = raw
    april = {code: r for (when, code), r in lists.items() if when == APRIL}
    total = sum(int(r["AllAges"]) for r in april.values())
    assert _row(frame, "list_size", "scotland", "S92000003", APRIL).value == total
    share = {c: _older(r) / int(r["AllAges"]) for c, r in april.items() if _banded(r)}
    oldest = max(share, key=share.get)
    assert _row(frame, "aged_65_plus", "practice", oldest, APRIL).national_rank == 1
    assert _row(frame, "aged_65_plus", "practice", oldest, APRIL).national_decile == 10


def test_cluster_spanning_two_hscps_is_compared_with_its_home_hscp(frame, raw):
    lists, contacts, _, _ = raw
    doon = [c for c, d in contacts.items() if d["GPCluster"] == "Doon Valley Cluster"]
    by_hscp = {h: [c for c in doon if contacts[c]["HSCP"] == h] for h in {contacts[c]["HSCP"] for c in doon}}
    home = max(by_hscp, key=lambda h: (len(by_hscp[h]), sum(int(lists[(APRIL, c)]["AllAges"]) for c in by_hscp[h])))
    assert len(by_hscp) == 2 and home == "S37000008"  # East Ayrshire holds two of its three practices

    def share(codes):
        return 100 * sum(_older(lists[(APRIL, c)]) for c in codes) / sum(
            int(lists[(APRIL, c)]["AllAges"]) for c in codes)

    east_ayrshire = [c for c in contacts if lists[(APRIL, c)]["HSCP"] == home and _banded(lists[(APRIL, c)])]
    row = _row(frame, "aged_65_plus", "cluster", "S37000008/doon-valley", APRIL)
    assert row.hscp_code == home and row.board_code == "S08000015"
    assert round(row.value, 1) == round(share(doon), 1) == 22.3
    assert round(row.hscp_value, 1) == round(share(east_ayrshire), 1) == 21.4
    # above its home HSCP, where South Ayrshire (25.6%) would have made it look low; % aged 65+ is context,
    # so it is described, never flagged
    assert row.value > row.hscp_value and pd.isna(row.funnel_hscp)
    cluster_rows = frame[(frame.level == "cluster") & (frame.area_code == "S37000008/doon-valley")]
    assert set(cluster_rows.hscp_code) == {home}  # the same comparator for every indicator and period


def _raw_totals(raw_dir, month, hscp=None):
    with open(raw_dir / f"phs_gp_practices/practice_listsizes_{month}-open-data.csv", encoding="utf-8") as f:
        return sum(int(r["AllAges"]) for r in csv.DictReader(f)
                   if r["Sex"] == "All" and (hscp is None or r["HSCP"] == hscp))


@pytest.fixture(scope="module")
def change(raw_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("real-change") / "warehouse.duckdb"
    load_paths([raw_dir / "phs_gp_practices"], warehouse=path)
    with open_warehouse(path) as con:
        return compute_frame(con, [load_definition("list_size_change")])


@pytest.mark.parametrize(("level", "area", "hscp"), [("scotland", "S92000003", None),
                                                     ("hscp", "S37000035", "S37000035")])
def test_area_change_in_list_size_is_the_change_of_its_total(change, raw_dir, level, area, hscp):
    before, now = _raw_totals(raw_dir, "oct2023", hscp), _raw_totals(raw_dir, "jan2024", hscp)
    row = _row(change, "list_size_change", level, area, JANUARY)
    assert (row.numerator, row.denominator) == (now - before, before)
    assert row.value == pytest.approx(100 * (now - before) / before)
    # Scotland +0.247% and North Lanarkshire +0.17%, not +0.415% and +3.00% from practices in both releases
    assert round(row.value, 2) == {"S92000003": 0.25, "S37000035": 0.17}[area]


def test_practice_change_says_when_it_absorbed_a_closing_practice(change):
    row = _row(change, "list_size_change", "practice", "61339", JANUARY)
    assert row.value > 40 and row.note == "absorbed practice 61305, which closed"
    assert _row(change, "list_size_change", "practice", "18659", JANUARY).note == (
        "continues practice 18396 under a new code")


def _headcount_frame(raw_dir, path, monkeypatch, gap_days=None):
    if gap_days is not None:
        monkeypatch.setenv("GPCLUSTER_MAX_DATE_GAP_DAYS", str(gap_days))
        config.clear_cache()
    load_paths([raw_dir / f for f in ("phs_gp_practices", "phs_simd", "phs_geography")], warehouse=path)
    load_paths([raw_dir / "phs_gp_workforce"], warehouse=path, release_date=date(2020, 12, 1))
    with open_warehouse(path) as con:
        compute(con, [load_definition(i) for i in ("gps_per_1000", "gp_headcount", "gp_registrars_and_retainees")])
        return (con.execute("SELECT * FROM indicator_value").df(),
                con.execute("SELECT topic, message FROM data_quality_note").fetchall())


def test_gp_headcount_years_from_any_list_release_is_not_combined(raw_dir, tmp_path, monkeypatch):
    values, notes = _headcount_frame(raw_dir, tmp_path / "w.duckdb", monkeypatch)
    assert values.empty
    [message] = [m for topic, m in notes if topic == "headcount_not_combined"]
    assert "1 Dec 2020" in message and "1,034 days" in message and "1 Oct 2023" in message


def test_gps_per_1000_carries_both_dates_and_counts_registrars_apart(raw_dir, tmp_path, monkeypatch):
    values, notes = _headcount_frame(raw_dir, tmp_path / "w.duckdb", monkeypatch, gap_days=1100)
    heads = pd.read_csv(raw_dir / "phs_gp_workforce/gp_contact_details_headcount_by_practice_2020.csv",
                        dtype={"PracticeCode": str})
    heads["PracticeCode"] = heads["PracticeCode"].str.zfill(5)
    lists = pd.read_csv(raw_dir / "phs_gp_practices/practice_listsizes_oct2023-open-data.csv",
                        dtype={"PracticeCode": str})
    lists = lists[lists.Sex == "All"].assign(PracticeCode=lambda f: f.PracticeCode.str.zfill(5))
    trainee = heads.GPDesignation.str.contains("REGISTRAR|RETAIN")
    listed = heads.PracticeCode.isin(lists.PracticeCode)
    qualified = heads[~trainee & listed].groupby("PracticeCode").Headcount.sum()
    per_1000 = values[(values.indicator_id == "gps_per_1000") & (values.level == "practice")].set_index("area_code")
    expected = 1000 * qualified / lists.set_index("PracticeCode").AllAges.reindex(qualified.index)
    assert per_1000.value.sort_index().to_numpy() == pytest.approx(expected.sort_index().to_numpy())
    assert set(per_1000.period) == {pd.Timestamp(OCTOBER)}
    assert set(per_1000.numerator_date) == {pd.Timestamp(2020, 12, 1)}
    scotland = values[(values.indicator_id == "gps_per_1000") & (values.level == "scotland")].iloc[0]
    assert scotland.numerator == qualified.sum() and scotland.numerator_date == pd.Timestamp(2020, 12, 1)
    trainees = values[(values.indicator_id == "gp_registrars_and_retainees") & (values.level == "scotland")]
    assert trainees.numerator.iloc[0] == heads[trainee & listed].Headcount.sum()
    dropped = heads[~listed]
    [message] = [m for topic, m in notes if topic == "headcount_dropped"]
    assert message.startswith(f"{dropped.Headcount.sum():,} GPs in {dropped.PracticeCode.nunique():,} practices")
