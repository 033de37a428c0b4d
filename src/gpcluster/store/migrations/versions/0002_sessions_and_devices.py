"""Server-side sign-in sessions; login attempts remember the browser's device id.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_session",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ip", sa.String(64)),
    )
    op.create_index("ix_web_session_user_id", "web_session", ["user_id"])
    with op.batch_alter_table("login_attempt") as batch:
        batch.add_column(sa.Column("device", sa.String(64)))
        batch.create_index("ix_login_attempt_device", ["device"])


def downgrade() -> None:
    with op.batch_alter_table("login_attempt") as batch:
        batch.drop_index("ix_login_attempt_device")
        batch.drop_column("device")
    op.drop_index("ix_web_session_user_id", table_name="web_session")
    op.drop_table("web_session")
