"""Accounts, audit log and login attempts.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(150), nullable=False),
        sa.Column("display_name", sa.String(200)),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("scope_level", sa.String(20), nullable=False),
        sa.Column("scope_code", sa.String(100)),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("password_hash", sa.String(255)),
        sa.Column("oidc_subject", sa.String(255), unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True)),
    )
    op.create_index("uq_user_account_username_lower", "user_account", [sa.text("lower(username)")], unique=True)
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("user_account.id", ondelete="SET NULL")),
        sa.Column("username", sa.String(150)),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("target", sa.String(300)),
        sa.Column("detail", sa.Text),
        sa.Column("ip", sa.String(64)),
    )
    op.create_index("ix_audit_event_at", "audit_event", ["at"])
    op.create_index("ix_audit_event_action", "audit_event", ["action"])
    op.create_table(
        "login_attempt",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(150), nullable=False),
        sa.Column("ip", sa.String(64)),
        sa.Column("success", sa.Boolean, nullable=False),
    )
    op.create_index("ix_login_attempt_username", "login_attempt", ["username"])
    op.create_index("ix_login_attempt_ip", "login_attempt", ["ip"])


def downgrade() -> None:
    op.drop_table("login_attempt")
    op.drop_table("audit_event")
    op.drop_index("uq_user_account_username_lower", table_name="user_account")
    op.drop_table("user_account")
