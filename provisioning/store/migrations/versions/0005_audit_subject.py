"""audit: the person an entry is about (`subject`) and a French summary of what changed (`summary`), so a
journal can say who did what to whom, before → after, and filter by person

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("audit_log") as b:
        b.add_column(sa.Column("subject", sa.String(64), nullable=True))
        b.add_column(sa.Column("summary", sa.Text, nullable=True))
        b.create_index("ix_audit_log_subject", ["subject"])


def downgrade():
    with op.batch_alter_table("audit_log") as b:
        b.drop_index("ix_audit_log_subject")
        b.drop_column("summary")
        b.drop_column("subject")
