"""Audit events from web requests, written by one background thread in batches.

Why not write in the request: every page view writes an audit row, and a request thread committing to
SQLite while the event loop holds the GIL pays a GIL hand-off (up to 5 ms) on each of the dozen driver
calls of a SQLAlchemy unit of work. Under 50 concurrent clients the cluster page fell to ~12 requests a
second. One writer thread, many events per transaction, removes both the contention and the hand-offs.
Events carry the time of the request; `flush()` waits until everything queued is committed (used at
shutdown and by tests).
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from datetime import datetime

from gpcluster.store.audit import check_action, record_by_user_id
from gpcluster.store.models import utcnow

log = logging.getLogger(__name__)

MAX_BATCH = 500


@dataclass(frozen=True)
class PendingEvent:
    action: str
    user_id: int | None
    target: str | None
    detail: str | None
    ip: str | None
    at: datetime


class AuditWriter:
    def __init__(self, store):
        self.store = store
        self._queue: queue.Queue[PendingEvent] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="gpcluster-audit-writer", daemon=True)
        self._thread.start()

    def submit(self, action: str, user_id: int | None, target: str | None = None, detail: str | None = None,
               ip: str | None = None) -> None:
        """Queue one event, stamped now."""
        check_action(action)  # fail in the request, not later in the writer
        self._queue.put(PendingEvent(action, user_id, target, detail, ip, utcnow()))

    def flush(self) -> None:
        """Block until every event queued so far is committed."""
        self._queue.join()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._write(batch)
            except Exception:  # the writer must survive a bad batch; the loss is logged loudly
                log.exception("could not write %d audit event(s)", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    def _write(self, batch: list[PendingEvent]) -> None:
        # Core statements on one connection, not an ORM session loading User objects: this runs once for
        # every few requests under load and holds the interpreter while it does (about a tenth of a
        # planner page's CPU went to the session and the user query).
        with self.store.engine.begin() as connection:
            record_by_user_id(connection, batch)
