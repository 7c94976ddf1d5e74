"""usage-rules versions

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("usage_rules_versions",
                    sa.Column("version", sa.String(64), primary_key=True),
                    sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
                    sa.Column("published_by", sa.String(128), nullable=False))


def downgrade():
    op.drop_table("usage_rules_versions")
