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
          "meeting_attendance", "loop_action", "notification_preference", "notification_sent", "loop_revision"}
HEAD = "0006"


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


def test_the_packaged_head_read_without_alembic_is_alembics_head(store_url):
    engine = create_store_engine(store_url)
    assert migrate.packaged_head() == migrate.head_revision(engine) == HEAD
    engine.dispose()


def _migration(revision, down, extra=""):
    return f'"""A migration."""\nimport sqlalchemy as sa\nrevision = {revision!r}\ndown_revision = {down!r}\n{extra}\n'


def test_single_head_is_certain_or_none():
    chain = [_migration("0001", None), _migration("0002", "0001"), _migration("0003", "0002")]
    assert migrate.single_head(chain) == "0003"
    assert migrate.single_head(reversed(chain)) == "0003"
    assert migrate.single_head([]) is None
    # two heads (a branch), a merge, a missing parent, a revision twice, a computed value, a dependency
    assert migrate.single_head([*chain, _migration("0004", "0002")]) is None
    assert migrate.single_head([*chain[:2], _migration("0003", "0001"), _migration("0004", ("0002", "0003"))]) is None
    assert migrate.single_head([_migration("0002", "0001")]) is None
    assert migrate.single_head([*chain, _migration("0003", "0002")]) is None
    assert migrate.single_head([*chain, 'revision = "0004"\ndown_revision = "000" + "3"\n']) is None
    assert migrate.single_head([*chain, _migration("0004", "0003", "depends_on = '0001'")]) is None
    assert migrate.single_head([*chain, 'revision = "0004"\n']) is None


def test_opening_a_store_at_head_does_not_import_alembic(store_url):
    import subprocess
    import sys

    open_store(store_url).close()  # migrated (Alembic, in this process)
    code = ("import sys; from gpcluster.store import open_store, migrate; s = open_store(sys.argv[1]); "
            "print(migrate.stored_revisions(s.engine), 'alembic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, store_url], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [f"['{HEAD}']", "False"]


def test_opening_a_store_behind_head_still_migrates_it(store_url):
    engine = create_store_engine(store_url)
    migrate.upgrade(engine, "0002")
    assert migrate.stored_revisions(engine) == ["0002"]
    engine.dispose()
    store = open_store(store_url)
    assert migrate.stored_revisions(store.engine) == [HEAD]
    assert set(inspect(store.engine).get_table_names()) >= TABLES
    store.close()


def test_a_store_from_newer_code_is_refused_as_before(store_url):
    from sqlalchemy import text

    engine = create_store_engine(store_url)
    migrate.upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(Exception, match="9999"):
        open_store(store_url)
