"""The stored documents (issue 26 §3: one model per purpose): how the registry keeps a partner and a Caf, with a
schema version, apart from the desired-state file's format (which people write, and which is read with every
check and line numbers: desired_file.py) and from the API's answers.

A stored document was written by this code: it is read without the file's checks (a partner of 5,000 people
was read through them on every change), and upgraded on read when an older version is met:
- version 0, documents written before the version existed: the file's shape, an equipment possibly with one
  `site` instead of `sites`;
- version 1: the same shape with `"v": 1`;
- version 2 (migration 0017, issue 27): the partner's row keeps its header — the same shape without `users` and
  without the bulletins' `members` —, each person is a row of `partner_people` (`person_to_stored`) and each
  grant a row of `bulletin_members` (`grant_to_stored`); `partner_from_rows` puts them together.
A whole document (`partner_to_stored`, version 1) is still what the in-memory store keeps and what migration
0017 converts. A new version adds a step to `_upgrade`; `tests/unit/test_stored_documents.py` reads each older
shape."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from provisioning.domain.model import (
    Bulletin,
    Caf,
    CafAdministrator,
    Contact,
    Convention,
    ConventionStatus,
    Equipment,
    EquipmentType,
    Group,
    Member,
    Partner,
    Profile,
    Service,
    ServiceContract,
    StatusChange,
    User,
)

VERSION = 2    # the newest shape this code reads
WHOLE = 1      # a whole document: the header, its people and its grants in one
_ROLES = tuple(f for f in ServiceContract.__dataclass_fields__ if f != "incident_procedure")


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, (datetime, date)) else v


def _contact(c: Contact | None) -> dict[str, str] | None:
    return None if c is None else {k: v for k, v in (("name", c.name), ("email", c.email), ("phone", c.phone)) if v}


def person_to_stored(u: User) -> dict[str, Any]:
    """A person's row (its key, the identifiant, is a column)."""
    return {"first_name": u.first_name, "last_name": u.last_name, "email": u.email,
            **({"suspended": True} if u.suspended else {}),
            **({"suspended_by": u.suspended_by} if u.suspended and u.suspended_by else {}),
            **({"locked": True} if u.locked else {})}


def grant_to_stored(m: Member) -> dict[str, Any]:
    """A grant's row (its key, the convention, service and identifiant, is in columns)."""
    return {"groups": sorted(g.value for g in m.groups), "profiles": sorted(x.value for x in m.profiles),
            **({"suspended": True} if m.suspended else {})}


def header_to_stored(p: Partner, *, whole: bool = False) -> dict[str, Any]:
    """The partner's row (version 2): everything but its people and grants; `whole`: with them (version 1)."""
    return {
        "v": WHOLE if whole else VERSION, "siret": p.siret, "name": p.name, "caf": p.caf,
        "administrator": p.administrator,
        **({"representative": p.representative} if p.representative else {}),
        "delegates": list(p.delegates),
        **({"users": [{"identifiant": u.identifiant, **person_to_stored(u)} for u in p.users]} if whole else {}),
        "equipments": [{"code": e.code, "name": e.name, "type": e.type.value, "sites": list(e.sites),
                        "assignments": {k.value: list(v) for k, v in e.assignments.items()},
                        **({"sites_of": {i: list(s) for i, s in e.sites_of.items()}} if e.sites_of else {})}
                       for e in p.equipments],
        "conventions": [{
            "number": c.number, "status": c.status.value,
            "history": [{"status": h.status.value, "at": _iso(h.at), "actor": h.actor} for h in c.history],
            "contract": {**{r: _contact(getattr(c.contract, r)) for r in _ROLES if getattr(c.contract, r)},
                         "incident_procedure": c.contract.incident_procedure},
            "bulletins": [{"service": b.service.value,
                           **({"members": [{"identifiant": m.identifiant, **grant_to_stored(m)} for m in b.members]}
                              if whole else {})} for b in c.bulletins],
            "suspended_services": sorted(s.value for s in c.suspended_services),
        } for c in p.conventions],
    }


def partner_to_stored(p: Partner) -> dict[str, Any]:
    """The whole partner as one document (version 1): the in-memory store's, and what older registries held."""
    return header_to_stored(p, whole=True)


