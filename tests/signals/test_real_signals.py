"""On the real PHS files every indicator is context (no real activity data is published yet): nothing may
raise a signal, and the cluster page says why. Skipped when ../shared is absent."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gpcluster.indicators.definition import load_catalogue
from gpcluster.indicators.engine import compute
from gpcluster.warehouse import load_paths, open_warehouse

_spec = importlib.util.spec_from_file_location("web_fixtures", Path(__file__).parents[1] / "web" / "conftest.py")
_web = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_web)
login, make_store = _web.login, _web.make_store

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def real_warehouse(raw_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("real-signals") / "warehouse.duckdb"
    load_paths([raw_dir / f for f in ("phs_gp_practices", "phs_simd", "humaniverse_scot", "phs_geography")],
               warehouse=path)
    with open_warehouse(path) as con:
        compute(con, [d for d in load_catalogue() if not d.synthetic])
    return path


def test_no_context_indicator_raises_a_signal(real_warehouse):
    with open_warehouse(real_warehouse, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM signal").fetchone()[0] == 0
        flagged = con.execute("SELECT count(*) FROM indicator_value WHERE funnel_scotland IS NOT NULL "
                              "OR spc_signal IS NOT NULL").fetchone()[0]
    assert flagged == 0  # 701 of 884 practices were "outside 99.8%" for % aged 65+ before


def test_the_cluster_page_says_why_nothing_is_flagged(real_warehouse, tmp_path):
    from gpcluster.web import create_app

    app = create_app(real_warehouse, store=make_store(tmp_path))
    with TestClient(app, base_url="http://testserver") as client:
        assert login(client, "national").status_code == 303
        page = client.get("/clusters/S37000008/doon-valley")
    assert page.status_code == 200
    assert "No performance figures" in page.text and "they are context" in page.text
