"""Named practice data never leaves a viewer's scope: every GET route, with plausible parameters."""

from __future__ import annotations

import io
import itertools
import re

import openpyxl
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route
from warehouse_fixture import CLUSTERS, INDICATORS, OWN_CLUSTER, PRACTICES

CANDIDATES = {
    "cluster_id": list(CLUSTERS),
    "practice_code": list(PRACTICES),
    "indicator_id": list(INDICATORS),
    "name": ["cluster", "practice", "funnel", "deciles"],
    "fmt": ["csv", "xlsx", "html", "pdf"],
    "slug": ["pharmacotherapy-pilot"],  # evaluations: none registered in this fixture, so never found
    "hscp_code": sorted({hscp for _, hscp, _ in CLUSTERS.values()}),
    "board_code": sorted({board for _, _, board in CLUSTERS.values()}),
    "period": ["2024-07", "2024-10"],
    "version": ["1"],
}
QUERY_VALUES = {
    "key": [*CLUSTERS, *PRACTICES, *INDICATORS],
    "q": ["Bravo", "70001", "Cedar", "dundee", "Surgery", "Practice"],
    "indicator": list(INDICATORS),
    "cluster": list(CLUSTERS),
    "show": ["all"],
}


def _identifying(code: str) -> list[str]:
    name, _, _, postcode = PRACTICES[code]
    return [code, name, postcode]


def forbidden_for(visible_clusters: set[str]) -> list[str]:
    return [s for code, (_, cluster, _, _) in PRACTICES.items() if cluster not in visible_clusters
            for s in _identifying(code)]


def body_text(response) -> str:
    if response.headers.get("content-type", "").startswith("application/vnd.openxml"):
        book = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True)
        return "\n".join(str(cell) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)
                         for cell in row)
    return response.text


def get_operations(app) -> list[tuple[str, list[str], list[str]]]:
    """(path, path parameters, query parameters) of every GET operation the app documents, plus
    undocumented top-level routes (FastAPI includes routers lazily, so the schema is the full list)."""
    ops = []
    for path, item in app.openapi()["paths"].items():
        if "get" in item:
            params = item["get"].get("parameters", [])
            ops.append((path, [p["name"] for p in params if p["in"] == "path"],
                        [p["name"] for p in params if p["in"] == "query"]))
    documented = {o[0] for o in ops}
    ops += [(r.path, [], []) for r in app.routes
            if isinstance(r, APIRoute | Route) and "GET" in (r.methods or ()) and r.path not in documented]
    return ops


def requests_for(app) -> tuple[list[str], set[str]]:
    """Every GET route filled with every plausible path parameter and query value."""
    urls, paths = [], set()
    for path_format, names, query_names in get_operations(app):
        paths.add(path_format)
        queries = [q for q in query_names if q in QUERY_VALUES]
        for combo in itertools.product(*(CANDIDATES[n] for n in names)):
            path = path_format
            for n, v in zip(names, combo, strict=True):
                path = path.replace("{" + n + "}", v)
            urls.append(path)
            for q in queries:
                urls += [f"{path}?{q}={v}" for v in QUERY_VALUES[q]]
    return urls, paths


_SWEEPS: dict = {}
STATIC_TEMPLATES = {"/plan/roster/template.csv", "/plan/roster/template.xlsx"}


def collect(client, app, username: str | None = None) -> dict[str, str]:
    """Bodies of every GET request of the sweep (cached per app and user: the sweep is the slow part)."""
    if username and (id(app), username) in _SWEEPS:
        return _SWEEPS[(id(app), username)]
    urls, _ = requests_for(app)
    bodies = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code < 500, (url, response.text[:500])
        bodies[url] = body_text(response)
    if username:
        _SWEEPS[(id(app), username)] = bodies
    return bodies


@pytest.mark.parametrize(("username", "visible"), [
    ("cql", {OWN_CLUSTER}),
    ("pql", {OWN_CLUSTER}),  # a PQL sees their own cluster's practices by name
    ("hscp_lothian", {"S37000030/linlithgow"}),
])
def test_no_route_reveals_practices_outside_scope(app, client_for, username, visible):
    bodies = collect(client_for(username), app)
    forbidden = forbidden_for(visible)
    # a string the viewer typed into the URL may be echoed back; anything else is a leak
    # the roster template is a fixed file shipped in the package, the same for everyone: its example
    # row's practice codes are not data (tests/workforce checks the template itself)
    leaks = [(url, s) for url, text in bodies.items() for s in forbidden
             if s.lower() in text.lower() and s.lower() not in url.lower() and url not in STATIC_TEMPLATES]
    assert not leaks, leaks[:10]
    # and the viewer does see their own practices by name somewhere (the test can fail both ways)
    own = [PRACTICES[c][0] for c, (_, cl, _, _) in PRACTICES.items() if cl in visible]
    assert all(any(name in text for text in bodies.values()) for name in own)


def test_national_viewer_sees_every_practice_name(app, client_for):
    """The same sweep with a Scotland-wide user finds the names: the CQL sweep above is not vacuous."""
    bodies = collect(client_for("national"), app, "national")
    for name, _, _, postcode in PRACTICES.values():
        assert any(name in text for text in bodies.values()), name
        assert not any(postcode in text for text in bodies.values()), "postcodes never leave the server"