def caf_to_stored(c: Caf) -> dict[str, Any]:
    return {"v": VERSION, "code": c.code, "name": c.name, "habilitation_mailbox": c.habilitation_mailbox,
            "administrators": [{"identifiant": a.identifiant, "first_name": a.first_name, "last_name": a.last_name,
                                "email": a.email} for a in c.administrators]}


def _upgrade(d: dict[str, Any]) -> dict[str, Any]:
    version = d.get("v", 0)
    if version > VERSION:
        raise ValueError(f"stored document of version {version}, newer than this code's {VERSION}: upgrade the code")
    if version == 0:  # the file's shape; an equipment of before `sites` kept its one `site`
        for e in d.get("equipments", []):
            site = e.get("site")
            sites = list(e.get("sites") or [])
            if site and site not in sites:
                sites.insert(0, site)
            e["sites"] = sites
    return d


def _at(v: Any) -> datetime:
    if isinstance(v, datetime):
        return v
    if isinstance(v, date):
        return datetime(v.year, v.month, v.day)
    return datetime.fromisoformat(v)


def _convention(c: dict[str, Any]) -> Convention:
    raw = c.get("contract") or {}
    contract = ServiceContract(**{r: Contact(x["name"], x.get("email", ""), x.get("phone", ""))
                                  for r in _ROLES if (x := raw.get(r))},
                               incident_procedure=raw.get("incident_procedure") or "")
    return Convention(
        c["number"], ConventionStatus(c.get("status", "requested")),
        [StatusChange(ConventionStatus(h["status"]), _at(h["at"]), h.get("actor", "")) for h in c.get("history", [])],
        contract,
        [Bulletin(Service(b["service"]), [Member(m["identifiant"], {Group(g) for g in m.get("groups", [])},
                                                 {Profile(x) for x in m.get("profiles", [])}, m.get("suspended") is True)
                                          for m in b.get("members", [])]) for b in c.get("bulletins", [])],
        {Service(s) for s in c.get("suspended_services", [])})


def partner_from_stored(d: dict[str, Any]) -> Partner:
    """A whole document (versions 0 and 1)."""
    if d.get("v") == VERSION:
        raise ValueError("a partner's header (version 2): its people are rows, read with partner_from_rows")
    d = _upgrade(d)
    return Partner(
        d["siret"], d["name"], d["caf"], d.get("administrator"), list(d.get("delegates", [])),
        [User(u["identifiant"], u["first_name"], u["last_name"], u["email"], bool(u.get("suspended", False)),
              bool(u.get("locked", False)), str(u.get("suspended_by", ""))) for u in d.get("users", [])],
        [Equipment(e["code"], e["name"], EquipmentType(e.get("type", "ALSH")), list(e.get("sites", [])),
                   {Profile(k): list(v or []) for k, v in (e.get("assignments") or {}).items()},
                   {i: list(s) for i, s in (e.get("sites_of") or {}).items()})
         for e in d.get("equipments", [])],
        [_convention(c) for c in d.get("conventions", [])], d.get("representative"))


def partner_from_rows(header: dict[str, Any], people: Iterable[tuple[str, dict[str, Any]]],
                      grants: Iterable[tuple[str, str, str, dict[str, Any]]]) -> Partner:
    """A partner from its row (version 2), its people's rows (identifiant, person) in order and its grants'
    rows (convention, service, identifiant, grant) in order."""
    d = dict(header)
    if d.get("v") != VERSION:
        raise ValueError(f"stored header of version {d.get('v')}, this code reads {VERSION}")
    members: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for number, service, ident, g in grants:
        members.setdefault((number, service), []).append({"identifiant": ident, **g})
    d["users"] = [{"identifiant": ident, **u} for ident, u in people]
    d["conventions"] = [{**c, "bulletins": [{**b, "members": members.get((c["number"], b["service"]), [])}
                                            for b in c.get("bulletins", [])]} for c in d.get("conventions", [])]
    d["v"] = WHOLE
    return partner_from_stored(d)


def caf_from_stored(d: dict[str, Any]) -> Caf:
    d = _upgrade(d)
    return Caf(d["code"], d["name"], d["habilitation_mailbox"],
               [CafAdministrator(a["identifiant"], a["first_name"], a["last_name"], a["email"])
                for a in d.get("administrators", [])])
