"""Tables of the operational store: user accounts, the audit log, sign-in sessions, login attempts (for
throttling) and the register of interventions with their evaluations.

The schema itself is created by the Alembic migrations in store/migrations; these models must match them
(tests/store checks that the migrated database and the models agree)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ROLES = ("national", "board", "hscp", "cluster", "practice", "analyst", "admin")
SCOPE_LEVELS = ("scotland", "board", "hscp", "cluster", "practice")
AUDIT_ACTIONS = ("login", "login_failed", "login_throttled", "logout", "view_practice", "view_cluster",
                 "export", "api", "user_added", "user_changed", "view_plan", "roster_import", "throttle_cleared",
                 "sessions_ended", "intervention_registered", "intervention_amended", "evaluation_run",
                 "view_evaluation")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC on the way in and out. SQLite keeps no zone, so values read back naive are UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("store timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class User(Base):
    """An account. `username` is stored lower-case and unique; `password_hash` is argon2 (None for OIDC-only)."""

    __tablename__ = "user_account"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(150), nullable=False)
    display_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    scope_level: Mapped[str] = mapped_column(String(20), nullable=False)
    scope_code: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    oidc_subject: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"User({self.username!r}, role={self.role!r}, scope={self.scope_level}:{self.scope_code})"


# Usernames are normalised to lower case on the way in; this index also refuses case variants written directly.
Index("uq_user_account_username_lower", func.lower(User.username), unique=True)


class AuditEvent(Base):
    """One audited action. `username` is copied so the log survives renames; never row-level data."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    username: Mapped[str | None] = mapped_column(String(150))
    action: Mapped[str] = mapped_column(String(30), nullable=False, index=True)
    target: Mapped[str | None] = mapped_column(String(300))
    detail: Mapped[str | None] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(String(64))


class LoginAttempt(Base):
    """A password sign-in attempt, kept to throttle guessing per username and per address."""

    __tablename__ = "login_attempt"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    username: Mapped[str] = mapped_column(String(150), nullable=False, index=True)
    ip: Mapped[str | None] = mapped_column(String(64), index=True)
    success: Mapped[bool] = mapped_column(Boolean, nullable=False)
    # the browser's device id when it showed a valid device cookie for this username (see store.throttle)
    device: Mapped[str | None] = mapped_column(String(64), index=True)


class WebSession(Base):
    """A signed-in browser session. The cookie holds a random token; only its SHA-256 is stored, so the
    table cannot be used to sign in. Deleting the row ends the session everywhere (sign-out, disable)."""

    __tablename__ = "web_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False,
                                         index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ip: Mapped[str | None] = mapped_column(String(64))


class Intervention(Base):
    """A registered change (gpcluster.evaluation.registry). Its content lives in versions, never edited."""

    __tablename__ = "intervention"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class InterventionVersion(Base):
    """One registered version: canonical JSON content and its SHA-256 fingerprint. Rows are append-only
    (database triggers refuse UPDATE and DELETE; the ORM refuses them too)."""

    __tablename__ = "intervention_version"
    __table_args__ = (UniqueConstraint("intervention_id", "version", name="uq_intervention_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    intervention_id: Mapped[int] = mapped_column(ForeignKey("intervention.id"), nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    registered_by: Mapped[str | None] = mapped_column(String(150))
    start_date: Mapped[date] = mapped_column(Date, nullable=False)
    after_start: Mapped[bool] = mapped_column(Boolean, nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    content_sha256: Mapped[str] = mapped_column(String(64), nullable=False)


class EvaluationRun(Base):
    """The result of one evaluation method on one outcome of one intervention version (JSON)."""

    __tablename__ = "evaluation_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    intervention_id: Mapped[int] = mapped_column(ForeignKey("intervention.id"), nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    indicator_id: Mapped[str] = mapped_column(String(64), nullable=False)
    method: Mapped[str] = mapped_column(String(20), nullable=False)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    run_by: Mapped[str | None] = mapped_column(String(150))
    data_through: Mapped[date | None] = mapped_column(Date)
    result: Mapped[str] = mapped_column(Text, nullable=False)
