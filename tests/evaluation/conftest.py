"""Fixtures for the evaluation tests: a warehouse built in code, registrations, and the store fixtures of
tests/store (SQLite, and PostgreSQL when GPCLUSTER_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from warehouse import build_warehouse, registration_toml  # noqa: E402

_spec = importlib.util.spec_from_file_location("store_fixtures", Path(__file__).parents[1] / "store" / "conftest.py")
_store_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_store_fixtures)
store_url, migrated_sqlite, store, clock = (_store_fixtures.store_url, _store_fixtures.migrated_sqlite,
                                            _store_fixtures.store, _store_fixtures.clock)


@pytest.fixture(scope="session", autouse=True)
def one_blas_thread():
    """OpenBLAS's threaded SVD on these small design matrices is ~50x slower than one thread on a 2-core
    machine; the evaluation tests fit hundreds of models."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="session")
def evaluation_warehouse(tmp_path_factory) -> Path:
    return build_warehouse(tmp_path_factory.mktemp("evaluation") / "warehouse.duckdb")


@pytest.fixture
def toml_text():
    return registration_toml

