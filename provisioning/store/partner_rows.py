"""A partner's rows (issue 27): its header in `partners`, a row per person in `partner_people`, a row per grant
in `bulletin_members`. Reading puts them together (a few partners at a time, never one statement per person);
writing writes what changed — a change to one person of a 5,000-person partner writes that person's row and the
partner's header, whose version is the optimistic lock."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from provisioning.domain.delta import Delta, MemberKey, positions
from provisioning.domain.model import Bulletin, Convention, Partner
from provisioning.store import tables as t
from provisioning.store.documents import grant_to_stored, partner_from_rows, person_to_stored
from provisioning.store.snapshots import KEPT

BATCH = 500


def new_stamp() -> str:
    return uuid.uuid4().hex


def assemble(conn: Connection, headers: list[Any], *, keep: bool) -> list[Partner]:
    """The partners of these `partners` rows (siret, document, stamp), as read: those this process keeps under
    the same stamp cost nothing more; the others' people and grants are read 500 partners a statement.
    `keep`: remember them (single reads; a registry-wide read would only push the hot ones out)."""
    out: dict[str, Partner] = {}
    missing = []
    for r in headers:
        found = KEPT.get(r.siret, r.stamp)
        if found is not None:
            out[r.siret] = found
        else:
            missing.append(r)
    pp, bm = t.partner_people.c, t.bulletin_members.c
    for i in range(0, len(missing), BATCH):
        batch = missing[i:i + BATCH]
        sirets = [r.siret for r in batch]
        people: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for s, ident, person in conn.execute(
                sa.select(pp.partner_siret, pp.identifiant, pp.person).where(pp.partner_siret.in_(sirets))
                .order_by(pp.partner_siret, pp.position, pp.identifiant)):
            people.setdefault(s, []).append((ident, doc(person)))
        grants: dict[str, list[tuple[str, str, str, dict[str, Any]]]] = {}
        for s, number, service, ident, grant in conn.execute(
                sa.select(bm.partner_siret, bm.convention, bm.service, bm.identifiant, bm.grant)
                .where(bm.partner_siret.in_(sirets))
                .order_by(bm.partner_siret, bm.convention, bm.service, bm.position, bm.identifiant)):
            grants.setdefault(s, []).append((number, service, ident, doc(grant)))
        for r in batch:
            p = partner_from_rows(doc(r.document), people.get(r.siret, []), grants.get(r.siret, []))
            p.positions = positions(p)
            out[r.siret] = p
            if keep:
                KEPT.put(r.siret, r.stamp, p)
    return [out[r.siret] for r in headers]


def people_of(conn: Connection, headers: list[Any], pairs: list[tuple[str, str]]) -> list[Partner]:
    """Partners of these rows (siret, document, stamp) with only the people of `pairs` (identifiant, siret)
    and their grants: what a read that shows people needs (SCIM: 6,250 people found on 6,250 partners read
    6,250 whole partners). Never for a change: the partner is not whole."""
    wanted: dict[str, set[str]] = {}
    for ident, siret in pairs:
        wanted.setdefault(siret, set()).add(ident)
    out: dict[str, Partner] = {}
    missing = []
    for r in headers:
        kept = KEPT.get(r.siret, r.stamp)
        if kept is None:
            missing.append(r)
            continue
        mine = wanted.get(r.siret, set())
        out[r.siret] = Partner(kept.siret, kept.name, kept.caf, kept.administrator, list(kept.delegates),
                               [u for u in kept.users if u.identifiant in mine], kept.equipments,
                               [Convention(c.number, c.status, c.history, c.contract,
                                           [Bulletin(b.service, [m for m in b.members if m.identifiant in mine])
                                            for b in c.bulletins], c.suspended_services) for c in kept.conventions],
                               kept.representative)
    pp, bm = t.partner_people.c, t.bulletin_members.c
    keys = [(siret, ident) for r in missing for siret in [r.siret] for ident in sorted(wanted.get(siret, ()))]
    people: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    grants: dict[str, list[tuple[str, str, str, dict[str, Any]]]] = {}
    for i in range(0, len(keys), BATCH // 2):
        # the SIRETs and the identifiants as two lists (each row's pair is then checked): both databases search
        # the key's index with them, where SQLite scans the whole table for a list of pairs
        batch = set(keys[i:i + BATCH // 2])
        sirets, idents = sorted({s for s, _ in batch}), sorted({x for _, x in batch})
        for s, ident, person in conn.execute(
                sa.select(pp.partner_siret, pp.identifiant, pp.person)
                .where(pp.partner_siret.in_(sirets), pp.identifiant.in_(idents))
                .order_by(pp.partner_siret, pp.position, pp.identifiant)):
            if (s, ident) in batch:
                people.setdefault(s, []).append((ident, doc(person)))
        for s, number, service, ident, grant in conn.execute(
                sa.select(bm.partner_siret, bm.convention, bm.service, bm.identifiant, bm.grant)
                .where(bm.partner_siret.in_(sirets), bm.identifiant.in_(idents))
                .order_by(bm.partner_siret, bm.convention, bm.service, bm.position, bm.identifiant)):
            if (s, ident) in batch:
                grants.setdefault(s, []).append((number, service, ident, doc(grant)))
    for r in missing:
        out[r.siret] = partner_from_rows(doc(r.document), people.get(r.siret, []), grants.get(r.siret, []))
    return [out[r.siret] for r in headers]


def doc(v: Any) -> Any:
    """A JSON column's value (SQLite may hand it over as text)."""
    return json.loads(v) if isinstance(v, str) else v


