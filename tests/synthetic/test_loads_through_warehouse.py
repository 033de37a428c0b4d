"""The synthetic files go through the real loaders into the warehouse, which sees the same history."""

from __future__ import annotations

import pytest

from gpcluster.synthetic import write_synthetic_scotland

warehouse = pytest.importorskip("gpcluster.warehouse")


def test_short_synthetic_run_loads_and_its_events_are_derived(tmp_path):
    written = write_synthetic_scotland(tmp_path / "synthetic", seed=11, quarters=6)
    report = warehouse.load_paths([p for _, p in written], synthetic=True)
    assert len(report.loaded) == len(written)
    con = warehouse.open_warehouse()
    try:
        assert con.execute("SELECT bool_and(synthetic), count(*) FROM load_ledger").fetchone() == (True, len(written))
        releases = con.execute("SELECT count(DISTINCT release_date) FROM practice_release").fetchone()[0]
        assert releases == 6
        n_last = con.execute("""SELECT count(*) FROM practice_release
                                WHERE release_date = (SELECT max(release_date) FROM practice_release)""").fetchone()[0]
        assert 900 <= n_last <= 960
        events = dict(con.execute("SELECT event, count(*) FROM practice_event GROUP BY event").fetchall())
        assert events.get("opened", 0) >= 1 and events.get("merged_into", 0) >= 1
        assert events.get("moved_cluster", 0) >= 1 and events.get("closed", 0) >= 1
        renamed = con.execute("SELECT count(*) FROM (SELECT cluster_id FROM cluster_name_history "
                              "GROUP BY cluster_id HAVING count(*) > 1)").fetchone()[0]
        assert renamed >= 1
        dz = con.execute("SELECT count(*), count(simd_rank), count(urban_rural_8), count(population) "
                         "FROM data_zone").fetchone()
        assert dz == (6976, 6976, 6976, 6976)
        measures = {r[0] for r in con.execute("SELECT DISTINCT measure FROM practice_activity").fetchall()}
        assert len(measures) == 6
    finally:
        con.close()
