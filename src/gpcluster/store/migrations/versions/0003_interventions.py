"""Register of interventions (append-only versions) and their evaluation runs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_LOCK_MESSAGE = "registered intervention versions are locked: register a new version instead"


def upgrade() -> None:
    op.create_table(
        "intervention",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("slug", sa.String(80), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "intervention_version",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("intervention_id", sa.Integer, sa.ForeignKey("intervention.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registered_by", sa.String(150)),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("after_start", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.UniqueConstraint("intervention_id", "version", name="uq_intervention_version"),
    )
    op.create_index("ix_intervention_version_intervention_id", "intervention_version", ["intervention_id"])
    op.create_table(
        "evaluation_run",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("intervention_id", sa.Integer, sa.ForeignKey("intervention.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("indicator_id", sa.String(64), nullable=False),
        sa.Column("method", sa.String(20), nullable=False),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_by", sa.String(150)),
        sa.Column("data_through", sa.Date),
        sa.Column("result", sa.Text, nullable=False),
    )
    op.create_index("ix_evaluation_run_intervention_id", "evaluation_run", ["intervention_id"])
    # A registered version can never be changed or removed, whoever connects to the database.
    if op.get_context().dialect.name == "sqlite":
        for event in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER intervention_version_no_{event.lower()} BEFORE {event} ON "
                       f"intervention_version BEGIN SELECT RAISE(ABORT, '{_LOCK_MESSAGE}'); END")
    else:
        op.execute("CREATE FUNCTION intervention_version_locked() RETURNS trigger AS $$ BEGIN "
                   f"RAISE EXCEPTION '{_LOCK_MESSAGE}'; END; $$ LANGUAGE plpgsql")
        op.execute("CREATE TRIGGER intervention_version_locked BEFORE UPDATE OR DELETE ON intervention_version "
                   "FOR EACH ROW EXECUTE FUNCTION intervention_version_locked()")


def downgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        op.execute("DROP TRIGGER IF EXISTS intervention_version_locked ON intervention_version")
        op.execute("DROP FUNCTION IF EXISTS intervention_version_locked()")
    op.drop_table("evaluation_run")
    op.drop_table("intervention_version")
    op.drop_table("intervention")
