"""Fixtures for the pack tests: the web tests' small warehouse (three clusters, eight practices, four
quarters) with signals in two quarters, a store on SQLite and PostgreSQL (the store tests' fixtures), and
a store with one account per loop role (helpers and constants in pack_fixtures.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from pack_fixtures import TESTS, add_earlier_signals, add_loop_users, build_warehouse


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_store_fixtures = _load(TESTS / "store" / "conftest.py", "store_fixtures_for_packs")
store_url = _store_fixtures.store_url
migrated_sqlite = _store_fixtures.migrated_sqlite
store = _store_fixtures.store
fast_hashing = _store_fixtures.fast_hashing


@pytest.fixture(scope="session")
def loop_warehouse(tmp_path_factory) -> Path:
    path = build_warehouse(tmp_path_factory.mktemp("packs-warehouse") / "warehouse.duckdb")
    add_earlier_signals(path)
    return path


@pytest.fixture
def loop_store(store):
    """A store on each backend with the loop's accounts."""
    add_loop_users(store)
    return store


@pytest.fixture
def packs_home(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "packs"
    monkeypatch.setenv("GPCLUSTER_PACKS_DIR", str(root))
    monkeypatch.setenv("GPCLUSTER_PUBLIC_URL", "https://gpcluster.example.org")
    from gpcluster import config

    config.clear_cache()
    return root
