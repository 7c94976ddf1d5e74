"""issue 31: the convention's documents, each version with its PDF and its signatures, and the organisations'
access requests (expand: two new tables)

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

from provisioning.store import compat

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "convention_documents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("partner_siret", sa.String(14), sa.ForeignKey("partners.siret", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("convention", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("pdf", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("partner_signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("partner_signed_by", sa.String(128), nullable=True),
        sa.Column("caf_signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("caf_signed_by", sa.String(128), nullable=True),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("partner_siret", "convention", "kind", "version", name="uq_convention_documents_version"),
    )
    op.create_index("ix_convention_documents_convention", "convention_documents", ["partner_siret", "convention"])
    op.create_table(
        "access_requests",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("siret", sa.String(14), nullable=False, index=True),
        sa.Column("caf_code", sa.String(16), nullable=False, index=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
    )
    compat.expand(revision)


def downgrade():
    op.drop_table("access_requests")
    op.drop_index("ix_convention_documents_convention", "convention_documents")
    op.drop_table("convention_documents")
    compat.undo(revision)
