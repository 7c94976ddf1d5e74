"""Unit of work over SQLAlchemy Core: SQLite by default, PostgreSQL by URL, nothing else differs."""

from __future__ import annotations

import builtins
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, overload

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, Engine

from provisioning import logs, settings
from provisioning.domain import diff
from provisioning.domain.delta import Delta, between, positions, positions_after, working_copy
from provisioning.domain.model import Caf, Group, Partner, Profile, Registry, Service, Settings
from provisioning.domain.reviews import Campaign, Decision, Item, Verdict
from provisioning.domain.states import MailState, ReconcileState
from provisioning.errors import Conflict, ProvisioningError, ValidationFailed, Violation
from provisioning.store import partner_rows
from provisioning.store import tables as t
from provisioning.store.documents import caf_from_stored, caf_to_stored, header_to_stored
from provisioning.store.paperwork import AccessRequestRepository, DocumentRepository

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str) -> Engine:
    engine = sa.create_engine(url, future=True, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        @sa.event.listens_for(engine, "connect")
        def _fk_on(dbapi_conn, _):  # SQLite ignores foreign keys unless asked
            dbapi_conn.execute("PRAGMA foreign_keys=ON")
    return engine


MIGRATION_LOCK_TIMEOUT = "5s"
MIGRATION_LOCK = 0x6D6370  # PostgreSQL advisory lock key ("mcp"): one migrating process at a time


class SchemaNotCurrent(ProvisioningError):
    """A process meets a database its code was not written for: it refuses to start rather than guess."""

    def __init__(self, found: str | None, expected: str, *, newer: bool = False):
        if newer:
            message = (f"La base du registre est à la révision {found}, plus récente, qui n'admet plus la révision "
                       f"{expected} de ce programme (une migration « contract ») : déployez la version qui "
                       "correspond à la base.")
        else:
            what = "vide (aucune migration)" if found is None else f"à la révision {found}"
            message = (f"La base du registre est {what}, ce programme attend la révision {expected} : lancez "
                       "« mcp-provisioning migrate » (une étape du déploiement), puis redémarrez.")
        super().__init__("SCHEMA_NON_A_JOUR", message, 503)


def _alembic() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory
    head = ScriptDirectory.from_config(_alembic()).get_current_head()
    assert head is not None
    return head


def _known(revision: str) -> bool:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError
    try:
        return ScriptDirectory.from_config(_alembic()).get_revision(revision) is not None
    except CommandError:
        return False


def schema_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def require_current_schema(engine: Engine) -> None:
    """Every process but `migrate` calls this at start (issue 25 §6): migrations are a deployment step,
    never six processes racing to run them. A newer schema is accepted when it still admits this code's
    revision (issue 30 §4: its successor's *expand* migration ran during a rolling upgrade)."""
    found, expected = schema_revision(engine), head_revision()
    if found == expected:
        return
    if found is None or _known(found):  # empty, or older than this code
        raise SchemaNotCurrent(found, expected)
    with engine.connect() as conn:
        admitted = set(conn.execute(sa.select(t.schema_compat.c.revision)).scalars())
    if expected not in admitted:
        raise SchemaNotCurrent(found, expected, newer=True)
    log.warning("registry schema at %s, newer than this code's %s, which it still admits (expand): a rolling "
                "upgrade is under way", found, expected)


@contextmanager
def _migration_lock(engine: Engine):
    """Two `migrate` at once (two deployments, a retried job) run one after the other, the second finding
    nothing to do. PostgreSQL: a session advisory lock; SQLite: an exclusive lock on a file beside the base."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
                conn.commit()
        return
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:":
        yield
        return
    import fcntl
    with open(f"{path}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def migrate(engine: Engine, to: str = "head") -> tuple[str | None, str]:
    """Brings the schema to the code's head (or to an older revision `to`: a registry as an earlier version
    left it, for the migrations' tests) under the migration lock; returns (before, after)."""
    cfg = _alembic()
    with _migration_lock(engine):
        before = schema_revision(engine)
        if before is not None and not _known(before):  # an older version's `migrate` on a newer base
            raise ProvisioningError("SCHEMA_PLUS_RECENT", f"La base du registre est à la révision {before}, plus "
                                    f"récente que ce programme ({head_revision()}) : rien n'a été modifié. Déployez "
                                    "la version qui correspond à la base.", 409)
        try:
            with engine.begin() as conn:
                if engine.dialect.name == "postgresql":
                    # a migration waiting for a lock would hold every query behind it (the servers of the version
                    # in use: issue 30 §4): it gives up instead, having changed nothing, and is run again
                    conn.execute(sa.text(f"SET LOCAL lock_timeout = '{MIGRATION_LOCK_TIMEOUT}'"))
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, to)
        except sa.exc.OperationalError as e:
            if getattr(e.orig, "sqlstate", None) != "55P03":  # lock_not_available
                raise
            raise ProvisioningError("MIGRATION_BLOQUEE", f"La migration attendait depuis {MIGRATION_LOCK_TIMEOUT} "
                                    "un verrou tenu par une transaction en cours : rien n'a été modifié ; relancez "
                                    "« mcp-provisioning migrate ».", 503) from None
    return before, head_revision() if to == "head" else to


def utc_iso(at: datetime) -> str:
    """A stored moment as ISO 8601 with its offset: SQLite hands timezone columns back naive (they hold UTC),
    PostgreSQL aware; an API reader gets the same text from both."""
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat()


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    return v


def now() -> datetime:
    return datetime.now(UTC)


_HEADER = (t.partners.c.siret, t.partners.c.document, t.partners.c.stamp)


