"""the identifiant index by partner (issue 27): every save of a partner reads its rows by partner, and SCIM finds
the partners of the people it selects — without an index, each scanned the whole branch's people

Revision ID: 0012
Revises: 0011
"""
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_user_index_partner_siret", "user_index", ["partner_siret"])


def downgrade():
    op.drop_index("ix_user_index_partner_siret", table_name="user_index")