def write(conn: Connection, p: Partner, d: Delta | None) -> None:
    """The rows of `p`: all of them anew (`d` None: a new partner, or one whose order changed), else those `d`
    says changed. Unchanged rows keep their position; added ones come after the last."""
    pp, bm = t.partner_people.c, t.bulletin_members.c
    if d is None or d.reordered:
        conn.execute(sa.delete(t.partner_people).where(pp.partner_siret == p.siret))
        conn.execute(sa.delete(t.bulletin_members).where(bm.partner_siret == p.siret))
        _insert(conn, t.partner_people, [_person_row(p.siret, u, k) for k, u in enumerate(p.users)])
        _insert(conn, t.bulletin_members, [_grant_row(p.siret, c.number, b.service.value, m, k)
                                           for c in p.conventions for b in c.bulletins
                                           for k, m in enumerate(b.members)])
        return
    gone = [ident for ident, (_, after) in d.users.items() if after is None]
    for i in range(0, len(gone), BATCH):
        conn.execute(sa.delete(t.partner_people).where(pp.partner_siret == p.siret, pp.identifiant.in_(gone[i:i + BATCH])))
    changed = [(ident, after) for ident, (before, after) in d.users.items() if before is not None and after is not None]
    if changed:
        conn.execute(sa.update(t.partner_people).where(pp.partner_siret == p.siret,
                                                       pp.identifiant == sa.bindparam("b_ident"))
                     .values(person=sa.bindparam("b_doc")),
                     [{"b_ident": ident, "b_doc": person_to_stored(u)} for ident, u in changed])
    added = [(ident, after) for ident, (before, after) in d.users.items() if before is None and after is not None]
    if added:
        start = _next_position(conn, sa.select(sa.func.max(pp.position)).where(pp.partner_siret == p.siret))
        _insert(conn, t.partner_people, [_person_row(p.siret, u, start + k) for k, (_, u) in
                                         enumerate(sorted(added, key=lambda x: d.user_at[x[0]]))])
    _write_grants(conn, p.siret, d)


def _write_grants(conn: Connection, siret: str, d: Delta) -> None:
    bm = t.bulletin_members.c
    where = (bm.partner_siret == siret, bm.convention == sa.bindparam("b_number"),
             bm.service == sa.bindparam("b_service"), bm.identifiant == sa.bindparam("b_ident"))
    gone = [{"b_number": k[0], "b_service": k[1], "b_ident": k[2]} for k, (_, after) in d.members.items()
            if after is None]
    if gone:
        conn.execute(sa.delete(t.bulletin_members).where(*where), gone)
    changed = [{"b_number": k[0], "b_service": k[1], "b_ident": k[2], "b_doc": grant_to_stored(after)}
               for k, (before, after) in d.members.items() if before is not None and after is not None]
    if changed:
        conn.execute(sa.update(t.bulletin_members).where(*where).values(grant=sa.bindparam("b_doc")), changed)
    added: dict[tuple[str, str], list[MemberKey]] = {}
    for k, (before, after) in d.members.items():
        if before is None and after is not None:
            added.setdefault(k[:2], []).append(k)
    for (number, service), keys in added.items():
        start = _next_position(conn, sa.select(sa.func.max(bm.position)).where(
            bm.partner_siret == siret, bm.convention == number, bm.service == service))
        keys.sort(key=lambda k: d.member_at[k])
        _insert(conn, t.bulletin_members, [_grant_row(siret, number, service, d.members[k][1], start + i)
                                           for i, k in enumerate(keys)])


def _next_position(conn: Connection, q: sa.Select) -> int:
    top = conn.execute(q).scalar()
    return 0 if top is None else int(top) + 1


def _person_row(siret: str, u: Any, position: int) -> dict[str, Any]:
    return {"partner_siret": siret, "identifiant": u.identifiant, "position": position, "person": person_to_stored(u)}


def _grant_row(siret: str, number: str, service: str, m: Any, position: int) -> dict[str, Any]:
    return {"partner_siret": siret, "convention": number, "service": service, "identifiant": m.identifiant,
            "position": position, "grant": grant_to_stored(m)}


def _insert(conn: Connection, table: sa.Table, rows: Iterable[dict[str, Any]]) -> None:
    rows = list(rows)
    for i in range(0, len(rows), BATCH):
        conn.execute(sa.insert(table), rows[i:i + BATCH])


def delete(conn: Connection, siret: str) -> None:
    conn.execute(sa.delete(t.bulletin_members).where(t.bulletin_members.c.partner_siret == siret))
    conn.execute(sa.delete(t.partner_people).where(t.partner_people.c.partner_siret == siret))
