"""The registry in memory: the unit of work the use-case unit tests run on (issue 26 §2, cosmicpython's fake
unit of work). Same repositories, same answers as store/uow.py on SQLite and PostgreSQL — checked by
tests/unit/test_memory_store.py, which runs one script of calls on both — without a database.

What it does not do: SCIM's filters (`index_rows`, `index_page` take SQL conditions; SCIM's tests use a real
database) and migrations. Transactions: each unit of work reads a snapshot taken when it begins and sees its own
writes; its commit fails (VERSION_PERIMEE, as a lost race does on a database) when a row it wrote was
committed by another unit of work meanwhile — first committer wins. Documents are stored as the database
stores them (partner_to_stored, through JSON), so each read builds fresh objects and the stored format's
reader is exercised as on a database."""

from __future__ import annotations

import builtins
import hashlib
import json
import threading
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from provisioning import logs
from provisioning.domain import diff
from provisioning.domain.access_requests import AccessRequest, RequestState
from provisioning.domain.delta import working_copy
from provisioning.domain.model import Caf, Partner, Registry, Settings
from provisioning.domain.paperwork import COLUMN, Document
from provisioning.domain.reviews import Campaign, Decision, Item, Verdict
from provisioning.domain.states import MailState, ReconcileState
from provisioning.errors import Conflict
from provisioning.store import uow as sql
from provisioning.store.documents import caf_to_stored, partner_from_stored, partner_to_stored
from provisioning.store.paperwork import request_from_stored, request_to_stored, signed_elsewhere

_TABLES = ("cafs", "partners", "user_index", "settings", "outbox", "usage_rules", "reconcile", "leases",
           "job_runs", "campaigns", "documents", "requests")
_APPENDED = ("audit", "items", "decisions")  # rows only ever added (or, for items, added with their campaign)


class Row(dict):
    """A row read by attribute, as SQLAlchemy's rows are (`r.id`, `r.payload`), never changed in place."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e

    def _asdict(self) -> dict[str, Any]:
        return dict(self)

    def but(self, **changes: Any) -> Row:
        return Row({**self, **changes})


def _json(value: Any) -> Any:
    """What a JSON column gives back: a copy nobody shares, refused if it is not JSON."""
    return json.loads(json.dumps(value))


@dataclass
class MemoryStore:
    """The committed state; `unit_of_work` is what Provisioning's `uow` factory is given."""
    tables: dict[str, dict[Any, Any]] = field(default_factory=lambda: {n: {} for n in _TABLES})
    appended: dict[str, list[Row]] = field(default_factory=lambda: {n: [] for n in _APPENDED})
    lock: threading.RLock = field(default_factory=threading.RLock)
    ids: dict[str, int] = field(default_factory=lambda: {"audit": 0, "outbox": 0, "decisions": 0, "documents": 0})

    def unit_of_work(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self)

    def next_id(self, table: str) -> int:
        with self.lock:
            self.ids[table] += 1
            return self.ids[table]


class MemoryUnitOfWork:
    def __init__(self, store: MemoryStore):
        self.store = store

    def __enter__(self) -> MemoryUnitOfWork:
        with self.store.lock:
            self.seen = {n: dict(rows) for n, rows in self.store.tables.items()}
            self.seen_appended = {n: len(rows) for n, rows in self.store.appended.items()}
        self.tables = {n: dict(rows) for n, rows in self.seen.items()}
        self.written: dict[str, set[Any]] = {n: set() for n in _TABLES}
        self.added: dict[str, list[Row]] = {n: [] for n in _APPENDED}
        self.registry = MemoryRegistry(self)
        self.audit = MemoryAudit(self)
        self.outbox = MemoryOutbox(self)
        self.usage_rules = MemoryUsageRules(self)
        self.reconcile = MemoryReconcileRequests(self)
        self.leases = MemoryLeases(self)
        self.job_runs = MemoryJobRuns(self)
        self.reviews = MemoryReviews(self)
        self.documents = MemoryDocuments(self)
        self.requests = MemoryAccessRequests(self)
        return self

    # --- what the repositories use ---------------------------------------------------------------------
    def put(self, table: str, key: Any, row: Any) -> None:
        self.tables[table][key] = row
        self.written[table].add(key)

    def delete(self, table: str, key: Any) -> None:
        if self.tables[table].pop(key, None) is not None:
            self.written[table].add(key)

    def rows(self, table: str) -> builtins.list[Row]:
        with self.store.lock:
            committed = self.store.appended[table][:self.seen_appended[table]]
        return committed + self.added[table]

    def add(self, table: str, row: Row) -> None:
        self.added[table].append(row)

    def commit(self) -> None:
        with self.store.lock:
            for name, keys in self.written.items():
                now_there = self.store.tables[name]
                for key in keys:
                    if now_there.get(key) is not self.seen[name].get(key):
                        raise (sql.stale_version(key) if name == "partners" else
                               Conflict("Un autre processus a modifié les mêmes données : recommencez.",
                                        code="VERSION_PERIMEE"))
            for name, keys in self.written.items():
                for key in keys:
                    if key in self.tables[name]:
                        self.store.tables[name][key] = self.tables[name][key]
                    else:
                        self.store.tables[name].pop(key, None)
            for name, rows in self.added.items():
                self.store.appended[name].extend(rows)
            # a second commit in the same unit of work commits what was written since the first
            self.seen = {n: dict(self.store.tables[n]) for n in _TABLES}
            self.seen_appended = {n: len(self.store.appended[n]) for n in _APPENDED}
        self.written = {n: set() for n in _TABLES}
        self.added = {n: [] for n in _APPENDED}

    def __exit__(self, *exc: object) -> None:
        """Anything not committed is forgotten."""


