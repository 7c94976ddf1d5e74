"""audit: `changes`, what a change changed (paths, before → after), instead of two whole partner documents
(issue 27: one person added to a 5,000-person partner wrote 1.1 MB). Older entries keep their documents: the
journal is append-only and never rewritten; readers derive their changes on read.

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("audit_log", sa.Column("changes", sa.JSON, nullable=True))


def downgrade():
    with op.batch_alter_table("audit_log") as b:
        b.drop_column("changes")
