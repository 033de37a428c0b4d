"""Store fixtures: every store test runs against SQLite, and against PostgreSQL when
GPCLUSTER_TEST_POSTGRES_URL is set (.ci/run starts a server and sets it). Each test starts from an empty
database."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

POSTGRES_ENV = "GPCLUSTER_TEST_POSTGRES_URL"


def _empty_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request, tmp_path) -> str:
    """URL of an empty store database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set (.ci/run starts PostgreSQL and sets it)")
    _empty_postgres(url)
    return url


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """A SQLite store migrated once; tests start from copies of it (migrating costs more than copying)."""
    from gpcluster.store import open_store

    path = tmp_path_factory.mktemp("template") / "store.db"
    open_store(f"sqlite:///{path}").close()
    return path


@pytest.fixture
def store(store_url, migrated_sqlite):
    """An open, empty store at the newest schema, on each backend."""
    from gpcluster.store import open_store

    if store_url.startswith("sqlite:///"):
        shutil.copyfile(migrated_sqlite, store_url.removeprefix("sqlite:///"))
    opened = open_store(store_url)
    yield opened
    opened.close()


class Clock:
    """A clock tests move by hand instead of sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


TEST_HASHER_PARAMS = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    """Cheap argon2 parameters keep the suite fast; tests of the shipped parameters use `real_hashing`."""
    from argon2 import PasswordHasher

    from gpcluster.store import accounts

    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(**TEST_HASHER_PARAMS))
    accounts._dummy_hash.cache_clear()
    yield
    accounts._dummy_hash.cache_clear()


@pytest.fixture
def real_hashing(monkeypatch):
    """The argon2 parameters gpcluster ships with (argon2-cffi's recommended defaults)."""
    from gpcluster.store import accounts

    monkeypatch.setattr(accounts, "_hasher", accounts.PasswordHasher())
    accounts._dummy_hash.cache_clear()
