"""What the app needs from the rest of gpcluster: the warehouse (read-only) and the operational store."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from gpcluster.web.access import Viewer
from gpcluster.web.audit_writer import AuditWriter
from gpcluster.web.cache import ReleasedCache
from gpcluster.web.data import WebData


@dataclass
class Services:
    data: WebData
    store: object  # gpcluster.store.Store
    cache: ReleasedCache = field(default_factory=ReleasedCache)
    audit_writer: AuditWriter | None = None
    # Looking the account up on every request cost a fifth of the server's time under load; a disabled
    # account or a changed role therefore takes effect within this many seconds (sign-out is immediate).
    viewer_ttl_seconds: float = 10.0
    _viewers: dict = field(default_factory=dict, repr=False)
    _viewers_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.audit_writer is None:
            self.audit_writer = AuditWriter(self.store)

    def viewer(self, user_id: int) -> Viewer | None:
        """The active user with this id as a Viewer, else None (looked up at most every viewer_ttl_seconds)."""
        now = time.monotonic()
        with self._viewers_lock:
            cached = self._viewers.get(user_id)
        if cached is not None and now - cached[0] < self.viewer_ttl_seconds:
            return cached[1]
        found = self._load_viewer(user_id)
        with self._viewers_lock:
            self._viewers[user_id] = (now, found)
        return found

    def _load_viewer(self, user_id: int) -> Viewer | None:
        from gpcluster.store.models import User

        with self.store.session() as session:
            user = session.get(User, user_id)
            if user is None or not user.active:
                return None
            own = {}
            if user.scope_level == "practice" and user.scope_code:
                own = self.data.practice_clusters(user.scope_code)
            return Viewer(user.id, user.username, user.display_name or user.username, user.role,
                          user.scope_level, user.scope_code, own)

    def audit(self, action: str, viewer: Viewer | None = None, target: str | None = None, detail: str | None = None, ip: str | None = None) -> None:
        """Write one audit event (never row-level data: targets are area codes or route names)."""
        self.audit_writer.submit(action, viewer.user_id if viewer else None, target=target, detail=detail, ip=ip)

    def flush_audit(self) -> None:
        """Wait until every audit event of earlier requests is committed."""
        self.audit_writer.flush()
