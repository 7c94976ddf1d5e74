"""Issue 16 (first brick, pure): periodic access reviews (recertification) of habilitations.

A Caf administrator opens a campaign for its partners (all, or chosen ones) with a deadline. Every person's
grant on every bulletin in force becomes an item; the partner's administrator — or its responsable des
habilitations on its behalf — confirms or revokes each. Reminders go before the deadline; at the deadline,
every item nobody confirmed is to be suspended (not deleted). This module decides; the use cases (to come)
store campaigns and decisions, send the mails, suspend and audit.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from provisioning.domain.model import Group, Partner, Profile, Service
from provisioning.domain.policy import Acting, its_managers
from provisioning.errors import Violation

DEFAULT_PERIOD = timedelta(days=365)     # a campaign a year (issue 16: « Defaults: yearly »)
DEFAULT_DURATION = timedelta(days=30)    # from opening to deadline, unless the Caf says otherwise
REMINDERS = (14, 7, 1)                   # days before the deadline


class Verdict(str, enum.Enum):
    CONFIRM = "confirmed"
    REVOKE = "revoked"

    @property
    def label(self) -> str:
        return "confirmé" if self is Verdict.CONFIRM else "retiré"


@dataclass(frozen=True)
class Item:
    """One person's grant on one bulletin: what a reviewer confirms or revokes."""
    partner: str
    convention: str
    service: Service
    identifiant: str
    groups: frozenset[Group]
    profiles: frozenset[Profile] = frozenset()

    @property
    def key(self) -> str:
        return f"{self.partner}/{self.convention}/{self.service.value}/{self.identifiant}"


@dataclass(frozen=True)
class Campaign:
    id: str
    caf: str
    opened_by: str
    opened_at: datetime
    deadline: datetime
    partners: frozenset[str] | None = None  # None: every partner of the Caf
    reminders: tuple[int, ...] = REMINDERS

    def covers(self, p: Partner) -> bool:
        return p.caf == self.caf and (self.partners is None or p.siret in self.partners)

    def open_at(self, now: datetime) -> bool:
        return self.opened_at <= now < self.deadline


@dataclass(frozen=True)
class Decision:
    item: str        # Item.key
    verdict: Verdict
    by: str
    at: datetime


def validate_campaign(caf: str, opened_at: datetime, deadline: datetime, partners: Iterable[str] | None,
                      known: dict[str, Partner]) -> list[Violation]:
    """Every fault of a campaign request, listed at once."""
    faults = []
    if deadline <= opened_at + timedelta(days=1):
        faults.append(Violation("ECHEANCE_TROP_PROCHE", "L'échéance doit laisser au moins un jour aux partenaires.",
                                "deadline"))
    if deadline > opened_at + timedelta(days=180):
        faults.append(Violation("ECHEANCE_TROP_LOINTAINE", "L'échéance ne peut dépasser six mois.", "deadline"))
    for siret in sorted(set(partners or ())):
        p = known.get(siret)
        if p is None or p.caf != caf:
            faults.append(Violation("PARTENAIRE_HORS_CAF", f"Le partenaire {siret} n'est pas rattaché à votre Caf.",
                                    "partners"))
    if partners is not None and not set(partners):
        faults.append(Violation("PERIMETRE_VIDE", "Choisissez au moins un partenaire, ou tous.", "partners"))
    return faults


def items(campaign: Campaign, partners: Iterable[Partner]) -> list[Item]:
    """What the campaign asks to review: each active person on each bulletin of a convention in force."""
    out = []
    for p in partners:
        if not campaign.covers(p):
            continue
        active = {u.identifiant for u in p.users if u.active}
        for conv in p.conventions:
            for b in conv.bulletins:
                if not conv.grants(b.service) or not _reviewed(b.service):
                    continue
                for m in b.members:
                    if m.identifiant in active and not m.suspended and (m.groups or m.profiles):
                        out.append(Item(p.siret, conv.number, b.service, m.identifiant, frozenset(m.groups),
                                        frozenset(x for x in m.profiles if x.service == b.service)))
    return sorted(out, key=lambda i: (i.partner, i.identifiant, i.convention, i.service.value))


def _reviewed(service: Service) -> bool:
    """Whether the catalogue puts the service in access reviews."""
    spec = service.spec
    return spec is None or spec.reviewed


def may_decide(actor: Acting, p: Partner) -> bool:
    """The partner's administrator or responsables des habilitations, or its Caf (R12, R11)."""
    return its_managers(actor, p)


def check_decision(campaign: Campaign, item_keys: set[str], key: str, now: datetime) -> list[Violation]:
    faults = []
    if not campaign.open_at(now):
        faults.append(Violation("CAMPAGNE_CLOSE", "La campagne de revue est close : plus aucune décision n'est reçue."))
    if key not in item_keys:
        faults.append(Violation("HABILITATION_HORS_CAMPAGNE", "Cette habilitation ne fait pas partie de la campagne.",
                                "item"))
    return faults


def latest(decisions: Iterable[Decision]) -> dict[str, Decision]:
    """The decision that counts for each item: the last one (a reviewer may change their mind before the deadline)."""
    out: dict[str, Decision] = {}
    for d in sorted(decisions, key=lambda d: d.at):
        out[d.item] = d
    return out


@dataclass
class Progress:
    total: int = 0
    confirmed: int = 0
    revoked: int = 0
    pending: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return not self.pending


def progress(all_items: list[Item], decisions: Iterable[Decision]) -> dict[str, Progress]:
    """Per partner: how many items, confirmed, revoked, and those still waiting."""
    last = latest(decisions)
    out: dict[str, Progress] = {}
    for it in all_items:
        pr = out.setdefault(it.partner, Progress())
        pr.total += 1
        d = last.get(it.key)
        if d is None:
            pr.pending.append(it.key)
        elif d.verdict is Verdict.CONFIRM:
            pr.confirmed += 1
        else:
            pr.revoked += 1
    return out


def reminder_due(campaign: Campaign, now: datetime, sent: set[int]) -> int | None:
    """The reminder (days before the deadline) to send now, if any: the nearest one whose time has come and that
    was not sent (a worker stopped for a week sends one reminder, not three)."""
    if not campaign.open_at(now):
        return None
    come = [d for d in campaign.reminders if now >= campaign.deadline - timedelta(days=d)]
    if not come:
        return None
    nearest = min(come)
    return None if nearest in sent else nearest


def to_suspend(campaign: Campaign, all_items: list[Item], decisions: Iterable[Decision], now: datetime) -> list[Item]:
    """At the deadline: every item nobody confirmed (no decision). Revoked items were taken away when decided."""
    if now < campaign.deadline:
        return []
    last = latest(decisions)
    return [it for it in all_items if it.key not in last]


def next_campaign_due(last_opened: datetime | None, now: datetime, period: timedelta = DEFAULT_PERIOD) -> bool:
    return last_opened is None or now >= last_opened + period
