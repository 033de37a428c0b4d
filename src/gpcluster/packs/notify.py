"""E-mail about the loop: "pack published" to the cluster's CQL and PQLs, a reminder before the meeting to
PQLs whose practice has signals without a response, and "actions due" to the CQL and the action's PQL.

Bodies carry the cluster's name, the period, counts of signals or actions and links to the app: never a
practice's figures, a signal's wording or an action's text (e-mail leaves the server's control). Each user
may turn each kind off (`notification_preference`); an account without an e-mail address gets none.
Every message sent is remembered (`notification_sent`), so `gpcluster pack notify` can run from cron as
often as wanted and never sends the same message twice; a message that fails to send is tried again on the
next run.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sqlalchemy import select
from sqlalchemy.orm import Session

from gpcluster import config
from gpcluster.errors import UserError
from gpcluster.packs.formatting import day
from gpcluster.packs.loop import current_pack, pack_practices, pack_signals, responses
from gpcluster.packs.publish import app_url
from gpcluster.signals import quarter_words
from gpcluster.store import audit
from gpcluster.store.models import (
    ClusterMeeting,
    LoopAction,
    NotificationPreference,
    NotificationSent,
    Pack,
    User,
    utcnow,
)

KINDS = {"pack_published": "a new pack is published", "meeting_reminder": "reminders before the cluster meeting",
         "actions_due": "actions coming due"}
TLS_MODES = ("starttls", "tls", "none")
ANNOUNCE_DAYS = 30  # a pack published longer ago than this is not announced (e.g. on the notifier's first run)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    tls: str
    sender: str
    user: str
    password: str
    timeout: float

    @classmethod
    def from_config(cls) -> SmtpSettings:
        host = str(config.get("smtp_host")).strip()
        if not host:
            raise UserError("e-mail is not set up: set smtp_host (and smtp_port, smtp_tls, smtp_sender; "
                            "smtp_user and smtp_password if the server needs them), see docs/settings.md")
        tls = str(config.get("smtp_tls")).strip().lower()
        if tls not in TLS_MODES:
            raise UserError(f"smtp_tls must be one of {', '.join(TLS_MODES)}, got {tls!r}")
        sender = str(config.get("smtp_sender")).strip()
        if not sender:
            raise UserError("smtp_sender: set the From address of notification e-mails")
        return cls(host, int(config.get("smtp_port")), tls, sender, str(config.get("smtp_user")),
                   str(config.get("smtp_password")), float(config.get("smtp_timeout")))


@dataclass
class Message:
    kind: str
    user: User
    subject: str
    body: str
    keys: list[str] = field(default_factory=list)  # what it announces (remembered once sent)


@dataclass
class NotifySummary:
    sent: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    failed: list[str] = field(default_factory=list)


def preferences(session: Session, user_id: int) -> dict[str, bool]:
    """Which kinds of e-mail the user gets (all, unless turned off)."""
    row = session.get(NotificationPreference, user_id)
    return {kind: bool(getattr(row, kind)) if row is not None else True for kind in KINDS}


def set_preferences(session: Session, user: User, wanted: dict[str, bool], ip: str | None = None) -> None:
    """Turn kinds of e-mail on or off for the user (audited)."""
    unknown = sorted(set(wanted) - set(KINDS))
    if unknown:
        raise UserError(f"unknown notification kind(s): {', '.join(unknown)}")
    row = session.get(NotificationPreference, user.id)
    if row is None:
        row = NotificationPreference(user_id=user.id, pack_published=True, meeting_reminder=True, actions_due=True,
                                     updated_at=utcnow())
        session.add(row)
    for kind, on in wanted.items():
        setattr(row, kind, bool(on))
    row.updated_at = utcnow()
    session.flush()
    audit.record(session, "preferences_changed", user=user, target=user.username,
                 detail=", ".join(f"{k} {'on' if getattr(row, k) else 'off'}" for k in KINDS), ip=ip)


def _recipients(session: Session, cluster_id: str, practices: set[str] | None) -> tuple[list[User], dict[str, list[User]]]:
    """The cluster's CQLs, and its PQLs by practice code (active accounts with an e-mail address)."""
    users = session.scalars(select(User).where(User.active.is_(True), User.email.is_not(None), User.email != ""))
    cqls, pqls = [], defaultdict(list)
    for u in users:
        if u.role == "cluster" and u.scope_level == "cluster" and u.scope_code == cluster_id:
            cqls.append(u)
        elif u.role == "practice" and u.scope_level == "practice" and practices and u.scope_code in practices:
            pqls[u.scope_code].append(u)
    return cqls, pqls