class RegistryRepository:
    def __init__(self, conn: Connection):
        self.conn = conn
        self._read: dict[str, Partner] = {}  # each partner as read by this unit of work, untouched (issue 27)

    def _partners(self, q: sa.Select) -> list[Partner]:
        """Working copies of the partners whose rows `q` selects (columns `_HEADER`); not kept (a registry-wide
        read would push the partners being changed out)."""
        return [working_copy(p) for p in partner_rows.assemble(self.conn, list(self.conn.execute(q)), keep=False)]

    def load(self) -> Registry:
        cafs = [caf_from_stored(r.document) for r in self.conn.execute(sa.select(t.cafs).order_by(t.cafs.c.code))]
        return Registry(cafs, self._partners(sa.select(*_HEADER).order_by(t.partners.c.siret)), self.settings())

    def as_read(self, siret: str) -> Partner | None:
        """The partner as this unit of work last read or wrote it (what a change is compared with)."""
        return self._read.get(siret)

    def holders(self, identifiants: list[str], emails: list[str]) -> list[tuple[str, str, str | None]]:
        """(identifiant, address in lower case, partner SIRET or None for a Caf administrator) of the index rows
        holding one of these identifiants or addresses: a few indexed reads, 500 values a statement."""
        ix, out = t.user_index.c, {}
        for i in range(0, len(identifiants), 500):
            out.update({r[0]: (r[0], r[1], r[2]) for r in self.conn.execute(
                sa.select(ix.identifiant, ix.email, ix.partner_siret).where(ix.identifiant.in_(identifiants[i:i + 500])))})
        lowered = sorted({e.lower() for e in emails})
        for i in range(0, len(lowered), 500):
            out.update({r[0]: (r[0], r[1], r[2]) for r in self.conn.execute(
                sa.select(ix.identifiant, ix.email, ix.partner_siret).where(ix.email.in_(lowered[i:i + 500])))})
        return list(out.values())

    def settings(self) -> Settings:
        s = Settings()
        row = self.conn.execute(sa.select(t.settings.c.value).where(t.settings.c.key == "afas_habiliter_opening")).first()
        if row:
            s.afas_habiliter_opening = date.fromisoformat(row.value)
        return s

    def load_caf(self, code: str) -> Caf | None:
        row = self.conn.execute(sa.select(t.cafs.c.document).where(t.cafs.c.code == code)).first()
        return caf_from_stored(row.document) if row else None

    def partner(self, siret: str) -> Partner | None:
        """One partner, without reading the others (API reads)."""
        found = self.partner_with_version(siret)
        return found[0] if found else None

    def partner_with_version(self, siret: str) -> tuple[Partner, int] | None:
        """The partner and the version a later save must find unchanged (optimistic locking)."""
        row = self.conn.execute(sa.select(*_HEADER, t.partners.c.version).where(t.partners.c.siret == siret)).first()
        if row is None:
            return None
        [read] = partner_rows.assemble(self.conn, [row], keep=True)
        self._read[siret] = read
        return working_copy(read), row.version

    def partners_of_caf(self, caf: str) -> list[Partner]:
        return self._partners(sa.select(*_HEADER).where(t.partners.c.caf_code == caf).order_by(t.partners.c.siret))

    def index_rows(self, condition: sa.ColumnElement[bool]) -> list[tuple[str, str]]:
        """(identifiant, partner SIRET) of the partners' people a condition on `user_index` selects: one read."""
        ix = t.user_index.c
        return [(r[0], r[1]) for r in self.conn.execute(
            sa.select(ix.identifiant, ix.partner_siret).where(condition, ix.partner_siret.is_not(None)))]

    def partners_in(self, sirets: list[str]) -> list[Partner]:
        """These partners, in SIRET order: one statement per 500 (never an unbounded list of parameters)."""
        out: list[Partner] = []
        for i in range(0, len(sirets), 500):
            out += self._partners(sa.select(*_HEADER).where(t.partners.c.siret.in_(sirets[i:i + 500])))
        return sorted(out, key=lambda p: p.siret)

    def headers(self, *, partner: str | None = None, caf: str | None = None) -> list[Partner]:
        """Partners without their people and grants — their rows' documents only, in SIRET order: one partner,
        a Caf's, or every one. For what a partner's header decides alone (which groups it has)."""
        p = t.partners.c
        q = sa.select(p.siret, p.document).order_by(p.siret)
        if partner is not None:
            q = q.where(p.siret == partner)
        elif caf is not None:
            q = q.where(p.caf_code == caf)
        return [partner_rows.partner_from_rows(partner_rows.doc(r.document), [], []) for r in self.conn.execute(q)]

    def people_in(self, rows: list[tuple[str, str]]) -> list[Partner]:
        """For reads that show people (SCIM): the partners of these (identifiant, partner SIRET) rows, in SIRET
        order, each with only those people and their grants — their rows, not the partners' others. Partial:
        never to be changed and saved."""
        sirets, out = sorted({siret for _, siret in rows}), []
        for i in range(0, len(sirets), 500):
            batch = set(sirets[i:i + 500])
            headers = list(self.conn.execute(sa.select(*_HEADER).where(t.partners.c.siret.in_(sirets[i:i + 500]))
                                             .order_by(t.partners.c.siret)))
            out += partner_rows.people_of(self.conn, headers, [r for r in rows if r[1] in batch])
        return out

    def index_page(self, condition: sa.ColumnElement[bool], start: int, count: int | None, *,
                   descending: bool = False) -> tuple[int, list[tuple[str, str]]]:
        """(how many index rows the condition selects, (identifiant, partner) of one page of them in code-point
        order — PostgreSQL's collation would otherwise sort « b.lea » after « ba »)."""
        ix = t.user_index.c
        total = self.conn.execute(sa.select(sa.func.count()).select_from(t.user_index).where(condition)).scalar_one()
        key = ix.identifiant.collate("C") if self.conn.dialect.name == "postgresql" else ix.identifiant
        q = sa.select(ix.identifiant, ix.partner_siret).where(condition).order_by(key.desc() if descending else key)
        q = q.offset(start)
        if count is not None:
            q = q.limit(count)
        return int(total), [(r[0], r[1]) for r in self.conn.execute(q)]

    def partner_summaries(self, caf: str | None = None) -> list[tuple[str, str, str]]:
        """(SIRET, name, Caf) of every partner, or a Caf's, in SIRET order: columns only, no document parsed."""
        p = t.partners.c
        q = sa.select(p.siret, p.name, p.caf_code).order_by(p.siret)
        if caf is not None:
            q = q.where(p.caf_code == caf)
        return [(r[0], r[1], r[2]) for r in self.conn.execute(q)]

    def partner_summary(self, siret: str) -> tuple[str, str, str] | None:
        """(SIRET, name, Caf) of one partner: who may act on it is decided from these columns."""
        p = t.partners.c
        row = self.conn.execute(sa.select(p.siret, p.name, p.caf_code).where(p.siret == siret)).first()
        return (row[0], row[1], row[2]) if row else None

    def partner_of(self, identifiant: str) -> Partner | None:
        """The partner a person belongs to, through the identifiant index (one partner read, not the registry)."""
        row = self.conn.execute(sa.select(t.user_index.c.partner_siret)
                                .where(t.user_index.c.identifiant == identifiant)).first()
        return self.partner(row.partner_siret) if row and row.partner_siret else None

    def standing(self, identifiant: str) -> tuple[Person, Partner | None, Caf | None] | None:
        """The person, with her partner (a partner's user) or her Caf (a Caf administrator): one index read and
        one document, whatever the size of the registry (it read the partner twice: every API request of a
        partner's staff parsed a 5,000-person document once for nothing)."""
        row = self.conn.execute(sa.select(t.user_index.c.partner_siret, t.user_index.c.caf_code)
                                .where(t.user_index.c.identifiant == identifiant)).first()
        return standing_from(identifiant, row.partner_siret, row.caf_code, self.partner, self.load_caf) if row else None

    def people(self, identifiants: list[str]) -> dict[str, Person]:
        """Who these identifiants are now (those the registry knows): one index read per 500, then each partner
        or Caf they belong to read once — not once a person (delivering a 5,000-person partner's codes parsed
        its document 5,000 times)."""
        ix = t.user_index.c
        rows: list[Any] = []
        for i in range(0, len(identifiants), 500):
            rows += self.conn.execute(sa.select(ix.identifiant, ix.partner_siret, ix.caf_code).where(
                ix.identifiant.in_(identifiants[i:i + 500]))).all()
        return _people_of(rows, self.partners_in, self.load_caf)

    def caf_of(self, identifiant: str) -> str | None:
        """The Caf a person answers to (a partner's user: its partner's Caf; a Caf administrator: that Caf)."""
        ix, p = t.user_index.c, t.partners.c
        row = self.conn.execute(sa.select(ix.caf_code, p.caf_code.label("partner_caf"))
                                .select_from(t.user_index.outerjoin(t.partners, ix.partner_siret == p.siret))
                                .where(ix.identifiant == identifiant)).first()
        return (row.partner_caf or row.caf_code) if row else None

    def versions(self) -> dict[str, int]:
        return dict(self.conn.execute(sa.select(t.partners.c.siret, t.partners.c.version)).all())

    def versions_of(self, sirets: list[str]) -> dict[str, int]:
        """These partners' versions, 500 a statement."""
        p, out = t.partners.c, {}
        for i in range(0, len(sirets), 500):
            out.update(dict(self.conn.execute(sa.select(p.siret, p.version).where(p.siret.in_(sirets[i:i + 500])))
                            .all()))
        return out

    def cafs(self) -> list[Caf]:
        """Every Caf (a hundred at most: their administrators, not their partners)."""
        return [caf_from_stored(r.document) for r in self.conn.execute(sa.select(t.cafs).order_by(t.cafs.c.code))]

    def people_taken(self, identifiants: list[str], emails: list[str], *, besides: list[str],
                     cafs: tuple[str, ...] | list[str] = (), caf_administrators: bool = False,
                     ) -> tuple[set[str], set[str]]:
        """Which of these identifiants and addresses someone else holds: a partner's person other than the
        partners `besides` (bounded by the caller: a file's own, or one partner) and those of the Cafs `cafs` (a
        subquery), and Caf administrators too when asked. A few IN queries, 500 a statement."""
        ix, pt, ids, mails = t.user_index.c, t.partners.c, set(), set()
        outside = sa.and_(sa.or_(ix.partner_siret.is_(None), ix.partner_siret.not_in(besides)) if besides else sa.true(),
                          ~sa.exists().where(pt.siret == ix.partner_siret, pt.caf_code.in_(cafs)) if cafs
                          else sa.true())
        if not caf_administrators:
            outside = sa.and_(outside, ix.partner_siret.is_not(None))
        for i in range(0, len(identifiants), 500):
            ids |= set(self.conn.execute(sa.select(ix.identifiant).where(
                ix.identifiant.in_(identifiants[i:i + 500]), outside)).scalars())
        lowered = [e.lower() for e in emails]
        for i in range(0, len(lowered), 500):
            mails |= set(self.conn.execute(sa.select(ix.email).where(ix.email.in_(lowered[i:i + 500]), outside))
                         .scalars())
        return ids, mails

    def save_settings(self, s: Settings) -> None:
        self.conn.execute(sa.delete(t.settings).where(t.settings.c.key == "afas_habiliter_opening"))
        self.conn.execute(sa.insert(t.settings).values(key="afas_habiliter_opening",
                                                       value=s.afas_habiliter_opening.isoformat()))

    def save_caf(self, c: Caf, *, reindex: bool = True) -> None:
        doc = caf_to_stored(c)
        if self.conn.execute(sa.select(t.cafs.c.code).where(t.cafs.c.code == c.code)).first():
            self.conn.execute(sa.update(t.cafs).where(t.cafs.c.code == c.code).values(document=doc))
        else:
            self.conn.execute(sa.insert(t.cafs).values(code=c.code, document=doc))
        if reindex:
            self.unindex(caf=c.code)
            self.index_caf(c)

    def save_partner(self, p: Partner, expected_version: int | None = None, *, reindex: bool = True,
                     delta: Delta | None = None) -> int:
        """Insert (expected_version None) or update only if the stored version is still the one read:
        `UPDATE … WHERE version = :read`. A lost race raises VERSION_PERIMEE. Returns the new version.
        Writes the header and the rows of the people and grants that changed since this unit of work read the
        partner (`delta` when the caller knows it: domain/delta.py), all of them for a new partner."""
        doc, stamp = header_to_stored(p), partner_rows.new_stamp()
        read = self._read.get(p.siret) if expected_version is not None else None
        if expected_version is None:
            if self.conn.execute(sa.select(t.partners.c.siret).where(t.partners.c.siret == p.siret)).first():
                raise stale_version(p.siret)
            self.conn.execute(sa.insert(t.partners).values(siret=p.siret, caf_code=p.caf, name=p.name,
                                                           document=doc, version=1, stamp=stamp))
            version = 1
        else:
            done = self.conn.execute(sa.update(t.partners)
                                     .where(t.partners.c.siret == p.siret, t.partners.c.version == expected_version)
                                     .values(caf_code=p.caf, name=p.name, document=doc, version=expected_version + 1,
                                             stamp=stamp))
            if done.rowcount != 1:
                raise stale_version(p.siret)
            version = expected_version + 1
        if read is None:  # not read here: its rows as they stand are replaced
            partner_rows.delete(self.conn, p.siret)
            d = None
        else:
            d = delta if delta is not None else between(read, p)
        partner_rows.write(self.conn, p, d)
        if reindex:
            self._reindex_partner(p, d)
        kept = working_copy(p)  # the caller may go on changing p: what is kept is its own
        kept.positions = positions_after(read, d, p) if read is not None else positions(p)
        self._read[p.siret] = kept
        partner_rows.KEPT.put(p.siret, stamp, kept)
        return version

    def delete_partner(self, siret: str) -> None:
        self.unindex(partner=siret)
        partner_rows.delete(self.conn, siret)
        self._read.pop(siret, None)
        self.conn.execute(sa.delete(t.partners).where(t.partners.c.siret == siret))

    def unindex(self, *, partner: str | None = None, caf: str | None = None) -> None:
        """Forget a partner's (or a Caf's administrators') identifiants, before re-indexing a batch so that
        people moving between partners in one file never clash with their old row."""
        col = t.user_index.c.partner_siret if partner else t.user_index.c.caf_code
        self.conn.execute(sa.delete(t.user_index).where(col == (partner or caf)))

    def index_partner(self, p: Partner) -> None:
        self._index_many([(u.identifiant, u.email) for u in p.users], partner=p.siret)

    def index_caf(self, c: Caf) -> None:
        self._index_many([(a.identifiant, a.email) for a in c.administrators], caf=c.code)

    def _reindex_partner(self, p: Partner, d: Delta | None = None) -> None:
        """Issue 27: write only the index rows that changed (one person added: one row), not the partner's
        5,000 — those of the people `d` says changed, else the partner's rows read once — then deletes and
        inserts in batches."""
        ix = t.user_index.c
        if d is not None:
            have = {i: b.email.lower() for i, (b, _) in d.users.items() if b is not None}
            want = {i: a.email for i, (_, a) in d.users.items() if a is not None}
        else:
            have = dict(self.conn.execute(sa.select(ix.identifiant, ix.email).where(ix.partner_siret == p.siret)).all())
            want = {u.identifiant: u.email for u in p.users}
        gone = [i for i, e in have.items() if i not in want or want[i].lower() != e]
        for i in range(0, len(gone), 500):
            self.conn.execute(sa.delete(t.user_index).where(ix.partner_siret == p.siret,
                                                             ix.identifiant.in_(gone[i:i + 500])))
        self._index_many([(i, e) for i, e in want.items() if have.get(i) != e.lower()], partner=p.siret)

    def _index_many(self, people: list[tuple[str, str]], partner: str | None = None, caf: str | None = None) -> None:
        """The database's unique indexes enforce uniqueness across partners; a clash is the same rule
        violation, with the same code and message, as inside one partner (never naming the other one).
        Checked with a few IN queries, inserted in one statement per 500."""
        if not people:
            return
        ix = t.user_index.c
        ids, mails = set(), set()
        for i in range(0, len(people), 500):
            batch = people[i:i + 500]
            ids |= set(self.conn.execute(sa.select(ix.identifiant).where(
                ix.identifiant.in_([ident for ident, _ in batch]))).scalars())
            mails |= set(self.conn.execute(sa.select(ix.email).where(
                ix.email.in_([email.lower() for _, email in batch]))).scalars())
        refuse_taken(people, ids, mails)
        try:
            with self.conn.begin_nested():
                for i in range(0, len(people), 500):
                    self.conn.execute(sa.insert(t.user_index), [
                        {"identifiant": ident, "email": email.lower(), "partner_siret": partner, "caf_code": caf}
                        for ident, email in people[i:i + 500]])
        except sa.exc.IntegrityError as e:  # a concurrent transaction took one between the check and the insert
            raise Conflict("Un identifiant ou un courriel vient d'être enregistré ailleurs : rechargez et "
                           "recommencez.") from e


