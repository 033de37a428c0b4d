"""The evaluation registry's tables raise the same revision as the pack loop's (migration 0005), so the web
app can keep what it read from them and know at once, from one row, when it is out of date.

Every view of the evaluations pages read every intervention and version through the ORM: three quarters of
the list page's time under load. On SQLite triggers raise `loop_revision` on every insert, update and
delete of an intervention, a version or a run, whoever writes it (the web app, `gpcluster evaluate`, a
script). On another database there are no triggers and the web app reads the registry on every view.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLES = ("intervention", "intervention_version", "evaluation_run")
EVENTS = ("insert", "update", "delete")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        for event in EVENTS:
            op.execute(f"CREATE TRIGGER loop_revision_{table}_{event} AFTER {event.upper()} ON {table} "
                       "BEGIN UPDATE loop_revision SET n = n + 1 WHERE id = 1; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in TABLES:
            for event in EVENTS:
                op.execute(f"DROP TRIGGER loop_revision_{table}_{event}")
