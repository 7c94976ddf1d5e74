"""the request id (issue 30 §2) on what a request causes: its audit entries, its mails and its partner's reconcile
request, so the worker's and the sender's log lines carry the id of the request that asked for their work

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    # nullable columns: the previous version, still running during a rolling upgrade, writes rows without them
    for table in ("audit_log", "outbox", "reconcile_requests"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("request_id", sa.String(64), nullable=True))
    op.create_index("ix_audit_log_request_id", "audit_log", ["request_id"])


def downgrade():
    op.drop_index("ix_audit_log_request_id", "audit_log")
    for table in ("audit_log", "outbox", "reconcile_requests"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("request_id")
