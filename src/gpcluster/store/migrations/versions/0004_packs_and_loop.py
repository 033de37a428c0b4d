"""Cluster packs and the PQL/CQL loop: published pack versions with their practices and signals,
responses, meetings, actions, notification preferences and sent notifications; accounts get an e-mail.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    # plain ALTER TABLE (no batch copy): SQLite's table copy would lose the lower(username) index
    op.add_column("user_account", sa.Column("email", sa.String(320)))

    op.create_table(
        "pack",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("cluster_id", sa.String(100), nullable=False),
        sa.Column("cluster_name", sa.String(200), nullable=False),
        sa.Column("period", sa.Date, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("changes", sa.Text, nullable=False),
        sa.Column("published_at", _WHEN, nullable=False),
        sa.Column("published_by", sa.String(150), nullable=False),
        sa.Column("folder", sa.String(300), nullable=False),
        sa.Column("html_sha256", sa.String(64), nullable=False),
        sa.Column("pdf_sha256", sa.String(64)),
        sa.Column("warehouse_version", sa.String(40)),
        sa.Column("software_version", sa.String(40), nullable=False),
        sa.UniqueConstraint("cluster_id", "period", "version", name="uq_pack_cluster_period_version"),
    )
    op.create_index("ix_pack_cluster_id", "pack", ["cluster_id"])
    op.create_table(
        "pack_practice",
        sa.Column("pack_id", sa.Integer, sa.ForeignKey("pack.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("practice_code", sa.String(20), primary_key=True),
        sa.Column("practice_name", sa.String(200), nullable=False),
    )
    op.create_table(
        "pack_signal",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("pack_id", sa.Integer, sa.ForeignKey("pack.id", ondelete="CASCADE"), nullable=False),
        sa.Column("signal_id", sa.String(200), nullable=False),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("area_code", sa.String(100), nullable=False),
        sa.Column("area_name", sa.String(200), nullable=False),
        sa.Column("indicator_id", sa.String(100), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("sentence", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("worth_discussing", sa.Boolean, nullable=False),
        sa.Column("rank", sa.Integer),
        sa.UniqueConstraint("pack_id", "signal_id", name="uq_pack_signal"),
    )
    op.create_index("ix_pack_signal_pack_id", "pack_signal", ["pack_id"])
    op.create_table(
        "cluster_meeting",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("cluster_id", sa.String(100), nullable=False),
        sa.Column("period", sa.Date, nullable=False),
        sa.Column("meets_on", sa.Date, nullable=False),
        sa.Column("decisions", sa.Text),
        sa.Column("learned", sa.Text),
        sa.Column("planned_by", sa.String(150), nullable=False),
        sa.Column("planned_at", _WHEN, nullable=False),
        sa.Column("recorded_by", sa.String(150)),
        sa.Column("recorded_at", _WHEN),
        sa.UniqueConstraint("cluster_id", "period", name="uq_cluster_meeting"),
    )
    op.create_index("ix_cluster_meeting_cluster_id", "cluster_meeting", ["cluster_id"])
    op.create_table(
        "meeting_attendance",
        sa.Column("meeting_id", sa.Integer, sa.ForeignKey("cluster_meeting.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("practice_code", sa.String(20), primary_key=True),
    )
    op.create_table(
        "loop_action",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("cluster_id", sa.String(100), nullable=False),
        sa.Column("period", sa.Date, nullable=False),
        sa.Column("signal_id", sa.String(200)),
        sa.Column("practice_code", sa.String(20)),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_note", sa.Text),
        sa.Column("meeting_id", sa.Integer, sa.ForeignKey("cluster_meeting.id", ondelete="SET NULL")),
        sa.Column("created_by", sa.String(150), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_by", sa.String(150), nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.Column("closed_at", _WHEN),
    )
    op.create_index("ix_loop_action_cluster_id", "loop_action", ["cluster_id"])
    op.create_table(
        "signal_response",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("cluster_id", sa.String(100), nullable=False),
        sa.Column("period", sa.Date, nullable=False),
        sa.Column("signal_id", sa.String(200), nullable=False),
        sa.Column("practice_code", sa.String(20)),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("action_id", sa.Integer, sa.ForeignKey("loop_action.id", ondelete="SET NULL")),
        sa.Column("created_by", sa.String(150), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_by", sa.String(150), nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.Column("locked_by", sa.String(150)),
        sa.Column("locked_at", _WHEN),
        sa.UniqueConstraint("cluster_id", "period", "signal_id", name="uq_signal_response"),
    )
    op.create_index("ix_signal_response_cluster_id", "signal_response", ["cluster_id"])
    op.create_table(
        "notification_preference",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("pack_published", sa.Boolean, nullable=False),
        sa.Column("meeting_reminder", sa.Boolean, nullable=False),
        sa.Column("actions_due", sa.Boolean, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
    )
    op.create_table(
        "notification_sent",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False),
        sa.Column("subject_key", sa.String(200), nullable=False),
        sa.Column("sent_at", _WHEN, nullable=False),
        sa.UniqueConstraint("kind", "user_id", "subject_key", name="uq_notification_sent"),
    )


def downgrade() -> None:
    op.drop_table("notification_sent")
    op.drop_table("notification_preference")
    op.drop_index("ix_signal_response_cluster_id", table_name="signal_response")
    op.drop_table("signal_response")
    op.drop_index("ix_loop_action_cluster_id", table_name="loop_action")
    op.drop_table("loop_action")
    op.drop_table("meeting_attendance")
    op.drop_index("ix_cluster_meeting_cluster_id", table_name="cluster_meeting")
    op.drop_table("cluster_meeting")
    op.drop_index("ix_pack_signal_pack_id", table_name="pack_signal")
    op.drop_table("pack_signal")
    op.drop_table("pack_practice")
    op.drop_index("ix_pack_cluster_id", table_name="pack")
    op.drop_table("pack")
    op.drop_column("user_account", "email")  # SQLite 3.35+ drops a column in place