def _person_in(ident: str, p: Partner | None) -> Person | None:
    """A partner's user as credential delivery sees her, with why she may not receive codes now."""
    u = p.user(ident) if p else None
    if p is None or u is None:
        return None
    why = SUSPENDED if u.suspended else "verrouillé (codes déclarés perdus ou volés)" if u.locked else None
    return Person(ident, u.first_name, u.last_name, u.email, p.caf, p.siret, why)


def _administrator_in(ident: str, caf: Caf | None) -> Person | None:
    a = next((x for x in caf.administrators if x.identifiant == ident), None) if caf else None
    return Person(ident, a.first_name, a.last_name, a.email, caf.code, None, None) if caf and a else None


def standing_from(ident: str, siret: str | None, caf_code: str | None, partner: Callable[[str], Partner | None],
                  load_caf: Callable[[str], Caf | None]) -> tuple[Person, Partner | None, Caf | None] | None:
    """`standing` from an index row (the SQL and the memory repositories read the row their own way)."""
    if siret:
        p = partner(siret)
        person = _person_in(ident, p)
        return (person, p, None) if person else None
    caf = load_caf(caf_code) if caf_code else None
    person = _administrator_in(ident, caf)
    return (person, None, caf) if person else None


def _people_of(rows, partners_in, load_caf) -> dict[str, Person]:
    """Persons from (identifiant, partner SIRET, Caf code) index rows, each partner and Caf read once."""
    partners = {p.siret: p for p in partners_in(sorted({r[1] for r in rows if r[1]}))}
    cafs = {code: load_caf(code) for code in {r[2] for r in rows if r[2] and not r[1]}}
    found = {ident: _person_in(ident, partners.get(siret)) if siret else _administrator_in(ident, cafs.get(caf_code))
             for ident, siret, caf_code in rows}
    return {ident: person for ident, person in found.items() if person is not None}


