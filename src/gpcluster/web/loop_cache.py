"""What the pack pages read from the loop's tables (packs, their practices and signals, responses,
meetings, actions), kept in the process while the store's loop revision stays the same.

The evaluation pages keep the evaluation registry's rows here too (gpcluster.web.evaluation).

The revision (gpcluster.store.models.LoopRevision) is raised by SQLite's triggers in the same transaction
as every insert, update and delete of those tables and the registry's (migrations 0005 and 0006), whoever
writes them (either server process, `gpcluster pack publish`, `gpcluster evaluate`, a script), so a request that reads it sees any change at once. A request reads one row:
the revision with the viewer's account as stored now (the pages act on its role and scope). Only entries
of the newest revision seen, on the current day, are kept; a newer revision or the next day drops them all
(what is due or overdue changes with the day). On a store without the triggers (not
SQLite) nothing is kept: every request reads the tables.

Why: each page read five to ten rows sets through an ORM session, and under load each query's trip
through SQLite (the GIL given up and taken back per call) cost more than the page itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Account:
    """The viewer's account as stored now: what gpcluster.packs.loop's rules (is_cql, is_pql) look at."""

    username: str
    role: str
    scope_level: str
    scope_code: str | None


class LoopCache:
    """Per app (one store); safe to share between request threads."""

    def __init__(self, store):
        self.store = store
        self.enabled = store.engine.dialect.name == "sqlite"
        self._lock = threading.Lock()
        self._generation: tuple[int, date] | None = None
        self._items: dict[Hashable, Any] = {}

    def read(self, user_id: int) -> tuple[Account | None, int | None]:
        """The account (None when it no longer exists) and the loop's revision (None: keep nothing)."""
        from gpcluster.store.models import LoopRevision, User

        query = (select(LoopRevision.n, User.username, User.role, User.scope_level, User.scope_code)
                 .select_from(LoopRevision).outerjoin(User, User.id == user_id).where(LoopRevision.id == 1))
        with self.store.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:  # the revision row was deleted: nothing can be kept
            with self.store.session() as session:
                user = session.get(User, user_id)
                account = Account(user.username, user.role, user.scope_level, user.scope_code) if user else None
            return account, None
        account = Account(row.username, row.role, row.scope_level, row.scope_code) if row.role is not None else None
        return account, row.n if self.enabled else None

    def get(self, revision: int | None, key: Hashable, build: Callable[[Session], Any]) -> Any:
        """`build(session)`'s result for `key`, kept while the revision is `revision`. Build after reading
        the revision (as `read` then `get` do): what is built is then at least as new as the revision it is
        kept under, and any later change raises the revision."""
        generation = (revision, date.today()) if revision is not None else None
        if generation is not None:
            with self._lock:
                if generation == self._generation and key in self._items:
                    return self._items[key]
        with self.store.session() as session:
            value = build(session)
        if generation is not None:
            with self._lock:
                if self._generation is None or generation > self._generation:
                    self._generation, self._items = generation, {}
                if generation == self._generation:
                    self._items[key] = value
        return value
