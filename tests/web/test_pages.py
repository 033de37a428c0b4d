"""Pages as a new user reads them (issue 11): no raw values anywhere, the cluster page's parts in order,
its table's default columns and print layout, area pages, and the audit log paged and filtered."""

from __future__ import annotations

import re

import pytest
from jinja2 import ChoiceLoader, DictLoader
from warehouse_fixture import OWN_CLUSTER

#: raw values the issue found on pages: nan, negative zero, ".0" on whole numbers, None, backticks
RAW = [re.compile(p) for p in (r">\s*nan\s*<", r"\bnan\s*<", r"\bNaN\b", r">\s*-0\.0+\b", r">\s*\d{1,3}(,\d{3})+\.0\s*<",
                               r">\s*None\s*<", r"\d{2}:\d{2}:\d{2}\.\d{3,6}")]
PAGES = ["/", f"/clusters/{OWN_CLUSTER}", f"/clusters/{OWN_CLUSTER}?show=all", "/clusters/S37000030/linlithgow",
         "/practices/10001", "/practices/70002", "/indicators", "/indicators/emergency_admission_rate",
         "/indicators/high_risk_prescribing", f"/trends/high_risk_prescribing?cluster={OWN_CLUSTER}",
         f"/trends/emergency_admission_rate?cluster={OWN_CLUSTER}",
         "/hscps/S37000007", "/boards/S08000024", "/search?q=surgery", "/api/docs", "/admin/audit", "/admin/users"]


@pytest.mark.parametrize("path", PAGES)
def test_no_raw_values_on_any_page(client_for, path):
    response = client_for("admin").get(path)
    assert response.status_code == 200, path
    for pattern in RAW:
        assert not pattern.search(response.text), (path, pattern.pattern, pattern.search(response.text))
    if path == "/api/docs":
        assert "`" not in response.text and "<code>" in response.text


def test_cluster_page_reads_in_order_and_keeps_actions_due_after_the_signals(app, client_for, monkeypatch):
    from gpcluster.web.render import templates

    # the loop's _actions_due.html renders nothing without actions due: a stand-in marks its place in the layout
    monkeypatch.setattr(templates.env, "loader", ChoiceLoader(
        [DictLoader({"_actions_due.html": '<section id="actions-due">ACTIONS DUE</section>'}), templates.env.loader]))
    templates.env.cache.clear()
    text = client_for("cql").get(f"/clusters/{OWN_CLUSTER}").text
    templates.env.cache.clear()
    order = [text.index(marker) for marker in ('class="lede area-line"', 'id="signals-h"', 'id="actions-due"',
                                               'id="heat-h"', 'class="legend"', 'id="heat-caption"')]
    assert order == sorted(order)


def test_cluster_table_shows_key_indicators_by_default_and_prints_them_all(client_for):
    client = client_for("cql")
    page = client.get(f"/clusters/{OWN_CLUSTER}").text
    screen = page.split('class="screen-only"')[1].split('class="print-only"')[0]
    printed = page.split('<div class="print-only">')[1]
    # both fixture indicators are key ones; the printed tables hold every indicator whatever the choice
    assert screen.count('class="ind') == 2 and printed.count("High-risk prescribing") == 1
    only = client.get(f"/clusters/{OWN_CLUSTER}?show=high_risk_prescribing").text
    screen = only.split('class="screen-only"')[1].split('class="print-only"')[0]
    assert screen.count('class="ind') == 1 and "Emergency admissions per 1,000 patients</a>" not in screen
    assert "Emergency admissions per 1,000 patients" in only.split('<div class="print-only">')[1]
    # the flagged practice's cell is coloured as worse (higher is worse) with its symbol and words
    assert re.search(r'class="num theme-start flag-worse-strong">[\d.]+ <span aria-hidden="true">▲▲</span>'
                     r'<span class="visually-hidden"> \(much higher than expected \(worse\)\)</span>', page)


def test_hscp_page_lists_its_clusters_with_their_signals(client_for):
    text = client_for("cql").get("/hscps/S37000007").text
    assert "Dundee East" in text and "Dundee West" in text and "Linlithgow" not in text
    rows = {m.group(1): m.group(2) for m in re.finditer(
        r'<a href="/clusters/[^"]+">([^<]+)</a></th><td class="num">\d+</td>\s*<td class="num">(\d+)</td>', text)}
    assert rows == {"Dundee East": "1", "Dundee West": "1"}  # one signal worth discussing in each
    assert client_for("cql").get("/hscps/S37999999").status_code == 404


def test_audit_log_is_paged_and_filtered(app, client_for):
    from gpcluster.store import audit

    with app.state.services.store.session() as session:
        for n in range(60):
            audit.record(session, "export", user=None, target=f"cluster:test-{n:02d}", detail="csv")
    client = client_for("admin")
    first = client.get("/admin/audit?action=export&target=test-").text
    assert "60 events match the filter" in first and "Rows 1 to 50 of 60." in first
    assert "cluster:test-59" in first and "cluster:test-09" not in first  # newest first
    second = client.get("/admin/audit?action=export&target=test-&page=2").text
    assert "cluster:test-09" in second and "cluster:test-59" not in second
    assert 'href="?action=export&amp;target=test-&amp;page=1"' in second  # links keep the filters
    bad = client.get("/admin/audit?action=nonsense&since=yesterday").text
    assert "is not an action the log records" in bad and "is not a date" in bad


@pytest.mark.parametrize("user, term, found", [
    # any case, by name, in alphabetical order whatever the case (a capitalised name is not put first)
    ("admin", "surgery", ["Alpha Surgery", "Birchwood Lane Surgery", "BLUEBELL SURGERY", "Cedar Surgery"]),
    ("admin", "70003", ["BLUEBELL SURGERY"]),  # by code
    ("admin", "HEALTH c", ["Amber Health Centre", "Cypress Health Centre"]),
    ("admin", "al_ha", []),  # taken literally: no wildcard
    ("admin", "a%", []),
    ("cql", "surgery", ["Alpha Surgery"]),  # outside the cluster lead's cluster: never found by name or code
    ("cql", "70003", []),
])
def test_search_finds_practices_by_code_or_part_of_the_name_within_scope(client_for, user, term, found):
    from urllib.parse import quote

    page = client_for(user).get(f"/search?q={quote(term)}").text
    assert re.findall(r'<a href="/practices/\d+">([^<]+)</a>', page) == found


def test_a_suppressed_value_is_never_called_as_expected(client_for):
    """Against what is expected: a figure suppressed (or without a funnel) says nothing, on the practice
    page and the indicator page; 'as expected' only where the funnel found no difference."""
    client = client_for("admin")
    practice = client.get("/practices/10003").text  # its emergency admissions are suppressed this quarter
    row = next(r for r in practice.split("<tr>") if "Emergency admissions per 1,000 patients</a>" in r)
    assert row.split("</tr>")[0].rstrip().endswith("<td>–</td>"), row
    indicator = client.get("/indicators/emergency_admission_rate").text
    rows = {m.group(1): m.group(2) for m in re.finditer(
        r'<a href="/practices/(\d+)">[^<]+</a></th>(?:<td[^>]*>[^<]*</td>){2}<td[^>]*>([^<]*)</td>', indicator)}
    # 10003 suppressed, 10002 with it (the complement that would reveal it); Linlithgow's shown, no difference
    assert rows["10003"] == rows["10002"] == "–" and rows["80001"] == "as expected", rows
    assert "much higher than expected" in rows["10001"]