def _pick(conn: Connection, rows: sa.Select) -> list[Any]:
    """The keys of the rows a claim takes, at most its LIMIT: read first, locked on PostgreSQL (FOR UPDATE SKIP
    LOCKED: another sender's rows are passed over), then updated by key. One `UPDATE … WHERE id IN (SELECT …
    LIMIT n FOR UPDATE SKIP LOCKED)` took every due row on PostgreSQL when the planner re-ran the subquery: the
    rows the UPDATE had just changed were skipped as locked and the next ones picked (found by the memory
    store's contract test: a claim of 2 took 3). SQLite has one writer at a time: the read needs no lock."""
    if conn.dialect.name == "postgresql":
        rows = rows.with_for_update(skip_locked=True)
    return list(conn.execute(rows).scalars())


def refuse_taken(people: list[tuple[str, str]], ids: set[str], mails: set[str]) -> None:
    """A person whose identifiant or address (lower case) someone already holds: refused as inside one partner,
    never naming the other one."""
    for identifiant, email in people:
        if identifiant in ids:
            raise ValidationFailed([Violation("IDENTIFIANT_EN_DOUBLE", f"L'identifiant « {identifiant} » est déjà "
                                              "utilisé : un utilisateur appartient à un seul partenaire.",
                                              "identifiant")])
        if email.lower() in mails:
            raise ValidationFailed([Violation("COURRIEL_EN_DOUBLE", f"L'adresse « {email} » est déjà utilisée.",
                                              "email")])


def stale_version(siret: str) -> Conflict:
    return Conflict(f"Le partenaire {siret} a été modifié entre-temps : rechargez-le et recommencez.",
                    code="VERSION_PERIMEE")


class AuditRepository:
    def __init__(self, conn: Connection):
        self.conn = conn

    def record(self, actor: str, action: str, obj: str, before: Any = None, after: Any = None, *,
               partner: str | None = None, caf: str | None = None, subject: str | None = None,
               summary: str | None = None) -> int:
        """Append one entry; returns its number (a reference people can quote). What is kept of `before` and
        `after` is what differs between them (domain/diff.py), not the two documents."""
        delta = _jsonable(diff.changes(before, after))
        result = self.conn.execute(sa.insert(t.audit_log).values(at=now(), actor=actor, action=action, object=obj,
                                                                 partner_siret=partner, caf_code=caf,
                                                                 changes=delta or None, subject=subject,
                                                                 summary=summary, request_id=logs.current()))
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def list(self, *, partner: str | None = None, caf: str | None = None, limit: int = 100, offset: int = 0,
             actor: str | None = None, subject: str | None = None, since: datetime | None = None,
             until: datetime | None = None, with_changes: bool = True, request_id: str | None = None) -> list[dict]:
        """Newest first. Filters: partner or Caf (the reader's scope), then actor, the person concerned
        (entries about them, and Keycloak's changes to their account), a time window [since, until), the request
        that made them (issue 30 §2)."""
        a = t.audit_log.c
        columns = [a.id, a.at, a.actor, a.action, a.object, a.partner_siret, a.caf_code, a.subject, a.summary,
                   a.request_id]
        if with_changes:
            columns += [a.changes, a.before, a.after]
        q = sa.select(*columns).order_by(a.id.desc()).limit(limit).offset(offset)
        if partner:
            q = q.where(a.partner_siret == partner)
        if caf:
            q = q.where(a.caf_code == caf)
        if actor:
            q = q.where(a.actor == actor)
        if subject:
            q = q.where(a.subject == subject)
        if request_id:
            q = q.where(a.request_id == request_id)
        if since:
            q = q.where(a.at >= since)
        if until:
            q = q.where(a.at < until)
        out = []
        for r in self.conn.execute(q):
            row = {**r._asdict(), "at": utc_iso(r.at)}
            if with_changes:  # an entry from before 0010 kept its two documents: its changes are derived
                before, after = row.pop("before"), row.pop("after")
                if row["changes"] is None:
                    row["changes"] = diff.changes(before, after)
            out.append(row)
        return out

    def dates_of(self, people: builtins.list[str], partners: builtins.list[str],
                 ) -> tuple[dict[str, tuple[datetime, datetime]], dict[str, tuple[datetime, datetime]]]:
        """The same dates for these people and these partners (a SCIM search's): 500 of each per statement."""
        a, dated, whole = t.audit_log.c, {}, {}
        for i in range(0, max(len(people), len(partners)), 500):
            d, w = self._dates(sa.and_(a.subject.in_(people[i:i + 500]), a.partner_siret.is_not(None)),
                               a.partner_siret.in_(partners[i:i + 500]))
            dated.update(d)
            whole.update(w)
        return dated, whole

    def dates(self, *, partner: str | None = None, caf: str | None = None, everything: bool = False,
              ) -> tuple[dict[str, tuple[datetime, datetime]], dict[str, tuple[datetime, datetime]]]:
        """(person → first and last journal line about them, partner → its first and last line), in one query
        each: the created and lastModified dates the SCIM resources carry. The scope is one partner, a Caf's
        partners (a subquery) or `everything`: never a list of SIRETs as parameters (issue 27: a national
        list past 65,535 partners broke PostgreSQL's limit of bind parameters)."""
        a, p = t.audit_log.c, t.partners.c
        if partner is not None:
            scope = a.partner_siret == partner
        elif caf is not None:
            scope = a.partner_siret.in_(sa.select(p.siret).where(p.caf_code == caf))
        elif everything:
            scope = a.partner_siret.is_not(None)
        else:
            raise ValueError("dates: a partner, a Caf or everything")
        return self._dates(sa.and_(scope, a.subject.is_not(None)), scope)

    def _dates(self, about_people, about_partners):
        a = t.audit_log.c
        people = self.conn.execute(sa.select(a.subject, sa.func.min(a.at), sa.func.max(a.at))
                                   .where(about_people).group_by(a.subject))
        whole = self.conn.execute(sa.select(a.partner_siret, sa.func.min(a.at), sa.func.max(a.at))
                                  .where(about_partners).group_by(a.partner_siret))
        return ({r[0]: (_aware(r[1]), _aware(r[2])) for r in people},
                {r[0]: (_aware(r[1]), _aware(r[2])) for r in whole})