def _sent(session: Session, kind: str, user_id: int, key: str) -> bool:
    return session.scalar(select(NotificationSent.id).where(NotificationSent.kind == kind,
                                                            NotificationSent.user_id == user_id,
                                                            NotificationSent.subject_key == key)) is not None


def _footer() -> str:
    base = str(config.get("public_url")).rstrip("/")
    return (f"\n\nYou get this because you are a quality lead of the cluster in gpcluster. To choose which e-mails "
            f"you get: {base}/account/notifications\n")


def _pack_published(session: Session, now: datetime) -> list[Message]:
    messages = []
    recent = session.scalars(select(Pack).where(Pack.published_at >= now - timedelta(days=ANNOUNCE_DAYS)))
    for pack in recent:
        newest = current_pack(session, pack.cluster_id, pack.period)
        if newest is None or newest.id != pack.id:
            continue  # superseded by a correction: announce only the newest version
        practices = pack_practices(session, pack)
        cqls, pqls = _recipients(session, pack.cluster_id, set(practices))
        signals = pack_signals(session, pack)
        worth = sum(1 for s in signals if s.worth_discussing)
        key = f"pack:{pack.cluster_id}:{pack.period.isoformat()}:v{pack.version}"
        for user in [*cqls, *(u for users in pqls.values() for u in users)]:
            if not preferences(session, user.id)["pack_published"] or _sent(session, "pack_published", user.id, key):
                continue
            what = "a corrected version of " if pack.version > 1 else ""
            body = (f"Hello {user.display_name or user.username},\n\n{what.capitalize()}the {pack.cluster_name} cluster "
                    f"pack for {quarter_words(pack.period)} is published (version {pack.version}). It lists "
                    f"{worth} signal{'s' if worth != 1 else ''} worth discussing.\n\n"
                    f"Read it and respond: {app_url(pack.cluster_id, pack.period)}")
            if pack.version > 1:
                body += "\n\nThe pack's first section says what the correction changed."
            messages.append(Message("pack_published", user, f"{pack.cluster_name}: {what}cluster pack for "
                                    f"{quarter_words(pack.period)} published", body + _footer(), [key]))
    return messages


def _meeting_reminders(session: Session, today: date) -> list[Message]:
    days = int(config.get("meeting_reminder_days"))
    messages = []
    upcoming = session.scalars(select(ClusterMeeting).where(ClusterMeeting.recorded_at.is_(None),
                                                            ClusterMeeting.meets_on >= today,
                                                            ClusterMeeting.meets_on <= today + timedelta(days=days)))
    for held in upcoming:
        pack = current_pack(session, held.cluster_id, held.period)
        if pack is None:
            continue
        answered = responses(session, held.cluster_id, held.period)
        waiting: dict[str, int] = defaultdict(int)
        for s in pack_signals(session, pack):
            if s.level == "practice" and s.signal_id not in answered:
                waiting[s.area_code] += 1
        _, pqls = _recipients(session, held.cluster_id, set(waiting))
        key = f"meeting:{held.id}:{held.meets_on.isoformat()}"
        for code, n in waiting.items():
            for user in pqls.get(code, []):
                if not preferences(session, user.id)["meeting_reminder"] or _sent(session, "meeting_reminder", user.id,
                                                                                  key):
                    continue
                body = (f"Hello {user.display_name or user.username},\n\nThe {pack.cluster_name} cluster meets on "
                        f"{day(held.meets_on)} to discuss the {quarter_words(held.period)} pack. Your practice has "
                        f"{n} signal{'s' if n != 1 else ''} without a response yet.\n\n"
                        f"Respond here: {app_url(held.cluster_id, held.period)}")
                messages.append(Message("meeting_reminder", user, f"{pack.cluster_name}: please respond before the "
                                        f"meeting on {day(held.meets_on)}", body + _footer(), [key]))
    return messages


