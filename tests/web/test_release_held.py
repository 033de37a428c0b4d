"""Release once, serve many: the release held in memory serves exactly the rows the per-page query gives;
the app's caches are bounded, never cross viewer scopes, and the app starts without the statistics stack."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
from datetime import datetime

import pandas as pd
import pytest
from warehouse_fixture import OWN_CLUSTER

from gpcluster.web.access import Viewer
from gpcluster.web.cache import ReleasedCache, size_of


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Equal rows, columns and values (a missing value is missing whether None or NaN, text or object)."""
    def norm(f):
        return f.astype(object).where(f.notna(), None)
    pd.testing.assert_frame_equal(norm(a), norm(b))


@pytest.fixture(scope="module")
def both(warehouse_file):
    from gpcluster.web.data import WebData

    queried, held = WebData(warehouse_file), WebData(warehouse_file)
    held.load_release()
    assert held.release_held and not queried.release_held
    yield queried, held
    queried.close()
    held.close()


def test_the_held_release_gives_the_rows_of_every_page_query(both):
    queried, held = both
    clusters = sorted(queried.clusters)
    codes = sorted(set(queried.values(levels=["practice"])["area_code"]))
    asks = [dict(), dict(levels=["practice"], area_codes=[codes[0]]), dict(levels=["practice"], area_codes=codes[:3]),
            dict(levels=["practice"], area_codes=[]), dict(area_codes=["no such practice"]),
            dict(levels=["practice", "cluster"], cluster_id=OWN_CLUSTER),
            dict(levels=["cluster", "hscp", "scotland"], area_codes=[clusters[0], "S37000007", "S92000003"]),
            dict(indicator_ids=["no_such_indicator"])]
    for indicator, period in itertools.product([*sorted(queried.indicators)[:4], None], queried.periods):
        asks.append(dict(indicator_ids=None if indicator is None else [indicator], levels=["practice", "scotland"],
                         period=period))
    for cluster, period in itertools.product(clusters, queried.periods[-2:]):
        asks.append(dict(levels=["practice"], period=period, cluster_id=cluster))
    for ask in asks:
        _same(held.values(**ask), queried.values(**ask))
    # a period given as a timestamp finds the same rows as the date
    latest = queried.latest_period
    _same(held.values(period=datetime(latest.year, latest.month, latest.day), levels=["practice"]),
          queried.values(period=latest, levels=["practice"]))
    assert len(held.values(period=latest, levels=["practice"])) > 0


def test_the_held_rows_are_disclosed(both):
    _, held = both
    rows = held.values()
    suppressed = rows[rows["suppressed"]]
    assert len(suppressed) > 0, "the fixture has suppressed rows"
    assert suppressed["numerator"].isna().all()


def test_single_flight_locks_are_freed(warehouse_file):
    from gpcluster.web.data import WebData

    data = WebData(warehouse_file)
    try:
        for period in data.periods:
            data.values(levels=["practice"], period=period)
        assert len(data._value_locks) == 0  # none kept once no request waits on it
    finally:
        data.close()


def test_the_cache_is_bounded_by_memory_least_recently_used_first():
    cache = ReleasedCache(max_bytes=3 * size_of(b"x" * 1000))
    viewer = Viewer(1, "n", "N", "national", "scotland", None)
    for key in "abc":
        cache.get(key, viewer, lambda: b"x" * 1000)
    cache.get("a", viewer, lambda: pytest.fail("'a' is cached"))  # now the most recently used
    cache.get("d", viewer, lambda: b"x" * 1000)  # pushes out 'b', the least recently used
    assert len(cache) == 3 and cache.bytes_held <= cache.max_bytes
    built = []
    cache.get("b", viewer, lambda: built.append("b") or b"x" * 1000)
    assert built == ["b"]
    cache.get("huge", viewer, lambda: b"x" * 10_000)  # larger than the whole budget: not kept
    assert cache.bytes_held <= cache.max_bytes


def test_size_of_counts_tables_and_text():
    frame = pd.DataFrame({"a": range(1000), "b": [1.5] * 1000})
    assert size_of(frame) >= 16_000
    assert size_of({"x": "y" * 5000, "z": [b"w" * 3000]}) >= 8000


def test_a_cached_page_is_never_served_to_another_scope(client_for):
    """The indicator page names every practice for a national viewer and only the cluster's own for a CQL:
    each gets their own, whichever asked first, and again from the cache."""
    national, cql = client_for("national"), client_for("cql")
    for _ in range(2):
        wide = national.get("/indicators/high_risk_prescribing")
        narrow = cql.get("/indicators/high_risk_prescribing")
        assert wide.status_code == narrow.status_code == 200
        wide_body, narrow_body = wide.text.split("<footer>")[0], narrow.text.split("<footer>")[0]
        assert "Practice A" in narrow_body and "Practice A" not in wide_body
        assert "Bravo Medical Centre" in wide_body and "Bravo Medical Centre" not in narrow_body
        # the layout stays each user's own: their name and their CSRF token
        assert "NATIONAL" in wide.text and "CQL" in narrow.text and "NATIONAL" not in narrow.text
    # a practice outside the CQL's cluster is not found for them, though its page is cached for the national
    assert national.get("/practices/70001").status_code == 200
    assert cql.get("/practices/70001").status_code == 404


def test_the_app_and_the_warehouse_view_start_without_scipy(warehouse_file, tmp_path):
    """With the release's suppression pattern stored (as `indicators compute` stores it), neither the app
    nor its warehouse view imports scipy or statsmodels (seconds of start-up)."""
    import duckdb

    from gpcluster.indicators.stored import stored_definitions
    from gpcluster.indicators.suppression import rebuild_suppression

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(warehouse_file, warehouse)
    con = duckdb.connect(str(warehouse))
    try:
        rebuild_suppression(con, stored_definitions(con))
    finally:
        con.close()
    code = ("import sys; import gpcluster.web.app; from gpcluster.web.data import WebData; "
            f"WebData({str(warehouse)!r}).close(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'statsmodels')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_missing_text_value_is_one_value_on_both_paths(both):
    """A text column with no value in the rows a query selects (DuckDB gives objects holding None), one
    with some (text holding NaN) and the held release all give NaN: a page sees one missing value whichever
    rows it asks for and whether or not the release is held (a trend's table printed "Common cause: nan"
    on one path and not on the other)."""
    all_missing = set()
    for data in both:
        for indicator, cluster in itertools.product(sorted(data.indicators), sorted(data.clusters)[:3]):
            rows = data.values(levels=["cluster"], indicator_ids=[indicator], area_codes=[cluster])
            for column in ("spc_signal", "spc_rule", "note", "funnel_hscp"):
                values = rows[column].to_numpy(dtype=object)
                missing = [v for v in values if v is None or v is pd.NA or (isinstance(v, float) and v != v)]
                assert all(isinstance(v, float) for v in missing), (indicator, cluster, column, data.release_held)
                if len(values) and len(missing) == len(values):
                    all_missing.add((column, data.release_held))
    assert {("spc_rule", False), ("spc_rule", True)} <= all_missing  # the case that differed is covered
