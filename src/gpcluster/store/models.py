"""Tables of the operational store: user accounts, the audit log, sign-in sessions, login attempts (for
throttling), the register of interventions with their evaluations, and the cluster-pack loop: published
packs, responses to their signals, meetings, actions and e-mail notification preferences.

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
                 "view_evaluation", "pack_published", "view_pack", "response_recorded", "response_changed",
                 "meeting_planned", "meeting_recorded", "meeting_changed", "action_added", "action_changed",
                 "notification_sent", "preferences_changed")


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
    email: Mapped[str | None] = mapped_column(String(320))  # where notifications go (None: none sent)
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


# The cluster-pack loop (gpcluster.packs): publish -> respond -> meet -> act -> next pack.


class Pack(Base):
    """One published, immutable version of a cluster's pack for a period. Its files never change; a
    correction is a new version whose `changes` says what differs from the one before."""

    __tablename__ = "pack"
    __table_args__ = (UniqueConstraint("cluster_id", "period", "version", name="uq_pack_cluster_period_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    cluster_name: Mapped[str] = mapped_column(String(200), nullable=False)
    period: Mapped[date] = mapped_column(Date, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)  # SHA-256 of the pack's figures
    changes: Mapped[str] = mapped_column(Text, nullable=False)  # what differs from the previous version
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    published_by: Mapped[str] = mapped_column(String(150), nullable=False)
    folder: Mapped[str] = mapped_column(String(300), nullable=False)  # relative to the packs folder
    html_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))  # None: published without a PDF
    warehouse_version: Mapped[str | None] = mapped_column(String(40))
    software_version: Mapped[str] = mapped_column(String(40), nullable=False)


class PackPractice(Base):
    """A practice of the cluster in the pack's period: its PQL responds to the pack."""

    __tablename__ = "pack_practice"

    pack_id: Mapped[int] = mapped_column(ForeignKey("pack.id", ondelete="CASCADE"), primary_key=True)
    practice_code: Mapped[str] = mapped_column(String(20), primary_key=True)
    practice_name: Mapped[str] = mapped_column(String(200), nullable=False)


class PackSignal(Base):
    """A signal listed in a published pack (released for the cluster's viewers: no counts)."""

    __tablename__ = "pack_signal"
    __table_args__ = (UniqueConstraint("pack_id", "signal_id", name="uq_pack_signal"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pack_id: Mapped[int] = mapped_column(ForeignKey("pack.id", ondelete="CASCADE"), nullable=False, index=True)
    signal_id: Mapped[str] = mapped_column(String(200), nullable=False)
    level: Mapped[str] = mapped_column(String(20), nullable=False)  # practice | cluster
    area_code: Mapped[str] = mapped_column(String(100), nullable=False)
    area_name: Mapped[str] = mapped_column(String(200), nullable=False)
    indicator_id: Mapped[str] = mapped_column(String(100), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    sentence: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # new | ongoing
    worth_discussing: Mapped[bool] = mapped_column(Boolean, nullable=False)
    rank: Mapped[int | None] = mapped_column(Integer)


class SignalResponse(Base):
    """A practice's response to one signal of a cluster's pack for a period (whatever the pack's version).
    Editable until the cluster's meeting on that pack is recorded, then locked with who and when."""

    __tablename__ = "signal_response"
    __table_args__ = (UniqueConstraint("cluster_id", "period", "signal_id", name="uq_signal_response"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    period: Mapped[date] = mapped_column(Date, nullable=False)
    signal_id: Mapped[str] = mapped_column(String(200), nullable=False)
    practice_code: Mapped[str | None] = mapped_column(String(20))  # None: a cluster-level signal
    kind: Mapped[str] = mapped_column(String(20), nullable=False)  # explained | accepted | action_agreed | not_relevant
    reason: Mapped[str | None] = mapped_column(Text)
    action_id: Mapped[int | None] = mapped_column(ForeignKey("loop_action.id", ondelete="SET NULL"))
    created_by: Mapped[str] = mapped_column(String(150), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_by: Mapped[str] = mapped_column(String(150), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    locked_by: Mapped[str | None] = mapped_column(String(150))
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ClusterMeeting(Base):
    """The cluster's meeting on a period's pack: planned (a date) and then recorded (who came, what was
    decided, what we learned). Recording it locks the period's responses."""

    __tablename__ = "cluster_meeting"
    __table_args__ = (UniqueConstraint("cluster_id", "period", name="uq_cluster_meeting"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    period: Mapped[date] = mapped_column(Date, nullable=False)
    meets_on: Mapped[date] = mapped_column(Date, nullable=False)
    decisions: Mapped[str | None] = mapped_column(Text)
    learned: Mapped[str | None] = mapped_column(Text)
    planned_by: Mapped[str] = mapped_column(String(150), nullable=False)
    planned_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    recorded_by: Mapped[str | None] = mapped_column(String(150))
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MeetingAttendance(Base):
    """A practice present at a recorded meeting."""

    __tablename__ = "meeting_attendance"

    meeting_id: Mapped[int] = mapped_column(ForeignKey("cluster_meeting.id", ondelete="CASCADE"), primary_key=True)
    practice_code: Mapped[str] = mapped_column(String(20), primary_key=True)


class LoopAction(Base):
    """An action agreed in a response or at a meeting, tracked across packs until done or dropped."""

    __tablename__ = "loop_action"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    period: Mapped[date] = mapped_column(Date, nullable=False)  # the pack it was agreed on
    signal_id: Mapped[str | None] = mapped_column(String(200))
    practice_code: Mapped[str | None] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text, nullable=False)
    owner: Mapped[str] = mapped_column(String(200), nullable=False)
    due_on: Mapped[date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # open | done | dropped
    status_note: Mapped[str | None] = mapped_column(Text)
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("cluster_meeting.id", ondelete="SET NULL"))
    created_by: Mapped[str] = mapped_column(String(150), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_by: Mapped[str] = mapped_column(String(150), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoopRevision(Base):
    """One row: a number SQLite's triggers raise on every change to the loop's tables above and the
    evaluation registry's (migrations 0005 and 0006), so a reader knows in one row whether what it kept from them is current."""

    __tablename__ = "loop_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer, nullable=False)


class NotificationPreference(Base):
    """Which e-mails a user wants; a user without a row gets them all."""

    __tablename__ = "notification_preference"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    pack_published: Mapped[bool] = mapped_column(Boolean, nullable=False)
    meeting_reminder: Mapped[bool] = mapped_column(Boolean, nullable=False)
    actions_due: Mapped[bool] = mapped_column(Boolean, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class NotificationSent(Base):
    """One e-mail sent, so a notifier run from cron never sends the same message twice."""

    __tablename__ = "notification_sent"
    __table_args__ = (UniqueConstraint("kind", "user_id", "subject_key", name="uq_notification_sent"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(30), nullable=False)  # pack_published | meeting_reminder | actions_due
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False)
    subject_key: Mapped[str] = mapped_column(String(200), nullable=False)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