SUSPENDED = "suspendu"  # why a person may not receive codes now, when the Caf suspended her


@dataclass(frozen=True)
class Person:
    """A person of the registry as credential delivery sees them: current names and address, and why they
    may not receive codes now (None: they may)."""
    identifiant: str
    first_name: str
    last_name: str
    email: str
    caf: str
    partner: str | None
    refused: str | None

    @property
    def suspended(self) -> bool:
        return self.refused == SUSPENDED


class Outbox:
    """Notifications are written in the same transaction as the change that causes them, then delivered by
    a sender outside any transaction: claim (one sender per row), send, record the outcome."""

    MAX_ATTEMPTS = 8          # then the row is a dead letter, listed for the Caf with a resend action
    CLAIM_SECONDS = 300       # a sender that died releases its rows after this
    CLAIM_BATCH = 50          # rows a sender takes at once (then the next claim)

    def __init__(self, conn: Connection):
        self.conn = conn

    def put(self, recipient: str, subject: str, body: str, caf: str | None = None) -> None:
        self.conn.execute(sa.insert(t.outbox).values(at=now(), recipient=recipient, subject=subject, body=body,
                                                     caf_code=caf, kind="mail", request_id=logs.current()))

    def put_credentials(self, recipient: str, who: dict, caf: str | None = None) -> int:
        """An intent: at sending time a provisional password is set in Keycloak and mailed (its 24 hours
        start then); nothing secret is stored. Returns its number (whoever wrote it withdraws only that one)."""
        done = self.conn.execute(sa.insert(t.outbox).values(
            at=now(), recipient=recipient, subject="codes d'accès (identifiant puis mot de passe provisoire)",
            body="", caf_code=caf, kind="credentials", payload=who, username=who["username"],
            request_id=logs.current()))
        key = done.inserted_primary_key
        assert key is not None
        return int(key[0])

    def _pending_credentials(self, username: str):
        o = t.outbox.c
        return sa.and_(o.username == username, o.kind == "credentials", o.sent_at.is_(None), o.dead_at.is_(None))

    def credentials_pending_among(self, usernames: list[str]) -> set[str]:
        """Which of these people have codes still to leave (one query a 500)."""
        o, out = t.outbox.c, set()
        for chunk in (usernames[i:i + 500] for i in range(0, len(usernames), 500)):
            out |= {r.username for r in self.conn.execute(sa.select(o.username).where(
                o.username.in_(chunk), o.kind == "credentials", o.sent_at.is_(None), o.dead_at.is_(None)))}
        return out

    def credentials_pending(self, username: str) -> bool:
        return self.conn.execute(sa.select(t.outbox.c.id).where(self._pending_credentials(username)).limit(1)).first() \
            is not None

    def due_now(self, usernames: list[str]) -> None:
        """These people's waiting codes leave at the next delivery (their account was just enabled): unless
        a sender holds them now."""
        if not usernames:
            return
        o, at = t.outbox.c, now()
        for chunk in (usernames[i:i + 500] for i in range(0, len(usernames), 500)):
            self.conn.execute(sa.update(t.outbox).where(
                o.username.in_(chunk), o.kind == "credentials", o.sent_at.is_(None), o.dead_at.is_(None),
                sa.or_(o.claimed_until.is_(None), o.claimed_until < at)).values(next_attempt_at=None))

    def withdraw(self, msg_id: int) -> None:
        """An intent its writer takes back (the account it announced was not created): that row only — a
        second writer's intent for the same person stays (issue 25: two writers racing for one creation)."""
        o = t.outbox.c
        self.conn.execute(sa.delete(t.outbox).where(o.id == msg_id, o.sent_at.is_(None)))

    def drop(self, msg_id: int, token: str) -> None:
        """A claimed intent that must not leave any more (decided at sending time from the registry)."""
        self.conn.execute(sa.delete(t.outbox).where(t.outbox.c.id == msg_id, t.outbox.c.claimed_by == token))

    def claim(self, limit: int = 50) -> tuple[str, list[Any]]:
        """Take up to `limit` due rows for this sender: no other sender gets them while the claim holds.
        PostgreSQL skips rows another transaction is claiming (FOR UPDATE SKIP LOCKED); SQLite has one
        writer at a time, so the same statement is atomic there."""
        o, token, at = t.outbox.c, str(uuid.uuid4()), now()
        free = sa.or_(o.claimed_until.is_(None), o.claimed_until < at)
        due = sa.and_(o.sent_at.is_(None), o.dead_at.is_(None), free,
                      sa.or_(o.next_attempt_at.is_(None), o.next_attempt_at <= at))
        ids = _pick(self.conn, sa.select(o.id).where(due).order_by(o.id).limit(limit))
        if not ids:
            return token, []  # polled often: nothing due costs a read, never a write
        self.conn.execute(sa.update(t.outbox).where(o.id.in_(ids), due)
                          .values(claimed_by=token, claimed_until=at + timedelta(seconds=self.CLAIM_SECONDS)))
        return token, list(self.conn.execute(sa.select(t.outbox).where(o.claimed_by == token).order_by(o.id)))

    def sent(self, msg_id: int, token: str) -> None:
        self.conn.execute(sa.update(t.outbox).where(t.outbox.c.id == msg_id, t.outbox.c.claimed_by == token)
                          .values(sent_at=now(), error=None, claimed_by=None, claimed_until=None))

    def failed(self, msg_id: int, token: str, error: str, attempts: int) -> bool:
        """One more failed attempt: retried after 2^attempts minutes (at most an hour), dead after
        MAX_ATTEMPTS. Returns True when the row is now a dead letter."""
        dead = attempts >= self.MAX_ATTEMPTS
        delay = timedelta(minutes=min(2 ** attempts, 60))
        self.conn.execute(sa.update(t.outbox).where(t.outbox.c.id == msg_id, t.outbox.c.claimed_by == token)
                          .values(error=error[:500], attempts=attempts, claimed_by=None, claimed_until=None,
                                  next_attempt_at=None if dead else now() + delay, dead_at=now() if dead else None))
        return dead

    def later(self, msg_id: int, token: str, seconds: float) -> None:
        """Not now, and no attempt counted: the person's partner is being written by someone else."""
        self.conn.execute(sa.update(t.outbox).where(t.outbox.c.id == msg_id, t.outbox.c.claimed_by == token)
                          .values(claimed_by=None, claimed_until=None,
                                  next_attempt_at=now() + timedelta(seconds=seconds)))

    def release(self, token: str) -> None:
        """Give back the rows this sender claimed and did not try (no attempt counted)."""
        self.conn.execute(sa.update(t.outbox).where(t.outbox.c.claimed_by == token)
                          .values(claimed_by=None, claimed_until=None))

    def counts(self) -> dict[str, int]:
        """{due: to leave now, waiting: not sent yet (due or later), dead: dead letters} (issue 30)."""
        o, at = t.outbox.c, now()
        unsent = sa.and_(o.sent_at.is_(None), o.dead_at.is_(None))
        due = sa.and_(unsent, sa.or_(o.next_attempt_at.is_(None), o.next_attempt_at <= at))
        row = self.conn.execute(sa.select(sa.func.count().filter(due), sa.func.count().filter(unsent),
                                          sa.func.count().filter(o.dead_at.is_not(None)))).one()
        return {"due": int(row[0]), "waiting": int(row[1]), "dead": int(row[2])}

    def resend(self, msg_id: int, caf: str | None = None) -> bool:
        """A dead letter (or a failing row) goes back to the queue with fresh attempts."""
        q = sa.update(t.outbox).where(t.outbox.c.id == msg_id, t.outbox.c.sent_at.is_(None))
        if caf:
            q = q.where(t.outbox.c.caf_code == caf)
        return self.conn.execute(q.values(dead_at=None, attempts=0, next_attempt_at=None, error=None)).rowcount == 1

    def list(self, caf: str | None = None, limit: int = 100, dead: bool = False, waiting: bool = False) -> list[dict]:
        """Newest first; `dead`: the dead letters; `waiting`: what is not sent yet, in the query (it was the
        newest 100 rows filtered afterwards: a mail waiting behind 100 newer sent ones was not listed)."""
        q = sa.select(t.outbox).order_by(t.outbox.c.id.desc()).limit(limit)
        if caf:
            q = q.where(t.outbox.c.caf_code == caf)
        if dead:
            q = q.where(t.outbox.c.dead_at.is_not(None))
        if waiting:
            q = q.where(t.outbox.c.sent_at.is_(None), t.outbox.c.dead_at.is_(None))
        out = []
        for r in self.conn.execute(q):
            row = {k: v for k, v in r._asdict().items() if k not in ("payload", "claimed_by", "claimed_until")}
            for k in ("at", "sent_at", "next_attempt_at", "dead_at"):
                row[k] = utc_iso(row[k]) if row[k] else None
            state = MailState.SENT if r.sent_at else MailState.DEAD if r.dead_at else MailState.WAITING
            row["state"], row["state_label"] = state.value, state.label
            out.append(row)
        return out


