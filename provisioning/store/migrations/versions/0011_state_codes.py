"""machine states as codes (issue 26 §4): reconcile requests' state and review decisions' verdict were French
labels (« en attente », « confirmé »); they become codes, the labels stay at the edge

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

RECONCILE = {"en attente": "pending", "appliqué": "applied", "en échec": "failed", "à traiter": "needs_attention"}
VERDICT = {"confirmé": "confirmed", "retiré": "revoked"}


def _recode(table: str, column: str, mapping: dict) -> None:
    t = sa.table(table, sa.column(column))
    for old, new in mapping.items():
        op.execute(t.update().where(t.c[column] == old).values({column: new}))


def upgrade():
    _recode("reconcile_requests", "state", RECONCILE)
    _recode("review_decisions", "verdict", VERDICT)


def downgrade():
    _recode("reconcile_requests", "state", {v: k for k, v in RECONCILE.items()})
    _recode("review_decisions", "verdict", {v: k for k, v in VERDICT.items()})
