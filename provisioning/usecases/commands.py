"""Every change a person or a job can ask of the registry, as data (issue 26 §1): a command says what is
asked, never who asks (the actor travels beside it) nor how it is done (its handler, registered in
usecases/handlers.py). The API, the CLI, the consoles and the jobs build these; `Provisioning.handle` runs
them. `expected_version`: the partner's version the client saw (API If-Match), None to take the latest."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from provisioning.domain import reviews as rv
from provisioning.domain.model import (
    ConventionStatus,
    EquipmentType,
    Group,
    Partner,
    Profile,
    Service,
    ServiceContract,
    User,
)


@dataclass(frozen=True, kw_only=True)
class Command:
    """A change asked of the registry."""


@dataclass(frozen=True, kw_only=True)
class OnPartner(Command):
    """A change of one partner: one transaction under its version."""
    siret: str
    expected_version: int | None = None


# --- partners and conventions (R3–R11) -----------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class CreatePartner(Command):
    partner: Partner


@dataclass(frozen=True, kw_only=True)
class PrepareConvention(OnPartner):
    number: str
    contract: ServiceContract
    services: list[Service]


@dataclass(frozen=True, kw_only=True)
class SetContract(OnPartner):
    number: str
    contract: ServiceContract


@dataclass(frozen=True, kw_only=True)
class TransitionConvention(OnPartner):
    number: str
    to: ConventionStatus


@dataclass(frozen=True, kw_only=True)
class IssueDocuments(OnPartner):
    """Issue 31: the Caf issues the convention's documents whose next version is due."""
    number: str


@dataclass(frozen=True, kw_only=True)
class SignDocuments(OnPartner):
    """Issue 31: the actor signs (partner's representative) or countersigns (Caf) what awaits her side."""
    number: str


@dataclass(frozen=True, kw_only=True)
class SuspendService(OnPartner):
    number: str
    service: Service
    suspended: bool


@dataclass(frozen=True, kw_only=True)
class DeclareEquipment(OnPartner):
    code: str
    name: str
    type: EquipmentType
    sites: list[str]


@dataclass(frozen=True, kw_only=True)
class RemoveEquipment(OnPartner):
    code: str


@dataclass(frozen=True, kw_only=True)
class SetAssignments(OnPartner):
    """AFAS Habiliter (R10): who is associated to an equipment, per profile."""
    code: str
    assignments: dict[Profile, list[str]]


@dataclass(frozen=True, kw_only=True)
class SetSites(OnPartner):
    """AFAS Habiliter per site (issue 29 §3): for each person associated to an equipment, the sites she works for."""
    code: str
    sites_of: dict[str, list[str]]


@dataclass(frozen=True, kw_only=True)
class SendBack(OnPartner):
    """Issue 29 §3: an approver sends what an equipment's providers declared for `period` back to them for
    correction, with the reason they are mailed."""
    service: Service
    code: str
    period: str
    reason: str


# --- people (R12–R18) ----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class CreateUser(OnPartner):
    user: User


@dataclass(frozen=True, kw_only=True)
class SetMembership(OnPartner):
    """What a person holds on a bulletin; no groups: revoked."""
    convention: str
    service: Service
    identifiant: str
    groups: set[Group] = field(default_factory=set)
    profiles: set[Profile] = field(default_factory=set)


@dataclass(frozen=True, kw_only=True)
class SetDelegate(OnPartner):
    identifiant: str
    delegate: bool


@dataclass(frozen=True, kw_only=True)
class SuspendUser(OnPartner):
    identifiant: str
    suspended: bool


@dataclass(frozen=True, kw_only=True)
class ReportLostCredentials(OnPartner):
    identifiant: str


@dataclass(frozen=True, kw_only=True)
class ReissueCredentials(OnPartner):
    identifiant: str


@dataclass(frozen=True, kw_only=True)
class UnlockUser(OnPartner):
    identifiant: str


@dataclass(frozen=True, kw_only=True)
class ResetSecondFactor(OnPartner):
    identifiant: str


@dataclass(frozen=True, kw_only=True)
class UnlinkProConnect(OnPartner):
    """Issue 32: the person's ProConnect link removed, by herself or by her managers."""
    identifiant: str


@dataclass(frozen=True, kw_only=True)
class ImportUsers(OnPartner):
    """A CSV file of people: previewed (`apply=False`, nothing written) or applied, all lines or none."""
    data: bytes
    apply: bool


@dataclass(frozen=True, kw_only=True)
class AdoptAccount(Command):
    """An account Keycloak holds without our marker becomes ours (the partner that lists it is found)."""
    identifiant: str


@dataclass(frozen=True, kw_only=True)
class SuspendInactive(Command):
    """R18: everyone without a login for `days` days, across the registry (the daily job)."""
    days: int


# --- access reviews (issue 16) -------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class OpenReview(Command):
    caf: str
    deadline: datetime
    partners: list[str] | None = None


@dataclass(frozen=True, kw_only=True)
class DecideReview(Command):
    campaign_id: str
    key: str
    verdict: rv.Verdict
