"""Planner pages (issue 6): the MDT roster, coverage and model comparison in the web app, with the app's
access rules, CSRF and disclosure control. Expected figures are worked by hand from the fixture roster."""

from __future__ import annotations

import csv
import io
import re

import openpyxl
import pandas as pd
import pytest
from warehouse_fixture import DUNDEE_LIST, FORBIDDEN, HEADER, TINY, build_planner_warehouse

from conftest import csrf_from, login, make_store


@pytest.fixture(scope="module")
def planner_app(tmp_path_factory):
    """The web fixture warehouse plus populations, data zones and a roster; the app with the planner."""
    from gpcluster.web import create_app

    folder = tmp_path_factory.mktemp("planner")
    path = build_planner_warehouse(folder / "warehouse.duckdb")
    return create_app(path, store=make_store(folder))


@pytest.fixture
def client_as(planner_app):
    from fastapi.testclient import TestClient


    clients = []

    def make(username: str) -> TestClient:
        client = TestClient(planner_app, base_url="http://testserver")
        clients.append(client)
        assert login(client, username).status_code == 303
        return client

    yield make
    for c in clients:
        c.close()


def _csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.text)))


def test_home_shows_roster_summary_and_cluster_coverage_for_a_national_planner(client_as):
    page = client_as("national").get("/plan")
    assert page.status_code == 200
    assert "Roster summary" in page.text and "Dundee East" in page.text and "Linlithgow" in page.text
    # pharmacist sessions delivered: 8 + 7 + 5 = 20 x 4 h / 37.5 h = 2.13 WTE; Dundee East gets 8 x 4 = 32 hours
    summary = _csv(client_as("national").get("/plan/download/roster_summary.csv"))
    pharmacist = next(r for r in summary if r["role"] == "pharmacist")
    assert float(pharmacist["wte_delivered_here"]) == pytest.approx(20 * 4 / 37.5)
    assert pharmacist["posts"] == "3" and pharmacist["practices_covered"] == "8"
    cover = _csv(client_as("national").get("/plan/download/coverage.csv"))
    east = next(r for r in cover if r["cluster_name"] == "Dundee East" and r["role"] == "pharmacist")
    assert float(east["hours_per_week"]) == pytest.approx(32.0)
    assert float(east["wte_per_10k_patients"]) == pytest.approx(32 / 37.5 / (5200 + 8100 + 4321 + 4) * 10_000)


def test_hscp_planner_sees_only_their_partnership(client_as):
    client = client_as("hscp_lothian")
    home = client.get("/plan")
    assert "Linlithgow" in home.text and "Dundee" not in home.text
    page = client.get("/plan/compare?a=per_capita&b=need_weighted&role=pharmacist")
    assert page.status_code == 200 and "Cedar Surgery" in page.text
    assert "Alpha Surgery" not in page.text and "10001" not in page.text


def test_cluster_lead_sees_no_named_practice_outside_scope_and_no_roster(client_as):
    client = client_as("cql")
    pages = [client.get("/plan"), client.get("/plan/compare?a=per_capita&b=rurality_aware&role=pharmacist"),
             client.get("/plan/compare?a=per_capita&b=need_weighted"),
             client.get("/plan/download/practices.csv?a=per_capita&b=need_weighted"),
             client.get("/plan/download/coverage.csv")]
    assert all(p.status_code == 200 for p in pages)
    assert "Alpha Surgery" in pages[1].text  # own cluster named
    # scoped to their cluster: Dundee's budget is shared over the whole HSCP, but nothing of Dundee West shows
    for response in pages[:3]:
        assert "Dundee West" not in response.text and "Dundee East" in response.text
    east = (5200 + 8100 + 4321 + 4) / DUNDEE_LIST * 60  # Dundee's 60 pharmacist hours by list size
    assert f"against {east:.1f} under A (per capita)" in pages[1].text
    totals = _csv(client.get("/plan/download/totals.csv?a=per_capita&b=rurality_aware&role=pharmacist"))
    assert float(totals[0]["hours_a"]) == pytest.approx(east)
    assert client.get("/plan/download/equity.csv?a=per_capita&b=need_weighted").status_code == 404  # HSCP-wide
    for response in pages:
        for secret in FORBIDDEN:
            assert secret not in response.text, secret
    assert {r["practice_code"] for r in _csv(pages[3])} == {"10001", "10002", "10003", TINY}
    assert client.get("/plan/roster").status_code == 403
    assert client.get("/plan/download/roster.csv").status_code == 403
    pql = client_as("pql").get("/plan/compare?role=pharmacist")
    assert "Amber Health Centre" in pql.text and not any(s in pql.text for s in FORBIDDEN)


def test_sentences_match_hand_worked_per_capita_hours(client_as):
    page = client_as("national").get("/plan/compare?a=per_capita&b=rurality_aware&role=pharmacist")
    hours = 60 * 5200 / DUNDEE_LIST  # Dundee's 60 pharmacist hours shared by list size
    assert f"Under per capita, Alpha Surgery (5,200 patients, large urban) gets {hours:.1f} hours of pharmacist " \
           "time a week." in page.text
    assert "Under rurality-aware, Tiny Isle Surgery" in page.text


def test_edited_assumptions_rerun_the_comparison_and_need_csrf(client_as):
    client = client_as("national")
    token = csrf_from(client.get("/plan/compare").text)
    form = {"a": "per_capita", "b": "need_weighted", "role": "pharmacist", "session_hours": "3"}
    assert client.post("/plan/compare", data=form).status_code == 403
    page = client.post("/plan/compare", data={**form, "csrf_token": token})
    assert page.status_code == 200
    hours = 15 * 3 * 5200 / DUNDEE_LIST  # 15 sessions of 3 hours
    assert f"Alpha Surgery (5,200 patients, large urban) gets {hours:.1f} hours" in page.text
    assert 'name="session_hours" value="3"' in page.text
    assert "session_hours=3" in page.text  # downloads carry the override
    rows = _csv(client.get("/plan/download/practices.csv?a=per_capita&b=need_weighted&role=pharmacist&session_hours=3"))
    assert float(next(r for r in rows if r["practice_code"] == "10001")["hours_a"]) == pytest.approx(hours)
    bad = client.post("/plan/compare", data={**form, "hours_per_wte": "lots", "csrf_token": token})
    assert bad.status_code == 422 and "hours_per_wte" in bad.text and "not a number" in bad.text


