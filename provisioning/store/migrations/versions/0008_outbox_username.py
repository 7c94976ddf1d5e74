"""outbox.username: whose credentials an intent carries, indexed (the « already queued? » check ran through the
JSON payload of every pending row, once per created user)

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("username", sa.String(64), nullable=True))
        batch.create_index("ix_outbox_username", ["username"])
    outbox = sa.table("outbox", sa.column("id", sa.Integer), sa.column("kind", sa.String),
                      sa.column("payload", sa.JSON), sa.column("username", sa.String))
    conn = op.get_bind()
    for row in conn.execute(sa.select(outbox.c.id, outbox.c.payload).where(outbox.c.kind == "credentials")).all():
        name = (row.payload or {}).get("username")
        if name:
            conn.execute(sa.update(outbox).where(outbox.c.id == row.id).values(username=name))


def downgrade():
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_username")
        batch.drop_column("username")
