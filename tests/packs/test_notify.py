"""E-mail through a real local SMTP server (aiosmtpd): who gets what, links and no practice figures,
opt-outs honoured, nothing sent twice."""

from __future__ import annotations

import socket
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.policy import default

import pytest
from pack_fixtures import EARLIER, EARLIER_SIGNALS, OWN_CLUSTER, PQL_PRACTICE, publish_one
from sqlalchemy import select

from gpcluster import config
from gpcluster.errors import UserError
from gpcluster.packs import loop, notify
from gpcluster.store.models import AuditEvent, User

NOW = datetime(2024, 10, 15, 9, 0, tzinfo=UTC)


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's handler name
        mail = message_from_bytes(envelope.content, policy=default)
        self.messages.append({"to": list(envelope.rcpt_tos), "subject": mail["Subject"],
                              "body": mail.get_body(("plain",)).get_content(), "from": mail["From"]})
        return "250 Message accepted for delivery"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def inbox(monkeypatch):
    from aiosmtpd.controller import Controller

    handler = Inbox()
    port = _port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    for name, value in {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_TLS": "none",
                        "SMTP_SENDER": "gpcluster <packs@example.org>"}.items():
        monkeypatch.setenv(f"GPCLUSTER_{name}", value)
    config.clear_cache()
    yield handler
    controller.stop()


@pytest.fixture
def published(loop_warehouse, loop_store, packs_home):
    publish_one(loop_warehouse, loop_store, EARLIER, now=NOW)
    return loop_store


def _by_recipient(inbox) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for m in inbox.messages:
        for to in m["to"]:
            out.setdefault(to, []).append(m)
    return out


def test_pack_published_goes_to_the_clusters_leads_with_a_link_and_no_figures(published, inbox):
    with published.session() as session:
        pql = session.scalar(select(User).where(User.username == "pql_alpha"))
        notify.set_preferences(session, pql, {"pack_published": False})  # opted out
    summary, _ = notify.send_pending(published, now=NOW + timedelta(hours=1))
    got = _by_recipient(inbox)
    assert set(got) == {"cql@example.org", "pql@example.org"}  # not the opted-out PQL, not other clusters
    message = got["pql@example.org"][0]
    assert message["subject"] == "Dundee East: cluster pack for Jul–Sep 2024 published"
    assert message["from"] == "gpcluster <packs@example.org>"
    assert "https://gpcluster.example.org/packs/S37000007/dundee-east/2024-07" in message["body"]
    assert "3 signals worth discussing" in message["body"]
    assert "Sentence" not in message["body"] and "higher than expected" not in message["body"]
    assert not any(ch in message["body"] for ch in ("Amber", "Alpha", "%"))
    assert summary.sent["pack_published"] == 2
    # cron runs again: nothing new to say
    again, pending = notify.send_pending(published, now=NOW + timedelta(hours=2))
    assert pending == [] and len(inbox.messages) == 2
    with published.session() as session:
        assert len(session.scalars(select(AuditEvent).where(AuditEvent.action == "notification_sent")).all()) == 2


def test_reminder_before_the_meeting_only_to_pqls_who_have_not_responded(published, inbox):
    notify.send_pending(published, now=NOW)  # the announcements
    inbox.messages.clear()
    alpha_signal = next(s for s, (code, _) in EARLIER_SIGNALS.items() if code == "10001")
    with published.session() as session:
        users = {u.username: u for u in session.scalars(select(User))}
        loop.record_response(session, users["pql_alpha"], OWN_CLUSTER, EARLIER, alpha_signal, "accepted", now=NOW)
        loop.plan_meeting(session, users["cql"], OWN_CLUSTER, EARLIER, date(2024, 10, 25), now=NOW)
    notify.send_pending(published, now=NOW + timedelta(days=1))  # 9 days before: too early
    assert inbox.messages == []
    notify.send_pending(published, now=datetime(2024, 10, 23, 8, 0, tzinfo=UTC))
    got = _by_recipient(inbox)
    assert list(got) == ["pql@example.org"]
    assert "2 signals without a response" in got["pql@example.org"][0]["body"]
    assert "25 October 2024" in got["pql@example.org"][0]["subject"]
    notify.send_pending(published, now=datetime(2024, 10, 24, 8, 0, tzinfo=UTC))
    assert len(inbox.messages) == 1  # reminded once


def test_actions_due_go_to_the_cql_and_the_practices_pql(published, inbox):
    notify.send_pending(published, now=NOW)
    inbox.messages.clear()
    with published.session() as session:
        cql = session.scalar(select(User).where(User.username == "cql"))
        loop.record_meeting(session, cql, OWN_CLUSTER, EARLIER, NOW.date(), [], None, None, [
            loop.ActionInput("Audit 14 admissions at Amber", "Dr A", date(2024, 10, 20), PQL_PRACTICE),
            loop.ActionInput("Later action", "Dr B", date(2024, 12, 20))], now=NOW)
    notify.send_pending(published, now=NOW + timedelta(days=1))
    got = _by_recipient(inbox)
    assert set(got) == {"cql@example.org", "pql@example.org"}
    body = got["cql@example.org"][0]["body"]
    assert "1 action agreed in your cluster is due by 20 October 2024" in body
    assert "/packs/S37000007/dundee-east/actions" in body
    assert "Audit 14 admissions" not in body  # the action's own words stay in the app
    notify.send_pending(published, now=NOW + timedelta(days=2))
    assert len(inbox.messages) == 2


def test_notify_refuses_without_smtp_settings(published):
    with pytest.raises(UserError, match="smtp_host"):
        notify.send_pending(published, now=NOW)
    _, pending = notify.send_pending(published, now=NOW, dry_run=True)
    assert {m.user.username for m in pending} == {"cql", "pql", "pql_alpha"}