def test_downloads_suppress_small_patient_counts_and_are_audited(client_as, planner_app, monkeypatch):
    from gpcluster import config
    from gpcluster.store.models import AuditEvent

    client = client_as("national")
    query = "?a=per_capita&b=rurality_aware&role=pharmacist"
    rows = {r["practice_code"]: r for r in _csv(client.get("/plan/download/practices.csv" + query))}
    assert rows[TINY]["list_size"] == "" and rows[TINY]["need_weighted_population"] == ""
    assert rows["10001"]["list_size"] == "5200"  # a count is written whole, not 5200.0
    book = openpyxl.load_workbook(io.BytesIO(client.get("/plan/download/by_urban_rural.xlsx" + query).content))
    sheet = book["by_urban_rural"]
    header = [c.value for c in sheet[1]]
    by_class = {r[header.index("urban_rural_8")]: r for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert by_class[5][header.index("list_size")] is None  # class 5 is the 4-patient practice alone
    # class 3 is two practices: fewer than disclosure_min_group (3), so no figure, only its size
    assert by_class[3][header.index("practices")] == 2 and by_class[3][header.index("list_size")] is None
    monkeypatch.setenv("GPCLUSTER_DISCLOSURE_MIN_GROUP", "2")
    config.clear_cache()
    book = openpyxl.load_workbook(io.BytesIO(client.get("/plan/download/by_urban_rural.xlsx" + query).content))
    rows3 = [r for r in book["by_urban_rural"].iter_rows(min_row=2, values_only=True) if r[header.index("urban_rural_8")] == 3]
    assert rows3[0][header.index("list_size")] == 7300 + 5900
    page = client.get("/plan/compare" + query)
    tiny_row = page.text.split("<td>Tiny Isle Surgery</td>")[1].split("</tr>")[0]
    # cluster, then list size and need-weighted population: both suppressed on the page too
    assert tiny_row.startswith('<td>Dundee East</td><td class="num">*</td><td class="num">*</td>')
    planner_app.state.services.flush_audit()
    with planner_app.state.services.store.session() as session:
        targets = {e.target for e in session.query(AuditEvent).filter_by(action="export")}
    assert {"plan:practices", "plan:by_urban_rural"} <= targets


def _upload(client, name: str, text: str, token: str | None):
    data = {"csrf_token": token} if token else {}
    return client.post("/plan/roster", data=data, files={"roster": (name, text.encode("utf-8"), "text/csv")})


def test_upload_without_csrf_is_refused(client_as):
    client = client_as("national")
    response = _upload(client, "new.csv", HEADER + "\nUNLOADED-POST-1,pharmacist,1.0,S37000007,,10001:5,2024-01-01,,,\n", None)
    assert response.status_code == 403
    assert "PH-E1" in client.get("/plan/roster").text and "UNLOADED-POST-1" not in client.get("/plan/roster").text


def test_bad_upload_lists_every_problem_and_loads_nothing(client_as):
    client = client_as("national")
    token = csrf_from(client.get("/plan/roster").text)
    bad = HEADER + "\nUNLOADED-POST-1,pharmacist,1.0,S37000007,,10001:5,2024-01-01,,,\nUNLOADED-POST-2,surgeon,1.0,S37000007,,99999:2,2024-01-01,,,\n"
    page = _upload(client, "bad roster.csv", bad, token)
    assert page.status_code == 422
    assert "nothing was loaded" in page.text and "bad roster.csv" in page.text
    problems = page.text.split('id="problems-h"')[1].split("</table>")[0]
    assert "<td class=\"num\">3</td><td>role</td>" in problems  # row 3 (header is row 1), column role
    assert "99999" in problems
    roster = client.get("/plan/roster").text
    assert "PH-E1" in roster and "UNLOADED-POST-1" not in roster
    # Excel files go through the same checks: the shipped template's example codes are not in this warehouse
    from gpcluster.workforce import template_path

    xlsx = client.post("/plan/roster", data={"csrf_token": token},
                       files={"roster": ("roster.xlsx", template_path(xlsx=True).read_bytes(),
                                         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")})
    assert xlsx.status_code == 422 and "practice code &#39;10017&#39; is not in the warehouse" in xlsx.text


def test_good_upload_replaces_the_roster(client_as):
    client = client_as("national")
    token = csrf_from(client.get("/plan/roster").text)
    good = HEADER + "\nNEW-POST-1,pharmacist,1.0,S37000007,10001,10001:5; 70001:4,2024-01-01,,lead pharmacist,1\n"
    page = _upload(client, "new.csv", good, token)
    assert page.status_code == 200 and "Loaded" in page.text and "1 posts" in page.text
    assert "NEW-POST-1" in page.text and "PH-E1" not in page.text
    summary = _csv(client.get("/plan/download/roster_summary.csv"))
    assert [(r["role"], float(r["wte_delivered_here"])) for r in summary] == [("pharmacist", pytest.approx(9 * 4 / 37.5))]
    again = _upload(client, "new.csv", good, token)
    assert "nothing changed" in again.text
    exported = client.get("/plan/roster/export.csv").text.splitlines()  # template format, loadable by the CLI
    assert exported[0] == HEADER and exported[1].startswith("NEW-POST-1,pharmacist,1,S37000007,10001,10001:5; 70001:4,")
    assert client_as("hscp_lothian").get("/plan/roster/export.csv").status_code == 403


def test_reading_an_uploaded_roster_leaves_its_version_alone(client_as, fresh_planner):
    """Every kept planner page is keyed by the roster version (the planner file's time and size): a read
    that rewrote the file (the schema step) made each request build its pages again."""
    client = client_as("national")
    token = csrf_from(client.get("/plan/roster").text)
    good = HEADER + "\nREAD-POST-1,pharmacist,1.0,S37000007,10001,10001:5,2024-01-01,,lead pharmacist,1\n"
    assert "Loaded" in _upload(client, "read.csv", good, token).text
    version = fresh_planner.read_roster_version()
    for route in ("/plan", "/plan/roster", "/plan/compare?a=per_capita&b=need_weighted", "/plan"):
        fresh_planner._ROSTERS.clear()  # read the planner file again, as a new version or process would
        assert client.get(route).status_code == 200
        assert fresh_planner.read_roster_version() == version, route
    assert "READ-POST-1" in client.get("/plan/roster").text


def test_hscp_upload_replaces_only_posts_of_their_partnership(client_as):
    hscp = client_as("hscp_lothian")
    token = csrf_from(hscp.get("/plan/roster").text)
    theirs = HEADER + "\nL-NEW,app,0.5,S37000030,80002,80001:2; 80002:2,2024-01-01,,lead physio,0.5\n"
    page = _upload(hscp, "lothian.csv", theirs, token)
    assert page.status_code == 200 and "L-NEW" in page.text and "PH-L1" not in page.text
    rows = {r["post_id"] for r in _csv(client_as("national").get("/plan/download/roster.csv"))}
    assert rows == {"PH-E1", "PH-W1", "ANP-1", "L-NEW"}  # Dundee's posts untouched
    beyond = HEADER + "\nREFUSED-POST-2,app,0.5,S37000030,80002,80001:2; 10001:2,2024-01-01,,lead physio,0.5\n"
    refused = _upload(hscp, "beyond.csv", beyond, token)
    assert refused.status_code == 422 and "practice 10001 is outside" in refused.text
    assert "REFUSED-POST-2" not in client_as("national").get("/plan/roster").text


def _post_form(**changes) -> dict:
    values = {"post_id": "PH-E1", "role": "pharmacist", "wte": "1.0", "employer": "S37000007", "base": "10001",
              "practice_sessions": "10001:3; 10002:3; 10003:2", "start_date": "2020-04-01", "end_date": "",
              "line_manager": "lead pharmacist", "gp_supervision_hours_per_week": "1", "original_post_id": "PH-E1",
              "action": "save"}
    return values | changes


def test_editing_a_post_validates_with_the_whole_roster(client_as):
    client = client_as("national")
    form = client.get("/plan/roster/post?post_id=PH-E1")
    assert form.status_code == 200 and 'value="10001:3; 10002:3; 10003:2"' in form.text
    assert 'value="2020-04-01"' in form.text and 'id="wte" name="wte" value="1"' in form.text
    token = csrf_from(form.text)
    assert client.post("/plan/roster/post", data=_post_form(wte="0.5")).status_code == 403  # no CSRF token
    bad = client.post("/plan/roster/post", data=_post_form(wte="2", csrf_token=token))
    assert bad.status_code == 422 and "<td>wte</td>" in bad.text and "1.5 WTE" in bad.text
    clash = client.post("/plan/roster/post", data=_post_form(post_id="PH-W1", csrf_token=token))
    assert clash.status_code == 422 and "already used" in clash.text
    saved = client.post("/plan/roster/post", data=_post_form(practice_sessions="10001:4", csrf_token=token))
    assert saved.status_code == 200 and "Saved post PH-E1" in saved.text
    cover = _csv(client.get("/plan/download/coverage.csv"))
    east = next(r for r in cover if r["cluster_name"] == "Dundee East" and r["role"] == "pharmacist")
    assert float(east["hours_per_week"]) == pytest.approx(16.0)  # 4 sessions x 4 hours
    gone = client.post("/plan/roster/post", data=_post_form(action="delete", csrf_token=token))
    assert "Deleted post PH-E1" in gone.text
    assert "PH-E1" not in {r["post_id"] for r in _csv(client.get("/plan/download/roster.csv"))}
    hscp = client_as("hscp_lothian")
    assert hscp.get("/plan/roster/post?post_id=PH-E1").status_code == 404  # not theirs
    assert client_as("cql").get("/plan/roster/post").status_code == 403


def test_roster_template_downloads(client_as):
    client = client_as("national")
    assert client.get("/plan/roster/template.csv").text.startswith(HEADER)
    xlsx = client.get("/plan/roster/template.xlsx")
    assert "roster" in openpyxl.load_workbook(io.BytesIO(xlsx.content)).sheetnames


def test_roster_reads_in_words_not_template_codes(client_as):
    from gpcluster.web.planner import _roster_cell

    page = client_as("national").get("/plan/roster?role=anp").text
    row = re.search(r"<tr>\s*<td>ANP-1</td>(.*?)</tr>", page, re.S)
    assert row, "the ANP post is listed"
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]
    assert "advanced nurse practitioner" in cells and "anp" not in cells
    assert "10002 (5); 70003 (4)" in cells and "10002:5; 70003:4" not in cells
    names = {"S37000007": "Dundee City HSCP", "S08000030": "NHS Tayside"}
    assert _roster_cell("S37000007", "employer", names) == "Dundee City HSCP"
    assert _roster_cell("GP practice 10001", "employer", names) == "GP practice 10001"  # not an area: as written
    assert _roster_cell(float("nan"), "end_date", names) == "open-ended"


def test_comparison_sentence_never_shows_a_negative_zero_index():
    import pandas as pd

    from gpcluster.web.planner import comparison_sentences

    class Area:
        narrow, label, plan_label = False, "Dundee", "Dundee"

    visible = pd.DataFrame({"hours_a": [10.0, 20.0], "hours_b": [12.0, 18.0], "change_hours": [2.0, -2.0],
                            "outcome": ["gains", "loses"]})
    result = {"equity": pd.DataFrame({"scenario": ["a", "b"], "concentration_index_hours_per_need": [0.0281, -0.0004]}),
              "gp_time": pd.DataFrame({"scenario": ["a", "b"], "gp_net_hours": [5.0, 5.0]})}
    text = " ".join(comparison_sentences(visible, visible.iloc[:0], result, Area(), ("per capita", "need"), None))
    assert "0.028 under A, 0.000 under B" in text and "-0.000" not in text and "towards more deprived" in text
    result["equity"]["concentration_index_hours_per_need"] = [0.0001, -0.0002]
    text = " ".join(comparison_sentences(visible, visible.iloc[:0], result, Area(), ("per capita", "need"), None))
    assert "as it was" in text and "towards" not in text and "away from" not in text


@pytest.fixture
def fresh_planner(monkeypatch):
    """The planner's kept allocations and comparisons emptied for one test (they are per process)."""
    from collections import OrderedDict

    from gpcluster.web import planner
    from gpcluster.web.cache import ReleasedCache

    # an earlier test's background thread would otherwise write its comparisons into this test's caches
    _wait_for_warm_threads(planner)
    monkeypatch.setattr(planner, "_SCENARIOS", OrderedDict())
    monkeypatch.setattr(planner, "_COMPARISONS", ReleasedCache(1024))
    monkeypatch.setattr(planner, "_KEPT_SCENARIOS", ReleasedCache(64))
    monkeypatch.setattr(planner, "_VIEWS", ReleasedCache(512))
    monkeypatch.setattr(planner, "_PAGES", ReleasedCache(256))
    monkeypatch.setattr(planner, "_FILTERED_PAGES", ReleasedCache(512))
    monkeypatch.setattr(planner, "_COMPARE_SHELLS", ReleasedCache(512))
    monkeypatch.setattr(planner, "_COMPARE_CONTEXTS", ReleasedCache(512))
    monkeypatch.setattr(planner, "_DOWNLOADS", ReleasedCache(2048))
    yield planner
    _wait_for_warm_threads(planner)


def _wait_for_warm_threads(planner, seconds: float = 60) -> None:
    import time

    deadline = time.monotonic() + seconds
    while planner._WARMING and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not planner._WARMING, "the background comparisons did not finish"


def test_shipped_assumptions_are_worked_out_in_the_server_and_every_comparison_kept(client_as, planner_app,
                                                                                    fresh_planner, monkeypatch):
    """With the shipped assumptions no worker process is asked (its start-up made the first comparison
    wait for a minute); once the allocations exist, every pair of models and role is derived in the
    background, and a kept comparison is the one derive_comparison gives."""
    from gpcluster.web.access import Viewer
    from gpcluster.workforce.params import load_assumptions, model_names

    async def no_worker(*args, **kwargs):
        raise AssertionError("a worker process was asked for the shipped assumptions")

    monkeypatch.setattr(planner_app.state.services.jobs, "run", no_worker)
    # as if no server process had kept a page on disk yet (else the background thread skips those pages)
    monkeypatch.setattr(fresh_planner, "kept_blocks", lambda *args, **kwargs: None)
    client = client_as("national")
    page = client.get("/plan/compare?a=per_capita&b=rurality_aware&role=pharmacist")
    assert page.status_code == 200 and "Under per capita, Alpha Surgery" in page.text
    _wait_for_warm_threads(fresh_planner)
    kept = [key for key in fresh_planner._COMPARISONS._items if key[0][1] == ("scotland",)]
    found = next(iter(fresh_planner._SCENARIOS.values()))
    pairs = len(model_names()) * (len(model_names()) - 1)
    assert len(kept) == pairs * (len(found.roles) + 1)
    viewer = Viewer(0, "x", "x", "national", "scotland", None)
    area = fresh_planner.planning_area(planner_app.state.planner_source, viewer)
    for role in (None, "pharmacist"):
        fresh = fresh_planner.derive_comparison(found, area, "need_weighted", "swf_approx", role, load_assumptions())
        kept_one = fresh_planner.derived_comparison(found, viewer, area, "need_weighted", "swf_approx", role,
                                                    load_assumptions())
        assert kept_one.sentences == fresh.sentences and kept_one.shown == fresh.shown
        for name, table in fresh.tables.items():
            pd.testing.assert_frame_equal(kept_one.tables[name], table)


def test_plain_words_of_filtered_practices_are_the_per_practice_sentences(client_as, planner_app, fresh_planner):
    """The comparison page's plain words come from one pass over each allocation; they must be exactly the
    sentences workforce.plain.describe_practice gives practice by practice (as the CLI prints them), in the
    page's order: practice by practice, A then B, only practices the viewer may name."""
    from gpcluster.web.access import Viewer
    from gpcluster.workforce.params import model_names
    from gpcluster.workforce.plain import describe_practice

    page = client_as("national").get("/plan/compare?a=per_capita&b=rurality_aware&role=pharmacist&q=alpha")
    assert page.status_code == 200 and "In plain words" in page.text
    found = next(iter(fresh_planner._SCENARIOS.values()))
    viewer = Viewer(0, "x", "x", "national", "scotland", None)
    area = fresh_planner.planning_area(planner_app.state.planner_source, viewer)
    codes = sorted(area.practices["practice_code"])
    for model_a, model_b in zip(model_names(), model_names()[1:], strict=False):
        for role in found.roles:
            expected = [sentence for code in codes for model in (model_a, model_b)
                        for sentence in describe_practice(found.allocations[model], area.practices, code, role)]
            assert expected
            assert fresh_planner.describe_practices(found, area, model_a, model_b, role, codes) == expected
    expected = describe_practice(found.allocations["per_capita"], area.practices, codes[0], found.roles[0])
    area.named.discard(codes[0])
    try:
        assert not set(expected) & set(fresh_planner.describe_practices(found, area, "per_capita", "need_weighted",
                                                                         found.roles[0], codes))
    finally:
        area.named.add(codes[0])
    _wait_for_warm_threads(fresh_planner)


def test_edited_assumptions_go_to_a_worker(client_as, planner_app, fresh_planner, monkeypatch):
    from gpcluster.web.jobs import JobRefused

    asked = []

    async def refuse(*args, **kwargs):
        asked.append(args)
        raise JobRefused("busy")

    monkeypatch.setattr(planner_app.state.services.jobs, "run", refuse)
    page = client_as("national").get("/plan/compare?a=per_capita&b=need_weighted&session_hours=3")
    assert page.status_code == 429 and asked


def test_tables_are_formatted_as_formatting_cell_formats_each_cell():
    """display() rounds whole columns at once; every cell must read as formatting.cell gives it (half up,
    no negative zero, thousands separators, '*' for a blanked count, '–' for a missing figure)."""
    from datetime import date

    from gpcluster.web import formatting
    from gpcluster.web.planner import display

    frame = pd.DataFrame({
        "practice_name": ["Alpha", None, "Gamma", "Delta"],
        "list_size": [15133.0, float("nan"), 4.0, 2.5],
        "hours_a": [2.675, -0.004, 1234.5, float("nan")],
        "change_pct": [-0.04, 12.25, float("nan"), 100.0],
        "practices": [3, 1, 12, 7],
        "tiny": [0.0123, 0.05, 0.0449, 0.0],
        "viable": [True, False, True, False],
        "end_date": [date(2025, 3, 1), None, None, date(2024, 1, 1)],
    })
    shown = display(frame)
    digits = {c: formatting.column_digits(frame[c], c) for c in ("hours_a", "change_pct", "tiny")}
    for i in range(len(frame)):
        texts = [text for text, _ in shown["rows"][i]]
        assert texts[0] == formatting.cell(frame["practice_name"][i], "practice_name")
        assert texts[1] == ("*" if i == 1 else formatting.whole(frame["list_size"][i]))
        assert texts[2] == formatting.cell(frame["hours_a"][i], "hours_a", False, digits["hours_a"])
        assert texts[3] == formatting.cell(frame["change_pct"][i], "change_pct", False, digits["change_pct"])
        assert texts[4] == formatting.whole(frame["practices"][i])
        assert texts[5] == formatting.cell(frame["tiny"][i], "tiny", False, digits["tiny"])
        assert texts[6] == ("yes" if frame["viable"][i] else "no")
        assert texts[7] == formatting.cell(frame["end_date"][i], "end_date")
    assert [t for t, _ in shown["rows"][0]][2] == "2.68"  # half up, where Python's round gives 2.67
    assert [t for t, _ in shown["rows"][1]][2] == "0.00"  # -0.004 at 2 decimals: never "-0.00"
    assert [numeric for _, numeric in shown["rows"][0]] == [False, True, True, True, True, True, False, False]


def test_search_looks_in_each_column_on_its_own():
    from gpcluster.web.planner import filtered, searchable

    frame = pd.DataFrame({"practice_name": ["Alpha Surgery", "Beta Practice", "Gamma"],
                          "cluster_name": ["North", "Alpha North", "South"], "outcome": ["gains", "loses", "gains"]})
    search = ("practice_name", "cluster_name")
    kept = searchable(frame, search)
    assert filtered(frame, "ALPHA", search, kept)["practice_name"].tolist() == ["Alpha Surgery", "Beta Practice"]
    assert filtered(frame, "alpha", search, kept, outcome="gains")["practice_name"].tolist() == ["Alpha Surgery"]
    # a search never matches across two columns ("Surgery" + "North")
    assert filtered(frame, "surgery\nnorth", search, kept).empty and filtered(frame, "surgerynorth", search, kept).empty
    assert filtered(frame, "", search, kept).equals(frame)


def test_an_exact_filter_on_kept_texts_chooses_the_rows_the_column_itself_does():
    """A comparison keeps its outcome and HSCP columns as filter_texts(); filtering on them must choose
    exactly the rows filtering the column does (a missing value matches no filter, numbers match as text)."""
    import numpy as np

    from gpcluster.web.planner import filter_mask, filter_texts

    frame = pd.DataFrame({"outcome": pd.Series(["gains", None, "loses", "gains"], dtype="string[pyarrow]"),
                          "hscp_code": pd.Series(["S37000030", "S37000030", None, "S37000012"], dtype=object),
                          "urban_rural_8": [1, 2, 1, 8]})
    texts = {c: filter_texts(frame[c]) for c in frame.columns}
    for filters in ({"outcome": "gains"}, {"outcome": "loses", "hscp_code": ""}, {"hscp_code": "S37000030"},
                    {"outcome": "gains", "hscp_code": "S37000012"}, {"urban_rural_8": "1"}, {"outcome": "no change"}):
        kept = filter_mask(frame, texts=texts, **filters)
        assert np.array_equal(kept, filter_mask(frame, **filters))
        expected = np.ones(len(frame), dtype=bool)
        for column, value in filters.items():
            if value:
                expected &= np.array([v is not None and not pd.isna(v) and str(v) == value for v in frame[column]])
        assert np.array_equal(kept, expected), filters


def test_no_assumption_in_the_query_leaves_the_shipped_assumptions_as_they_are():
    """A page's filters and page number are not assumptions: the shipped ones are used as they are (not
    checked again on every request); a given number still makes new assumptions, and a bad one is refused."""
    from gpcluster.web.planner import apply_overrides
    from gpcluster.workforce.params import load_assumptions

    base = load_assumptions()
    same, problems = apply_overrides(base, {"outcome": "gains", "q": "glen", "page": "2", "session_hours": " "})
    assert same is base and problems == []
    edited, problems = apply_overrides(base, {"session_hours": "3", "q": "glen",
                                              "gp_hours_released_per_mdt_hour.pharmacist": "0.5"})
    assert problems == [] and edited.session_hours.value == 3
    assert edited.gp_hours_released_per_mdt_hour.values["pharmacist"] == 0.5 and edited != base
    assert edited.cache_key == edited.model_dump_json() != base.cache_key
    unchanged, problems = apply_overrides(base, {"session_hours": "lots"})
    assert unchanged is base and problems == ["session_hours: 'lots' is not a number"]


def test_the_planner_follows_a_new_warehouse_version():
    """A load publishes a new warehouse version while the app serves: the planner plans over it (everything
    it keeps is keyed by the version's file), not over the version it first saw."""
    from pathlib import Path
    from types import SimpleNamespace

    from gpcluster.web.planner import planner_source

    data = SimpleNamespace(file=Path("/w/000001.duckdb"), synthetic=True, clusters={}, latest_period=None)
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(services=SimpleNamespace(data=data))))
    first = planner_source(request)
    assert first.warehouse == "/w/000001.duckdb" and planner_source(request) is first
    data.file = Path("/w/000002.duckdb")
    assert planner_source(request).warehouse == "/w/000002.duckdb"


def test_search_text_of_a_practice_with_no_cluster_name():
    """A practice outside every cluster has no cluster name: its search text is built, not a TypeError
    (which broke the comparison pages of the browser tests' Scotland)."""
    import pandas as pd

    from gpcluster.web.planner import searchable

    frame = pd.DataFrame({"practice_name": ["Hill Surgery", "Glen Practice"], "practice_code": ["10001", "10002"],
                          "cluster_name": pd.Series(["North", None], dtype="string")})
    assert searchable(frame, ("practice_name", "practice_code", "cluster_name")) == [
        "hill surgery\n10001\nnorth", "glen practice\n10002\n"]


def test_a_kept_comparison_page_carries_each_requests_own_csrf_token(client_as):
    """The comparison page is rendered once per comparison and scope and kept; its form's token is the
    requester's own, so a second user's page (served from the kept one) posts with theirs, not the first's."""
    first, second = client_as("national"), client_as("national")
    url = "/plan/compare?a=per_capita&b=need_weighted&role=pharmacist"
    first_page, second_page = first.get(url).text, second.get(url).text
    first_token, second_token = csrf_from(first_page), csrf_from(second_page)
    assert first_token != second_token
    assert "gpcluster-csrf-slot" not in first_page + second_page
    assert first_page.split("<main")[1].replace(first_token, "") == second_page.split("<main")[1].replace(
        second_token, "")
    form = {"a": "per_capita", "b": "need_weighted", "role": "pharmacist"}
    assert second.post("/plan/compare", data={**form, "csrf_token": second_token}).status_code == 200
    assert second.post("/plan/compare", data={**form, "csrf_token": first_token}).status_code == 403


def test_a_comparison_page_one_server_process_rendered_is_served_by_another_without_working_it_out(
        client_as, planner_app, fresh_planner, monkeypatch):
    """The unfiltered comparison pages (shipped assumptions) are kept on disk beside the warehouse
    version: a server process that has worked nothing out serves them as they are, with its own CSRF
    token. A filtered page is built from the allocations kept on disk too, without working them out."""
    from collections import OrderedDict

    from gpcluster.web.cache import ReleasedCache

    url = "/plan/compare?a=need_weighted&b=per_capita&role=pharmacist"
    client = client_as("national")
    first = client.get(url)
    assert first.status_code == 200 and "Alpha Surgery" in first.text
    _wait_for_warm_threads(fresh_planner)

    # another process: nothing in memory, and no allocation may be worked out
    for name, empty in (("_SCENARIOS", OrderedDict()), ("_COMPARISONS", ReleasedCache(1024)),
                        ("_VIEWS", ReleasedCache(512)), ("_PAGES", ReleasedCache(256)),
                        ("_FILTERED_PAGES", ReleasedCache(512)), ("_KEPT_SCENARIOS", ReleasedCache(64)),
                        ("_COMPARE_SHELLS", ReleasedCache(512)), ("_COMPARE_CONTEXTS", ReleasedCache(512))):
        monkeypatch.setattr(fresh_planner, name, empty)
    worked_out = []

    def refuse(*args, **kwargs):
        from gpcluster.errors import UserError

        worked_out.append(args)
        raise UserError("worked out again")

    monkeypatch.setattr(fresh_planner, "scenarios_for", refuse)
    other = client_as("national")
    again = other.get(url)
    assert again.status_code == 200 and not worked_out

    def without_token(text: str) -> str:
        return re.sub(r'name="csrf_token" value="[^"]*"', "", text)

    assert without_token(again.text) == without_token(first.text)
    assert csrf_from(again.text) != csrf_from(first.text)  # the other session's own token

    filtered = other.get(url + "&outcome=gains")
    assert filtered.status_code == 200 and "Who gains" in filtered.text and not worked_out


def test_a_change_in_hours_reads_at_the_precision_of_the_hours():
    """Who gains and who loses showed 'change (hours)' to two decimals beside hours to one (-13.01 beside
    163.3 and 150.3) while the sentences gave -13.0: the change takes the hours' decimals."""
    from gpcluster.web.planner import column_decimals, display

    frame = pd.DataFrame({"hours_a": [163.3, 81.6, 12.0], "hours_b": [150.29, 75.1, 14.4],
                          "change_hours": [-13.01, -6.5, 2.4]})
    assert column_decimals(frame) == {"hours_a": 1, "hours_b": 1, "change_hours": 1}
    assert [row[2][0] for row in display(frame)["rows"]] == ["-13.0", "-6.5", "2.4"]
    small = pd.DataFrame({"hours_a": [3.21, 4.5], "hours_b": [3.0, 4.75], "change_hours": [-0.21, 0.25]})
    assert column_decimals(small)["change_hours"] == 2  # small hours keep their two decimals


def _dundee_east_pharmacist_hours(client) -> float:
    cover = _csv(client.get("/plan/download/coverage.csv"))
    return float(next(r for r in cover if r["cluster_name"] == "Dundee East" and r["role"] == "pharmacist")
                 ["hours_per_week"])


def _kept_planner_pages(client) -> dict[str, str]:
    """The planner pages that are kept once rendered (home, roster and its filters, the edit form)."""
    urls = ["/plan", "/plan?role=pharmacist", "/plan/roster", "/plan/roster?role=pharmacist",
            "/plan/roster?q=10001", "/plan/roster/post?post_id=PH-E1"]
    pages = {url: client.get(url) for url in urls}
    assert all(p.status_code == 200 for p in pages.values())
    return {url: p.text for url, p in pages.items()}


def test_a_saved_post_shows_at_once_on_every_kept_planner_page(client_as):
    """The page a save answers with, and every kept page after it, reads the roster as saved: the kept
    pages are keyed by the roster's version, read again once the request has written it."""
    client = client_as("national")
    before = _kept_planner_pages(client)
    assert 'value="10001:3; 10002:3; 10003:2"' in before["/plan/roster/post?post_id=PH-E1"]
    assert "10001 (3)" in before["/plan/roster"] and _dundee_east_pharmacist_hours(client) == pytest.approx(32.0)
    token = csrf_from(before["/plan/roster/post?post_id=PH-E1"])
    saved = client.post("/plan/roster/post", data=_post_form(practice_sessions="10001:4", csrf_token=token))
    assert saved.status_code == 200 and "Saved post PH-E1" in saved.text
    assert "10001 (4)" in saved.text and "10001 (3)" not in saved.text  # the answer itself reads the new roster
    after = _kept_planner_pages(client)
    assert 'value="10001:4"' in after["/plan/roster/post?post_id=PH-E1"]
    assert "10001 (4)" in after["/plan/roster"] and "10001 (3)" not in after["/plan/roster"]
    assert "10001 (4)" in after["/plan/roster?q=10001"] and "10001 (4)" in after["/plan/roster?role=pharmacist"]
    assert after["/plan"] != before["/plan"] and after["/plan?role=pharmacist"] != before["/plan?role=pharmacist"]
    assert _dundee_east_pharmacist_hours(client) == pytest.approx(16.0)


def test_a_roster_another_process_loads_shows_at_once_on_every_kept_planner_page(client_as, planner_app):
    """A second process (another server process, or a worker) writes the planner database: this one's
    kept pages, tables and allocations are keyed by the roster's version on disk, read at each request's
    start, so its next request of every kind reads the new roster."""
    import subprocess
    import sys

    client = client_as("national")
    before = _kept_planner_pages(client)
    compare = "/plan/compare?a=per_capita&b=need_weighted&role=pharmacist"
    compare_before = client.get(compare).text
    assert _dundee_east_pharmacist_hours(client) == pytest.approx(32.0)
    exported = client.get("/plan/roster/export.csv").text
    assert "10001:3; 10002:3; 10003:2" in exported
    folder = planner_app.state.services.data.file.parent
    edited = folder / "edited-elsewhere.csv"
    edited.write_text(exported.replace("10001:3; 10002:3; 10003:2", "10001:4"), encoding="utf-8")
    script = ("import sys; from pathlib import Path; from gpcluster.web.planner import PlannerSource, import_uploaded; "
              "import_uploaded(PlannerSource(sys.argv[1], sys.argv[2] == 'True', {}, None), Path(sys.argv[3]))")
    data = planner_app.state.services.data
    subprocess.run([sys.executable, "-c", script, str(data.file), str(data.synthetic), str(edited)], check=True)

    after = _kept_planner_pages(client)
    assert 'value="10001:4"' in after["/plan/roster/post?post_id=PH-E1"]
    assert "10001 (4)" in after["/plan/roster"] and "10001 (3)" not in after["/plan/roster"]
    assert "10001 (4)" in after["/plan/roster?q=10001"] and "10001 (4)" in after["/plan/roster?role=pharmacist"]
    assert "uploaded in the web app" in after["/plan/roster"] and "uploaded in the web app" not in before["/plan/roster"]
    assert after["/plan"] != before["/plan"]
    assert _dundee_east_pharmacist_hours(client) == pytest.approx(16.0)
    assert client.get(compare).text != compare_before


def test_a_kept_download_is_audited_each_time_and_checked_for_the_viewer(client_as, planner_app):
    """A download made once is served from what is kept, but every download is still audited, and the
    roster stays a planner's alone."""
    from gpcluster.store.models import AuditEvent

    client = client_as("national")
    url = "/plan/download/gp_time.csv?a=need_weighted&b=rurality_aware&role=pharmacist"
    planner_app.state.services.flush_audit()
    with planner_app.state.services.store.session() as session:
        before = session.query(AuditEvent).filter_by(action="export", target="plan:gp_time").count()
    first, second = client.get(url), client.get(url)
    assert first.status_code == second.status_code == 200 and first.content == second.content
    planner_app.state.services.flush_audit()
    with planner_app.state.services.store.session() as session:
        assert session.query(AuditEvent).filter_by(action="export", target="plan:gp_time").count() == before + 2
    assert client.get("/plan/download/roster.csv").status_code == 200  # kept for the national scope
    assert client_as("cql").get("/plan/download/roster.csv").status_code == 403


def test_the_roster_summary_tells_posts_in_post_today_from_ended_and_future_ones():
    """The roster page lists every post; the planner's home page counts those in post today (as
    read_roster_tables does: started on or before today, ending today or later, or open-ended)."""
    from datetime import date
    from types import SimpleNamespace

    import pandas as pd

    from gpcluster.web.planner import roster_sentences

    posts = pd.DataFrame({"post_id": ["a", "b", "c", "d"], "role": ["pharmacist"] * 4, "wte": [1.0, 0.5, 0.8, 1.0],
                          "practices_elsewhere": [0] * 4,
                          "start_date": [date(2022, 1, 1), date(2022, 1, 1), date(2021, 1, 1), date(2027, 1, 1)],
                          "end_date": [None, date(2026, 11, 30), date(2025, 3, 31), None]})
    sentences = roster_sentences(posts, SimpleNamespace(label="West Lothian"), today=date(2026, 11, 30))
    assert sentences[0].startswith("4 posts (3.3 WTE) in the roster for practices in West Lothian")
    assert sentences[1] == ("2 posts (1.5 WTE) are in post today, as the planner's home page and comparisons "
                            "count them; 1 ended, 1 not yet started.")
    assert sentences[-1] == "2 posts have no end date."


def test_the_deploy_step_keeps_every_comparison_and_a_roster_edit_is_worked_out_anew(client_as, planner_app,
                                                                                     fresh_planner, monkeypatch):
    """prepare_planner (run by `gpcluster prepare`) keeps, per viewer scope, the allocations, every
    comparison and every unfiltered comparison page on disk under the keys requests use, and that page
    with who gains and who loses left as a slot for filtered pages. A server process with nothing in
    memory then derives none of them (nor starts deriving them in the background), renders only a
    filtered page's own part, and its pages are exactly those it derives itself; an HSCP's still show
    only that HSCP. After a roster
    edit the kept ones no longer apply: the next comparison is worked out from the edited roster."""
    import time
    from collections import OrderedDict

    from gpcluster.web.access import Viewer
    from gpcluster.web.cache import ReleasedCache
    from gpcluster.web.data import pinned

    data = planner_app.state.services.data.current
    national, lothian = client_as("national"), client_as("hscp_lothian")
    urls = [(national, "/plan/compare?a=per_capita&b=need_weighted&role=pharmacist"),
            (national, "/plan/compare?a=swf_approx&b=per_capita"),
            (national, "/plan/compare?a=per_capita&b=need_weighted&role=pharmacist&q=alpha"),
            (lothian, "/plan/compare?a=per_capita&b=need_weighted&role=pharmacist")]

    def pages() -> list[str]:
        answers = [client.get(url) for client, url in urls]
        assert all(a.status_code == 200 for a in answers)
        return [re.sub(r'name="csrf_token" value="[^"]+"', "", a.text) for a in answers]

    def empty_memory() -> None:  # as a server process that has kept nothing yet
        _wait_for_warm_threads(fresh_planner)
        for name, size in (("_COMPARISONS", 1024), ("_VIEWS", 512), ("_PAGES", 256), ("_FILTERED_PAGES", 512),
                           ("_KEPT_SCENARIOS", 64), ("_COMPARE_SHELLS", 512), ("_COMPARE_CONTEXTS", 512)):
            monkeypatch.setattr(fresh_planner, name, ReleasedCache(size))
        monkeypatch.setattr(fresh_planner, "_SCENARIOS", OrderedDict())

    with monkeypatch.context() as nothing_on_disk:
        nothing_on_disk.setattr(data.pages, "enabled", False)
        derived_here = pages()
        empty_memory()

    with pinned(data):
        done = [fresh_planner.prepare_planner(fresh_planner.source_of(data), Viewer(0, "p", "p", *scope))
                for scope in (("national", "scotland", None), ("hscp", "hscp", "S37000030"))]
    assert done[0] == 20 * (1 + 2) and done[1] > 0  # each ordered pair of five models, all roles and each role
    empty_memory()
    calls = []
    for name in ("derive_comparison", "scenarios_job"):
        original = getattr(fresh_planner, name)
        monkeypatch.setattr(fresh_planner, name, lambda *args, _f=original, _n=name, **kw: calls.append(_n) or _f(*args, **kw))
    real_part, parts = fresh_planner.render_part, []
    monkeypatch.setattr(fresh_planner, "render_part",
                        lambda name, context: parts.append(name) or real_part(name, context))
    assert pages() == derived_here
    assert parts == [fresh_planner.PRACTICES_PART]  # the filtered page's own part; its page with a slot read
    time.sleep(0.5)  # a background thread would have started deriving by now
    assert calls == [] and not fresh_planner._WARMING
    assert "Alpha Surgery" in derived_here[0] and "Alpha Surgery" not in derived_here[3]

    form = national.get("/plan/roster/post?post_id=PH-E1").text
    saved = national.post("/plan/roster/post", data=_post_form(wte="0.8", practice_sessions="10001:4",
                                                               csrf_token=csrf_from(form)))
    assert saved.status_code == 200 and "Saved post PH-E1" in saved.text
    edited = pages()
    assert "derive_comparison" in calls and "scenarios_job" in calls
    assert edited[0] != derived_here[0] and edited[3] == derived_here[3]  # Lothian has no post PH-E1


def test_a_comparison_kept_on_disk_reads_back_every_formatted_cell():
    """A comparison is pickled into the page store with its formatted cells packed a column at a time;
    every row must read back exactly as display() made it, and a text that holds the packing's separator
    keeps the cells as they were."""
    import pickle

    from gpcluster.web.planner import PRACTICE_LABELS, Comparison, display

    frame = pd.DataFrame({"practice_name": ["Alpha Surgery", "Beta – Health Centre", None],
                          "list_size": [1234, 5, 987654], "hours_a": [1.25, -0.004, float("nan")]})
    cells = display(frame, PRACTICE_LABELS)
    comparison = Comparison(tables={"practices": frame}, sentences=["s"], hidden=0, labels=("a", "b"),
                            practice_cells=cells)
    back = pickle.loads(pickle.dumps(comparison, protocol=pickle.HIGHEST_PROTOCOL))
    assert back.practice_cells["columns"] == cells["columns"]
    assert len(back.practice_cells["rows"]) == 3
    assert [back.practice_cells["rows"][i] for i in range(3)] == cells["rows"]
    assert back.practice_cells["rows"][1:] == cells["rows"][1:]
    assert ("-0.00", True) not in [cell for row in cells["rows"] for cell in row]  # display's own rule, kept

    odd = {"columns": ["practice"], "rows": [[("A\x1fB", False)], [("C", False)]]}
    comparison.practice_cells = odd
    assert pickle.loads(pickle.dumps(comparison)).practice_cells == odd


def test_a_filtered_comparison_page_is_the_page_rendered_whole(client_as, fresh_planner, monkeypatch):
    """A filtered page renders only who gains and who loses into its comparison's page rendered once with
    that part left as a slot: the result is, byte for byte, compare.html rendered whole with the same
    context (the part included), for every filter and page, and carries the request's CSRF token."""
    import threading

    from gpcluster.web import render

    parts = []
    real_part = fresh_planner.render_part

    def capture(name, context):
        if threading.current_thread().name != "gpcluster-planner-warm":  # not the background comparisons'
            parts.append(context)
        return real_part(name, context)

    monkeypatch.setattr(fresh_planner, "render_part", capture)
    client = client_as("national")
    base = "/plan/compare?a=per_capita&b=need_weighted&role=pharmacist"
    for filters in ("&outcome=gains", "&q=Dundee", "&outcome=loses&page=2", "&q=Alpha", "&q=nothing-matches"):
        response = client.get(base + filters)
        assert response.status_code == 200 and "Who gains" in response.text
        whole = render._blocks.get_template("planner/compare.html").render(
            **parts[-1], request=None, viewer=None, csrf_token=render.CSRF_SLOT).split(render._BLOCKS_SPLIT)[0]
        assert "practices_html" not in parts[-1] and fresh_planner.PRACTICES_SLOT not in response.text
        assert whole.replace(render.CSRF_SLOT, csrf_from(response.text)) in response.text
    # the unfiltered page's part is the same template's (included): its rows under the same heading
    assert client.get(base).text.count('<h2 id="practices-h">Who gains and who loses</h2>') == 1


def test_rows_written_as_html_read_as_the_table_macro_writes_their_cells():
    """A filtered comparison page writes its rows' cells in Python (planner.row_html): the table is, byte for
    byte, frame_table's with the cells written by Jinja, for text needing escapes, numbers, suppressed and
    missing cells and empty text."""
    import numpy as np

    from gpcluster.web import render
    from gpcluster.web.planner import PRACTICE_LABELS, display, row_html

    frame = pd.DataFrame({"practice_name": ["O'Brien & <Sons>", 'A "quoted" one', "", "Plain"],
                          "list_size": [1200, 4, None, 15000], "hours_a": [1.25, np.nan, -0.0, 12345.678],
                          "outcome": ["gains", "loses", "no change", None]})
    table = display(frame, PRACTICE_LABELS)
    assert any(numeric for row in table["rows"] for _, numeric in row)
    macro = render._blocks.from_string('{% from "planner/_macros.html" import frame_table %}'
                                       '{{ frame_table(table, "Who gains", "practices") }}')
    written = macro.render(table={"columns": table["columns"], "rows": [row_html(r) for r in table["rows"]]})
    assert written == macro.render(table=table)
    assert "O&#39;Brien &amp; &lt;Sons&gt;" in written and "&#34;quoted&#34;" in written


def _outside_practices(text: str) -> str:
    """A comparison page without who gains and who loses, its CSRF token removed."""
    start = text.index('<section aria-labelledby="practices-h">')
    return re.sub(r'name="csrf_token" value="[^"]*"', "", text[:start] + text[text.index("</section>", start):])


def _toggle_ph_e1(client) -> None:
    """Save post PH-E1 with other sessions than it has now (whatever earlier tests left)."""
    form = client.get("/plan/roster/post?post_id=PH-E1").text
    sessions = "10001:5" if 'value="10001:5"' not in form else "10001:3; 10002:3; 10003:2"
    saved = client.post("/plan/roster/post", data=_post_form(practice_sessions=sessions, csrf_token=csrf_from(form)))
    assert saved.status_code == 200 and "Saved post PH-E1" in saved.text


def test_a_saved_post_shows_at_once_on_filtered_comparisons_and_kept_downloads(client_as, planner_app,
                                                                              fresh_planner, monkeypatch):
    """Filtered comparison pages (their comparison's page kept with a slot) and comparison CSVs (kept on
    disk for every server process) are keyed by the roster's version: after a saved post the next view
    shows the new allocation, and a CSV kept on disk is served to another process without being made
    again until the roster changes."""
    from gpcluster.web.cache import ReleasedCache

    client = client_as("national")
    query = "?a=per_capita&b=need_weighted&role=pharmacist"
    pages = [f"/plan/compare{query}&q=Dundee", f"/plan/compare{query}&outcome=gains"]
    download = f"/plan/download/practices.csv{query}"
    before = {url: client.get(url).text for url in [*pages, download]}
    _toggle_ph_e1(client)
    after = {url: client.get(url).text for url in [*pages, download]}
    for url in before:
        assert after[url] != before[url], url
    # the rest of a filtered page (the comparison's figures, kept with a slot) is the unfiltered page's,
    # which is rendered whole for this roster version: a kept part read from the old roster would differ
    unfiltered = _outside_practices(client.get(f"/plan/compare{query}").text)
    assert all(_outside_practices(after[url]) == unfiltered for url in pages)
    rows = {r["practice_code"]: r for r in _csv(client.get(download))}
    assert TINY in rows and rows[TINY]["list_size"] == ""  # disclosure control holds on what is kept

    # another server process: nothing in memory; the CSV is read from disk, not made again
    made = []
    real_csv = fresh_planner.csv_bytes

    def counting(*args, **kwargs):
        made.append(args)
        return real_csv(*args, **kwargs)

    monkeypatch.setattr(fresh_planner, "csv_bytes", counting)
    # the roster's version held still (a read of the planner database by a background thread can touch
    # the file, which is a new version: kept entries are then made anew, never served stale)
    real_version = fresh_planner.read_roster_version
    held = real_version()
    monkeypatch.setattr(fresh_planner, "read_roster_version", lambda: held)
    assert client.get(download).text == after[download]
    made.clear()
    monkeypatch.setattr(fresh_planner, "_DOWNLOADS", ReleasedCache(2048))
    assert client_as("national").get(download).text == after[download] and not made
    monkeypatch.setattr(fresh_planner, "read_roster_version", real_version)
    _toggle_ph_e1(client)  # a new roster version: made anew, and the same as before the two edits
    assert client.get(download).text == before[download] and len(made) == 1


def test_hscp_filter_lists_hscps_by_name_not_by_code(monkeypatch):
    """The four HSCPs whose codes changed in 2018-19 (Fife S37000032, Perth & Kinross S37000033, Glasgow City
    S37000034, North Lanarkshire S37000035) were listed after Western Isles (S37000031): found reading the
    national comparison page in Chromium."""
    from types import SimpleNamespace

    from gpcluster.web import planner

    names = {"S37000034": "Glasgow City", "S37000031": "Western Isles", "S37000001": "Aberdeen City",
             "S37000032": "Fife", "S37000035": "North Lanarkshire", "S37000014": "east lothian (lower case)"}
    monkeypatch.setattr(planner, "_planning_inputs", lambda source: (None, None, names))
    practices = pd.DataFrame({"practice_code": [f"{n:05d}" for n in range(len(names) + 1)],
                              "hscp_code": [*names, None]})
    area = SimpleNamespace(practices=practices)
    options = planner._hscp_options(None, area, frozenset(practices["practice_code"]))
    assert [name for _, name in options] == ["Aberdeen City", "east lothian (lower case)", "Fife", "Glasgow City",
                                             "North Lanarkshire", "Western Isles"]
    assert dict(options) == names
    assert planner._hscp_options(None, area, frozenset({"00000"})) == []  # one HSCP: no filter to offer


def test_practices_that_gain_are_listed_largest_gain_first(client_as, planner_app, fresh_planner):
    """Filtered to those who gain, the list began with the smallest gain (the rows run from the largest
    loss): a planner looking at gains wants the largest first. Every other filter keeps the largest loss first."""
    client = client_as("national")
    base = "/plan/compare?a=per_capita&b=need_weighted&role=pharmacist"

    def changes(text: str) -> tuple[str, list[float]]:
        section = text[text.index('<h2 id="practices-h">'):]
        caption = re.search(r"Practices you may see by name, ([a-z ]+)\.", section).group(1)
        table = section[section.index("<table"):section.index("</table>")]
        header = re.findall(r"<th[^>]*>(.*?)</th>", table)
        at = header.index("change (hours)")
        rows = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)]
        return caption, [float(row[at].replace("−", "-").replace(",", "")) for row in rows if row]

    caption, gains = changes(client.get(base + "&outcome=gains").text)
    assert caption == "largest gain first" and len(gains) > 1 and all(c > 0 for c in gains)
    assert gains == sorted(gains, reverse=True)
    caption, everyone = changes(client.get(base).text)
    assert caption == "largest loss first" and everyone == sorted(everyone) and everyone[0] < 0
    caption, losses = changes(client.get(base + "&outcome=loses").text)
    assert caption == "largest loss first" and losses == sorted(losses) and all(c < 0 for c in losses)
