"""End to end in Debian's Chromium (Playwright, no browser download): a CQL signs in, opens their cluster,
sees the signals, opens a practice's SPC chart and downloads the CSV. Screenshots go to
test-artifacts/screenshots/."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from conftest import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def base_url(app):
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


def test_cql_journey(browser, base_url, tmp_path):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    external = []
    page.on("request", lambda r: None if r.url.startswith(base_url) or r.url.startswith("data:")
            else external.append(r.url))

    page.goto(f"{base_url}/")
    page.fill("#username", "cql")
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("h1:has-text('Scotland overview')")
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
    page.wait_for_selector("#spc-chart svg", timeout=15000)
    assert page.locator("#spc-chart svg .mark-symbol path").count() >= 4  # one point per quarter
    page.screenshot(path=str(SCREENSHOTS / "practice.png"), full_page=True)

    with page.expect_download() as info:
        page.click("text=Download CSV")
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    text = saved.read_text(encoding="utf-8")
    assert text.startswith("synthetic,indicator_id,period") and "Alpha Surgery" in text

    page.goto(f"{base_url}/indicators/emergency_admission_rate")
    page.wait_for_selector("div.chart svg", timeout=15000)
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
    page = browser.new_page()
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{base_url}/login")
    page.fill("#username", "national")
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("h1:has-text('Scotland overview')")
    for path in ("/practices/10001", "/indicators/emergency_admission_rate"):
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
    page.close()
