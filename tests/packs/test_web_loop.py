"""The loop in the web app: pack pages and files by role, responses and the meeting through the forms
(with CSRF), actions on the cluster page, e-mail choices."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from pack_fixtures import (
    EARLIER,
    EARLIER_SIGNALS,
    OWN_CLUSTER,
    PASSWORD,
    PQL_PRACTICE,
    add_loop_users,
    corrected_warehouse,
    publish_one,
)

PACK = f"/packs/{OWN_CLUSTER}/2024-07"
PQL_SIGNALS = [s for s, (code, _) in EARLIER_SIGNALS.items() if code == PQL_PRACTICE]


@pytest.fixture
def app(loop_warehouse, tmp_path, packs_home):
    from gpcluster.store import open_store
    from gpcluster.web import create_app

    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    add_loop_users(store)
    publish_one(loop_warehouse, store, EARLIER)
    return create_app(loop_warehouse, store=store)


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.fixture
def as_user(app):
    clients = []

    def make(username: str) -> TestClient:
        client = TestClient(app, base_url="http://testserver")
        clients.append(client)
        token = _csrf(client.get("/login").text)
        response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token,
                                               "next": "/"}, follow_redirects=False)
        assert response.status_code == 303
        return client

    yield make
    for c in clients:
        c.close()


def _respond(client, signal_id, kind, **fields):
    token = _csrf(client.get(PACK).text)
    return client.post(f"{PACK}/responses", data={"csrf_token": token, "signal_id": signal_id, "kind": kind, **fields},
                       follow_redirects=False)


def test_pql_finds_the_pack_and_responds(as_user):
    pql = as_user("pql")
    listing = pql.get("/packs")
    assert listing.url.path == f"/packs/{OWN_CLUSTER}" and "Jul–Sep 2024" in listing.text
    page = pql.get(PACK)
    assert page.status_code == 200 and page.text.count('class="form response-form"') == 2  # own practice's two
    due = (date.today() + timedelta(days=30)).isoformat()
    answered = _respond(pql, PQL_SIGNALS[1], "action_agreed", reason="", action_description="Review the register",
                        action_owner="Dr Amber", action_due=due)
    assert answered.status_code == 303
    page = pql.get(PACK).text
    assert "Response: Action agreed" in page and "Review the register (owner Dr Amber" in page
    missing = _respond(pql, PQL_SIGNALS[0], "explained", reason="")
    assert missing.status_code == 400 and "reason: please fill this in" in missing.text


def test_a_pql_cannot_answer_for_another_practice_and_csrf_is_required(as_user):
    alpha = as_user("pql_alpha")
    assert _respond(alpha, PQL_SIGNALS[0], "accepted").status_code == 403
    pql = as_user("pql")
    refused = pql.post(f"{PACK}/responses", data={"signal_id": PQL_SIGNALS[0], "kind": "accepted"})
    assert refused.status_code == 403


def test_cql_sees_who_responded_and_recording_the_meeting_locks_responses(as_user):
    pql = as_user("pql")
    assert _respond(pql, PQL_SIGNALS[0], "explained", reason="New care home").status_code == 303
    cql = as_user("cql")
    page = cql.get(PACK).text
    who = page[page.index("Who has responded"):page.index('id="meeting-h"')]
    assert re.search(r"Amber Health Centre</td><td class=\"num\">2</td><td class=\"num\">1", who)
    assert "New care home" in page  # the CQL reads every response
    recorded = cql.post(f"{PACK}/meeting", data={
        "csrf_token": _csrf(page), "what": "record", "meets_on": date.today().isoformat(), "present": [PQL_PRACTICE],
        "decisions": "Share the pathway", "learned": "Care homes matter", "action_description": ["Write to HSCP", ""],
        "action_owner": ["CQL", ""], "action_due": [(date.today() + timedelta(days=20)).isoformat(), ""],
        "action_practice": ["", ""]}, follow_redirects=False)
    assert recorded.status_code == 303
    page = pql.get(PACK).text
    assert "Responses were locked when the meeting was recorded" in page and "response-form" not in page
    assert _respond(pql, PQL_SIGNALS[1], "accepted").status_code == 400
    cluster_page = cql.get(f"/clusters/{OWN_CLUSTER}").text
    assert "Actions due" in cluster_page and "Write to HSCP" in cluster_page
    other = as_user("cql_other").get(f"/clusters/{OWN_CLUSTER}").text
    assert "Write to HSCP" not in other and "Actions due" not in other


@pytest.mark.parametrize(("username", "status"), [("cql", 200), ("pql", 200), ("national", 200), ("cql_other", 404),
                                                  ("pql_other", 404)])
def test_pack_files_by_role(as_user, username, status):
    client = as_user(username)
    html = client.get(f"{PACK}/v1.html")
    assert html.status_code == status
    assert client.get(PACK).status_code == status
    if status == 200:
        assert "<script" not in html.text and "default-src 'none'" in html.headers["content-security-policy"]
        assert "Amber Health Centre" in html.text
        assert client.get(f"{PACK}/v2.html").status_code == 404
    else:
        assert "Amber Health Centre" not in html.text


def test_email_choices(as_user):
    client = as_user("pql")
    page = client.get("/account/notifications").text
    assert "pql@example.org" in page and page.count("checked") == 3
    saved = client.post("/account/notifications", data={"csrf_token": _csrf(page), "pack_published": "on"})
    assert saved.status_code == 200 and "Your choices are saved" in saved.text
    assert saved.text.count("checked") == 1


def test_publishing_a_correction_while_the_app_serves(as_user, app, loop_warehouse, tmp_path):
    """A correction published while readers fetch the pack: every answer is whole (200 with the registered
    file, or 404 before version 2 is registered), never an error or half a file."""
    import hashlib
    import threading

    from sqlalchemy import select

    from gpcluster.store.models import Pack

    corrected = corrected_warehouse(loop_warehouse, tmp_path / "corrected.duckdb")
    store = app.state.services.store
    done, errors = threading.Event(), []

    def publish():
        try:
            publish_one(corrected, store, EARLIER)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            done.set()

    client = as_user("cql")
    publisher = threading.Thread(target=publish)
    publisher.start()
    seen = []
    while not done.is_set() or len(seen) < 3:
        for path in (f"{PACK}/v1.html", f"{PACK}/v2.html", PACK):
            response = client.get(path)
            seen.append((path, response.status_code, hashlib.sha256(response.content).hexdigest()))
    publisher.join()
    assert errors == []
    with store.session() as session:
        registered = {p.version: p.html_sha256 for p in session.scalars(select(Pack))}
    assert set(registered) == {1, 2}
    for path, status, digest in seen:
        if path == PACK:
            assert status == 200
        elif path.endswith("/v1.html"):
            assert status == 200 and digest == registered[1]
        else:
            assert status == 404 or (status == 200 and digest == registered[2])
    assert client.get(f"{PACK}/v2.html").status_code == 200


def test_kept_pack_pages_show_a_response_an_action_and_a_new_version_at_once(as_user, app, loop_warehouse, tmp_path):
    """The pack pages keep what they read from the store (gpcluster.web.loop_cache) until the store's loop
    revision changes: a response or an action saved through the app, a change written past it (another
    process, a script) and a new version published each show on the next request of a viewer whose pages
    were kept before."""
    import sqlite3

    from gpcluster.store import migrate

    national, pql = as_user("national"), as_user("pql")
    actions, listing, packs = f"/packs/{OWN_CLUSTER}/actions", f"/packs/{OWN_CLUSTER}", "/packs"
    before = {url: national.get(url).text for url in (PACK, actions, listing, packs, f"{PACK}/v1.html")}
    assert "No response yet." in before[PACK] and "Review the register" not in before[actions]
    assert national.get(PACK).text == before[PACK]  # kept, and the same

    due = (date.today() + timedelta(days=30)).isoformat()
    assert _respond(pql, PQL_SIGNALS[1], "action_agreed", action_description="Review the register",
                    action_owner="Dr Amber", action_due=due).status_code == 303
    page = national.get(PACK).text
    assert "Response: Action agreed" in page and "Review the register (owner Dr Amber" in page
    assert "Review the register" in national.get(actions).text
    assert "Review the register" in national.get(listing).text  # the actions due on the cluster's packs page

    # written past the app, as another server process or a script would: the triggers raise the revision
    store_file = app.state.services.store.engine.url.database
    assert migrate.current_revision(app.state.services.store.engine) == migrate.packaged_head()
    with sqlite3.connect(store_file) as connection:
        connection.execute("UPDATE loop_action SET description = 'Audit the register'")
        connection.execute("UPDATE signal_response SET reason = 'Told by a script'")
    page = national.get(PACK).text
    assert "Audit the register (owner Dr Amber" in page and "Review the register" not in page
    assert "Told by a script" in page
    assert "Audit the register" in national.get(actions).text

    publish_one(corrected_warehouse(loop_warehouse, tmp_path / "corrected.duckdb"), app.state.services.store, EARLIER)
    page = national.get(PACK).text
    assert "Version 2" in page and "corrects version 1" in page
    assert national.get(f"{PACK}/v2.html").status_code == 200
    assert "v2" in national.get(listing).text


def test_a_kept_pack_page_is_each_accounts_own_and_follows_an_account_change(as_user, app):
    """Pack pages are rendered once and kept (per loop revision, day, warehouse version and account): a page
    kept for one viewer never gives another their forms or their CSRF token, and an account changed in the
    store (which raises no loop revision) shows its new forms on its next request."""
    import sqlite3

    national, pql, alpha = as_user("national"), as_user("pql"), as_user("pql_alpha")
    assert 'class="form response-form"' not in national.get(PACK).text
    first = pql.get(PACK).text
    assert first.count('class="form response-form"') == 2  # its own practice's two signals
    assert pql.get(PACK).text == first  # kept, and the same
    token = _csrf(pql.get("/account/notifications").text)
    assert set(re.findall(r'name="csrf_token" value="([^"]+)"', first)) == {token}
    other = alpha.get(PACK).text
    assert other.count('class="form response-form"') == 1  # practice 10001's one signal
    assert token not in other and _csrf(other) != token
    saved = pql.get(f"{PACK}?saved=response").text
    assert "Your response is saved." in saved and "Your response is saved." not in pql.get(PACK).text

    with sqlite3.connect(app.state.services.store.engine.url.database) as connection:
        connection.execute("UPDATE user_account SET scope_code = '10001' WHERE username = 'pql'")
    moved = pql.get(PACK).text
    assert f'value="{PQL_SIGNALS[0]}"' in first
    assert moved.count('class="form response-form"') == 1 and f'value="{PQL_SIGNALS[0]}"' not in moved
