"""issue 27: a partner's people and grants as rows (`partner_people`, `bulletin_members`), its document keeping
the rest (version 2), and a `stamp` per write (contract: older code reads the people from the document)

Revision ID: 0017
Revises: 0016
"""
import json
import uuid

import sqlalchemy as sa
from alembic import op

from provisioning.store import compat

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_partners = sa.table("partners", sa.column("siret", sa.String), sa.column("document", sa.JSON),
                     sa.column("stamp", sa.String))
_people = sa.table("partner_people", sa.column("partner_siret", sa.String), sa.column("identifiant", sa.String),
                   sa.column("position", sa.Integer), sa.column("person", sa.JSON))
_members = sa.table("bulletin_members", sa.column("partner_siret", sa.String), sa.column("convention", sa.String),
                    sa.column("service", sa.String), sa.column("identifiant", sa.String),
                    sa.column("position", sa.Integer), sa.column("grant", sa.JSON))


def _doc(v):
    return json.loads(v) if isinstance(v, str) else v


def upgrade():
    op.add_column("partners", sa.Column("stamp", sa.String(32), nullable=True))
    op.create_table(
        "partner_people",
        sa.Column("partner_siret", sa.String(14), sa.ForeignKey("partners.siret", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("identifiant", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("person", sa.JSON, nullable=False),
    )
    op.create_table(
        "bulletin_members",
        sa.Column("partner_siret", sa.String(14), sa.ForeignKey("partners.siret", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("convention", sa.String(64), primary_key=True),
        sa.Column("service", sa.String(32), primary_key=True),
        sa.Column("identifiant", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("grant", sa.JSON, nullable=False),
    )
    op.create_index("ix_partner_people_order", "partner_people", ["partner_siret", "position"])
    op.create_index("ix_bulletin_members_person", "bulletin_members", ["partner_siret", "identifiant"])
    op.create_index("ix_bulletin_members_order", "bulletin_members",
                    ["partner_siret", "convention", "service", "position"])
    conn = op.get_bind()
    sirets = [r[0] for r in conn.execute(sa.select(_partners.c.siret).order_by(_partners.c.siret))]
    for i in range(0, len(sirets), 200):  # a few partners at a time: a registry is never held whole
        for siret, raw in conn.execute(sa.select(_partners.c.siret, _partners.c.document)
                                       .where(_partners.c.siret.in_(sirets[i:i + 200]))).all():
            d = _doc(raw)
            people = [{"partner_siret": siret, "identifiant": u["identifiant"], "position": k,
                       "person": {x: v for x, v in u.items() if x != "identifiant"}}
                      for k, u in enumerate(d.pop("users", []))]
            grants = []
            for c in d.get("conventions", []):
                for b in c.get("bulletins", []):
                    grants += [{"partner_siret": siret, "convention": c["number"], "service": b["service"],
                                "identifiant": m["identifiant"], "position": k,
                                "grant": {x: v for x, v in m.items() if x != "identifiant"}}
                               for k, m in enumerate(b.pop("members", []))]
            if d.get("v", 0) == 0:  # an equipment of before `sites` kept its one `site` (store/documents.py)
                for e in d.get("equipments", []):
                    site, sites = e.pop("site", None), list(e.get("sites") or [])
                    if site and site not in sites:
                        sites.insert(0, site)
                    e["sites"] = sites
            d["v"] = 2
            for k in range(0, len(people), 500):
                conn.execute(sa.insert(_people), people[k:k + 500])
            for k in range(0, len(grants), 500):
                conn.execute(sa.insert(_members), grants[k:k + 500])
            conn.execute(sa.update(_partners).where(_partners.c.siret == siret)
                         .values(document=d, stamp=uuid.uuid4().hex))
    compat.contract(revision)


def downgrade():
    conn = op.get_bind()
    sirets = [r[0] for r in conn.execute(sa.select(_partners.c.siret).order_by(_partners.c.siret))]
    for siret in sirets:
        d = _doc(conn.execute(sa.select(_partners.c.document).where(_partners.c.siret == siret)).scalar_one())
        d["users"] = [{"identifiant": r.identifiant, **_doc(r.person)} for r in conn.execute(
            sa.select(_people).where(_people.c.partner_siret == siret)
            .order_by(_people.c.position, _people.c.identifiant))]
        grants: dict[tuple[str, str], list] = {}
        for r in conn.execute(sa.select(_members).where(_members.c.partner_siret == siret)
                              .order_by(_members.c.position, _members.c.identifiant)):
            grants.setdefault((r.convention, r.service), []).append({"identifiant": r.identifiant, **_doc(r.grant)})
        for c in d.get("conventions", []):
            for b in c.get("bulletins", []):
                b["members"] = grants.get((c["number"], b["service"]), [])
        d["v"] = 1
        conn.execute(sa.update(_partners).where(_partners.c.siret == siret).values(document=d))
    op.drop_index("ix_bulletin_members_order", "bulletin_members")
    op.drop_index("ix_bulletin_members_person", "bulletin_members")
    op.drop_index("ix_partner_people_order", "partner_people")
    op.drop_table("bulletin_members")
    op.drop_table("partner_people")
    with op.batch_alter_table("partners") as batch:
        batch.drop_column("stamp")
    compat.undo(revision)
    compat.expand("0016")  # what 0017's contract had taken away