class _Part:
    def __init__(self, uow: MemoryUnitOfWork):
        self.uow = uow
        self.t = uow.tables


class MemoryRegistry(_Part):
    def __init__(self, uow: MemoryUnitOfWork):
        super().__init__(uow)
        self._read: dict[str, Partner] = {}

    def load(self) -> Registry:
        return Registry(self.cafs(), [self._partner(s) for s in sorted(self.t["partners"])], self.settings())

    def settings(self) -> Settings:
        s = Settings()
        if "afas_habiliter_opening" in self.t["settings"]:
            s.afas_habiliter_opening = date.fromisoformat(self.t["settings"]["afas_habiliter_opening"])
        return s

    def load_caf(self, code: str) -> Caf | None:
        doc = self.t["cafs"].get(code)
        return sql.caf_from_stored(_json(doc)) if doc is not None else None

    def _partner(self, siret: str) -> Partner:
        return partner_from_stored(_json(self.t["partners"][siret].document))

    def as_read(self, siret: str) -> Partner | None:
        return self._read.get(siret)

    def holders(self, identifiants: list[str], emails: list[str]) -> list[tuple[str, str, str | None]]:
        ids, lowered = set(identifiants), {e.lower() for e in emails}
        return [(i, r.email, r.partner_siret) for i, r in self.t["user_index"].items()
                if i in ids or r.email in lowered]

    def partner(self, siret: str) -> Partner | None:
        return self._partner(siret) if siret in self.t["partners"] else None

    def partner_with_version(self, siret: str) -> tuple[Partner, int] | None:
        row = self.t["partners"].get(siret)
        if row is None:
            return None
        self._read[siret] = read = self._partner(siret)
        return working_copy(read), row.version

    def partners_of_caf(self, caf: str) -> list[Partner]:
        return [self._partner(s) for s, r in sorted(self.t["partners"].items()) if r.caf_code == caf]

    def index_rows(self, condition: Any) -> list[tuple[str, str]]:
        raise NotImplementedError("SCIM's SQL filters need a database: tests/unit/test_scim*.py use SQLite")

    index_page = index_rows

    def headers(self, *, partner: str | None = None, caf: str | None = None) -> list[Partner]:
        out = []
        for siret in sorted(self.t["partners"]):
            p = self._partner(siret)
            if (partner is None or siret == partner) and (caf is None or p.caf == caf):
                p.users = []
                for c in p.conventions:
                    for b in c.bulletins:
                        b.members = []
                out.append(p)
        return out

    def people_in(self, rows: list[tuple[str, str]]) -> list[Partner]:
        wanted = {ident for ident, _ in rows}
        out = []
        for p in self.partners_in(sorted({siret for _, siret in rows})):
            p.users = [u for u in p.users if u.identifiant in wanted]
            for c in p.conventions:
                for b in c.bulletins:
                    b.members = [m for m in b.members if m.identifiant in wanted]
            out.append(p)
        return out

    def partners_in(self, sirets: list[str]) -> list[Partner]:
        return [self._partner(s) for s in sorted(set(sirets)) if s in self.t["partners"]]

    def partner_summaries(self, caf: str | None = None) -> list[tuple[str, str, str]]:
        return [(s, r.name, r.caf_code) for s, r in sorted(self.t["partners"].items())
                if caf is None or r.caf_code == caf]

    def partner_summary(self, siret: str) -> tuple[str, str, str] | None:
        r = self.t["partners"].get(siret)
        return (siret, r.name, r.caf_code) if r else None

    def partner_of(self, identifiant: str) -> Partner | None:
        row = self.t["user_index"].get(identifiant)
        return self.partner(row.partner_siret) if row and row.partner_siret else None

    def standing(self, identifiant: str) -> tuple[sql.Person, Partner | None, Caf | None] | None:
        row = self.t["user_index"].get(identifiant)
        return sql.standing_from(identifiant, row.partner_siret, row.caf_code, self.partner, self.load_caf) if row \
            else None

    def people(self, identifiants: list[str]) -> dict[str, sql.Person]:
        rows = [(i, r.partner_siret, r.caf_code) for i in identifiants if (r := self.t["user_index"].get(i))]
        return sql._people_of(rows, self.partners_in, self.load_caf)

    def caf_of(self, identifiant: str) -> str | None:
        row = self.t["user_index"].get(identifiant)
        if row is None:
            return None
        partner = self.t["partners"].get(row.partner_siret) if row.partner_siret else None
        return (partner.caf_code if partner else None) or row.caf_code

    def versions(self) -> dict[str, int]:
        return {s: r.version for s, r in self.t["partners"].items()}

    def versions_of(self, sirets: list[str]) -> dict[str, int]:
        return {s: self.t["partners"][s].version for s in sirets if s in self.t["partners"]}

    def cafs(self) -> list[Caf]:
        return [c for c in (self.load_caf(code) for code in sorted(self.t["cafs"])) if c is not None]

    def people_taken(self, identifiants: list[str], emails: list[str], *, besides: list[str],
                     cafs: tuple[str, ...] | list[str] = (), caf_administrators: bool = False,
                     ) -> tuple[set[str], set[str]]:
        def outside(r: Row) -> bool:
            if r.partner_siret is None:
                return caf_administrators
            partner = self.t["partners"].get(r.partner_siret)
            return r.partner_siret not in besides and not (partner and partner.caf_code in cafs)
        rows = [(i, r) for i, r in self.t["user_index"].items() if outside(r)]
        wanted, lowered = set(identifiants), {e.lower() for e in emails}
        return {i for i, _ in rows if i in wanted}, {r.email for _, r in rows if r.email in lowered}

    def save_settings(self, s: Settings) -> None:
        self.uow.put("settings", "afas_habiliter_opening", s.afas_habiliter_opening.isoformat())

    def save_caf(self, c: Caf, *, reindex: bool = True) -> None:
        self.uow.put("cafs", c.code, _json(caf_to_stored(c)))
        if reindex:
            self.unindex(caf=c.code)
            self.index_caf(c)

    def save_partner(self, p: Partner, expected_version: int | None = None, *, reindex: bool = True,
                     delta: Any = None) -> int:
        row = self.t["partners"].get(p.siret)
        if (row is not None) if expected_version is None else (row is None or row.version != expected_version):
            raise sql.stale_version(p.siret)
        version = 1 if expected_version is None else expected_version + 1
        self.uow.put("partners", p.siret, Row(caf_code=p.caf, name=p.name, document=_json(partner_to_stored(p)),
                                              version=version))
        self._read[p.siret] = working_copy(p)
        if reindex:
            mine = {i: r.email for i, r in self.t["user_index"].items() if r.partner_siret == p.siret}
            want = {u.identifiant: u.email for u in p.users}
            for i, e in mine.items():
                if i not in want or want[i].lower() != e:
                    self.uow.delete("user_index", i)
            self._index_many([(i, e) for i, e in want.items() if mine.get(i) != e.lower()], partner=p.siret)
        return version

    def delete_partner(self, siret: str) -> None:
        self.unindex(partner=siret)
        self.uow.delete("partners", siret)
        for key, (d, _) in list(self.t["documents"].items()):  # the table's ON DELETE CASCADE
            if d.siret == siret:
                self.uow.delete("documents", key)

    def unindex(self, *, partner: str | None = None, caf: str | None = None) -> None:
        for i, r in list(self.t["user_index"].items()):
            if (r.partner_siret == partner) if partner else (r.caf_code == caf):
                self.uow.delete("user_index", i)

    def index_partner(self, p: Partner) -> None:
        self._index_many([(u.identifiant, u.email) for u in p.users], partner=p.siret)

    def index_caf(self, c: Caf) -> None:
        self._index_many([(a.identifiant, a.email) for a in c.administrators], caf=c.code)

    def _index_many(self, people: list[tuple[str, str]], partner: str | None = None, caf: str | None = None) -> None:
        taken_mails = {r.email for r in self.t["user_index"].values()}
        sql.refuse_taken(people, set(self.t["user_index"]), taken_mails)
        for identifiant, email in people:
            if identifiant in self.t["user_index"] or email.lower() in taken_mails:  # the unique indexes' refusal
                raise Conflict("Un identifiant ou un courriel vient d'être enregistré ailleurs : rechargez et "
                               "recommencez.")
            taken_mails.add(email.lower())
            self.uow.put("user_index", identifiant, Row(email=email.lower(), partner_siret=partner, caf_code=caf))


