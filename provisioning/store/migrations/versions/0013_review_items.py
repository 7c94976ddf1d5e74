"""an access review's items as rows (issue 27 §2): a campaign over a Caf of 60,000 partners froze 250,000 grants
in one JSON value, read whole for every partner's review page and every decision; now a page reads its partner's
items and a decision its own

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _key(d: dict) -> str:
    return f"{d['partner']}/{d['convention']}/{d['service']}/{d['identifiant']}"


def upgrade():
    items = op.create_table(
        "review_items",
        sa.Column("campaign_id", sa.String(36), sa.ForeignKey("review_campaigns.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("partner_siret", sa.String(14), nullable=False),
        sa.Column("convention", sa.String(64), nullable=False),
        sa.Column("service", sa.String(16), nullable=False),
        sa.Column("identifiant", sa.String(64), nullable=False),
        sa.Column("groups", sa.JSON, nullable=False),
        sa.Column("profiles", sa.JSON, nullable=False),
    )
    op.create_index("ix_review_items_partner", "review_items", ["campaign_id", "partner_siret"])
    campaigns = sa.table("review_campaigns", sa.column("id", sa.String), sa.column("items", sa.JSON))
    conn = op.get_bind()
    for campaign_id, frozen in conn.execute(sa.select(campaigns.c.id, campaigns.c["items"])).all():
        rows = [{"campaign_id": campaign_id, "key": _key(d), "position": n, "partner_siret": d["partner"],
                 "convention": d["convention"], "service": d["service"], "identifiant": d["identifiant"],
                 "groups": d["groups"], "profiles": d["profiles"]} for n, d in enumerate(frozen or [])]
        for i in range(0, len(rows), 500):
            conn.execute(items.insert(), rows[i:i + 500])
    # the JSON column stays, emptied: dropping it on SQLite recreates the table, and with foreign keys on that
    # drop cascades to every item and decision (the first version of this migration lost them all: test)
    conn.execute(campaigns.update().values({"items": []}))


def downgrade():
    items = sa.table("review_items", *(sa.column(c) for c in (
        "campaign_id", "position", "partner_siret", "convention", "service", "identifiant")),
        sa.column("groups", sa.JSON), sa.column("profiles", sa.JSON))
    campaigns = sa.table("review_campaigns", sa.column("id", sa.String), sa.column("items", sa.JSON))
    conn = op.get_bind()
    for (campaign_id,) in conn.execute(sa.select(campaigns.c.id)).all():
        frozen = [{"partner": r.partner_siret, "convention": r.convention, "service": r.service,
                   "identifiant": r.identifiant, "groups": r.groups, "profiles": r.profiles}
                  for r in conn.execute(sa.select(items).where(items.c.campaign_id == campaign_id)
                                        .order_by(items.c.position))]
        conn.execute(campaigns.update().where(campaigns.c.id == campaign_id).values(items=frozen))
    op.drop_table("review_items")
