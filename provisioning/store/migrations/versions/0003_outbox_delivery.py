"""outbox delivery: kinds (mail, credentials intents), claims, capped attempts with backoff, dead letters

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox") as b:
        b.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="mail"))
        b.add_column(sa.Column("payload", sa.JSON, nullable=True))
        b.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        b.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        b.add_column(sa.Column("claimed_by", sa.String(36), nullable=True))
        b.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
        b.add_column(sa.Column("dead_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_outbox_pending", "outbox", ["sent_at", "dead_at", "next_attempt_at"])


def downgrade():
    op.drop_index("ix_outbox_pending", "outbox")
    with op.batch_alter_table("outbox") as b:
        for c in ("dead_at", "claimed_until", "claimed_by", "next_attempt_at", "attempts", "payload", "kind"):
            b.drop_column(c)