class MemoryAudit(_Part):
    def record(self, actor: str, action: str, obj: str, before: Any = None, after: Any = None, *,
               partner: str | None = None, caf: str | None = None, subject: str | None = None,
               summary: str | None = None) -> int:
        delta = _json(sql._jsonable(diff.changes(before, after)))
        n = self.uow.store.next_id("audit")
        self.uow.add("audit", Row(id=n, at=sql.now(), actor=actor, action=action, object=obj, partner_siret=partner,
                                  caf_code=caf, changes=delta or None, subject=subject, summary=summary,
                                  request_id=logs.current()))
        return n

    def list(self, *, partner: str | None = None, caf: str | None = None, limit: int = 100, offset: int = 0,
             actor: str | None = None, subject: str | None = None, since: datetime | None = None,
             until: datetime | None = None, with_changes: bool = True, request_id: str | None = None,
             ) -> builtins.list[dict]:
        def keep(r: Row) -> bool:
            return ((not partner or r.partner_siret == partner) and (not caf or r.caf_code == caf)
                    and (not actor or r.actor == actor) and (not subject or r.subject == subject)
                    and (not request_id or r.request_id == request_id)
                    and (not since or r.at >= since) and (not until or r.at < until))
        rows = sorted((r for r in self.uow.rows("audit") if keep(r)), key=lambda r: -r.id)[offset:offset + limit]
        out = []
        for r in rows:
            row = {k: v for k, v in r.items() if with_changes or k != "changes"}
            row["at"] = sql.utc_iso(r.at)
            if with_changes:
                row["changes"] = _json(r.changes) if r.changes is not None else diff.changes(None, None)
            out.append(row)
        return out

    def dates_of(self, people: builtins.list[str], partners: builtins.list[str],
                 ) -> tuple[dict[str, tuple[datetime, datetime]], dict[str, tuple[datetime, datetime]]]:
        who, where = set(people), set(partners)
        return self._dates(lambda r: r.subject in who and r.partner_siret is not None,
                           lambda r: r.partner_siret in where)

    def dates(self, *, partner: str | None = None, caf: str | None = None, everything: bool = False,
              ) -> tuple[dict[str, tuple[datetime, datetime]], dict[str, tuple[datetime, datetime]]]:
        if partner is not None:
            def scope(r: Row) -> bool:
                return bool(r.partner_siret == partner)
        elif caf is not None:
            mine = {s for s, p in self.t["partners"].items() if p.caf_code == caf}

            def scope(r: Row) -> bool:
                return r.partner_siret in mine
        elif everything:
            def scope(r: Row) -> bool:
                return r.partner_siret is not None
        else:
            raise ValueError("dates: a partner, a Caf or everything")
        return self._dates(lambda r: scope(r) and r.subject is not None, scope)

    def _dates(self, about_people, about_partners):
        people: dict[str, tuple[datetime, datetime]] = {}
        whole: dict[str, tuple[datetime, datetime]] = {}
        for r in self.uow.rows("audit"):
            for out, key, keep in ((people, r.subject, about_people), (whole, r.partner_siret, about_partners)):
                if keep(r):
                    first, last = out.get(key, (r.at, r.at))
                    out[key] = (min(first, r.at), max(last, r.at))
        return people, whole


