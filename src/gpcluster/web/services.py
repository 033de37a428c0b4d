"""What the app needs from the rest of gpcluster: the warehouse (read-only) and the operational store."""

from __future__ import annotations

from dataclasses import dataclass, field

from gpcluster.web.access import Viewer
from gpcluster.web.audit_writer import AuditWriter
from gpcluster.web.cache import ReleasedCache
from gpcluster.web.data import WebData
from gpcluster.web.jobs import RUNNER, JobRunner
from gpcluster.web.loop_cache import LoopCache
from gpcluster.web.sessions import SessionCache


@dataclass
class Services:
    data: WebData
    store: object  # gpcluster.store.Store
    cache: ReleasedCache = field(default_factory=ReleasedCache)
    audit_writer: AuditWriter | None = None
    sessions: SessionCache | None = None  # sign-in sessions (store-held, cached per process)
    jobs: JobRunner = field(default=RUNNER)  # work taken off the request path (worker processes)
    loop: LoopCache | None = None  # what the pack pages read from the store, kept per loop revision

    def __post_init__(self) -> None:
        if self.audit_writer is None:
            self.audit_writer = AuditWriter(self.store)
        if self.sessions is None:
            self.sessions = SessionCache(self.store, self._load_viewer)
        if self.loop is None:
            self.loop = LoopCache(self.store)

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
