"""Publishing: numbered immutable versions with a content hash; the same figures publish nothing; a
correction makes a new version that says what changed; one publisher at a time; the next period's pack
shows the actions agreed on the last one."""

from __future__ import annotations

import hashlib
import stat
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from pack_fixtures import (
    EARLIER,
    EARLIER_SIGNALS,
    LATEST,
    OWN_CLUSTER,
    PQL_PRACTICE,
    corrected_warehouse,
    publish_one,
)
from sqlalchemy import func, select

from gpcluster.packs import loop
from gpcluster.packs.render import pdf_unavailable
from gpcluster.store.models import AuditEvent, Pack, User

NOW = datetime(2024, 10, 15, 9, 0, tzinfo=UTC)


def _packs(store) -> list[Pack]:
    with store.session() as session:
        return list(session.scalars(select(Pack).order_by(Pack.period, Pack.version)))


def test_first_publish_makes_version_1_read_only_and_registered(loop_warehouse, loop_store, packs_home):
    result = publish_one(loop_warehouse, loop_store, EARLIER, now=NOW)
    assert (result.version, result.changes) == (1, "first version")
    [pack] = _packs(loop_store)
    folder = packs_home / pack.folder
    html = (folder / "pack.html").read_bytes()
    assert hashlib.sha256(html).hexdigest() == pack.html_sha256 and len(pack.content_hash) == 64
    for file in folder.iterdir():
        assert not file.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), file
    assert b"Dundee East: cluster pack, Jul" in html and b"Version 1, published 15 October 2024" in html
    with loop_store.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)
                              .where(AuditEvent.action == "pack_published")) == 1


def test_publishing_the_same_figures_again_changes_nothing(loop_warehouse, loop_store, packs_home):
    publish_one(loop_warehouse, loop_store, EARLIER, now=NOW)
    before = sorted(p.relative_to(packs_home) for p in packs_home.rglob("*") if p.is_file())
    again = publish_one(loop_warehouse, loop_store, EARLIER, now=NOW + timedelta(days=1))
    assert again.version is None and again.changes == "unchanged (version 1)"
    assert sorted(p.relative_to(packs_home) for p in packs_home.rglob("*") if p.is_file()) == before
    assert [p.version for p in _packs(loop_store)] == [1]


@pytest.mark.skipif(pdf_unavailable() is not None, reason=f"PDF packs cannot be made here: {pdf_unavailable()}")
def test_a_pack_published_without_its_pdf_gets_it_in_the_next_version(loop_warehouse, loop_store, packs_home):
    first = publish_one(loop_warehouse, loop_store, EARLIER, formats=("html",), now=NOW)
    html_again = publish_one(loop_warehouse, loop_store, EARLIER, formats=("html",), now=NOW + timedelta(days=1))
    with_pdf = publish_one(loop_warehouse, loop_store, EARLIER, formats=("html", "pdf"), now=NOW + timedelta(days=2))
    pdf_again = publish_one(loop_warehouse, loop_store, EARLIER, formats=("html", "pdf"), now=NOW + timedelta(days=3))
    assert (first.version, html_again.version, with_pdf.version, pdf_again.version) == (1, None, 2, None)
    v1, v2 = _packs(loop_store)
    assert v1.pdf_sha256 is None and v2.pdf_sha256 and v1.content_hash == v2.content_hash
    assert v2.changes == "The PDF is added; no figure changed"
    assert (packs_home / v2.folder / "pack.pdf").read_bytes().startswith(b"%PDF")


def test_a_correction_makes_version_2_that_says_what_changed(loop_warehouse, loop_store, packs_home, tmp_path):
    publish_one(loop_warehouse, loop_store, EARLIER, now=NOW)
    corrected = corrected_warehouse(loop_warehouse, tmp_path / "corrected.duckdb")
    result = publish_one(corrected, loop_store, EARLIER, now=NOW + timedelta(days=2))
    assert result.version == 2
    assert "Amber Health Centre, Emergency admissions per 1,000 patients:" in result.changes
    v1, v2 = _packs(loop_store)
    assert v1.content_hash != v2.content_hash and v2.changes == result.changes
    html = (packs_home / v2.folder / "pack.html").read_text(encoding="utf-8")
    assert "This is version 2: it corrects version 1." in html and "Amber Health Centre, Emergency admissions" in html
    # version 1 is untouched
    assert hashlib.sha256((packs_home / v1.folder / "pack.html").read_bytes()).hexdigest() == v1.html_sha256


def test_two_publishers_at_once_make_one_version(loop_warehouse, loop_store, packs_home):
    results, errors = [], []

    def run():
        try:
            results.append(publish_one(loop_warehouse, loop_store, EARLIER, now=NOW))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted((r.version or 0) for r in results) == [0, 1]
    assert [p.version for p in _packs(loop_store)] == [1]


def test_next_periods_pack_shows_the_action_its_status_and_the_meeting(loop_warehouse, loop_store, packs_home):
    publish_one(loop_warehouse, loop_store, EARLIER, now=NOW)
    signal = next(s for s, (code, _) in EARLIER_SIGNALS.items() if code == PQL_PRACTICE)
    with loop_store.session() as session:
        pql = session.scalar(select(User).where(User.username == "pql"))
        loop.record_response(session, pql, OWN_CLUSTER, EARLIER, signal, "action_agreed", "Care home opened",
                             loop.ActionInput("Audit care-home admissions", "Dr Amber", date(2024, 11, 30)), now=NOW)
    with loop_store.session() as session:
        cql = session.scalar(select(User).where(User.username == "cql"))
        loop.record_meeting(session, cql, OWN_CLUSTER, EARLIER, date(2024, 10, 20), [PQL_PRACTICE], "Audit it.",
                            "Care homes drive admissions.", now=NOW + timedelta(days=6))
    result = publish_one(loop_warehouse, loop_store, LATEST, now=datetime(2024, 12, 5, 9, 0, tzinfo=UTC))
    html = (packs_home / _packs(loop_store)[-1].folder / "pack.html").read_text(encoding="utf-8")
    assert result.version == 1
    actions = html[html.index('id="actions-h"'):html.index('id="practices-h"')]
    assert "Audit care-home admissions" in actions and "Overdue" in actions and "Dr Amber" in actions
    assert "Amber Health Centre" in actions and "Open" in actions
    changes = html[html.index('id="changes-h"'):html.index('id="signals-h"')]
    assert "1 action is overdue" in changes and "Care homes drive admissions." in changes
    assert "Practices present: Amber Health Centre" in changes
    assert "1 of 3 signals answered (action agreed 1)" in changes