class ReconcileRequests:
    """What Keycloak still has to follow: one row per partner, written with the change that needs it."""

    PENDING, APPLIED, FAILED, TO_HANDLE = (s.value for s in (ReconcileState.PENDING, ReconcileState.APPLIED,
                                                             ReconcileState.FAILED, ReconcileState.NEEDS_ATTENTION))
    MAX_BACKOFF = 300  # seconds between retries of a request that keeps failing, at most
    # a claim lasts this long unless its worker renews it (every third of it, while it runs): a worker
    # killed mid-run frees its request within this time
    CLAIM_SECONDS = int(settings.initial("reconcile_claim_seconds"))

    def __init__(self, conn: Connection):
        self.conn = conn

    def request(self, key: str) -> None:
        r, at = t.reconcile_requests.c, now()
        done = self.conn.execute(sa.update(t.reconcile_requests).where(r.key == key).values(
            generation=r.generation + 1, state=self.PENDING, attempts=0, next_attempt_at=None, requested_at=at,
            updated_at=at, request_id=logs.current()))
        if done.rowcount == 0 and not self._insert(key, generation=1, state=self.PENDING):
            self.request(key)  # requested concurrently: the other row serves

    def request_resync(self) -> int:
        """Issue 25 §5: every partner reconciled and at rest, and the realm's shared objects, asked again, so a
        change made by hand in Keycloak is corrected without waiting for the partner's next change. Two
        statements whatever the number of partners; what is pending, failing (it retries) or « à traiter »
        (retrying changes nothing) is left alone. Returns how many were asked."""
        r, at = t.reconcile_requests.c, now()
        missing = self.conn.execute(sa.select(t.partners.c.siret).where(
            t.partners.c.siret.not_in(sa.select(r.key)))).scalars().all()
        for key in [*missing, *(["*"] if self.conn.execute(sa.select(r.key).where(r.key == "*")).first() is None
                                 else [])]:
            self._insert(key, generation=1, state=self.PENDING)
        asked = self.conn.execute(sa.update(t.reconcile_requests).where(r.state == self.APPLIED).values(
            generation=r.generation + 1, state=self.PENDING, attempts=0, next_attempt_at=None, requested_at=at,
            updated_at=at, request_id=logs.current())).rowcount
        return asked + len(missing)

    def _insert(self, key: str, *, generation: int, state: str) -> bool:
        """A first row for this key; False when another transaction made it first."""
        at = now()
        try:
            with self.conn.begin_nested():
                self.conn.execute(sa.insert(t.reconcile_requests).values(
                    key=key, requested_at=at, generation=generation, done_generation=0, state=state, attempts=0,
                    updated_at=at, request_id=logs.current()))
        except sa.exc.IntegrityError:
            return False
        return True

    def claim(self, limit: int = 20, key: str | None = None) -> tuple[str, list[Any]]:
        """Take due requests (or this one only, due or not yet retried): no other worker gets them meanwhile."""
        r, token, at = t.reconcile_requests.c, str(uuid.uuid4()), now()
        due = sa.and_(r.generation > r.done_generation,
                      sa.or_(r.claimed_until.is_(None), r.claimed_until < at),
                      sa.or_(r.next_attempt_at.is_(None), r.next_attempt_at <= at) if key is None else r.key == key)
        keys = _pick(self.conn, sa.select(r.key).where(due).order_by(r.requested_at).limit(limit))
        if not keys:
            return token, []  # an idle worker polls often: nothing due costs a read, never a write (lock)
        self.conn.execute(sa.update(t.reconcile_requests).where(r.key.in_(keys), due)
                          .values(claimed_by=token, claimed_until=at + timedelta(seconds=self.CLAIM_SECONDS)))
        return token, list(self.conn.execute(sa.select(t.reconcile_requests).where(r.claimed_by == token)))

    def hold(self, key: str, token: str) -> bool:
        """Take this key's claim whatever its request's state — for a writer that is not the worker (the CLI's
        `apply`, a credential delivery) — so that the worker, or another writer, waits its turn (issue 25: one
        writer per partner). False while someone else holds it. The request's generation is left alone."""
        r, at = t.reconcile_requests.c, now()
        if self.conn.execute(sa.select(r.key).where(r.key == key)).first() is None:
            self._insert(key, generation=0, state=self.APPLIED)  # made concurrently: the update below decides
        free = sa.or_(r.claimed_until.is_(None), r.claimed_until < at, r.claimed_by == token)
        taken = self.conn.execute(sa.update(t.reconcile_requests).where(r.key == key, free).values(
            claimed_by=token, claimed_until=at + timedelta(seconds=self.CLAIM_SECONDS)))
        return taken.rowcount == 1

    def hold_every_partner(self, token: str) -> bool:
        """A full reconcile (`*`) writes every partner: it takes every partner's claim too, in one statement
        whatever their number (issue 25: one writer per partner). False, with nothing kept, when another writer
        holds one of them."""
        r, p, at = t.reconcile_requests.c, t.partners.c, now()
        for key in self.conn.execute(sa.select(p.siret).where(p.siret.not_in(sa.select(r.key)))).scalars():
            self._insert(key, generation=0, state=self.APPLIED)
        partners = sa.select(p.siret).scalar_subquery()
        free = sa.or_(r.claimed_until.is_(None), r.claimed_until < at, r.claimed_by == token)
        taken = self.conn.execute(sa.update(t.reconcile_requests).where(r.key.in_(partners), free).values(
            claimed_by=token, claimed_until=at + timedelta(seconds=self.CLAIM_SECONDS))).rowcount
        if taken == self.conn.execute(sa.select(sa.func.count()).select_from(t.partners)).scalar():
            return True
        self.conn.execute(sa.update(t.reconcile_requests).where(r.key != "*", r.claimed_by == token)
                          .values(claimed_by=None, claimed_until=None))
        return False

    def holds(self, key: str, token: str) -> bool:
        r = t.reconcile_requests.c
        return self.conn.execute(sa.select(r.key).where(r.key == key, r.claimed_by == token,
                                                         r.claimed_until >= now())).first() is not None

    def let_go(self, token: str) -> None:
        """Give back every claim `hold` took with this token; requests made meanwhile stay due for the worker."""
        self.conn.execute(sa.update(t.reconcile_requests).where(t.reconcile_requests.c.claimed_by == token)
                          .values(claimed_by=None, claimed_until=None))

    def renew(self, token: str) -> None:
        self.conn.execute(sa.update(t.reconcile_requests).where(t.reconcile_requests.c.claimed_by == token)
                          .values(claimed_until=now() + timedelta(seconds=self.CLAIM_SECONDS)))

    def finish(self, req, token: str, *, error: str | None, failures: list[dict], terminal: bool = False) -> None:
        """Record a run: applied; failed objects (retried later, capped backoff); or a transient error.
        `terminal`: it failed only for reasons retrying will not change — « à traiter », not retried until a
        change requests it again (issue 25 §5). A request made while this one ran (newer generation) stays due."""
        r, at = t.reconcile_requests.c, now()
        attempts = 0 if error is None and not failures else req.attempts + 1
        state = self.APPLIED if error is None and not failures else self.TO_HANDLE if terminal else self.FAILED
        retry = None if state != self.FAILED else at + timedelta(seconds=min(2 ** attempts, self.MAX_BACKOFF))
        done_generation = req.done_generation if state == self.FAILED else req.generation
        self.conn.execute(sa.update(t.reconcile_requests).where(r.key == req.key, r.claimed_by == token).values(
            state=sa.case((r.generation > req.generation, self.PENDING), else_=state),
            done_generation=done_generation, attempts=attempts, next_attempt_at=retry, claimed_by=None,
            claimed_until=None, last_error=error, failures=failures or None, updated_at=at))

    def state(self, key: str) -> dict | None:
        row = self.conn.execute(sa.select(t.reconcile_requests).where(t.reconcile_requests.c.key == key)).first()
        if row is None:
            return None
        reason = row.last_error or "; ".join(f"{f['target']} : {f['reason']}" for f in row.failures or [])
        return {"state": row.state, "label": ReconcileState(row.state).label, "updated_at": utc_iso(row.updated_at),
                "attempts": row.attempts, "reason": reason or None}

    def to_handle(self) -> list[dict]:
        """The requests « à traiter » (issue 25 §5): key and reason, for `status` and the consoles."""
        r = t.reconcile_requests.c
        rows = self.conn.execute(sa.select(r.key).where(r.state == self.TO_HANDLE).order_by(r.key)).all()
        return [{"key": row.key, **(self.state(row.key) or {})} for row in rows]

    def counts(self) -> dict[str, int]:
        r = t.reconcile_requests.c
        return dict(self.conn.execute(sa.select(r.state, sa.func.count()).group_by(r.state)).all())

    def waiting(self) -> tuple[float, int]:
        """(seconds since the oldest request Keycloak has not followed yet was made — 0 when none —, how many
        requests a worker holds now): what an alert watches (issue 30)."""
        r, at = t.reconcile_requests.c, now()
        oldest = self.conn.execute(sa.select(sa.func.min(r.requested_at)).where(
            r.generation > r.done_generation)).scalar()
        claimed = self.conn.execute(sa.select(sa.func.count()).select_from(t.reconcile_requests).where(
            r.claimed_until > at)).scalar_one()
        return (max(0.0, (at - _aware(oldest)).total_seconds()) if oldest else 0.0), int(claimed)