def _free(r: Row, at: datetime, token: str | None = None) -> bool:
    return r.claimed_until is None or r.claimed_until < at or (token is not None and r.claimed_by == token)


class MemoryOutbox(_Part):
    MAX_ATTEMPTS, CLAIM_SECONDS, CLAIM_BATCH = sql.Outbox.MAX_ATTEMPTS, sql.Outbox.CLAIM_SECONDS, sql.Outbox.CLAIM_BATCH

    def _new(self, **values: Any) -> int:
        n = self.uow.store.next_id("outbox")
        self.uow.put("outbox", n, Row({"id": n, "at": sql.now(), "sent_at": None, "error": None, "attempts": 0,
                                       "next_attempt_at": None, "claimed_by": None, "claimed_until": None,
                                       "dead_at": None, "payload": None, "username": None,
                                       "request_id": logs.current(), **values}))
        return n

    def _update(self, msg_id: int, **values: Any) -> None:
        self.uow.put("outbox", msg_id, self.t["outbox"][msg_id].but(**values))

    def put(self, recipient: str, subject: str, body: str, caf: str | None = None) -> None:
        self._new(recipient=recipient, subject=subject, body=body, caf_code=caf, kind="mail")

    def put_credentials(self, recipient: str, who: dict, caf: str | None = None) -> int:
        return self._new(recipient=recipient, subject="codes d'accès (identifiant puis mot de passe provisoire)",
                         body="", caf_code=caf, kind="credentials", payload=_json(who), username=who["username"])

    def _pending(self) -> builtins.list[Row]:
        return [r for r in self.t["outbox"].values()
                if r.kind == "credentials" and r.sent_at is None and r.dead_at is None]

    def credentials_pending_among(self, usernames: builtins.list[str]) -> set[str]:
        wanted = set(usernames)
        return {r.username for r in self._pending() if r.username in wanted}

    def credentials_pending(self, username: str) -> bool:
        return any(r.username == username for r in self._pending())

    def due_now(self, usernames: builtins.list[str]) -> None:
        at, wanted = sql.now(), set(usernames)
        for r in self._pending():
            if r.username in wanted and _free(r, at):
                self._update(r.id, next_attempt_at=None)

    def withdraw(self, msg_id: int) -> None:
        r = self.t["outbox"].get(msg_id)
        if r is not None and r.sent_at is None:
            self.uow.delete("outbox", msg_id)

    def drop(self, msg_id: int, token: str) -> None:
        r = self.t["outbox"].get(msg_id)
        if r is not None and r.claimed_by == token:
            self.uow.delete("outbox", msg_id)

    def claim(self, limit: int = 50) -> tuple[str, builtins.list[Any]]:
        token, at = str(uuid.uuid4()), sql.now()
        due = [r for _, r in sorted(self.t["outbox"].items())
               if r.sent_at is None and r.dead_at is None and _free(r, at)
               and (r.next_attempt_at is None or r.next_attempt_at <= at)][:limit]
        for r in due:
            self._update(r.id, claimed_by=token, claimed_until=at + timedelta(seconds=self.CLAIM_SECONDS))
        return token, [self.t["outbox"][r.id] for r in due]

    def _mine(self, msg_id: int, token: str) -> bool:
        r = self.t["outbox"].get(msg_id)
        return r is not None and r.claimed_by == token

    def sent(self, msg_id: int, token: str) -> None:
        if self._mine(msg_id, token):
            self._update(msg_id, sent_at=sql.now(), error=None, claimed_by=None, claimed_until=None)

    def failed(self, msg_id: int, token: str, error: str, attempts: int) -> bool:
        dead = attempts >= self.MAX_ATTEMPTS
        if self._mine(msg_id, token):
            self._update(msg_id, error=error[:500], attempts=attempts, claimed_by=None, claimed_until=None,
                         next_attempt_at=None if dead else sql.now() + timedelta(minutes=min(2 ** attempts, 60)),
                         dead_at=sql.now() if dead else None)
        return dead

    def later(self, msg_id: int, token: str, seconds: float) -> None:
        if self._mine(msg_id, token):
            self._update(msg_id, claimed_by=None, claimed_until=None,
                         next_attempt_at=sql.now() + timedelta(seconds=seconds))

    def release(self, token: str) -> None:
        for r in list(self.t["outbox"].values()):
            if r.claimed_by == token:
                self._update(r.id, claimed_by=None, claimed_until=None)

    def resend(self, msg_id: int, caf: str | None = None) -> bool:
        r = self.t["outbox"].get(msg_id)
        if r is None or r.sent_at is not None or (caf and r.caf_code != caf):
            return False
        self._update(msg_id, dead_at=None, attempts=0, next_attempt_at=None, error=None)
        return True

    def counts(self) -> dict[str, int]:
        at = sql.now()
        unsent = [r for r in self.t["outbox"].values() if r.sent_at is None and r.dead_at is None]
        return {"due": sum(1 for r in unsent if r.next_attempt_at is None or r.next_attempt_at <= at),
                "waiting": len(unsent), "dead": sum(1 for r in self.t["outbox"].values() if r.dead_at is not None)}

    def list(self, caf: str | None = None, limit: int = 100, dead: bool = False,
             waiting: bool = False) -> builtins.list[dict]:
        rows = [r for _, r in sorted(self.t["outbox"].items(), reverse=True)
                if (not caf or r.caf_code == caf) and (not dead or r.dead_at is not None)
                and (not waiting or (r.sent_at is None and r.dead_at is None))][:limit]
        out = []
        for r in rows:
            row = {k: v for k, v in r.items() if k not in ("payload", "claimed_by", "claimed_until")}
            for k in ("at", "sent_at", "next_attempt_at", "dead_at"):
                row[k] = sql.utc_iso(row[k]) if row[k] else None
            state = MailState.SENT if r.sent_at else MailState.DEAD if r.dead_at else MailState.WAITING
            row["state"], row["state_label"] = state.value, state.label
            out.append(row)
        return out


