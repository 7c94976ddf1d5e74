"""The convention's documents (issue 31 §2–4): what each says, when a new version is due, who signs next, and when
the signatures make a convention « signée ». Pure: rendering (WeasyPrint) and signing (pyHanko) are adapters
(provisioning/paperwork/); their results come back here as data.

A convention has one convention d'accès, one contrat de service and one bulletin d'adhésion per service. Each is
versioned: a new version is issued when what it says (its *facts*, hashed) changes — a bulletin when its people or
their profiles change — and the history keeps every version. The partner's representative signs first, the Caf
countersigns; a convention moves to « signée par le partenaire », then « signée par la Caf », only when every
current document of it carries those valid signatures — never from a button."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from provisioning.domain.model import CONTRACT_CONTACTS, Caf, Convention, ConventionStatus, Partner, Service

CONVENTION, CONTRACT, BULLETIN = "convention", "contrat", "bulletin-"
PARTNER_SIDE, CAF_SIDE = "partenaire", "caf"  # the signature fields' names, in signing order
COLUMN = {PARTNER_SIDE: "partner", CAF_SIDE: "caf"}  # Document's fields: <column>_signed_at, <column>_signed_by
# while these stand, documents may be (re)issued; between the two signatures the Caf countersigns what the
# partner signed before anything is issued again
ISSUABLE = frozenset({ConventionStatus.PREPARED, ConventionStatus.SIGNED_BY_CAF, ConventionStatus.ACTIVE,
                      ConventionStatus.SUSPENDED})


def signer_of(p: Partner) -> str | None:
    """Who signs for the partner: its legal representative, or its administrator when none is named."""
    return p.representative or p.administrator


def kinds(conv: Convention) -> list[str]:
    """The documents a convention has: convention, contrat, then a bulletin per service."""
    return [CONVENTION, CONTRACT, *(f"{BULLETIN}{b.service}" for b in conv.bulletins)]


def service_of(kind: str) -> Service | None:
    return Service(kind.removeprefix(BULLETIN)) if kind.startswith(BULLETIN) else None


def facts(kind: str, caf: Caf, partner: Partner, conv: Convention) -> dict[str, Any]:
    """What a document says, as plain data: rendered by the templates, hashed to decide whether a new version
    is due (the PDF's bytes differ at each rendering)."""
    base: dict[str, Any] = {"caf": {"code": caf.code, "name": caf.name}, "convention": conv.number,
                            "partner": {"siret": partner.siret, "name": partner.name}}
    if kind == CONVENTION:
        return {**base, "services": [str(b.service) for b in conv.bulletins]}
    if kind == CONTRACT:
        c = conv.contract
        contacts = {role: ({"name": x.name, "email": x.email, "phone": x.phone} if (x := getattr(c, role)) else None)
                    for role in CONTRACT_CONTACTS}
        return {**base, "contacts": contacts, "incident_procedure": c.incident_procedure}
    service = service_of(kind)
    b = conv.bulletin(service) if service else None
    people = {u.identifiant: u for u in partner.users}
    members = [] if b is None else [
        {"identifiant": m.identifiant,
         "name": f"{people[m.identifiant].first_name} {people[m.identifiant].last_name}" if m.identifiant in people
         else m.identifiant,
         "groups": sorted(str(g) for g in m.groups), "profiles": sorted(str(p) for p in m.profiles)}
        for m in sorted(b.members, key=lambda m: m.identifiant) if not m.suspended]
    return {**base, "service": str(service), "members": members}


def content_hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True)
class Document:
    """One version of one document, as stored. `sha256`: of the PDF as it stands (after its last signature)."""
    id: int
    siret: str
    convention: str
    kind: str
    version: int
    title: str
    content_sha256: str
    sha256: str
    created_at: datetime
    created_by: str
    partner_signed_at: datetime | None = None
    partner_signed_by: str | None = None
    caf_signed_at: datetime | None = None
    caf_signed_by: str | None = None
    superseded_at: datetime | None = None

    @property
    def current(self) -> bool:
        return self.superseded_at is None

    @property
    def awaits(self) -> str | None:
        """Whose signature it waits for: the partner's, then the Caf's; None once both are on it."""
        if self.partner_signed_at is None:
            return PARTNER_SIDE
        if self.caf_signed_at is None:
            return CAF_SIDE
        return None

    @property
    def state(self) -> str:
        return {PARTNER_SIDE: "à signer par le partenaire", CAF_SIDE: "à contresigner par la Caf",
                None: "signé par les deux parties"}[self.awaits]


def due(conv: Convention, current: dict[str, Document], hashes: dict[str, str]) -> list[str]:
    """The kinds whose next version is due: none yet, or the registry now says something else."""
    return [k for k in kinds(conv) if k not in current or current[k].content_sha256 != hashes[k]]


def status_after(conv: Convention, current: list[Document], valid: dict[int, set[str]]) -> ConventionStatus | None:
    """The status the signatures now give the convention (None: unchanged). `valid`: for each current document,
    the signature fields found valid on its PDF (intact, trusted, timestamped) — what the file proves, not what
    a column says. Only the two signature steps move: from « préparée » once the partner signed everything,
    from « signée par le partenaire » once the Caf countersigned everything."""
    if not current or {d.kind for d in current} != set(kinds(conv)):
        return None
    signed_by = {side: all(side in valid.get(d.id, set()) for d in current) for side in (PARTNER_SIDE, CAF_SIDE)}
    if conv.status is ConventionStatus.PREPARED and signed_by[PARTNER_SIDE]:
        return ConventionStatus.SIGNED_BY_CAF if signed_by[CAF_SIDE] else ConventionStatus.SIGNED_BY_PARTNER
    if conv.status is ConventionStatus.SIGNED_BY_PARTNER and signed_by[CAF_SIDE]:
        return ConventionStatus.SIGNED_BY_CAF
    return None
