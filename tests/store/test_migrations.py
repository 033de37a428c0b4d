"""The Alembic migrations build the schema from empty, match the models, and downgrade to nothing."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from gpcluster import config
from gpcluster.store import create_store_engine, migrate, open_store
from gpcluster.store.models import Base

TABLES = {"user_account", "audit_event", "login_attempt", "web_session", "intervention", "intervention_version",
          "evaluation_run", "pack", "pack_practice", "pack_signal", "signal_response", "cluster_meeting",
          "meeting_attendance", "loop_action", "notification_preference", "notification_sent"}
HEAD = "0004"


def test_upgrade_from_empty_creates_every_table_at_head(store_url):
    engine = create_store_engine(store_url)
    assert migrate.current_revision(engine) is None
    assert not TABLES & set(inspect(engine).get_table_names())
    migrate.upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    assert migrate.current_revision(engine) == migrate.head_revision(engine) == HEAD
    engine.dispose()


# SQLite cannot reflect the lower(username) index; the duplicate-username tests check it behaviourally.
@pytest.mark.filterwarnings("ignore:.*expression-based index:UserWarning",
                            "ignore:.*expression-based index")
def test_migrated_schema_matches_the_models(store):
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_downgrade_to_base_removes_everything_and_upgrade_again_works(store):
    migrate.downgrade(store.engine)
    assert migrate.current_revision(store.engine) is None
    assert set(inspect(store.engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(store.engine)
    assert set(inspect(store.engine).get_table_names()) >= TABLES


def test_opening_twice_is_harmless(store_url):
    open_store(store_url).close()
    again = open_store(store_url)
    assert migrate.current_revision(again.engine) == HEAD
    again.close()


def test_default_store_is_sqlite_in_home():
    store = open_store()
    assert store.engine.url.get_backend_name() == "sqlite"
    assert (config.home() / "store.db").exists()
    store.close()


def test_migrations_run_from_the_installed_package_in_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no alembic.ini here
    store = open_store(f"sqlite:///{tmp_path / 'elsewhere.db'}")
    assert migrate.current_revision(store.engine) == HEAD
    store.close()


def test_upgrade_from_0001_keeps_accounts_and_attempts_and_adds_sessions(store_url):
    from datetime import UTC, datetime

    from sqlalchemy import text

    engine = create_store_engine(store_url)
    migrate.upgrade(engine, "0001")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO user_account (username, role, scope_level, active, created_at) "
                                "VALUES ('kept', 'national', 'scotland', true, :at)"), {"at": datetime.now(UTC)})
        connection.execute(text("INSERT INTO login_attempt (at, username, ip, success) VALUES (:at, 'kept', "
                                "'10.0.0.1', false)"), {"at": datetime.now(UTC)})
    migrate.upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT username FROM user_account")).scalar_one() == "kept"
        assert connection.execute(text("SELECT device FROM login_attempt")).one() == (None,)
        assert connection.execute(text("SELECT count(*) FROM web_session")).scalar_one() == 0
    migrate.downgrade(engine, "0001")
    with engine.connect() as connection:  # down again: the attempt survives without its new column
        assert connection.execute(text("SELECT username, ip FROM login_attempt")).one() == ("kept", "10.0.0.1")
    assert "web_session" not in inspect(engine).get_table_names()
    engine.dispose()
