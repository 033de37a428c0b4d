"""The prescribing pages: the monthly centile chart, a practice's line and savings, through the release gate."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

PASSWORD = "correct horse battery staple"
USERS = {"national": ("national", "scotland", None), "cql": ("cluster", "cluster", "S37000003/north"),
         "pql": ("practice", "practice", "10001")}
NORTH = {"10001", "10002", "10004"}  # the north cluster's practices (10004 until it moved in April 2024)
OUTSIDE = ("10003", "10005", "10006")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from gpcluster.indicators.definition import load_catalogue
    from gpcluster.indicators.engine import compute
    from gpcluster.store import open_store
    from gpcluster.store.accounts import add_user
    from gpcluster.web import create_app
    from indicators.conftest import build_fixture_warehouse

    folder = tmp_path_factory.mktemp("rx-web")
    con = build_fixture_warehouse(folder / "w.duckdb")
    compute(con, [d for d in load_catalogue() if d.id.startswith("rx_")])
    con.close()
    store = open_store(f"sqlite:///{folder / 'store.db'}")
    with store.session() as session:
        for name, (role, level, code) in USERS.items():
            add_user(session, name, PASSWORD, role, level, code, display_name=name)
    return create_app(folder / "w.duckdb", store=store)


def signed_in(app, username: str) -> TestClient:
    client = TestClient(app, base_url="http://testserver")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token,
                                           "next": "/"}, follow_redirects=False)
    assert response.status_code == 303
    return client


def spec(html: str) -> dict:
    return json.loads(re.search(r'id="centiles-spec">(.*?)</script>', html, re.S).group(1))


def test_the_list_and_a_measure_page_show_monthly_centiles(app):
    client = signed_in(app, "national")
    home = client.get("/prescribing")
    assert home.status_code == 200 and "Antibiotic items per 1,000 patients" in home.text
    assert "July 2023 to June 2024 (12)" in home.text
    page = client.get("/prescribing/rx_gabapentinoid_items?practice=10005")
    assert page.status_code == 200
    assert "items per 1,000 patients per month" in page.text  # the monthly unit, not the quarterly one
    chart = spec(page.text)
    centile_points = chart["layer"][0]["data"]["values"]
    assert {p["series"] for p in centile_points} >= {"10th centile", "Median", "90th centile"}
    assert len({p["month"] for p in centile_points}) == 12
    own = chart["layer"][1]["data"]["values"]
    assert len(own) == 12 and "Practice 10005" in page.text  # the fixture's practice name
    assert "List at" in page.text and "01 Jul 2023" in page.text  # the denominator's date beside the figure


def test_a_cluster_lead_gets_no_line_for_a_practice_outside_the_cluster(app):
    client = signed_in(app, "cql")
    outside = client.get("/prescribing/rx_gabapentinoid_items?practice=10005")
    assert outside.status_code == 200
    assert len(spec(outside.text)["layer"]) == 1 and "Practice 10005" not in outside.text
    inside = client.get("/prescribing/rx_gabapentinoid_items?practice=10001")
    assert len(spec(inside.text)["layer"]) == 2


def test_cost_measures_show_savings_at_the_10th_centile_for_named_practices_only(app):
    national = signed_in(app, "national").get("/prescribing/rx_cost_per_patient")
    assert "Potential savings" in national.text and "Scotland would have spent" in national.text
    assert national.text.count("?practice=") >= 5  # the practices above the 10th centile
    cql = signed_in(app, "cql").get("/prescribing/rx_cost_per_patient")
    listed = set(re.findall(r"\?practice=(\d+)", cql.text))
    assert listed and listed <= {"10001", "10002"}  # 10004 moved to the south cluster in April 2024
    assert signed_in(app, "national").get("/prescribing/aged_65_plus").status_code == 404


def test_small_monthly_counts_are_suppressed_as_everywhere_else(app):
    # practice 10006 has about 95 patients: a couple of gabapentinoid items a month, at or below the threshold
    page = signed_in(app, "national").get("/prescribing/rx_gabapentinoid_items?practice=10006")
    assert page.status_code == 200
    own = spec(page.text)["layer"][1]["data"]["values"] if len(spec(page.text)["layer"]) > 1 else []
    assert own == []  # every month suppressed: no line point carries a value
    rows = re.search(r"numerator, denominator and dates</summary>(.*?)</table>", page.text, re.S).group(1)
    assert rows.count("<tr>") == 13 and rows.count('<td class="num">*</td>') >= 24  # numerator and value hidden


def _csv(client, name: str, key: str):
    import io

    import pandas as pd

    response = client.get(f"/download/{name}.csv?key={key}")
    assert response.status_code == 200, response.text
    return pd.read_csv(io.StringIO(response.text), dtype={"practice_code": str, "area_code": str})


def test_downloads_and_the_api_carry_the_same_suppression_as_the_page(app):
    national = signed_in(app, "national")
    monthly = _csv(national, "prescribing_monthly", "rx_gabapentinoid_items")
    assert len(monthly) == 6 * 12 and set(monthly["practice_code"]) >= {"10001", "10006"}
    small = monthly[monthly["practice_code"] == "10006"]
    assert small["suppressed"].all() and small["numerator"].isna().all() and small["value"].isna().all()
    shown = monthly[~monthly["suppressed"]]
    assert shown["numerator"].notna().all() and (shown["value"] > 0).all()
    api = national.get("/api/tables/prescribing_monthly?key=rx_gabapentinoid_items").json()
    assert len(api["rows"]) == len(monthly)
    assert all(r["numerator"] is None for r in api["rows"] if r["practice_code"] == "10006")
    assert "prescribing_savings" in {t["table"] for t in national.get("/api/tables").json()["rows"]}
    centile_rows = _csv(national, "prescribing_centiles", "rx_gabapentinoid_items")
    assert len(centile_rows) == 12 and (centile_rows["practices"] <= 5).all()  # 10006 left out: suppressed


def test_a_cluster_lead_downloads_only_what_the_page_shows(app):
    cql = signed_in(app, "cql")
    monthly = _csv(cql, "prescribing_monthly", "rx_gabapentinoid_items")
    hidden = monthly[monthly["practice_code"].str.startswith("Practice ")]
    assert set(monthly["practice_code"]) - set(hidden["practice_code"]) <= {"10001", "10002", "10004"}
    assert len(hidden) and hidden["numerator"].isna().all() and hidden["denominator"].isna().all()
    assert hidden["cluster_id"].isna().all() and hidden["value"].notna().any()
    # a context (cost) measure: practices the lead may not name are left out, not pseudonymised
    cost = _csv(cql, "prescribing_monthly", "rx_cost_per_patient")
    assert set(cost["practice_code"]) <= {"10001", "10002", "10004"}
    saved = _csv(cql, "prescribing_savings", "rx_cost_per_patient")
    everyone = _csv(signed_in(app, "national"), "prescribing_savings", "rx_cost_per_patient")
    assert saved.iloc[0]["area_name"] == "Scotland" and saved.iloc[0]["saving"] == everyone.iloc[0]["saving"]
    assert set(saved["area_code"].iloc[1:]) <= {"10001", "10002"}
    assert everyone.iloc[0]["saving"] == pytest.approx(everyone["saving"].iloc[1:].sum())
    assert cql.get("/download/prescribing_savings.csv?key=rx_gabapentinoid_items").status_code == 404
    assert cql.get("/download/prescribing_monthly.csv?key=aged_65_plus").status_code == 404


def test_a_practice_lead_names_only_their_cluster_after_a_national_viewer_built_the_measure(app):
    """A measure's rows are queried and disclosure-controlled once for every viewer: whoever builds them
    first (here a national viewer, who may name everyone), a practice lead still names only the practices
    of their own cluster, and sees the others only under pseudonyms, with no counts or codes."""
    national = signed_in(app, "national")
    for measure in ("rx_gabapentinoid_items", "rx_cost_per_patient"):
        assert national.get(f"/prescribing/{measure}?practice=10005").status_code == 200
        _csv(national, "prescribing_monthly", measure)
    pql = signed_in(app, "pql")
    page = pql.get("/prescribing/rx_cost_per_patient").text
    options = set(re.findall(r'<option value="(\d+)"', page))
    assert options and options <= NORTH
    assert not any(code in page for code in OUTSIDE)  # no other practice's code or name anywhere on the page
    outside = pql.get("/prescribing/rx_gabapentinoid_items?practice=10005")
    assert len(spec(outside.text)["layer"]) == 1 and "Practice 10005" not in outside.text
    own = pql.get("/prescribing/rx_gabapentinoid_items")  # a practice lead's page opens on their own line
    assert len(spec(own.text)["layer"]) == 2 and "Practice 10001" in own.text
    monthly = _csv(pql, "prescribing_monthly", "rx_gabapentinoid_items")
    hidden = monthly[monthly["practice_code"].str.startswith("Practice ")]
    assert set(monthly["practice_code"]) - set(hidden["practice_code"]) <= NORTH
    assert not set(monthly["practice_name"]) & {f"Practice {code}" for code in OUTSIDE}
    assert len(hidden) and hidden[["numerator", "denominator", "cluster_id"]].isna().all().all()
    saved = _csv(pql, "prescribing_savings", "rx_cost_per_patient")
    everyone = _csv(national, "prescribing_savings", "rx_cost_per_patient")
    assert set(saved["area_code"].iloc[1:]) <= NORTH and set(everyone["area_code"].iloc[1:]) & set(OUTSIDE)
    assert saved.iloc[0]["saving"] == everyone.iloc[0]["saving"] and saved["target"].iloc[0] == everyone["target"].iloc[0]


@pytest.mark.parametrize("user", ["national", "cql", "pql"])
@pytest.mark.parametrize("measure", ["rx_gabapentinoid_items", "rx_cost_per_patient"])
def test_the_centiles_are_taken_over_the_values_the_viewer_is_shown(app, user, measure):
    """Centiles leave the server for every viewer, so they are taken over released values: a practice the
    viewer may not name counts with its value to two significant figures (a performance measure) or not
    at all (a context measure), as in the monthly table the same viewer downloads."""
    client = signed_in(app, user)
    monthly = _csv(client, "prescribing_monthly", measure).dropna(subset=["value"])
    shown = _csv(client, "prescribing_centiles", measure).set_index("month")
    expected = monthly.groupby("month")["value"].quantile([0.1, 0.5, 0.9]).unstack()
    for column, centile in (("p10", 0.1), ("p50", 0.5), ("p90", 0.9)):
        assert shown[column].to_numpy() == pytest.approx(expected[centile].reindex(shown.index).to_numpy(), rel=1e-9)
    assert (shown["practices"] == monthly.groupby("month").size().reindex(shown.index)).all()


def test_a_lead_picks_their_practices_by_name_and_savings_list_only_real_savings(app):
    cql = signed_in(app, "cql")
    page = cql.get("/prescribing/rx_cost_per_patient").text
    options = set(re.findall(r'<option value="(\d+)"', page))
    assert options and options <= {"10001", "10002", "10004"}  # only practices the lead may see by name
    savings = re.search(r'id="savings-h">(.*?)</section>', page, re.S).group(1)
    listed = re.findall(r'<td class="num">([\d,]+)</td></tr>', savings)
    assert listed and all(amount != "0" for amount in listed)
    assert spec(page)["layer"][0]["encoding"]["x"]["timeUnit"] == "yearmonth"  # one tick per month
    outside = cql.get("/prescribing/rx_cost_per_patient?practice=10005").text
    assert "No line for practice 10005" in outside


def test_each_chosen_practice_gets_its_own_line_from_the_one_model_kept_per_measure(app):
    """The measure's model is built once per scope; a chosen practice only selects its rows. Asking for
    practice 10005 then 10006 must show each its own values, and no practice after that shows none."""
    client = signed_in(app, "national")
    lines = {}
    for code in ("10005", "10006"):
        page = client.get(f"/prescribing/rx_gabapentinoid_items?practice={code}")
        lines[code] = [p["practice"] for p in spec(page.text)["layer"][1]["data"]["values"]]
        assert f"Practice {code}" in page.text
    assert lines["10005"] != lines["10006"]
    plain = client.get("/prescribing/rx_gabapentinoid_items")
    assert len(spec(plain.text)["layer"]) == 1 and "the blue line is" not in plain.text


def test_the_deploy_step_keeps_each_measure_page_for_national_viewers(tmp_path, monkeypatch):
    """`gpcluster prepare` builds every prescribing measure's model under the key a national viewer's
    request reads, so no server process pays for it on first request."""
    from gpcluster.indicators.definition import load_catalogue
    from gpcluster.indicators.engine import compute
    from gpcluster.web import prescribing
    from gpcluster.web.access import Viewer
    from gpcluster.web.cache import ReleasedCache, full_key
    from gpcluster.web.data import WebData, pinned
    from gpcluster.web.persisted import MISSING
    from gpcluster.web.prerender import NATIONAL, prepare
    from indicators.conftest import build_fixture_warehouse

    con = build_fixture_warehouse(tmp_path / "w.duckdb")
    compute(con, [d for d in load_catalogue() if d.id.startswith("rx_")])
    con.close()
    prepare(tmp_path / "w.duckdb", processes=1)
    data = WebData(tmp_path / "w.duckdb")
    try:
        measures = prescribing.prescribing_measures(data)
        assert "rx_gabapentinoid_items" in measures
        viewer = Viewer(0, "someone", "someone", *NATIONAL)
        with pinned(data):
            for indicator_id in measures:
                kept = data.pages.get(full_key(("prescribing", indicator_id), viewer))
                assert kept is not MISSING, indicator_id
                assert {"table", "savings", "choices", "named"} <= set(kept)
    finally:
        data.close()
    # any other scope's model is then made from the rows kept by the deploy step, without a query
    def no_query(*args, **kwargs):
        raise AssertionError("the measure's monthly rows were queried again")

    monkeypatch.setattr(prescribing, "monthly_results", no_query)
    data = WebData(tmp_path / "w.duckdb")
    try:
        lead = Viewer(0, "someone", "someone", "cluster", "cluster", "S37000003/north")
        with pinned(data):
            model = prescribing.measure_model(ReleasedCache(), data, lead, "rx_gabapentinoid_items",
                                              measures["rx_gabapentinoid_items"][1])
        assert set(model["named"]["area_code"]) <= NORTH and {c for c, _ in model["choices"]} <= NORTH
    finally:
        data.close()


def test_a_practice_page_without_a_name_in_the_practice_file_goes_by_its_code(app):
    """The fixture's practice file is empty: the practice page (whose chart titles name the practice) must
    still answer, naming the practice by its code, never "nan" (a chart titled with NaN failed to render)."""
    page = signed_in(app, "national").get("/practices/10005")
    assert page.status_code == 200
    assert "<h1>10005" in page.text.replace("\n", "") or "10005</h1>" in page.text
    assert "nan" not in re.sub(r"<script.*?</script>", "", page.text, flags=re.S).split()


@pytest.mark.parametrize("lists", ["kept", "deleted"])
def test_with_no_values_the_page_says_why_and_what_to_run(tmp_path, lists):
    from gpcluster.indicators.definition import load_catalogue
    from gpcluster.indicators.engine import compute
    from gpcluster.prescribing.measures import is_prescribing
    from gpcluster.prescribing.warehouse import prescribing_coverage
    from gpcluster.store import open_store
    from gpcluster.store.accounts import add_user
    from gpcluster.web import create_app
    from indicators.conftest import build_fixture_warehouse

    con = build_fixture_warehouse(tmp_path / "w.duckdb")  # prescribing loaded
    compute(con, [d for d in load_catalogue() if not is_prescribing(d)][:1])  # no prescribing measure
    if lists == "deleted":
        con.execute("DELETE FROM list_population")
    coverage = prescribing_coverage(con)
    con.close()
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with store.session() as session:
        add_user(session, "national", PASSWORD, "national", "scotland", None, display_name="national")
    page = signed_in(create_app(tmp_path / "w.duckdb", store=store), "national").get("/prescribing")
    assert page.status_code == 200 and coverage.months > 0 and coverage.quarters
    assert "No prescribing measure has any values yet." in page.text
    if lists == "kept":
        n = len(coverage.computable)
        assert n > 0 and f"loaded for {n} quarter" in page.text and "gpcluster prescribing compute" in page.text
    else:
        assert "no practice list sizes are loaded" in page.text and "per patient on the list" in page.text
