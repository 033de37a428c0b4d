"""Sign-in, CSRF, cookies, throttling, roles and audit."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from conftest import PASSWORD, csrf_from, login, make_store

EXAMPLE_PARAMETERS = {"action_id": "1", "period": "2024-10", "cluster_id": "S37000030/linlithgow"}


def post_routes(app) -> list[str]:
    """Every POST address, with its path parameters filled by example values (a literal placeholder would
    not match a typed parameter, and the request would reach another route)."""
    paths = [path for path, item in app.openapi()["paths"].items() if "post" in item]
    return [re.sub(r"\{(\w+)\}", lambda m: EXAMPLE_PARAMETERS.get(m.group(1), "x"), path) for path in paths]


def test_every_form_and_write_refuses_a_missing_or_wrong_csrf_token(app, client_for):
    client = client_for("admin")
    paths = post_routes(app)
    assert {"/login", "/logout", "/admin/users"} <= set(paths)
    for path in paths:
        data = {"username": "x", "password": "y" * 12, "role": "cluster", "scope_level": "cluster"}
        assert client.post(path, data=data, follow_redirects=False).status_code == 403, path
        wrong = client.post(path, data={**data, "csrf_token": "forged"}, follow_redirects=False)
        assert wrong.status_code == 403, path
    assert client.get("/").status_code == 200  # still signed in: the refused logout did nothing


def test_admin_form_works_with_its_token(client_for):
    client = client_for("admin")
    token = csrf_from(client.get("/admin/users").text)
    form = {"username": "newcql", "password": "another long passphrase", "role": "cluster",
            "scope_level": "cluster", "scope_code": "S37000030/linlithgow", "csrf_token": token}
    assert client.post("/admin/users", data=form, follow_redirects=False).status_code == 303
    assert "newcql" in client.get("/admin/users").text
    fresh = TestClient(client.app)
    assert login(fresh, "newcql", "another long passphrase").status_code == 303


def test_session_cookie_is_httponly_and_samesite_lax(app):
    client = TestClient(app)
    response = client.get("/login")
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie


def test_cookie_secure_setting_marks_cookie_secure(warehouse_file, tmp_path, monkeypatch):
    from gpcluster.web import create_app

    monkeypatch.setenv("GPCLUSTER_COOKIE_SECURE", "true")
    client = TestClient(create_app(warehouse_file, store=make_store(tmp_path)), base_url="https://testserver")
    assert "; secure" in client.get("/login").headers["set-cookie"].lower()


def test_wrong_password_then_throttled(app):
    client = TestClient(app)
    first = login(client, "pql", "not the password at all")
    assert first.status_code == 401 and "not recognised" in first.text
    for _ in range(5):
        login(client, "pql", "not the password at all")
    throttled = login(client, "pql", PASSWORD)  # even the right password is refused while throttled
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
    assert re.search(r"Too many failed attempts\. Try again in \d+ seconds", throttled.text)


def test_pages_need_sign_in_and_api_answers_401(app):
    client = TestClient(app)
    page = client.get("/clusters/S37000007/dundee-east", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login?next=%2Fclusters")
    assert client.get("/api/clusters").status_code == 401


def test_sign_in_redirect_stays_on_site(app):
    client = TestClient(app)
    token = csrf_from(client.get("/login").text)
    response = client.post("/login", data={"username": "cql", "password": PASSWORD, "csrf_token": token,
                                           "next": "//evil.example/"}, follow_redirects=False)
    assert response.headers["location"] == "/"


@pytest.mark.parametrize("path", ["/admin/users", "/admin/audit"])
def test_admin_pages_refused_to_other_roles(client_for, path):
    assert client_for("cql").get(path).status_code == 403
    assert client_for("admin").get(path).status_code == 200


def test_audit_log_records_logins_views_exports_and_api(app, client_for):
    from gpcluster.store import audit

    cql = client_for("cql")
    cql.get("/clusters/S37000007/dundee-east")
    cql.get("/practices/10001")
    cql.get("/download/cluster.csv?key=S37000007/dundee-east")
    client_for("national").get("/api/clusters")
    app.state.services.flush_audit()
    with app.state.services.store.session() as session:
        events = [(e.action, e.username, e.target) for e in audit.recent(session, 200)]
    assert ("login", "cql", None) in [(a, u, None) for a, u, _ in events]
    assert ("view_cluster", "cql", "S37000007/dundee-east") in events
    assert ("view_practice", "cql", "10001") in events
    assert ("export", "cql", "cluster:S37000007/dundee-east") in events
    assert ("api", "national", "/api/clusters") in events


def test_synthetic_banner_follows_the_ledger(client_for, tmp_path):
    from warehouse_fixture import build_warehouse

    from gpcluster.web import create_app

    assert "SYNTHETIC DATA" in client_for("cql").get("/").text
    real = create_app(build_warehouse(tmp_path / "real.duckdb", synthetic=False), store=make_store(tmp_path))
    client = TestClient(real)
    assert login(client, "cql").status_code == 303
    assert "SYNTHETIC DATA" not in client.get("/").text


def test_oidc_offered_only_when_configured(warehouse_file, tmp_path, monkeypatch, app):
    from gpcluster.web import create_app

    assert "/auth/oidc/login" not in TestClient(app).get("/login").text
    assert TestClient(app).get("/auth/oidc/login", follow_redirects=False).status_code == 404
    monkeypatch.setenv("GPCLUSTER_OIDC_ISSUER", "https://login.example.nhs.scot/realms/nhs")
    monkeypatch.setenv("GPCLUSTER_OIDC_CLIENT_ID", "gpcluster")
    configured = create_app(warehouse_file, store=make_store(tmp_path))
    assert "/auth/oidc/login" in TestClient(configured).get("/login").text
    assert any(path == "/auth/oidc/callback" for path in configured.openapi()["paths"])
