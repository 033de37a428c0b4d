"""End to end in Debian's Chromium (Playwright, no browser download): a CQL's journey, every page as every
role checked with axe-core (zero serious or critical findings), the cluster page a GP reads in a minute, a
signal explained by its chart, navigation by role, and printing to A4. Screenshots and PDFs are kept in
test-artifacts/ (screenshots/, print/)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from warehouse_fixture import PERIODS, TAU2, UNCLUSTERED, build_browser_warehouse, values_frame

from browser_support import BROWSER_MARKS, chromium, serving
from browser_support import sign_in as shared_sign_in
from conftest import PASSWORD, make_store

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
PRINTS = ARTIFACTS / "print"
OWN = "S37000007/dundee-east"

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The web fixture warehouse with the planner's inputs and a practice in no cluster."""
    from gpcluster.web import create_app

    folder = tmp_path_factory.mktemp("browser")
    return create_app(build_browser_warehouse(folder / "warehouse.duckdb"), store=make_store(folder))


@pytest.fixture(scope="module")
def base_url(app):
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as opened:
        yield opened


def sign_in(browser, base_url: str, username: str, **options):
    return shared_sign_in(browser, base_url, username, PASSWORD, **options)


def wait_for_charts(page) -> None:
    charts = page.locator("div.chart[data-spec]")
    for i in range(charts.count()):
        charts.nth(i).locator("svg").first.wait_for(timeout=15000)


def test_cql_journey(browser, base_url, tmp_path):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context, page = sign_in(browser, base_url, "cql", accept_downloads=True)
    external = []
    page.on("request", lambda r: None if r.url.startswith(base_url) or r.url.startswith("data:")
            else external.append(r.url))
    page.screenshot(path=str(SCREENSHOTS / "overview.png"), full_page=True)

    page.click("nav >> text=My cluster")
    page.wait_for_selector("h1:has-text('Dundee East')")
    signal = page.locator(".signals li").first
    text = signal.inner_text()
    assert "Alpha Surgery" in text and "Emergency admissions per 1,000 patients" in text
    assert "after allowing for" in text and "99.8%" not in text and "UCL" not in text  # plain words
    signal.locator("summary").click()  # the method is one click away
    assert "expected" in signal.locator("details").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "cluster.png"), full_page=True)

    signal.locator("a").first.click()
    page.wait_for_selector("h1:has-text('Alpha Surgery')")
    page.wait_for_selector("#trend-chart svg", timeout=15000)
    assert page.locator("#trend-chart svg .mark-symbol path").count() >= 4  # one point per quarter at least
    page.screenshot(path=str(SCREENSHOTS / "practice.png"), full_page=True)

    with page.expect_download() as info:
        page.click("text=Download CSV")
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    text = saved.read_text(encoding="utf-8")
    assert text.startswith("synthetic,indicator_id,period") and "Alpha Surgery" in text

    page.goto(f"{base_url}/indicators/emergency_admission_rate")
    wait_for_charts(page)
    page.screenshot(path=str(SCREENSHOTS / "indicator.png"), full_page=True)
    assert not external, f"requests left the app: {external}"
    context.close()


def test_keyboard_skip_link_reaches_main(browser, base_url):
    page = browser.new_page()
    page.goto(f"{base_url}/login")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused.strip() == "Skip to main content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.close()


def test_charts_draw_under_a_policy_without_eval(browser, base_url):
    """The CSP has no 'unsafe-eval' (issue 13): vega runs its expressions with the vendored interpreter,
    and every chart still draws, with no policy violation or script error."""
    context, page = sign_in(browser, base_url, "national")
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    for path in ("/practices/10001", "/indicators/emergency_admission_rate", f"/trends/emergency_admission_rate?cluster={OWN}"):
        response = page.goto(f"{base_url}{path}")
        policy = response.headers["content-security-policy"]
        assert "unsafe-eval" not in policy and "script-src 'self';" in policy
        charts = page.locator("div.chart[data-spec]")
        assert charts.count() >= 1
        for i in range(charts.count()):
            charts.nth(i).locator("svg .mark-symbol, svg .mark-rect, svg .mark-line, svg .mark-rule").first.wait_for(
                timeout=15000)
        assert "could not be drawn" not in page.content()
    assert problems == []
    context.close()