class MemoryReconcileRequests(_Part):
    PENDING, APPLIED, FAILED, TO_HANDLE = (sql.ReconcileRequests.PENDING, sql.ReconcileRequests.APPLIED,
                                           sql.ReconcileRequests.FAILED, sql.ReconcileRequests.TO_HANDLE)
    MAX_BACKOFF = sql.ReconcileRequests.MAX_BACKOFF

    @property
    def CLAIM_SECONDS(self) -> int:
        return sql.ReconcileRequests.CLAIM_SECONDS

    def _set(self, key: str, **values: Any) -> None:
        self.uow.put("reconcile", key, self.t["reconcile"][key].but(**values))

    def _again(self, key: str, at: datetime) -> None:
        r = self.t["reconcile"][key]
        self._set(key, generation=r.generation + 1, state=self.PENDING, attempts=0, next_attempt_at=None,
                  requested_at=at, updated_at=at, request_id=logs.current())

    def request(self, key: str) -> None:
        at = sql.now()
        if key in self.t["reconcile"]:
            self._again(key, at)
        else:
            self._insert(key, generation=1, state=self.PENDING)

    def request_resync(self) -> int:
        at = sql.now()
        missing = [s for s in self.t["partners"] if s not in self.t["reconcile"]]
        for key in [*missing, *(["*"] if "*" not in self.t["reconcile"] else [])]:
            self._insert(key, generation=1, state=self.PENDING)
        applied = [k for k, r in self.t["reconcile"].items() if r.state == self.APPLIED]
        for key in applied:
            self._again(key, at)
        return len(applied) + len(missing)

    def _insert(self, key: str, *, generation: int, state: str) -> bool:
        if key in self.t["reconcile"]:
            return False
        at = sql.now()
        self.uow.put("reconcile", key, Row(key=key, requested_at=at, generation=generation, done_generation=0,
                                           state=state, attempts=0, next_attempt_at=None, claimed_by=None,
                                           claimed_until=None, last_error=None, failures=None, updated_at=at,
                                           request_id=logs.current()))
        return True

    def claim(self, limit: int = 20, key: str | None = None) -> tuple[str, builtins.list[Any]]:
        token, at = str(uuid.uuid4()), sql.now()
        due = [r for r in self.t["reconcile"].values()
               if r.generation > r.done_generation and _free(r, at)
               and ((r.next_attempt_at is None or r.next_attempt_at <= at) if key is None else r.key == key)]
        due = sorted(due, key=lambda r: r.requested_at)[:limit]
        for r in due:
            self._set(r.key, claimed_by=token, claimed_until=at + timedelta(seconds=self.CLAIM_SECONDS))
        return token, [self.t["reconcile"][r.key] for r in due]

    def hold(self, key: str, token: str) -> bool:
        at = sql.now()
        self._insert(key, generation=0, state=self.APPLIED)
        if not _free(self.t["reconcile"][key], at, token):
            return False
        self._set(key, claimed_by=token, claimed_until=at + timedelta(seconds=self.CLAIM_SECONDS))
        return True

    def hold_every_partner(self, token: str) -> bool:
        at = sql.now()
        for key in self.t["partners"]:
            self._insert(key, generation=0, state=self.APPLIED)
        if not all(_free(self.t["reconcile"][k], at, token) for k in self.t["partners"]):
            return False
        for key in self.t["partners"]:
            self._set(key, claimed_by=token, claimed_until=at + timedelta(seconds=self.CLAIM_SECONDS))
        return True

    def holds(self, key: str, token: str) -> bool:
        r = self.t["reconcile"].get(key)
        return r is not None and r.claimed_by == token and r.claimed_until >= sql.now()

    def let_go(self, token: str) -> None:
        for r in list(self.t["reconcile"].values()):
            if r.claimed_by == token:
                self._set(r.key, claimed_by=None, claimed_until=None)

    def renew(self, token: str) -> None:
        for r in list(self.t["reconcile"].values()):
            if r.claimed_by == token:
                self._set(r.key, claimed_until=sql.now() + timedelta(seconds=self.CLAIM_SECONDS))

    def finish(self, req, token: str, *, error: str | None, failures: builtins.list[dict],
               terminal: bool = False) -> None:
        r, at = self.t["reconcile"].get(req.key), sql.now()
        if r is None or r.claimed_by != token:
            return
        attempts = 0 if error is None and not failures else req.attempts + 1
        state = self.APPLIED if error is None and not failures else self.TO_HANDLE if terminal else self.FAILED
        retry = None if state != self.FAILED else at + timedelta(seconds=min(2 ** attempts, self.MAX_BACKOFF))
        self._set(req.key, state=self.PENDING if r.generation > req.generation else state,
                  done_generation=req.done_generation if state == self.FAILED else req.generation,
                  attempts=attempts, next_attempt_at=retry, claimed_by=None, claimed_until=None, last_error=error,
                  failures=_json(failures) or None, updated_at=at)

    def state(self, key: str) -> dict | None:
        row = self.t["reconcile"].get(key)
        if row is None:
            return None
        reason = row.last_error or "; ".join(f"{f['target']} : {f['reason']}" for f in row.failures or [])
        return {"state": row.state, "label": ReconcileState(row.state).label, "updated_at": sql.utc_iso(row.updated_at),
                "attempts": row.attempts, "reason": reason or None}

    def to_handle(self) -> builtins.list[dict]:
        return [{"key": k, **(self.state(k) or {})} for k in sorted(self.t["reconcile"])
                if self.t["reconcile"][k].state == self.TO_HANDLE]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.t["reconcile"].values():
            out[r.state] = out.get(r.state, 0) + 1
        return out

    def waiting(self) -> tuple[float, int]:
        at = sql.now()
        oldest = min((r.requested_at for r in self.t["reconcile"].values() if r.generation > r.done_generation),
                     default=None)
        claimed = sum(1 for r in self.t["reconcile"].values() if r.claimed_until is not None and r.claimed_until > at)
        return (max(0.0, (at - oldest).total_seconds()) if oldest else 0.0), claimed


