"""expand/contract (issue 30 §4): the code revisions that may run on this schema, so that during a rolling upgrade
the previous version keeps serving, and restarting, on the schema its successor expanded (provisioning/store/compat.py)

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

from provisioning.store import compat

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("schema_compat", sa.Column("revision", sa.String(32), primary_key=True))
    # 0014's code does not read this table (it wants its own revision exactly): 0015 is the first to admit others
    compat.expand(revision)


def downgrade():
    op.drop_table("schema_compat")