# ---------------------------------------------------------------- accessibility: every page, every role

COMMON = ["/", f"/clusters/{OWN}", "/clusters/S37000030/linlithgow", "/indicators", "/indicators/emergency_admission_rate",
          "/indicators/high_risk_prescribing", f"/trends/emergency_admission_rate?cluster={OWN}", "/hscps/S37000007",
          "/boards/S08000030", "/search?q=surgery", "/plan", "/plan/compare?a=per_capita&b=rurality_aware",
          "/plan/compare?a=per_capita&b=need_weighted&role=pharmacist", "/plan/compare?a=per_capita&b=need_weighted&outcome=loses",
          "/plan?q=surgery", "/evaluations", "/no/such/page", f"/clusters/{OWN}?show=all"]
PAGES = {
    "national": COMMON + ["/practices/10001", "/practices/70001", f"/practices/{UNCLUSTERED[0]}", "/plan/roster",
                          "/plan/roster/post?post_id=PH-E1", "/plan/roster?role=pharmacist&page=2", "/api/docs"],
    "board_tayside": COMMON + ["/practices/70001", "/plan/roster", "/api/docs"],
    "hscp_lothian": COMMON + ["/practices/80001", "/plan/roster", "/plan/roster/post"],
    "cql": COMMON + ["/practices/10001", "/practices/10003"],
    "pql": COMMON + ["/practices/10002"],
    "analyst": COMMON + ["/practices/70002", "/plan/roster", "/api/docs"],
    "admin": COMMON + ["/admin/users", "/admin/audit", "/admin/audit?action=login&page=1", "/practices/80002"],
}
SERIOUS = {"serious", "critical"}


def _axe(page) -> list[dict]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "targets": [n["target"] for n in v["nodes"]][:5]}
            for v in results.response["violations"] if v["impact"] in SERIOUS]