def test_sweep_covers_every_get_route(app):
    urls, paths = requests_for(app)
    for path in paths:
        prefix = path.split("{")[0]
        assert any(u.startswith(prefix) for u in urls), path
    assert len(paths) >= 12


def test_other_cluster_page_is_pseudonymised_not_hidden(client_for):
    page = client_for("cql").get("/clusters/S37000007/dundee-west").text
    assert "Dundee West" in page
    assert "Practice A" in page and "Practice C" in page
    assert "Bravo Medical Centre" not in page
    # the plain-language signal about a practice of that cluster names it only by its pseudonym
    signals = page.split('id="signals-h"')[1].split('id="heat-h"')[0]
    assert re.search(r"<strong>Practice [A-Z]+</strong>:\s*Emergency admissions", signals)
    assert "70001" not in signals


def test_practice_outside_scope_is_indistinguishable_from_missing(client_for):
    client = client_for("cql")
    outside, missing = client.get("/practices/70001"), client.get("/practices/99999")
    assert outside.status_code == missing.status_code == 404
    assert outside.text.replace("70001", "") == missing.text.replace("99999", "")


def test_api_refused_to_roles_without_api_access(client_for):
    assert client_for("cql").get("/api/clusters").status_code == 403
    assert client_for("national").get("/api/clusters").status_code == 200


def test_pseudonymised_rows_carry_nothing_public_data_could_be_matched_against(client_for):
    import io

    import pandas as pd

    rows = pd.read_csv(io.StringIO(client_for("cql").get("/download/cluster.csv?key=S37000007/dundee-west").text))
    hidden = rows[(rows.level == "practice")]
    assert len(hidden) and hidden.area_code.str.startswith("Practice ").all()
    for column in ("numerator", "denominator", "expected", "lower95", "upper95", "z_score", "national_rank",
                   "cluster_value", "hscp_value", "board_value", "cluster_id", "hscp_code", "board_code", "note"):
        assert hidden[column].isna().all(), column  # no list size (3,777 or 3,800), no area, no interval
    assert set(hidden.indicator_id) == {"emergency_admission_rate", "high_risk_prescribing"}  # performance only
    values = hidden.value.dropna()
    assert (values.map(lambda v: float(f"{v:.2g}")) == values).all()  # two significant figures


def test_pseudonymised_rows_carry_no_membership(client_for):
    import json

    rows = json.loads(client_for("national").get("/api/tables/funnel?key=emergency_admission_rate").text)["rows"]
    assert all(r["cluster_id"] for r in rows if r["level"] == "practice")  # national: everything named
    cql = client_for("cql").get("/download/funnel.csv?key=emergency_admission_rate").text
    hidden = [line for line in cql.splitlines() if ",Practice " in line]
    assert len(hidden) == 5
    assert not any("S37" in line or "S08" in line for line in hidden)


def test_pql_sees_own_cluster_with_own_practice_highlighted(client_for):
    page = client_for("pql").get("/clusters/S37000007/dundee-east").text
    assert "Alpha Surgery" in page and "Acorn Medical Practice" in page
    own_row = page.split("Amber Health Centre")[0].rsplit("<tr", 1)[1]
    assert "highlight" in own_row
    assert "(your practice)" in page.split("Amber Health Centre")[1].split("</th>")[0]


@pytest.fixture(scope="module")
def moved_app(tmp_path_factory):
    """The fixture warehouse with Bravo Medical Centre (70001) moved from Dundee West into the CQL's cluster
    in the last quarter, and Acorn Medical Practice (10003) moved out of it into Dundee West."""
    import duckdb
    from warehouse_fixture import PERIODS, build_warehouse

    from conftest import make_store
    from gpcluster.web import create_app

    path = build_warehouse(tmp_path_factory.mktemp("moved") / "warehouse.duckdb")
    con = duckdb.connect(str(path))
    for table in ("indicator_value", "practice_release"):
        column, date_column = ("area_code", "period") if table == "indicator_value" else ("practice_code",
                                                                                          "release_date")
        level = "AND level = 'practice'" if table == "indicator_value" else ""
        for code, cluster in (("70001", OWN_CLUSTER), ("10003", "S37000007/dundee-west")):
            con.execute(f"UPDATE {table} SET cluster_id = ? WHERE {column} = ? AND {date_column} = ? {level}",
                        [cluster, code, PERIODS[-1]])
    con.close()
    return create_app(path, store=make_store(tmp_path_factory.mktemp("moved-store")))


def test_a_practice_that_joined_the_cluster_opens_with_its_history(moved_app):
    """A CQL opens a practice in their cluster now, with every quarter named, including those it spent in
    another cluster; a practice that has left their cluster is not found, as for one that never existed."""
    from fastapi.testclient import TestClient
    from warehouse_fixture import PERIODS

    from conftest import login

    with TestClient(moved_app, base_url="http://testserver") as cql:
        assert login(cql, "cql").status_code == 303
        joined = cql.get("/practices/70001")
        assert joined.status_code == 200
        assert "Bravo Medical Centre" in joined.text
        # its expected range is drawn for every quarter, as only for a named practice's own figures
        ranges = re.findall(r'"period": "([0-9-]+)", "label": "[^"]+", "expected_value"', joined.text)
        assert set(ranges) == {p.isoformat() for p in PERIODS}
        left, missing = cql.get("/practices/10003"), cql.get("/practices/99999")
        assert left.status_code == missing.status_code == 404
        assert left.text.replace("10003", "") == missing.text.replace("99999", "")