class MemoryUsageRules(_Part):
    FIRST = sql.UsageRulesRepository.FIRST

    def versions(self) -> builtins.list[tuple[str, datetime]]:
        out = sorted(((v, at) for v, (at, _) in self.t["usage_rules"].items()), key=lambda x: x[1])
        return [self.FIRST] + [v for v in out if v[0] != self.FIRST[0]]

    def publish(self, version: str, at: datetime, by: str) -> None:
        if version in self.t["usage_rules"]:
            raise Conflict(f"La version « {version} » des règles d'usage est déjà publiée.")
        self.uow.put("usage_rules", version, (at if at.tzinfo else at.replace(tzinfo=UTC), by))


class MemoryLeases(_Part):
    def acquire(self, name: str, holder: str, seconds: float, at: datetime | None = None) -> bool:
        at = at or sql.now()
        r = self.t["leases"].get(name)
        if r is not None and r.holder != holder and r.expires_at >= at:
            return False
        self.uow.put("leases", name, Row(holder=holder, expires_at=at + timedelta(seconds=seconds)))
        return True

    def release(self, name: str, holder: str) -> None:
        r = self.t["leases"].get(name)
        if r is not None and r.holder == holder:
            self.uow.delete("leases", name)

    def holder(self, name: str) -> str | None:
        r = self.t["leases"].get(name)
        return r.holder if r and r.expires_at >= sql.now() else None

    def holders(self) -> dict[str, str]:
        at = sql.now()
        return {n: r.holder for n, r in self.t["leases"].items() if r.expires_at >= at}


