"""access reviews (issue 16): campaigns and their decisions

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "review_campaigns",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("caf_code", sa.String(16), nullable=False, index=True),
        sa.Column("opened_by", sa.String(128), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("partners", sa.JSON, nullable=True),
        sa.Column("items", sa.JSON, nullable=False),
        sa.Column("reminders_sent", sa.JSON, nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "review_decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("campaign_id", sa.String(36), sa.ForeignKey("review_campaigns.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("item", sa.String(255), nullable=False),
        sa.Column("partner_siret", sa.String(14), nullable=False, index=True),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("by", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade():
    op.drop_table("review_decisions")
    op.drop_table("review_campaigns")
