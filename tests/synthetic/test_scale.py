"""`scale` K: K synthetic Scotlands side by side for England-sized benchmarks. Copy 0 is the usual
synthetic Scotland; every code and cluster name is distinct; the files go through the real loader."""

from __future__ import annotations

import pandas as pd
import pytest

from gpcluster.errors import UserError
from gpcluster.synthetic import write_synthetic_scotland
from gpcluster.synthetic.scale import build_scaled
from gpcluster.synthetic.scotland import build_scotland

SEED, START, QUARTERS = 7, "2022-04-01", 4


@pytest.fixture(scope="module")
def scaled():
    return build_scaled(SEED, 3, START, QUARTERS)


def test_copy_0_is_the_synthetic_scotland_itself(scaled):
    one = build_scotland(SEED, START, QUARTERS)
    n = len(one.history.practices)
    pd.testing.assert_frame_equal(scaled.history.practices.iloc[:n].reset_index(drop=True),
                                  one.history.practices.reset_index(drop=True))
    assert (scaled.history.list_size[:n] == one.history.list_size).all()
    assert build_scaled(SEED, 1, START, QUARTERS) is one


def test_three_copies_have_three_times_the_practices_with_distinct_codes(scaled):
    one = build_scotland(SEED, START, QUARTERS)
    practices = scaled.history.practices
    assert len(practices) == pytest.approx(3 * len(one.history.practices), rel=0.05)
    assert practices["code"].is_unique and practices["code"].between(1, 99_999).all()
    assert practices["postcode"].is_unique
    assert scaled.data_zones["DataZone"].is_unique and scaled.simd["DataZone"].is_unique
    assert scaled.data_zones["DataZone"].str.match(r"^S019\d{5}$").all()
    for q in range(QUARTERS):  # a cluster's name is unique in each release, so cluster ids cannot merge
        live = scaled.history.active[:, q]
        names = pd.Series(scaled.history.cluster_names[scaled.history.cluster_of[live, q], q])
        per_cluster = pd.Series(scaled.history.cluster_of[live, q]).groupby(names.to_numpy()).nunique()
        assert (per_cluster == 1).all()
    codes = set(practices["code"].astype(str))
    assert set(scaled.activity["PracticeCode"].astype(str)) <= codes
    assert set(scaled.headcount["PracticeCode"].astype(str)) <= codes
    assert {s.practice_code for s in scaled.signals} <= codes


def test_the_scale_is_bounded():
    with pytest.raises(UserError, match="scale must be 1 to 14"):
        build_scaled(SEED, 15, START, QUARTERS)


def test_scaled_files_load_through_the_warehouse(tmp_path):
    from gpcluster.warehouse import load_sourced, open_warehouse

    written = write_synthetic_scotland(tmp_path / "files", SEED, START, QUARTERS, scale=2)
    assert "2 copies of Scotland" in (tmp_path / "files" / "README.txt").read_text()
    report = load_sourced(written, synthetic=True, warehouse=tmp_path / "w.duckdb")
    assert len(report.loaded) == len(written)
    con = open_warehouse(tmp_path / "w.duckdb", read_only=True)
    try:
        practices, clusters = con.execute(
            "SELECT count(DISTINCT practice_code), count(DISTINCT cluster_id) FROM practice_release "
            "WHERE release_date = (SELECT max(release_date) FROM practice_release)").fetchone()
    finally:
        con.close()
    one = build_scotland(SEED, START, QUARTERS).history
    assert practices == pytest.approx(2 * one.active[:, -1].sum(), rel=0.05)
    assert clusters == pytest.approx(2 * len(set(one.cluster_names[one.cluster_of[one.active[:, -1], -1], -1])), rel=0.05)