def _actions_due(session: Session, today: date) -> list[Message]:
    days = int(config.get("actions_due_days"))
    due = list(session.scalars(select(LoopAction).where(LoopAction.status == "open",
                                                        LoopAction.due_on <= today + timedelta(days=days))
                               .order_by(LoopAction.cluster_id, LoopAction.due_on)))
    by_user: dict[int, tuple[User, list[LoopAction], str]] = {}
    for action in due:
        cqls, pqls = _recipients(session, action.cluster_id,
                                 {action.practice_code} if action.practice_code else None)
        for user in [*cqls, *pqls.get(action.practice_code, [])]:
            key = f"action:{action.id}:{action.due_on.isoformat()}"
            if not preferences(session, user.id)["actions_due"] or _sent(session, "actions_due", user.id, key):
                continue
            entry = by_user.setdefault(user.id, (user, [], action.cluster_id))
            entry[1].append(action)
    messages = []
    for user, actions, _cluster_id in by_user.values():
        overdue = sum(1 for a in actions if a.due_on < today)
        clusters = sorted({a.cluster_id for a in actions})
        links = "\n".join(f"  {str(config.get('public_url')).rstrip('/')}/packs/{c}/actions" for c in clusters)
        earliest = min(a.due_on for a in actions)
        body = (f"Hello {user.display_name or user.username},\n\n{len(actions)} action{'s' if len(actions) != 1 else ''}"
                f" agreed in your cluster {'are' if len(actions) != 1 else 'is'} due by {day(max(a.due_on for a in actions))}"
                f"{f' ({overdue} overdue, the earliest due {day(earliest)})' if overdue else ''}. "
                f"See them and mark them done:\n{links}")
        messages.append(Message("actions_due", user, f"{len(actions)} cluster action{'s' if len(actions) != 1 else ''} "
                                f"due{' (overdue)' if overdue else ''}", body + _footer(),
                                [f"action:{a.id}:{a.due_on.isoformat()}" for a in actions]))
    return messages


def pending(session: Session, now: datetime | None = None) -> list[Message]:
    """Every message due now and not sent before."""
    now = now or utcnow()
    return [*_pack_published(session, now), *_meeting_reminders(session, now.date()), *_actions_due(session, now.date())]


def _email(settings: SmtpSettings, message: Message) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = settings.sender
    mail["To"] = message.user.email
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain="gpcluster")
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(message.body)
    return mail


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if settings.tls == "tls":
        client: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        if settings.tls == "starttls":
            client.starttls(context=context)
    if settings.user:
        client.login(settings.user, settings.password)
    return client


def send_pending(store, now: datetime | None = None, settings: SmtpSettings | None = None,
                 dry_run: bool = False) -> tuple[NotifySummary, list[Message]]:
    """Send every pending message (or only list them with `dry_run`); each one sent is remembered and
    audited at once, so a failure part-way loses nothing and repeats nothing."""
    settings = settings or (None if dry_run else SmtpSettings.from_config())
    now = now or utcnow()
    summary = NotifySummary()
    with store.session() as session:
        messages = pending(session, now)
    if dry_run or not messages:
        return summary, messages
    try:
        client = _connect(settings)
    except (OSError, smtplib.SMTPException) as exc:
        raise UserError(f"cannot reach the SMTP server {settings.host}:{settings.port}: {exc}") from exc
    try:
        for message in messages:
            try:
                client.send_message(_email(settings, message))
            except smtplib.SMTPException as exc:
                summary.failed.append(f"{message.user.username}: {exc}")
                continue
            with store.session() as session:
                user = session.get(User, message.user.id)
                for key in message.keys:
                    session.add(NotificationSent(kind=message.kind, user_id=user.id, subject_key=key, sent_at=now))
                audit.record(session, "notification_sent", user=user, target=user.username,
                             detail=f"{message.kind}: {len(message.keys)} item(s)", at=now)
            summary.sent[message.kind] += 1
    finally:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            client.quit()
    return summary, messages
