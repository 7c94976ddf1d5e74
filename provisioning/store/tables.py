"""SQLAlchemy tables. A Partner aggregate is a row whose JSON document holds what is small (its name, equipments,
conventions, bulletins' services) and, since migration 0017 (issue 27), one row per person (`partner_people`)
and per grant (`bulletin_members`), so that a change to one person reads and writes that person; user_index
enforces unique identifiants and emails across partners."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

cafs = sa.Table(
    "cafs", metadata,
    sa.Column("code", sa.String(16), primary_key=True),
    sa.Column("document", sa.JSON, nullable=False),
)

partners = sa.Table(
    "partners", metadata,
    sa.Column("siret", sa.String(14), primary_key=True),
    sa.Column("caf_code", sa.String(16), sa.ForeignKey("cafs.code"), nullable=False, index=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("document", sa.JSON, nullable=False),
    sa.Column("version", sa.Integer, nullable=False, default=1),  # optimistic locking
    # a new random value at each write (0017): a process keeps a partner as read under it (store/snapshots.py);
    # unlike the version it never repeats, even for a partner deleted and registered again
    sa.Column("stamp", sa.String(32), nullable=True),
)

partner_people = sa.Table(  # issue 27: a partner's people, one row each, in the partner's order
    "partner_people", metadata,
    sa.Column("partner_siret", sa.String(14), sa.ForeignKey("partners.siret", ondelete="CASCADE"), primary_key=True),
    sa.Column("identifiant", sa.String(64), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("person", sa.JSON, nullable=False),  # store/documents.person_to_stored
    sa.Index("ix_partner_people_order", "partner_siret", "position"),
)

bulletin_members = sa.Table(  # issue 27: the grants of each bulletin, one row each, in the bulletin's order
    "bulletin_members", metadata,
    sa.Column("partner_siret", sa.String(14), sa.ForeignKey("partners.siret", ondelete="CASCADE"), primary_key=True),
    sa.Column("convention", sa.String(64), primary_key=True),
    sa.Column("service", sa.String(32), primary_key=True),
    sa.Column("identifiant", sa.String(64), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("grant", sa.JSON, nullable=False),  # store/documents.grant_to_stored
    sa.Index("ix_bulletin_members_person", "partner_siret", "identifiant"),
    sa.Index("ix_bulletin_members_order", "partner_siret", "convention", "service", "position"),
)

user_index = sa.Table(
    "user_index", metadata,
    sa.Column("identifiant", sa.String(64), primary_key=True),
    sa.Column("email", sa.String(255), nullable=False, unique=True),
    sa.Column("partner_siret", sa.String(14), sa.ForeignKey("partners.siret", ondelete="CASCADE"), nullable=True,
              index=True),
    sa.Column("caf_code", sa.String(16), nullable=True),
)

settings = sa.Table(
    "settings", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(255), nullable=False),
)

audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("object", sa.String(255), nullable=False, index=True),
    sa.Column("partner_siret", sa.String(14), nullable=True, index=True),
    sa.Column("caf_code", sa.String(16), nullable=True, index=True),
    sa.Column("before", sa.JSON, nullable=True),   # entries before migration 0010: whole documents
    sa.Column("after", sa.JSON, nullable=True),
    sa.Column("changes", sa.JSON, nullable=True),  # since 0010: [{path, before, after}] (domain/diff.py)
    sa.Column("subject", sa.String(64), nullable=True, index=True),  # the person it is about, if one
    sa.Column("summary", sa.Text, nullable=True),                    # what changed, in French, before → after
    sa.Column("request_id", sa.String(64), nullable=True, index=True),  # the request that made it (issue 30 §2)
)

outbox = sa.Table(
    "outbox", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("recipient", sa.String(255), nullable=False),
    sa.Column("subject", sa.String(255), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("caf_code", sa.String(16), nullable=True, index=True),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    # kind "mail": subject and body as written; kind "credentials": an intent (payload: who), the provisional
    # password is set in Keycloak and mailed only when it is sent, and never stored
    sa.Column("kind", sa.String(16), nullable=False, server_default="mail"),
    sa.Column("payload", sa.JSON, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("claimed_by", sa.String(36), nullable=True),      # one sender at a time per row
    sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("dead_at", sa.DateTime(timezone=True), nullable=True),  # attempts exhausted: shown to the Caf
    sa.Column("username", sa.String(64), nullable=True, index=True),  # whose credentials (kind "credentials")
    sa.Column("request_id", sa.String(64), nullable=True),  # the request that caused the mail (issue 30 §2)
    sa.Index("ix_outbox_pending", "sent_at", "dead_at", "next_attempt_at"),  # migration 0003: what is due
)

usage_rules_versions = sa.Table(
    "usage_rules_versions", metadata,
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("published_by", sa.String(128), nullable=False),
)

reconcile_requests = sa.Table(
    "reconcile_requests", metadata,
    sa.Column("key", sa.String(16), primary_key=True),  # a partner's SIRET, or "*" for the whole realm
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("generation", sa.Integer, nullable=False, server_default="1"),  # bumped by each new request
    sa.Column("done_generation", sa.Integer, nullable=False, server_default="0"),
    sa.Column("state", sa.String(16), nullable=False),  # domain.states.ReconcileState's code
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("claimed_by", sa.String(36), nullable=True),
    sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("failures", sa.JSON, nullable=True),  # [{target, reason}] of the last run
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=True),  # the last request that asked (issue 30 §2)
)

leases = sa.Table(  # issue 14: one active process of a kind (reconcile worker, daily job) among several
    "leases", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(128), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)

schema_compat = sa.Table(  # issue 30 §4: the code revisions that may run on this schema (store/compat.py)
    "schema_compat", metadata,
    sa.Column("revision", sa.String(32), primary_key=True),
)

job_runs = sa.Table(  # issue 25: when a scheduled job last completed, so a restart neither skips nor repeats it
    "job_runs", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=False),
)

review_campaigns = sa.Table(  # issue 16: access reviews; the items are the grants in force at opening
    "review_campaigns", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("caf_code", sa.String(16), nullable=False, index=True),
    sa.Column("opened_by", sa.String(128), nullable=False),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
    sa.Column("partners", sa.JSON, nullable=True),          # null: every partner of the Caf
    sa.Column("items", sa.JSON, nullable=False, default=list),  # emptied by 0013: the items are review_items rows
    sa.Column("reminders_sent", sa.JSON, nullable=False),   # [days before the deadline]
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),  # the deadline's suspensions done
)

review_items = sa.Table(  # the grants in force at a campaign's opening, one row each (migration 0013)
    "review_items", metadata,
    sa.Column("campaign_id", sa.String(36), sa.ForeignKey("review_campaigns.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),  # <SIRET>/<convention>/<service>/<identifiant>
    sa.Column("position", sa.Integer, nullable=False),   # the order they were frozen in
    sa.Column("partner_siret", sa.String(14), nullable=False),
    sa.Column("convention", sa.String(64), nullable=False),
    sa.Column("service", sa.String(16), nullable=False),
    sa.Column("identifiant", sa.String(64), nullable=False),
    sa.Column("groups", sa.JSON, nullable=False),
    sa.Column("profiles", sa.JSON, nullable=False),
    sa.Index("ix_review_items_partner", "campaign_id", "partner_siret"),
)

review_decisions = sa.Table(
    "review_decisions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("campaign_id", sa.String(36), sa.ForeignKey("review_campaigns.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("item", sa.String(255), nullable=False),
    sa.Column("partner_siret", sa.String(14), nullable=False, index=True),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("by", sa.String(128), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

convention_documents = sa.Table(  # issue 31: each version of a convention's documents, its PDF as signed so far
    "convention_documents", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("partner_siret", sa.String(14), sa.ForeignKey("partners.siret", ondelete="CASCADE"), nullable=False),
    sa.Column("convention", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),      # convention | contrat | bulletin-<SERVICE>
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("title", sa.String(255), nullable=False),
    sa.Column("content_sha256", sa.String(64), nullable=False),  # of what it says (domain/paperwork.facts)
    sa.Column("sha256", sa.String(64), nullable=False),          # of the PDF as it stands
    sa.Column("pdf", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("partner_signed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("partner_signed_by", sa.String(128), nullable=True),
    sa.Column("caf_signed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("caf_signed_by", sa.String(128), nullable=True),
    sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("partner_siret", "convention", "kind", "version", name="uq_convention_documents_version"),
    sa.Index("ix_convention_documents_convention", "partner_siret", "convention"),
)

access_requests = sa.Table(  # issue 31 §1: organisations asking for access, before they are partners
    "access_requests", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("siret", sa.String(14), nullable=False, index=True),
    sa.Column("caf_code", sa.String(16), nullable=False, index=True),
    sa.Column("state", sa.String(16), nullable=False),  # domain.access_requests.RequestState
    sa.Column("document", sa.JSON, nullable=False),     # the request as stored (store/paperwork.py)
)
