"""registry, audit log (append-only), outbox

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("cafs", sa.Column("code", sa.String(16), primary_key=True),
                    sa.Column("document", sa.JSON, nullable=False))
    op.create_table("partners", sa.Column("siret", sa.String(14), primary_key=True),
                    sa.Column("caf_code", sa.String(16), sa.ForeignKey("cafs.code"), nullable=False, index=True),
                    sa.Column("name", sa.String(255), nullable=False),
                    sa.Column("document", sa.JSON, nullable=False),
                    sa.Column("version", sa.Integer, nullable=False))
    op.create_table("user_index", sa.Column("identifiant", sa.String(64), primary_key=True),
                    sa.Column("email", sa.String(255), nullable=False, unique=True),
                    sa.Column("partner_siret", sa.String(14), sa.ForeignKey("partners.siret", ondelete="CASCADE"),
                              nullable=True),
                    sa.Column("caf_code", sa.String(16), nullable=True))
    op.create_table("settings", sa.Column("key", sa.String(64), primary_key=True),
                    sa.Column("value", sa.String(255), nullable=False))
    op.create_table("audit_log", sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
                    sa.Column("actor", sa.String(128), nullable=False),
                    sa.Column("action", sa.String(64), nullable=False),
                    sa.Column("object", sa.String(255), nullable=False, index=True),
                    sa.Column("partner_siret", sa.String(14), nullable=True, index=True),
                    sa.Column("caf_code", sa.String(16), nullable=True, index=True),
                    sa.Column("before", sa.JSON, nullable=True),
                    sa.Column("after", sa.JSON, nullable=True))
    op.create_table("outbox", sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
                    sa.Column("recipient", sa.String(255), nullable=False),
                    sa.Column("subject", sa.String(255), nullable=False),
                    sa.Column("body", sa.Text, nullable=False),
                    sa.Column("caf_code", sa.String(16), nullable=True, index=True),
                    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
                    sa.Column("error", sa.Text, nullable=True))
    # The audit trail is append-only: the database itself refuses UPDATE and DELETE.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
                      BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql""")
        op.execute("""CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
                      FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""")
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"""CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log
                           BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""")


def downgrade():
    for t in ("outbox", "audit_log", "settings", "user_index", "partners", "cafs"):
        op.drop_table(t)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