CLAIM_WAIT = float(settings.initial("claim_wait_seconds"))
# the claim token the current flow writes under (the worker's request, `holding`): a step it runs — the
# credential delivery at the end of a reconcile — writes under the same claim instead of waiting for itself
HELD: ContextVar[str | None] = ContextVar("HELD", default=None)


@contextmanager
def acting_under(token: str):
    reset = HELD.set(token)
    try:
        yield token
    finally:
        HELD.reset(reset)


@contextmanager
def holding(uow: Callable[[], Any], keys: Sequence[str], *, wait: float | None = None, poll: float = 0.2):
    """Hold the claims of these keys (partners' SIRETs, "*" for the realm's shared objects) for the duration:
    taken in a fixed order, each waited for while another writer holds it (up to `wait` seconds, then
    ClaimBusy: nothing was done), renewed while the block runs, given back at its end. `uow`: the application's
    unit-of-work factory (each step its own short transaction)."""
    token, deadline = str(uuid.uuid4()), time.monotonic() + (CLAIM_WAIT if wait is None else wait)
    try:
        for key in sorted(set(keys)):
            while True:
                with uow() as tx:
                    taken = tx.reconcile.hold(key, token)
                    tx.commit()
                if taken:
                    break
                if time.monotonic() >= deadline:
                    raise ClaimBusy(key)
                time.sleep(poll)
        with renewing(uow, token), acting_under(token):
            yield token
    finally:
        with uow() as tx:
            tx.reconcile.let_go(token)
            tx.commit()


class ClaimBusy(Conflict):
    def __init__(self, key: str):
        what = "les objets communs du royaume" if key == "*" else f"le partenaire {key}"
        super().__init__(f"Un autre processus écrit dans Keycloak pour {what} : rien n'a été fait, réessayez dans "
                         "un moment.", code="OCCUPE")


@contextmanager
def renewing(uow: Callable[[], Any], token: str):
    """Keep a claim alive while its run lasts (every third of the claim time)."""
    stop = threading.Event()

    def beat():
        while not stop.wait(ReconcileRequests.CLAIM_SECONDS / 3):
            try:
                with uow() as tx:
                    tx.reconcile.renew(token)
                    tx.commit()
            except Exception:
                log.warning("could not renew reconcile claim %s", token, exc_info=True)
    th = threading.Thread(target=beat, daemon=True)
    th.start()
    try:
        yield
    finally:
        stop.set()
        th.join(timeout=5)


class UsageRulesRepository:
    """Published versions of the usage rules (the first, 20 June 2016, is the seed's)."""

    FIRST = ("2016-06-20", datetime(1970, 1, 1, tzinfo=UTC))

    def __init__(self, conn: Connection):
        self.conn = conn

    def versions(self) -> list[tuple[str, datetime]]:
        rows = self.conn.execute(sa.select(t.usage_rules_versions).order_by(t.usage_rules_versions.c.published_at))
        out = [(r.version, r.published_at if r.published_at.tzinfo else r.published_at.replace(tzinfo=UTC))
               for r in rows]
        return [self.FIRST] + [v for v in out if v[0] != self.FIRST[0]]  # the seed's version is always the first

    def publish(self, version: str, at: datetime, by: str) -> None:
        if self.conn.execute(sa.select(t.usage_rules_versions.c.version)
                             .where(t.usage_rules_versions.c.version == version)).first():
            raise Conflict(f"La version « {version} » des règles d'usage est déjà publiée.")
        self.conn.execute(sa.insert(t.usage_rules_versions).values(version=version, published_at=at, published_by=by))


class Leases:
    """One active process of a kind among several (issue 14): the holder renews its lease well before it
    expires; another instance takes it only once it has expired (the holder died or hangs). One UPDATE decides
    (atomic on PostgreSQL and SQLite alike); the first claim is an INSERT that the primary key makes unique."""

    def __init__(self, conn: Connection):
        self.conn = conn

    def acquire(self, name: str, holder: str, seconds: float, at: datetime | None = None) -> bool:
        """True when `holder` holds `name` for `seconds` from now (taken, renewed or free)."""
        at = at or now()
        le = t.leases.c
        until = at + timedelta(seconds=seconds)
        taken = self.conn.execute(sa.update(t.leases).where(le.name == name, sa.or_(le.holder == holder,
                                                                                    le.expires_at < at))
                                  .values(holder=holder, expires_at=until)).rowcount
        if taken:
            return True
        if self.conn.execute(sa.select(le.name).where(le.name == name)).first():
            return False  # held by another, still valid
        try:
            with self.conn.begin_nested():
                self.conn.execute(sa.insert(t.leases).values(name=name, holder=holder, expires_at=until))
            return True
        except sa.exc.IntegrityError:  # another instance inserted it first
            return False

    def release(self, name: str, holder: str) -> None:
        self.conn.execute(sa.delete(t.leases).where(t.leases.c.name == name, t.leases.c.holder == holder))

    def holder(self, name: str) -> str | None:
        row = self.conn.execute(sa.select(t.leases).where(t.leases.c.name == name)).first()
        return row.holder if row and row.expires_at.replace(tzinfo=row.expires_at.tzinfo or UTC) >= now() else None

    def holders(self) -> dict[str, str]:
        """Every lease a live process holds, and who (issue 30: a lease nobody holds is a job nobody runs)."""
        at = now()
        return {r.name: r.holder for r in self.conn.execute(sa.select(t.leases)) if _aware(r.expires_at) >= at}


