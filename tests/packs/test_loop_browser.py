"""End to end in Debian's Chromium: a pack is published; the PQL signs in, responds to two signals and
agrees an action; the CQL sees the responses and records the meeting; the next period's pack (HTML and PDF)
shows the action and its status. Screenshots go to test-artifacts/screenshots/packs-*.png."""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path

import pytest
from pack_fixtures import EARLIER, LATEST, OWN_CLUSTER, PASSWORD, add_loop_users, publish_one

from browser_support import BROWSER_MARKS, chromium, serving, sign_in
from gpcluster.packs.render import pdf_unavailable

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PDF_REASON = pdf_unavailable()

pytestmark = [
    *BROWSER_MARKS,
    pytest.mark.skipif(PDF_REASON is not None, reason=f"PDF packs cannot be made here: {PDF_REASON}"),
]


@pytest.fixture
def served(loop_warehouse, tmp_path, packs_home):
    from gpcluster.store import open_store
    from gpcluster.web import create_app

    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    add_loop_users(store)
    publish_one(loop_warehouse, store, EARLIER, formats=("html", "pdf"))
    with serving(create_app(loop_warehouse, store=store)) as base_url:
        yield base_url, store, loop_warehouse


@pytest.fixture
def browser():
    with chromium() as opened:
        yield opened


def _sign_in(browser, base_url: str, username: str):
    return sign_in(browser, base_url, username, PASSWORD)


def test_publish_respond_meet_and_see_it_in_the_next_pack(browser, served):
    from pypdf import PdfReader

    base_url, store, warehouse = served
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    due = (date.today() + timedelta(days=30)).isoformat()

    # the PQL responds to both of the practice's signals, agreeing an action on one
    context, page = _sign_in(browser, base_url, "pql")
    page.click("nav >> text=Packs")
    page.wait_for_selector("h1:has-text('Packs: Dundee East')")
    page.click("text=Jul–Sep 2024")
    page.wait_for_selector("h1:has-text('pack for Jul–Sep 2024')")
    forms = page.locator("form.response-form")
    assert forms.count() == 2
    first = forms.nth(0)
    first.get_by_label("Explained", exact=True).check()
    first.locator("textarea[name=reason]").fill("A new care home opened in our area in June.")
    first.locator("button:has-text('Save response')").click()
    page.wait_for_selector("text=Your response is saved.")
    second = page.locator("form.response-form").nth(1)
    second.get_by_label("Action agreed", exact=True).check()
    second.locator("input[name=action_description]").fill("Audit every high-risk prescription")
    second.locator("input[name=action_owner]").fill("Dr Amber")
    second.locator("input[name=action_due]").fill(due)
    second.locator("button:has-text('Save response')").click()
    page.wait_for_selector("text=Your response is saved.")
    assert page.locator("text=Response: Explained").count() == 1 and page.locator("text=Response: Action agreed").count() == 1
    page.screenshot(path=str(SCREENSHOTS / "packs-pql-responses.png"), full_page=True)
    context.close()

    # the CQL sees who responded and records the meeting
    context, page = _sign_in(browser, base_url, "cql")
    page.goto(f"{base_url}/packs/{OWN_CLUSTER}/2024-07")
    who = page.locator("section:has(h2:has-text('Who has responded'))").inner_text()
    assert "Amber Health Centre\t2\t2" in who
    assert page.locator("text=A new care home opened in our area in June.").count() == 1
    meeting = page.locator("form.meeting-form")
    meeting.get_by_label("Amber Health Centre").check()
    meeting.get_by_label("Alpha Surgery").check()
    meeting.locator("#decisions").fill("Share the care-home pathway across the cluster.")
    meeting.locator("#learned").fill("Admissions rise when a care home opens; plan cover before it does.")
    meeting.locator("button:has-text('Record the meeting')").click()
    page.wait_for_selector("text=The meeting is recorded; responses are now locked.")
    page.screenshot(path=str(SCREENSHOTS / "packs-cql-meeting.png"), full_page=True)
    context.close()

    # the next period's pack shows the action and its status, in HTML and in the PDF
    result = publish_one(warehouse, store, LATEST, formats=("html", "pdf"))
    assert result.version == 1
    context, page = _sign_in(browser, base_url, "cql")
    page.goto(f"{base_url}/packs/{OWN_CLUSTER}/2024-10")
    page.click("text=Open the pack (HTML)")
    page.wait_for_selector("h1:has-text('Dundee East: cluster pack, Oct–Dec 2024')")
    actions = page.locator("section#actions").inner_text()
    assert "Audit every high-risk prescription" in actions and "Dr Amber" in actions and "Open" in actions
    changes = page.locator("section#changes").inner_text()
    assert "Admissions rise when a care home opens" in changes and "2 of 3 signals answered" in changes
    page.screenshot(path=str(SCREENSHOTS / "packs-next-pack.png"), full_page=True)
    pdf = page.request.get(f"{base_url}/packs/{OWN_CLUSTER}/2024-10/v1.pdf")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    text = " ".join((p.extract_text() or "") for p in PdfReader(io.BytesIO(pdf.body())).pages)
    text = " ".join(text.split())
    assert "Audit every high-risk prescription" in text and "Dr Amber" in text and "Open" in text
    context.close()