class MemoryJobRuns(_Part):
    def last(self, name: str) -> datetime | None:
        return self.t["job_runs"].get(name)

    def done(self, name: str, at: datetime) -> None:
        self.uow.put("job_runs", name, at if at.tzinfo else at.replace(tzinfo=UTC))


class MemoryReviews(_Part):
    def add(self, c: Campaign, items: builtins.list[Item]) -> None:
        self.uow.put("campaigns", c.id, Row(caf_code=c.caf, opened_by=c.opened_by,
                                            opened_at=c.opened_at.astimezone(UTC), deadline=c.deadline.astimezone(UTC),
                                            partners=sorted(c.partners) if c.partners is not None else None,
                                            reminders_sent=frozenset(), closed_at=None))
        for i in items:
            self.uow.add("items", Row(campaign_id=c.id, item=i))

    def _campaign(self, campaign_id: str, partner: str | None, key: str | None) -> sql.ReviewCampaignRow:
        r = self.t["campaigns"][campaign_id]
        items = [x.item for x in self.uow.rows("items") if x.campaign_id == campaign_id
                 and (partner is None or x.item.partner == partner) and (key is None or x.item.key == key)]
        return sql.ReviewCampaignRow(
            Campaign(campaign_id, r.caf_code, r.opened_by, r.opened_at, r.deadline,
                     frozenset(r.partners) if r.partners is not None else None),
            items, set(r.reminders_sent), r.closed_at)

    def get(self, campaign_id: str, *, partner: str | None = None,
            key: str | None = None) -> sql.ReviewCampaignRow | None:
        return self._campaign(campaign_id, partner, key) if campaign_id in self.t["campaigns"] else None

    def list(self, caf: str | None = None, *, open_only: bool = False,
             partner: str | None = None) -> builtins.list[sql.ReviewCampaignRow]:
        ids = sorted(self.t["campaigns"], key=lambda i: self.t["campaigns"][i].opened_at, reverse=True)
        return [self._campaign(i, partner, None) for i in ids
                if (not caf or self.t["campaigns"][i].caf_code == caf)
                and (not open_only or self.t["campaigns"][i].closed_at is None)]

    def decide(self, campaign_id: str, d: Decision, partner: str) -> None:
        self.uow.add("decisions", Row(id=self.uow.store.next_id("decisions"), campaign_id=campaign_id,
                                      partner=partner, decision=Decision(d.item, Verdict(d.verdict), d.by,
                                                                         d.at.astimezone(UTC))))

    def decisions(self, campaign_id: str, partner: str | None = None) -> builtins.list[Decision]:
        return [r.decision for r in sorted(self.uow.rows("decisions"), key=lambda r: r.id)
                if r.campaign_id == campaign_id and (not partner or r.partner == partner)]

    def reminder_sent(self, campaign_id: str, days: int) -> None:
        r = self.t["campaigns"].get(campaign_id)
        if r is None:
            raise LookupError(campaign_id)
        self.uow.put("campaigns", campaign_id, r.but(reminders_sent=r.reminders_sent | {days}))

    def close(self, campaign_id: str, at: datetime) -> bool:
        r = self.t["campaigns"].get(campaign_id)
        if r is None or r.closed_at is not None:
            return False
        self.uow.put("campaigns", campaign_id, r.but(closed_at=at))
        return True