class JobRuns:
    """When each scheduled job last completed (the daily job's catch-up reads it)."""

    def __init__(self, conn: Connection):
        self.conn = conn

    def last(self, name: str) -> datetime | None:
        row = self.conn.execute(sa.select(t.job_runs.c.last_run_at).where(t.job_runs.c.name == name)).first()
        return _aware(row.last_run_at) if row else None

    def done(self, name: str, at: datetime) -> None:
        if not self.conn.execute(sa.update(t.job_runs).where(t.job_runs.c.name == name)
                                 .values(last_run_at=at)).rowcount:
            self.conn.execute(sa.insert(t.job_runs).values(name=name, last_run_at=at))


@overload
def _aware(d: datetime) -> datetime: ...
@overload
def _aware(d: None) -> None: ...
def _aware(d: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes: they were stored in UTC."""
    return d if d is None or d.tzinfo else d.replace(tzinfo=UTC)


class ReviewRepository:
    """Access-review campaigns (their items frozen at opening) and the decisions taken on them (issue 16)."""

    def __init__(self, conn: Connection):
        self.conn = conn

    @staticmethod
    def _item_row(campaign_id: str, position: int, i: Item) -> dict:
        return {"campaign_id": campaign_id, "key": i.key, "position": position, "partner_siret": i.partner,
                "convention": i.convention, "service": i.service.value, "identifiant": i.identifiant,
                "groups": sorted(g.value for g in i.groups), "profiles": sorted(x.value for x in i.profiles)}

    @staticmethod
    def _item(r) -> Item:
        return Item(r.partner_siret, r.convention, Service(r.service), r.identifiant,
                    frozenset(Group(g) for g in r.groups), frozenset(Profile(x) for x in r.profiles))

    def add(self, c: Campaign, items: builtins.list[Item]) -> None:
        self.conn.execute(sa.insert(t.review_campaigns).values(
            # in UTC: SQLite keeps no offset, and a Paris deadline read back as UTC would end an hour late
            id=c.id, caf_code=c.caf, opened_by=c.opened_by, opened_at=c.opened_at.astimezone(UTC),
            deadline=c.deadline.astimezone(UTC),
            partners=sorted(c.partners) if c.partners is not None else None, reminders_sent=[], closed_at=None))
        rows = [self._item_row(c.id, n, i) for n, i in enumerate(items)]
        for i in range(0, len(rows), 500):
            self.conn.execute(sa.insert(t.review_items), rows[i:i + 500])

    def _items(self, campaign_id: str, partner: str | None, key: str | None) -> builtins.list[Item]:
        """A campaign's items: all of them (the Caf's views, the job), one partner's (its review page) or one
        (a decision) — each read from its index, never the whole campaign for a part of it."""
        i = t.review_items.c
        q = sa.select(t.review_items).where(i.campaign_id == campaign_id).order_by(i.position)
        if partner is not None:
            q = q.where(i.partner_siret == partner)
        if key is not None:
            q = q.where(i.key == key)
        return [self._item(r) for r in self.conn.execute(q)]

    def _campaign(self, r, partner: str | None = None, key: str | None = None) -> ReviewCampaignRow:
        return ReviewCampaignRow(
            Campaign(r.id, r.caf_code, r.opened_by, _aware(r.opened_at), _aware(r.deadline),
                     frozenset(r.partners) if r.partners is not None else None),
            self._items(r.id, partner, key), set(r.reminders_sent or []), _aware(r.closed_at))

    def get(self, campaign_id: str, *, partner: str | None = None, key: str | None = None) -> ReviewCampaignRow | None:
        """The campaign with its items: all, one partner's, or the one with that key."""
        r = self.conn.execute(sa.select(t.review_campaigns).where(t.review_campaigns.c.id == campaign_id)).first()
        return self._campaign(r, partner, key) if r else None

    def list(self, caf: str | None = None, *, open_only: bool = False,
             partner: str | None = None) -> builtins.list[ReviewCampaignRow]:
        c = t.review_campaigns.c
        q = sa.select(t.review_campaigns).order_by(c.opened_at.desc())
        if caf:
            q = q.where(c.caf_code == caf)
        if open_only:
            q = q.where(c.closed_at.is_(None))
        return [self._campaign(r, partner) for r in self.conn.execute(q)]

    def decide(self, campaign_id: str, d: Decision, partner: str) -> None:
        self.conn.execute(sa.insert(t.review_decisions).values(campaign_id=campaign_id, item=d.item,
                                                               partner_siret=partner, verdict=d.verdict.value,
                                                               by=d.by, at=d.at.astimezone(UTC)))

    def decisions(self, campaign_id: str, partner: str | None = None) -> builtins.list[Decision]:
        c = t.review_decisions.c
        q = sa.select(t.review_decisions).where(c.campaign_id == campaign_id).order_by(c.id)
        if partner:
            q = q.where(c.partner_siret == partner)
        return [Decision(r.item, Verdict(r.verdict), r.by, _aware(r.at)) for r in self.conn.execute(q)]

    def reminder_sent(self, campaign_id: str, days: int) -> None:
        row = self.get(campaign_id)
        if row is None:
            raise LookupError(campaign_id)
        self.conn.execute(sa.update(t.review_campaigns).where(t.review_campaigns.c.id == campaign_id)
                          .values(reminders_sent=sorted(row.reminders_sent | {days})))

    def close(self, campaign_id: str, at: datetime) -> bool:
        """True for the one caller that closes it (two daily jobs never suspend twice)."""
        c = t.review_campaigns.c
        return bool(self.conn.execute(sa.update(t.review_campaigns).where(c.id == campaign_id, c.closed_at.is_(None))
                                      .values(closed_at=at)).rowcount)


@dataclass
class ReviewCampaignRow:
    campaign: Campaign
    items: list[Item]
    reminders_sent: set[int]
    closed_at: datetime | None


class UnitOfWork:
    """`with UnitOfWork(engine) as uow: ...; uow.commit()` — anything not committed is rolled back."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def __enter__(self) -> UnitOfWork:
        self.conn = self.engine.connect()
        self.tx = self.conn.begin()
        self.registry = RegistryRepository(self.conn)
        self.audit = AuditRepository(self.conn)
        self.outbox = Outbox(self.conn)
        self.usage_rules = UsageRulesRepository(self.conn)
        self.reconcile = ReconcileRequests(self.conn)
        self.leases = Leases(self.conn)
        self.job_runs = JobRuns(self.conn)
        self.reviews = ReviewRepository(self.conn)
        self.documents = DocumentRepository(self.conn)
        self.requests = AccessRequestRepository(self.conn)
        return self

    def commit(self) -> None:
        self.tx.commit()

    def __exit__(self, *exc) -> None:
        if self.tx.is_active:
            self.tx.rollback()
        self.conn.close()