def _slug(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", path).strip("-")[:70] or "home"


@pytest.mark.parametrize("username", list(PAGES))
def test_every_page_has_no_serious_or_critical_axe_findings(browser, base_url, username):
    folder = SCREENSHOTS / "roles" / username
    folder.mkdir(parents=True, exist_ok=True)
    context, page = sign_in(browser, base_url, username)
    findings = {}
    for path in PAGES[username]:
        response = page.goto(f"{base_url}{path}")
        assert response.status < 500, (path, response.status)
        wait_for_charts(page)
        page.screenshot(path=str(folder / f"{_slug(path)}.png"), full_page=True)
        serious = _axe(page)
        if serious:
            findings[path] = serious
    context.close()
    (folder / "axe.json").write_text(json.dumps(findings, indent=1), encoding="utf-8")
    assert not findings, json.dumps(findings, indent=1)[:3000]


def test_sign_in_page_has_no_serious_axe_findings(browser, base_url):
    page = browser.new_page()
    page.goto(f"{base_url}/login")
    assert _axe(page) == []
    page.close()


def test_charts_have_names_and_their_tables_one_link_away(browser, base_url):
    context, page = sign_in(browser, base_url, "cql")
    page.goto(f"{base_url}/practices/10001")
    wait_for_charts(page)
    for chart in page.locator("div.chart-frame").all():
        assert chart.get_attribute("role") == "img" and len(chart.get_attribute("aria-label")) > 20
        assert chart.locator("div.chart[data-spec] svg").count() >= 1
        described = page.locator(f"#{chart.get_attribute('aria-describedby')}")
        link = described.locator("a")
        target = link.get_attribute("href")[1:]
        link.click()  # following the link opens the table
        assert page.locator(f"details#{target}").evaluate("d => d.open") is True
        assert page.locator(f"details#{target} table").count() == 1
    context.close()


# ---------------------------------------------------------------- the cluster page, read in a minute


def test_cluster_page_first_screen_table_chooser_and_legend(browser, base_url):
    context, page = sign_in(browser, base_url, "cql")
    page.goto(f"{base_url}/clusters/{OWN}")
    # first screen: the cluster in one line, then the first signal
    line = page.locator(".area-line")
    assert line.inner_text().startswith("3 practices in Oct–Dec 2024.")  # the fixture has no list size or age
    first_signal = page.locator(".signals li").first
    assert first_signal.bounding_box()["y"] + 40 < 900
    # actions due follow the signals when the packs work provides them (include ignore missing)
    sections = page.locator("main > section h2").all_inner_texts()
    assert sections.index("Worth discussing") < sections.index("All indicators, Oct–Dec 2024")
    # the table: themes with context first, formatted numbers, colour only on performance flags
    themes = page.locator(".heat-scroll th.theme").all_inner_texts()
    assert themes[0].startswith("Hospital use") or themes[0].startswith("Patients")  # fixture: performance only
    cells = page.locator(".heat-scroll td").all_inner_texts()
    assert cells and not any(re.search(r"\bnan\b|^-0\.0|\d\.0$", c.strip()) for c in cells if "*" not in c)
    flagged = page.locator(".heat-scroll td[class*='flag-']")
    assert flagged.count() >= 1 and all("▲" in t or "▼" in t for t in flagged.all_inner_texts())
    # legend explains colours and symbols
    legend = page.locator(".legend").inner_text()
    assert "worse than expected" in legend and "better than expected" in legend and "suppressed" in legend
    # sticky practice column: scrolled sideways, the practice names stay in view
    page.set_viewport_size({"width": 520, "height": 900})
    scroller = page.locator(".heat-scroll")
    name_cell = page.locator(".heat-scroll tbody th.area-col").first
    before = name_cell.bounding_box()["x"]
    scroller.evaluate("el => el.scrollLeft = el.scrollWidth")
    assert abs(name_cell.bounding_box()["x"] - before) < 2
    page.set_viewport_size({"width": 1280, "height": 900})
    # column chooser: choosing one indicator shows only it; "Show all" brings every one back
    page.locator("details.chooser summary").click()
    for box in page.locator("details.chooser input[type=checkbox]").all():
        box.set_checked(False)
    page.locator("details.chooser input[value=high_risk_prescribing]").check()
    page.click("text=Show chosen indicators")
    assert page.locator(".heat-scroll th.ind").all_inner_texts()[0].startswith("High-risk prescribing")
    assert page.locator(".heat-scroll th.ind").count() == 1
    page.click("text=Show all")
    assert page.locator(".heat-scroll th.ind").count() == 2
    page.screenshot(path=str(SCREENSHOTS / "cluster-all-columns.png"), full_page=True)
    context.close()


def test_a_signal_explains_itself(browser, base_url):
    context, page = sign_in(browser, base_url, "cql")
    page.goto(f"{base_url}/practices/10001?indicator=emergency_admission_rate#trend-h")
    page.wait_for_selector("#trend-chart svg", timeout=15000)
    explained = page.locator(".signal-explained").inner_text()
    assert "64% higher than expected" in explained and "Signal since Jul–Sep 2024" in explained
    legend = page.locator("#trend-chart").inner_html()
    for series in ("Alpha Surgery", "Cluster", "HSCP", "Scotland", "Expected", "Signal since Jul–Sep 2024"):
        assert series in legend, series
    # the y axis fits the data: emergency admissions are ~21-40 per 1,000, so the axis does not start at 0
    ticks = [float(t.replace(",", "")) for t in page.locator("#trend-chart svg .role-axis-label text").all_text_contents()
             if re.fullmatch(r"[\d,.]+", t)]
    assert ticks and min(ticks) > 0
    # SPC only with enough points: four quarters are too few, and the page says so
    assert "Too few quarters for a run chart" in page.locator("section.trend").inner_text()
    assert page.locator("#spc-chart").count() == 0
    # the chart's table has the expected value and limits beside the comparators
    table = page.locator("#trend-table table")
    headers = [h.strip() for h in table.locator("th[scope=col]").all_text_contents()]
    assert headers[:5] == ["Quarter", "Alpha Surgery", "Expected", "95% range", "99.8% range"]
    # the limits are the adjusted funnel's, worked by hand: E = list x Scotland's rate, limits on O/E
    # (1 ± z sqrt(1/(4E) + τ²))² times the expected rate
    last = [c.strip() for c in table.locator("tbody tr").last.locator("td").all_text_contents()]
    rows = values_frame()
    me = rows[(rows["area_code"] == "10001") & (rows["indicator_id"] == "emergency_admission_rate")
              & (rows["period"] == PERIODS[-1])].iloc[0]
    expected_rate = me["expected"] / me["denominator"] * 1000
    half = 3.090232 * (1 / (4 * me["expected"]) + TAU2) ** 0.5
    assert last[1] == f"{expected_rate:.1f}"
    assert last[3] == f"{(1 - half) ** 2 * expected_rate:.1f} to {(1 + half) ** 2 * expected_rate:.1f}"
    page.screenshot(path=str(SCREENSHOTS / "signal-explained.png"), full_page=True)
    page.goto(f"{base_url}/trends/emergency_admission_rate?cluster={OWN}")
    page.wait_for_selector("#trend-chart svg", timeout=15000)
    assert "HSCP" in page.locator("#trend-chart").inner_html() and page.locator("h1").inner_text().endswith("Dundee East")
    context.close()


@pytest.mark.parametrize(("username", "expected", "absent"), [
    ("pql", {"My practice": "/practices/10002", "My cluster": f"/clusters/{OWN}"}, {"My HSCP", "Users"}),
    ("cql", {"My cluster": f"/clusters/{OWN}"}, {"My practice", "My HSCP"}),
    ("hscp_lothian", {"My HSCP": "/hscps/S37000030", "API": "/api/docs"}, {"My cluster", "My practice"}),
    ("board_tayside", {"My board": "/boards/S08000030"}, {"My cluster", "My HSCP"}),
    ("admin", {"Users": "/admin/users", "Audit": "/admin/audit"}, {"My cluster", "My practice"}),
])
def test_navigation_by_role(browser, base_url, username, expected, absent):
    context, page = sign_in(browser, base_url, username)
    links = {a.inner_text(): a.get_attribute("href") for a in page.locator("nav[aria-label=Main] a").all()}
    for label, href in expected.items():
        assert links.get(label) == href, links
        page.goto(f"{base_url}{href}")
        assert page.locator("nav[aria-label=Main] a[aria-current=page]").inner_text() == label
    assert not absent & set(links)
    context.close()


def test_practice_without_a_cluster_says_so(browser, base_url):
    context, page = sign_in(browser, base_url, "national")
    page.goto(f"{base_url}/practices/{UNCLUSTERED[0]}")
    assert page.locator(".cluster-status").inner_text() == "Cluster unknown"
    assert "counts in its HSCP, board and Scotland" in page.locator(".lede").inner_text()
    context.close()


# ---------------------------------------------------------------- print


@pytest.mark.parametrize(("username", "path", "name"), [
    ("cql", f"/clusters/{OWN}", "cluster"),
    ("cql", "/practices/10001?indicator=emergency_admission_rate", "practice"),
    ("national", "/plan/compare?a=per_capita&b=need_weighted", "planner-compare"),
    ("national", "/indicators/emergency_admission_rate", "indicator"),
])
def test_pages_print_legibly_on_a4(browser, base_url, username, path, name):
    PRINTS.mkdir(parents=True, exist_ok=True)
    context, page = sign_in(browser, base_url, username)
    page.goto(f"{base_url}{path}")
    wait_for_charts(page)
    page.emulate_media(media="print")
    assert page.locator(".site-header").is_hidden() and page.locator("form").first.is_hidden()
    assert page.locator(".print-synthetic").is_visible()  # the synthetic-data notice prints
    if name == "cluster":
        printed = page.locator(".print-only table.heat-print")
        headings = [h for t in printed.all() for h in t.locator("thead th").all_inner_texts()[1:]]
        assert len(headings) == 2  # every indicator of the fixture, whatever the screen's choice
        cell = page.locator(".print-only td[class*='flag-']").first
        assert cell.evaluate("e => getComputedStyle(e).printColorAdjust") == "exact"
        assert cell.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
        assert page.locator(".screen-only").is_hidden()
    widths = page.evaluate("Array.from(document.querySelectorAll('main table')).filter(t => t.offsetParent)"
                           ".map(t => t.getBoundingClientRect().right)")
    page_width = page.evaluate("document.documentElement.clientWidth")
    assert all(w <= page_width + 1 for w in widths)  # no table runs off the page
    pdf = page.pdf(format="A4", print_background=True)
    (PRINTS / f"{name}.pdf").write_bytes(pdf)
    page.screenshot(path=str(PRINTS / f"{name}-print-media.png"), full_page=True)
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    context.close()
