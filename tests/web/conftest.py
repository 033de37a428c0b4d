"""Fixtures for the web tests: a small warehouse built in code, a store with one user per role, and
signed-in TestClients."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent))

from warehouse_fixture import OWN_CLUSTER, build_warehouse  # noqa: E402

PASSWORD = "correct horse battery staple"
USERS = {  # username -> (role, scope_level, scope_code)
    "cql": ("cluster", "cluster", OWN_CLUSTER),
    "pql": ("practice", "practice", "10002"),
    "hscp_lothian": ("hscp", "hscp", "S37000030"),
    "national": ("national", "scotland", None),
    "admin": ("admin", "scotland", None),
    "board_tayside": ("board", "board", "S08000030"),
    "analyst": ("analyst", "hscp", "S37000007"),
}


@pytest.fixture(scope="session")
def warehouse_file(tmp_path_factory) -> Path:
    return build_warehouse(tmp_path_factory.mktemp("web") / "warehouse.duckdb")


def make_store(tmp_path: Path):
    from gpcluster.store import open_store
    from gpcluster.store.accounts import add_user

    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with store.session() as session:
        for username, (role, level, code) in USERS.items():
            add_user(session, username, PASSWORD, role, level, code, display_name=username.upper())
    return store


@pytest.fixture(scope="module")
def app(warehouse_file, tmp_path_factory):
    from gpcluster.web import create_app

    return create_app(warehouse_file, store=make_store(tmp_path_factory.mktemp("store")))


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD):
    token = csrf_from(client.get("/login").text)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token,
                                       "next": "/"}, follow_redirects=False)


@pytest.fixture
def client_for(app):
    """client_for('cql') -> a TestClient signed in as that user."""
    clients = []

    def make(username: str) -> TestClient:
        client = TestClient(app, base_url="http://testserver")
        clients.append(client)
        response = login(client, username)
        assert response.status_code == 303, response.text
        return client

    yield make
    for c in clients:
        c.close()