class MemoryDocuments(_Part):
    """store/paperwork.py's repository: the same versions, the same compare-and-set on the PDF's hash."""

    def versions(self, siret: str, convention: str) -> builtins.list[Document]:
        found = [d for d, _ in self.t["documents"].values() if d.siret == siret and d.convention == convention]
        return sorted(found, key=lambda d: (d.superseded_at is not None, d.kind, -d.version))

    def current(self, siret: str, convention: str) -> builtins.list[Document]:
        return [d for d in self.versions(siret, convention) if d.current]

    def get(self, doc_id: int) -> Document | None:
        found = self.t["documents"].get(doc_id)
        return found[0] if found else None

    def pdf(self, doc_id: int) -> bytes | None:
        found = self.t["documents"].get(doc_id)
        return found[1] if found else None

    def issue(self, siret: str, convention: str, kind: str, title: str, content_sha256: str, pdf: bytes,
              at: datetime, by: str) -> Document:
        same = [d for d, _ in self.t["documents"].values() if (d.siret, d.convention, d.kind) == (siret, convention, kind)]
        for d in same:
            if d.current:
                self.uow.put("documents", d.id, (replace(d, superseded_at=at), self.t["documents"][d.id][1]))
        doc = Document(self.uow.store.next_id("documents"), siret, convention, kind,
                       max((d.version for d in same), default=0) + 1, title, content_sha256,
                       hashlib.sha256(pdf).hexdigest(), at, by)
        self.uow.put("documents", doc.id, (doc, bytes(pdf)))
        return doc

    def sign(self, doc: Document, side: str, pdf: bytes, at: datetime, by: str) -> Document:
        now = self.get(doc.id)
        if now is None or now.sha256 != doc.sha256 or not now.current:
            raise signed_elsewhere()
        stamp: dict[str, Any] = {f"{COLUMN[side]}_signed_at": at, f"{COLUMN[side]}_signed_by": by}
        signed = replace(now, sha256=hashlib.sha256(pdf).hexdigest(), **stamp)
        self.uow.put("documents", doc.id, (signed, bytes(pdf)))
        return signed


class MemoryAccessRequests(_Part):
    """store/paperwork.py's AccessRequestRepository: requests stored as the database stores them (through JSON)."""

    def _read(self, r: Row) -> AccessRequest:
        return request_from_stored(r.id, r.created_at, r.caf_code, r.state, _json(r.document))

    def add(self, r: AccessRequest) -> None:
        self.uow.put("requests", r.id, Row(id=r.id, created_at=r.created_at, siret=r.siret, caf_code=r.caf,
                                           state=r.state.value, document=_json(request_to_stored(r))))

    def save(self, r: AccessRequest, was: RequestState) -> None:
        now = self.t["requests"].get(r.id)
        if now is None or now.state != was.value:
            raise Conflict("La demande vient d'être traitée par ailleurs : rechargez la page.", code="DEMANDE_TRAITEE")
        self.uow.put("requests", r.id, now.but(state=r.state.value, document=_json(request_to_stored(r))))

    def get(self, rid: str) -> AccessRequest | None:
        r = self.t["requests"].get(rid)
        return self._read(r) if r else None

    def of_caf(self, caf: str, states: tuple[RequestState, ...]) -> builtins.list[AccessRequest]:
        rows = [r for r in self.t["requests"].values() if r.caf_code == caf and r.state in {s.value for s in states}]
        return [self._read(r) for r in sorted(rows, key=lambda r: r.created_at, reverse=True)]

    def open_for(self, siret: str) -> AccessRequest | None:
        waiting = {RequestState.UNCONFIRMED.value, RequestState.REQUESTED.value}
        return next((self._read(r) for r in self.t["requests"].values() if r.siret == siret and r.state in waiting),
                    None)

    def by_token(self, token_sha256: str) -> AccessRequest | None:
        return next((self._read(r) for r in self.t["requests"].values() if r.state == RequestState.UNCONFIRMED.value
                     and token_sha256 in (r.document.get("tokens") or {}).values()), None)
