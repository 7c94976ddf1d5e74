"""reconcile requests: one row per partner (or "*" for the whole realm), written with the change that needs it

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "reconcile_requests",
        sa.Column("key", sa.String(16), primary_key=True),  # a partner's SIRET, or "*" for the whole realm
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False, server_default="1"),  # bumped by each new request
        sa.Column("done_generation", sa.Integer, nullable=False, server_default="0"),
        sa.Column("state", sa.String(16), nullable=False),  # en attente | appliqué | en échec
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(36), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("failures", sa.JSON, nullable=True),  # [{target, reason}] of the last run
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade():
    op.drop_table("reconcile_requests")
