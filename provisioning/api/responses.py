"""Response bodies of the API, declared once (issue 26 §7): each 2xx answer of the served OpenAPI document is
one of these schemas, and schemathesis checks every answer the tests provoke against it (an undeclared field
fails, as does a missing one). The views still build plain dicts; these models describe them — they are never
instantiated on the hot path.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from provisioning.catalogue_types import GroupName, ProfileCode, ServiceCode
from provisioning.domain.model import ConventionStatus, EquipmentType
from provisioning.domain.reviews import Verdict
from provisioning.domain.states import (
    AccountState,
    ImportAction,
    MailState,
    PersonState,
    ReconcileState,
    ReviewState,
)


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- a partner (the registry's document, in the desired-state file's format) -------------------------------
class UserDoc(Closed):
    identifiant: str
    first_name: str
    last_name: str
    email: str
    suspended: Literal[True] | None = Field(None, description="present only when the person is suspended")
    suspended_by: Literal["caf", "partenaire"] | None = Field(
        None, description="who suspended her (present with `suspended`): a partner lifts only its own")
    locked: Literal[True] | None = Field(None, description="present only when the codes were reported lost")


class EquipmentDoc(Closed):
    code: str
    name: str
    type: EquipmentType
    sites: list[str]
    assignments: dict[ProfileCode, list[str]]
    sites_of: dict[str, list[str]] | None = Field(
        None, description="present when someone is associated for some sites only: identifiant -> those sites "
                          "(someone associated and absent here works for every site)")


class HistoryStep(Closed):
    status: ConventionStatus
    at: date | datetime
    actor: str


class ContactDoc(Closed):
    name: str
    email: str | None = None
    phone: str | None = None


class ContractDoc(Closed):
    partner_administrator: ContactDoc | None = None
    partner_security_officer: ContactDoc | None = None
    partner_cnil_referent: ContactDoc | None = None
    caf_administrator: ContactDoc | None = None
    caf_portal_manager: ContactDoc | None = None
    caf_security_officer: ContactDoc | None = None
    caf_cnil_referent: ContactDoc | None = None
    incident_procedure: str


class MemberDoc(Closed):
    identifiant: str
    groups: list[GroupName]
    profiles: list[ProfileCode]
    suspended: Literal[True] | None = Field(None, description="suspended by an access review's deadline")


class BulletinDoc(Closed):
    service: ServiceCode
    members: list[MemberDoc]


class ConventionDoc(Closed):
    number: str
    status: ConventionStatus
    history: list[HistoryStep]
    contract: ContractDoc
    bulletins: list[BulletinDoc]
    suspended_services: list[ServiceCode]


class PartnerDoc(Closed):
    siret: str
    name: str
    caf: str
    administrator: str
    representative: str | None = Field(None, description="its legal representative, who signs the convention's "
                                                         "documents (absent: its administrator signs; issue 31)")
    delegates: list[str]
    users: list[UserDoc]
    equipments: list[EquipmentDoc]
    conventions: list[ConventionDoc]


class ReconcileStatus(Closed):
    """Where Keycloak stands for a partner: `state` null when nothing was ever asked."""
    state: ReconcileState | None
    label: str | None = None
    updated_at: datetime | None = None
    attempts: int | None = None
    reason: str | None = None


class PartnerWithReconcile(PartnerDoc):
    reconcile: ReconcileStatus | None


class PartnerSummary(Closed):
    siret: str
    name: str
    caf: str


class PartnerList(RootModel[list[PartnerSummary]]):
    pass


# --- a mutation's answer ------------------------------------------------------------------------------------
class PlannedChange(Closed):
    action: str
    kind: str
    target: str
    reason: str
    destructive: bool


class MutationAnswer(Closed):
    partner: PartnerDoc | None = Field(None, description="the partner as it stands; left out when the request "
                                       "says `Prefer: return=minimal` (RFC 7240): a big partner's document is "
                                       "most of the answer's cost")
    changed: bool = Field(description="false: the request changed nothing and nothing was written")
    reconciled: bool = Field(description="false when Keycloak was not reached now; the worker converges")
    reconcile: ReconcileStatus | None
    changes: list[PlannedChange]
    message: str | None = None
    reconcile_error: str | None = None


# --- people ------------------------------------------------------------------------------------------------
class UserRow(Closed):
    identifiant: str
    first_name: str
    last_name: str
    email: str
    suspended: bool
    locked: bool
    state: PersonState
    state_label: str
    groups: list[GroupName]
    profiles: list[ProfileCode]
    administrator: bool
    delegate: bool
    account_state: AccountState | None = Field(None, description="with `accounts=true`: the account as her managers "
                                                                 "see it (Keycloak, the outbox, the registry)")
    account_state_label: str | None = None
    locked_until: datetime | None = Field(None, description="a lockout after failed logins, running until then")


class UserList(RootModel[list[UserRow]]):
    pass


class UsageRulesState(Closed):
    version: str | None
    accepted_at: datetime | None
    current: bool


class AccountAnswer(Closed):
    identifiant: str
    state: AccountState
    state_label: str
    exists: bool
    enabled: bool
    last_login: datetime | None
    locked_until: datetime | None
    failures: int
    password_change_pending: bool
    second_factors: list[str]
    proconnect: bool = Field(description="a ProConnect identity is linked to the account (issue 32)")
    usage_rules: UsageRulesState


class EquipmentsAnswer(Closed):
    equipments: list[EquipmentDoc]
    candidates: dict[ProfileCode, list[str]] = Field(description="per AFAS profile, who may be associated")


class ImportLine(Closed):
    line: int
    identifiant: str | None
    action: ImportAction | None
    action_label: str | None
    grants: list[str] = Field(description="each grant in words, e.g. « CDAP Consulter (CONV-…) »")
    refusals: list[dict[str, str]]


class ImportCounts(Closed):
    lines: int
    created: int
    updated: int
    refused: int


class ImportPlan(Closed):
    lines: list[ImportLine]
    counts: ImportCounts


class ImportApplied(MutationAnswer):
    lines: list[ImportLine]
    counts: ImportCounts


# --- the journal, the mails, the caller ----------------------------------------------------------------------
class FieldChange(Closed):
    path: str
    before: object = None
    after: object = None


class AuditEntry(Closed):
    id: int
    at: datetime
    actor: str
    action: str
    object: str
    partner_siret: str | None
    caf_code: str | None
    subject: str | None
    summary: str | None
    request_id: str | None = Field(description="the request that made it (X-Request-Id; issue 30 §2): the same "
                                   "id is in the log lines of every process that worked on it")
    changes: list[FieldChange] | None


class AuditList(RootModel[list[AuditEntry]]):
    pass


class Me(Closed):
    username: str
    partner: str | None
    caf: str | None
    previous_login: datetime | None
    proconnect: bool = Field(description="a ProConnect identity is linked to the account (issue 32)")
    signs: bool = Field(description="she signs her partner's convention documents (issue 31)")


class Acceptance(Closed):
    identifiant: str
    partner: str
    accepted_at: datetime | None
    version: str | None
    current: bool


class AcceptanceList(RootModel[list[Acceptance]]):
    pass


class IncidentReceipt(Closed):
    reference: int


class Notification(Closed):
    id: int
    at: datetime
    recipient: str
    subject: str
    body: str
    caf_code: str | None
    kind: str
    username: str | None
    attempts: int
    error: str | None
    sent_at: datetime | None
    next_attempt_at: datetime | None
    dead_at: datetime | None
    state: MailState
    state_label: str
    request_id: str | None = Field(description="the request that caused the mail (issue 30 §2)")


class NotificationList(RootModel[list[Notification]]):
    pass


class Resent(Closed):
    resent: int


# --- access reviews ---------------------------------------------------------------------------------------------
class PartnerProgress(Closed):
    total: int
    confirmed: int
    revoked: int
    pending: int


class Review(Closed):
    id: str
    caf: str
    opened_by: str
    opened_at: datetime
    deadline: datetime
    partners: list[str] | None
    state: ReviewState
    state_label: str
    closed_at: datetime | None
    total: int
    progress: dict[str, PartnerProgress]


class ReviewList(RootModel[list[Review]]):
    pass


class ReviewItem(Closed):
    key: str
    identifiant: str
    convention: str
    service: ServiceCode
    groups: list[GroupName]
    profiles: list[ProfileCode]
    first_name: str
    last_name: str
    last_login: datetime | None
    decision: Verdict | None
    decision_label: str | None
    decided_by: str | None
    decided_at: datetime | None
    may_decide: bool


class ReviewedPartner(Closed):
    siret: str
    name: str


class ReviewItems(Review):
    partner: ReviewedPartner
    items: list[ReviewItem]


class DecisionAnswer(Closed):
    item: str
    decision: Verdict
    by: str
    at: datetime
    reconcile: ReconcileStatus | None = None


class Health(Closed):
    status: Literal["ok"]


class ImportAnswer(RootModel[ImportPlan | ImportApplied]):
    pass


# --- the convention's documents (issue 31) -----------------------------------------------------------------
class DocumentVersion(Closed):
    id: int
    kind: str = Field(description="convention, contrat, or bulletin-<SERVICE>")
    title: str
    version: int
    current: bool = Field(description="false once a newer version was issued")
    state: str = Field(description="in French: à signer par le partenaire, à contresigner par la Caf, signé par "
                                   "les deux parties")
    awaits: Literal["partenaire", "caf"] | None = Field(description="whose signature it waits for")
    sha256: str = Field(description="of the PDF as it stands (after its last signature)")
    content_sha256: str = Field(description="of what it says: a new version is due when the registry differs")
    created_at: datetime
    created_by: str
    partner_signed_at: datetime | None
    partner_signed_by: str | None
    caf_signed_at: datetime | None
    caf_signed_by: str | None
    superseded_at: datetime | None


class ConventionDocuments(Closed):
    convention: str
    status: ConventionStatus
    due: list[str] = Field(description="the documents whose next version is due (none yet, or the registry "
                                       "changed: a bulletin's people)")
    documents: list[DocumentVersion] = Field(description="every version, current ones first")


class EveryConventionDocuments(RootModel[list[ConventionDocuments]]):
    pass


class IssuedDocuments(RootModel[list[DocumentVersion]]):
    pass


class CheckedSignature(Closed):
    field: str = Field(description="partenaire or caf")
    signer: str = Field(description="the certificate's name")
    intact: bool
    trusted: bool
    timestamped: bool
    whole_file: bool = Field(description="covers the file to its last byte")


class DocumentCheck(Closed):
    valid: bool = Field(description="every signature intact, trusted and timestamped, the last covering the whole "
                                    "file")
    signatures: list[CheckedSignature]


# --- access requests (issue 31 §1) --------------------------------------------------------------------------
class EstablishmentAnswer(Closed):
    siret: str
    name: str
    address: str
    postal_code: str
    city: str


class RequestPersonAnswer(Closed):
    first_name: str
    last_name: str
    email: str
    function: str


class AccessRequestAnswer(Closed):
    id: str
    created_at: datetime
    state: Literal["a_confirmer", "demandee", "acceptee", "refusee"]
    state_label: str
    establishment: EstablishmentAnswer
    caf: str
    services: list[str]
    representative: RequestPersonAnswer
    administrator: RequestPersonAnswer
    confirmed: dict[str, datetime | None] = Field(description="each address, with when it was confirmed")
    decided_at: datetime | None
    decided_by: str | None
    reason: str


class AccessRequestList(RootModel[list[AccessRequestAnswer]]):
    pass


class CafName(Closed):
    code: str
    name: str


class CafList(RootModel[list[CafName]]):
    pass


def returns(model: type[BaseModel], *statuses: int):
    """The body this view answers with, for these statuses (200 by default): read by the OpenAPI document."""
    def mark(view):
        view.response_models = {**getattr(view, "response_models", {}),
                                **{str(s): model for s in (statuses or (200,))}}
        return view
    return mark


# --- the service catalogue (issue 28) ----------------------------------------------------------------------
class CatalogueGroup(Closed):
    name: str = Field(description="as bulletins, files, the CSV import and the consoles name it")
    role: str = Field(description="the client role its members get (tokens: resource_access.<client>.roles)")
    description: str
    assigns_equipments: bool = Field(description="its members associate the profile holders to equipments")
    opens_on: date | None = Field(description="granted only from this day (the registry's setting applied)")


class CatalogueProfile(Closed):
    code: str
    label: str = Field(description="French, in sentences")
    description: str
    requires: str = Field(description="the group a holder must be in")
    cap: int | None = Field(description="holders at most per bulletin and per equipment")


class CatalogueService(Closed):
    code: str
    label: str
    description: str
    client: str = Field(description="its OIDC client: a person's roles are in resource_access.<client>.roles")
    url: str
    level: str = Field(description="the level of authentication it requires (acr)")
    granted_by: list[Literal["partner-administrator", "delegate", "caf"]]
    scoped_by: list[str]
    reviewed: bool
    profiles_per_person: list[int] = Field(description="[min, max] for a member of a group its profiles require")
    equipment_types: list[str]
    groups: list[CatalogueGroup]
    profiles: list[CatalogueProfile]


class Catalogue(Closed):
    version: int
    services: list[CatalogueService]
