"""The operational store: user accounts, the audit log and (later) workflow data.

SQLAlchemy 2 over SQLite by default (`<home>/store.db`) or PostgreSQL; the schema is managed by the
Alembic migrations in store/migrations and brought up to date whenever the store is opened.

Public API: open_store(url=None) -> Store; Store.session() and Store.engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from gpcluster import config
from gpcluster.errors import UserError
from gpcluster.store import migrate

SQLITE_POOL_SIZE = 40


class Store:
    """An open operational store. Use `session()` for a unit of work."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed when the block ends normally and rolled back if it raises."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def close(self) -> None:
        """Release the store's connections."""
        self.engine.dispose()


def _configure_sqlite(dbapi_connection, _record) -> None:
    # WAL lets page views (which write audit events) read while another request writes; the busy timeout
    # makes concurrent writers queue instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_store_engine(url: str) -> Engine:
    """A SQLAlchemy engine for a store URL, with SQLite's folder created and foreign keys enforced."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise UserError(f"store_url: not a valid database URL: {url!r}") from exc
    if parsed.get_backend_name() == "sqlite":
        in_file = bool(parsed.database) and parsed.database != ":memory:"
        if in_file:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # a connection kept for each of the web server's request threads (anyio's 40): with SQLAlchemy's
        # default pool (5 kept, 10 more opened and closed as needed) most requests under load opened a
        # connection and ran the pragmas below, then closed it
        engine = create_engine(parsed, **({"pool_size": SQLITE_POOL_SIZE, "max_overflow": SQLITE_POOL_SIZE}
                                          if in_file else {}))
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


def open_store(url: str | None = None) -> Store:
    """Open the store at `url` (default: the `store_url` setting) and migrate it to the newest schema."""
    engine = create_store_engine(url or config.store_url())
    migrate.upgrade(engine)
    return Store(engine)
