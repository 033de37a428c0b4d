"""A revision number of the pack loop's tables, raised by the database itself on every change to them, so
the web app can keep what it read from them and know at once (one row read) when that is out of date.

On SQLite (the default store) triggers raise it on every insert, update and delete of a pack, its practices
and signals, responses, meetings, attendance and actions, whoever writes (the web app, `gpcluster pack
publish`, a script). On another database the table is created but has no triggers, and the web app does
not use it (gpcluster.web.loop_cache reads the loop afresh on every request there).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = ("pack", "pack_practice", "pack_signal", "signal_response", "cluster_meeting", "meeting_attendance",
          "loop_action")
EVENTS = ("insert", "update", "delete")


def upgrade() -> None:
    table = op.create_table("loop_revision", sa.Column("id", sa.Integer, primary_key=True),
                            sa.Column("n", sa.Integer, nullable=False))
    op.bulk_insert(table, [{"id": 1, "n": 0}])
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
    op.drop_table("loop_revision")
