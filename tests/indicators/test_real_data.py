"""Indicators on the real PHS files (../shared/data/raw), against values computed here by hand from the
raw CSVs with the csv module and statsmodels (skipped when the files are absent)."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date

import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from gpcluster.indicators.definition import load_definition
from gpcluster.indicators.engine import compute_frame
from gpcluster.warehouse import load_paths, open_warehouse

pytestmark = pytest.mark.realdata
APRIL, OCTOBER = date(2024, 4, 1), date(2023, 10, 1)
SAMPLE = ["10002", "10017", "16475"]
IDS = ["list_size", "aged_65_plus", "aged_0_4", "simd_rank_mean", "gps_per_1000"]


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


def test_gps_per_1000_against_list_at_nearest_release(frame, raw):
    lists, _, _, gps = raw
    practice = "10002"
    expected = 1000 * gps[practice] / int(lists[(OCTOBER, practice)]["AllAges"])
    assert _row(frame, "gps_per_1000", "practice", practice, OCTOBER).value == pytest.approx(expected)
