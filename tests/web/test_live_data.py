"""The web app's warehouse across versions (gpcluster.web.data.LiveWebData) and start-up date handling."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from warehouse_fixture import build_warehouse

from gpcluster.web.data import LiveWebData, _as_dates, pinned_version


def test_dates_are_converted_per_distinct_value_with_the_same_result():
    column = pd.Series(pd.to_datetime(["2024-01-01", "2024-04-01", None, "2024-01-01"]))
    converted = _as_dates(column)
    assert converted[:2] == [date(2024, 1, 1), date(2024, 4, 1)] and converted[3] == date(2024, 1, 1)
    assert converted[2] is pd.NaT
    assert converted[:2] + converted[3:] == [ts.date() for ts in column.dropna()]


@pytest.fixture
def live(tmp_path):
    from gpcluster.warehouse.versions import new_version

    link = tmp_path / "warehouse.duckdb"
    build_warehouse(link, synthetic=False)
    with new_version(link, note="adopted"):  # the plain file becomes version 1, this copy version 2
        pass
    data = LiveWebData(link, poll_seconds=0)  # no watcher thread: the test calls refresh()
    yield data, link
    data.close()


def test_a_request_keeps_its_version_and_the_old_one_closes_after_it(live):
    from gpcluster.warehouse.versions import new_version

    data, link = live
    first = data.current
    token = data.pin()  # a request in flight
    assert pinned_version() == first.file
    with new_version(link, note="renamed") as draft:
        draft.con.execute("UPDATE cluster SET cluster_name = 'Dundee Riverside' WHERE cluster_name = 'Dundee East'")
    assert data.refresh() and data.current is not first
    # the pinned request still reads its own version, whole
    assert "Dundee East" in {c.cluster_name for c in data.clusters.values()}
    assert data.query("SELECT count(*) AS n FROM cluster")["n"].iloc[0] == 3
    data.unpin(token)
    with pytest.raises(Exception, match="closed"):
        first.query("SELECT 1")  # closed once its last request finished
    token = data.pin()
    assert "Dundee Riverside" in {c.cluster_name for c in data.clusters.values()}
    data.unpin(token)
    assert not data.refresh()  # nothing new


def test_a_version_it_cannot_serve_is_skipped(live):
    from gpcluster.warehouse.versions import new_version

    data, link = live
    first = data.current
    with new_version(link, note="no results") as draft:
        draft.con.execute("DROP TABLE indicator_value")
    assert not data.refresh() and data.current is first
    assert data.query("SELECT count(*) AS n FROM indicator_value")["n"].iloc[0] > 0
