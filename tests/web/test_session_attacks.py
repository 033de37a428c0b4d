"""Attacks on sessions and sign-in (issue 13): a copied cookie stops working at sign-out and when the
account is disabled (F5); timeouts; Secure cookies and HSTS over https, including behind a trusted proxy;
an attacker guessing the administrator's password from elsewhere cannot lock the administrator out, and
an administrator sees and clears throttles (F10); the OpenAPI document needs sign-in (item 7)."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from conftest import PASSWORD, csrf_from, login, make_store


@pytest.fixture
def fresh_app(warehouse_file, tmp_path):
    """An app of its own: these tests disable accounts and throttle sign-ins."""
    from gpcluster.web import create_app

    return create_app(warehouse_file, store=make_store(tmp_path))


def _signed_in(app, username: str, **kwargs) -> TestClient:
    client = TestClient(app, **kwargs)
    assert login(client, username).status_code == 303
    return client


def _copy(app, client: TestClient) -> TestClient:
    thief = TestClient(app)
    thief.cookies.set("gpcluster_session", client.cookies["gpcluster_session"])
    return thief


def _signed_out(response) -> bool:
    return response.status_code == 303 and response.headers["location"].startswith("/login")


def test_sign_out_ends_every_copy_of_the_cookie(fresh_app):
    owner = _signed_in(fresh_app, "cql")
    thief = _copy(fresh_app, owner)
    assert thief.get("/", follow_redirects=False).status_code == 200  # a copied cookie works while signed in
    assert thief.get("/api/clusters").status_code in (200, 403)
    owner.post("/logout", data={"csrf_token": csrf_from(owner.get("/").text)})
    assert _signed_out(thief.get("/", follow_redirects=False))
    assert thief.get("/api/clusters").status_code == 401
    assert _signed_out(owner.get("/", follow_redirects=False))


def test_disabling_an_account_ends_its_sessions_at_once(fresh_app):
    victim = _signed_in(fresh_app, "cql")
    copy = _copy(fresh_app, victim)
    admin = _signed_in(fresh_app, "admin")
    page = admin.post("/admin/users/disable", data={"username": "cql", "csrf_token": csrf_from(admin.get("/admin/users").text)})
    assert page.status_code == 200 and "cql: disabled and signed out" in page.text
    assert _signed_out(victim.get("/", follow_redirects=False)) and _signed_out(copy.get("/", follow_redirects=False))
    admin.post("/admin/users/enable", data={"username": "cql", "csrf_token": csrf_from(admin.get("/admin/users").text)})
    assert _signed_out(copy.get("/", follow_redirects=False))  # enabling again does not revive old sessions
    assert login(TestClient(fresh_app), "cql").status_code == 303


def test_an_administrator_signs_a_user_out_everywhere(fresh_app):
    phone, laptop = _signed_in(fresh_app, "pql"), _signed_in(fresh_app, "pql")
    admin = _signed_in(fresh_app, "admin")
    users = admin.get("/admin/users").text
    assert "Sign out everywhere" in users
    admin.post("/admin/users/end-sessions", data={"username": "pql", "csrf_token": csrf_from(users)})
    assert _signed_out(phone.get("/", follow_redirects=False)) and _signed_out(laptop.get("/", follow_redirects=False))
    assert admin.get("/").status_code == 200


def test_a_change_made_by_another_process_takes_effect_within_the_recheck_time(fresh_app, monkeypatch):
    from gpcluster.store.accounts import disable_user

    monkeypatch.setenv("GPCLUSTER_SESSION_RECHECK_SECONDS", "0.3")
    client = _signed_in(fresh_app, "national")
    assert client.get("/", follow_redirects=False).status_code == 200
    with fresh_app.state.services.store.session() as session:  # as `gpcluster users disable` would
        disable_user(session, "national")
    time.sleep(0.35)
    assert _signed_out(client.get("/", follow_redirects=False))


def test_idle_and_absolute_timeouts(fresh_app, monkeypatch):
    now = [float(int(time.time()))]  # whole seconds: the store keeps microseconds
    fresh_app.state.services.sessions._clock = lambda: now[0]
    client = _signed_in(fresh_app, "cql")
    for _ in range(5):
        now[0] += 1500  # 25 minutes between pages: under the 30-minute idle timeout
        assert client.get("/", follow_redirects=False).status_code == 200
    now[0] += 1801
    assert _signed_out(client.get("/", follow_redirects=False))
    monkeypatch.setenv("GPCLUSTER_SESSION_MAX_AGE", "3000")
    client = _signed_in(fresh_app, "cql")
    now[0] += 1500
    assert client.get("/", follow_redirects=False).status_code == 200
    now[0] += 1501  # 3,001 s after sign-in, active all the while
    assert _signed_out(client.get("/", follow_redirects=False))


def test_cookies_are_secure_and_hsts_is_sent_over_https(fresh_app):
    client = TestClient(fresh_app, base_url="https://testserver")
    response = client.get("/login")
    assert "; secure" in response.headers["set-cookie"].lower()
    assert response.headers["strict-transport-security"] == "max-age=31536000"
    assert login(client, "cql").status_code == 303
    plain = TestClient(fresh_app).get("/login")
    assert "secure" not in plain.headers["set-cookie"].lower() and "strict-transport-security" not in plain.headers


def test_forwarded_https_is_believed_only_from_a_trusted_proxy(warehouse_file, tmp_path, monkeypatch):
    from gpcluster.web import create_app

    monkeypatch.setenv("GPCLUSTER_TRUSTED_PROXIES", "testclient")  # the TestClient's peer address
    behind_proxy = TestClient(create_app(warehouse_file, store=make_store(tmp_path)))
    response = behind_proxy.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "; secure" in response.headers["set-cookie"].lower() and "strict-transport-security" in response.headers
    monkeypatch.setenv("GPCLUSTER_TRUSTED_PROXIES", "10.9.9.9")
    direct = TestClient(create_app(warehouse_file, store=make_store(tmp_path / "other")))
    response = direct.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "secure" not in response.headers["set-cookie"].lower() and "strict-transport-security" not in response.headers


def _from(app, address: str) -> TestClient:
    return TestClient(app, headers={"X-Forwarded-For": address})


def test_guessing_the_admin_password_elsewhere_never_locks_the_admin_out(warehouse_file, tmp_path, monkeypatch):
    from gpcluster.store import audit
    from gpcluster.web import create_app

    monkeypatch.setenv("GPCLUSTER_TRUSTED_PROXIES", "testclient")
    app = create_app(warehouse_file, store=make_store(tmp_path))
    admin_browser = _from(app, "10.1.1.1")
    assert login(admin_browser, "admin").status_code == 303  # the admin's usual browser, now known
    admin_browser.post("/logout", data={"csrf_token": csrf_from(admin_browser.get("/").text)})
    attacker = _from(app, "203.0.113.9")
    codes = [login(attacker, "admin", f"guess number {i:04d}").status_code for i in range(12)]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}  # slowed after five failures ...
    assert login(attacker, "admin").status_code == 429  # ... even with the right password
    assert login(admin_browser, "admin").status_code == 303  # the admin is not locked out
    with app.state.services.store.session() as session:
        addresses = {e.ip for e in audit.recent(session, 50, action="login_failed")}
    assert addresses == {"203.0.113.9"}  # the address comes from the trusted proxy's header
    page = admin_browser.get("/admin/users")
    assert "203.0.113.9" in page.text and "username (unknown browsers)" in page.text
    cleared = admin_browser.post("/admin/throttles/clear", data={"username": "admin", "csrf_token": csrf_from(page.text)})
    assert "Sign-in throttle cleared for admin" in cleared.text
    assert login(_from(app, "10.2.2.2"), "admin").status_code == 303  # a new browser may sign in again


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(fresh_app):
    from gpcluster.store import audit

    for i in range(3):
        login(TestClient(fresh_app, headers={"X-Forwarded-For": f"198.51.100.{i}"}), "pql", "a wrong password!!")
    with fresh_app.state.services.store.session() as session:
        assert {e.ip for e in audit.recent(session, 10, action="login_failed")} == {"testclient"}


def test_openapi_document_and_api_docs_need_sign_in(fresh_app):
    anonymous = TestClient(fresh_app)
    assert anonymous.get("/api/openapi.json").status_code == 401
    assert anonymous.get("/api/docs", follow_redirects=False).status_code == 401
    document = _signed_in(fresh_app, "national").get("/api/openapi.json")
    assert document.status_code == 200 and "/api/tables/{name}" in document.json()["paths"]


def test_security_headers_on_every_response(fresh_app):
    response = TestClient(fresh_app).get("/login")
    assert "camera=()" in response.headers["permissions-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert PASSWORD not in response.text
