"""The application: every use case behind one object, for the CLI, the REST API, the consoles and the jobs.

    command (usecases/commands.py: what is asked, as data)
      → handler (usecases/handlers.py says which: people.py, partners.py, imports.py, reviews.py)
        → unit of work (usecases/change.py for one partner: its version, its rules, its journal, report,
          mails and reconcile request in one transaction; store/uow.py underneath)
          → adapters (store: SQLAlchemy; keycloak/gateway.py: python-keycloak; notify: SMTP)

A refused command changes nothing anywhere; Keycloak follows through the reconcile worker (or inline, through
the same request). The named methods below are the callers' vocabulary, each one command; reads, the
reconciler, the outbox and the jobs are the kernel's (usecases/base.py, reconciling.py, mail.py, reviews.py)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from provisioning.domain import reviews as rv
from provisioning.domain.access_requests import AccessRequest
from provisioning.domain.access_requests import Contact as RequestContact
from provisioning.domain.model import (
    ConventionStatus,
    EquipmentType,
    Group,
    Partner,
    Profile,
    Registry,
    Service,
    ServiceContract,
    User,
)
from provisioning.domain.paperwork import Document
from provisioning.domain.states import AccountState
from provisioning.keycloak.gateway import Gateway
from provisioning.reconcile.apply import ApplyReport, Progress
from provisioning.reconcile.plan import Change
from provisioning.reconcile.state import State, UserSpec
from provisioning.usecases import access_requests, mail, paperwork, partners, people, reconciling, reviews, usage_rules
from provisioning.usecases import commands as c
from provisioning.usecases.base import (  # noqa: F401 (the names callers import from here)
    CAF_ADMIN,
    DELEGATE,
    PARTNER_ADMIN,
    Actor,
    Core,
    MutationResult,
    generate_password,
)
from provisioning.usecases.handlers import HANDLERS
from provisioning.usecases.imports import ImportPlan
from provisioning.usecases.usage_rules import Publisher

if TYPE_CHECKING:
    from provisioning.directory import Directory
    from provisioning.paperwork.pades import Verification


class Provisioning(Core):
    directory: Directory | None = None  # issue 31 §1: the SIRENE lookup (None: the one the settings name)

    """The facade: configuration, adapters, reads and the partner's unit of work in Core; every command, the
    outbox, the reconciler and every other use case a function of the application (usecases/*.py), reached
    here by the name callers know. Internal steps call each other through these names too, so a test may stand
    in for one on an instance (`svc.deliver_notifications = …`)."""

    def handle(self, actor: Actor, command: c.Command) -> Any:
        """Carry out one command for `actor` with its registered handler."""
        handler = HANDLERS.get(type(command))
        if handler is None:
            raise TypeError(f"no handler for {type(command).__name__}")
        return handler(self, actor, command)

    # --- partners, conventions, equipments ------------------------------------------------------------
    def create_partner(self, actor: Actor, partner: Partner) -> Partner:
        r: Partner = self.handle(actor, c.CreatePartner(partner=partner))
        return r

    def prepare_convention(self, actor: Actor, siret: str, number: str, contract: ServiceContract,
                           services: list[Service], expected_version: int | None = None) -> MutationResult:
        return self._change(actor, c.PrepareConvention(siret=siret, number=number, contract=contract,
                                                       services=services, expected_version=expected_version))

    def set_contract(self, actor: Actor, siret: str, number: str, contract: ServiceContract,
                     expected_version: int | None = None) -> MutationResult:
        return self._change(actor, c.SetContract(siret=siret, number=number, contract=contract,
                                                 expected_version=expected_version))

    def transition_convention(self, actor: Actor, siret: str, number: str, to: ConventionStatus,
                              expected_version: int | None = None) -> MutationResult:
        return self._change(actor, c.TransitionConvention(siret=siret, number=number, to=to,
                                                          expected_version=expected_version))

    # --- access requests (issue 31 §1) -----------------------------------------------------------------
    def submit_access_request(self, siret: str, caf: str, services: list[str], representative: RequestContact,
                              administrator: RequestContact) -> AccessRequest:
        from provisioning.directory import from_settings
        return access_requests.submit(self, self.directory or from_settings(), siret, caf, services, representative,
                                      administrator)

    def caf_names(self) -> list[tuple[str, str]]:
        """(code, name) of every Caf: what an organisation chooses from (public)."""
        with self.uow() as uow:
            return [(c.code, c.name) for c in uow.registry.cafs()]

    def confirm_access_request(self, rid: str, token: str) -> AccessRequest:
        return access_requests.confirm(self, rid, token)

    def access_requests(self, actor: Actor) -> list[AccessRequest]:
        return access_requests.requests_of(self, actor)

    def accept_access_request(self, actor: Actor, rid: str) -> Partner:
        return access_requests.accept(self, actor, rid)

    def refuse_access_request(self, actor: Actor, rid: str, reason: str) -> AccessRequest:
        return access_requests.refuse(self, actor, rid, reason)

    # --- the convention's documents (issue 31) ---------------------------------------------------------
    def documents(self, actor: Actor, siret: str, number: str) -> paperwork.Documents:
        return paperwork.documents(self, actor, siret, number)

    def every_convention_documents(self, actor: Actor, siret: str) -> list[paperwork.Documents]:
        return paperwork.every_convention(self, actor, siret)

    def signs_for(self, actor: Actor) -> bool:
        return paperwork.signs_for(self, actor)

    def issue_documents(self, actor: Actor, siret: str, number: str) -> list[Document]:
        r: list[Document] = self.handle(actor, c.IssueDocuments(siret=siret, number=number))
        return r

    def sign_documents(self, actor: Actor, siret: str, number: str) -> MutationResult:
        return self._change(actor, c.SignDocuments(siret=siret, number=number))

    def document_pdf(self, actor: Actor, siret: str, doc_id: int) -> tuple[Document, bytes]:
        return paperwork.document_pdf(self, actor, siret, doc_id)

    def verify_pdf(self, pdf: bytes) -> Verification:
        return paperwork.verify_pdf(self, pdf)

    def suspend_service(self, actor: Actor, siret: str, number: str, service: Service, suspended: bool,
                        expected_version: int | None = None) -> MutationResult:
        return self._change(actor, c.SuspendService(siret=siret, number=number, service=service,
                                                    suspended=suspended, expected_version=expected_version))

    def declare_equipment(self, actor: Actor, siret: str, code: str, name: str, etype: EquipmentType,
                          sites: list[str], expected_version: int | None = None) -> MutationResult:
        return self._change(actor, c.DeclareEquipment(siret=siret, code=code, name=name, type=etype, sites=sites,
                                                      expected_version=expected_version))

    def remove_equipment(self, actor: Actor, siret: str, code: str,
                         expected_version: int | None = None) -> MutationResult:
        return self._change(actor, c.RemoveEquipment(siret=siret, code=code, expected_version=expected_version))

    def set_assignments(self, actor: Actor, siret: str, code: str, assignments: dict[Profile, list[str]],
                        expected_version: int | None = None) -> MutationResult:
        return self._change(actor, c.SetAssignments(siret=siret, code=code, assignments=assignments,
                                                    expected_version=expected_version))

    def set_sites(self, actor: Actor, siret: str, code: str, sites_of: dict[str, list[str]],
                  expected_version: int | None = None) -> MutationResult:
        return self._change(actor, c.SetSites(siret=siret, code=code, sites_of=sites_of,
                                              expected_version=expected_version))

    def send_back(self, actor: Actor, siret: str, service: Service, code: str, period: str,
                  reason: str) -> MutationResult:
        return self._change(actor, c.SendBack(siret=siret, service=service, code=code, period=period,
                                              reason=reason))

    # --- people ---------------------------------------------------------------------------------------
    def create_user(self, actor: Actor, siret: str, user: User, expected_version: int | None = None) -> MutationResult:
        return self._change(actor, c.CreateUser(siret=siret, user=user, expected_version=expected_version))

    def set_membership(self, actor: Actor, siret: str, convention: str, service: Service, identifiant: str,
                       groups: set[Group], profiles: set[Profile], expected_version: int | None = None) -> MutationResult:
        return self._change(actor, c.SetMembership(siret=siret, convention=convention, service=service,
                                                   identifiant=identifiant, groups=set(groups),
                                                   profiles=set(profiles), expected_version=expected_version))

    def set_delegate(self, actor: Actor, siret: str, identifiant: str, delegate: bool,
                     expected_version: int | None = None) -> MutationResult:
        return self._change(actor, c.SetDelegate(siret=siret, identifiant=identifiant, delegate=delegate,
                                                 expected_version=expected_version))

    def suspend_user(self, actor: Actor, siret: str, identifiant: str, suspended: bool,
                     expected_version: int | None = None) -> MutationResult:
        return self._change(actor, c.SuspendUser(siret=siret, identifiant=identifiant, suspended=suspended,
                                                 expected_version=expected_version))

    def report_lost_credentials(self, actor: Actor, siret: str, identifiant: str,
                                expected_version: int | None = None) -> MutationResult:
        return self._change(actor, c.ReportLostCredentials(siret=siret, identifiant=identifiant,
                                                           expected_version=expected_version))

    def reissue_credentials(self, actor: Actor, siret: str, identifiant: str,
                            expected_version: int | None = None) -> MutationResult:
        return self._change(actor, c.ReissueCredentials(siret=siret, identifiant=identifiant,
                                                        expected_version=expected_version))

    def unlock_user(self, actor: Actor, siret: str, identifiant: str,
                    expected_version: int | None = None) -> MutationResult:
        return self._change(actor, c.UnlockUser(siret=siret, identifiant=identifiant,
                                                expected_version=expected_version))

    def reset_second_factor(self, actor: Actor, siret: str, identifiant: str,
                            expected_version: int | None = None) -> MutationResult:
        return self._change(actor, c.ResetSecondFactor(siret=siret, identifiant=identifiant,
                                                       expected_version=expected_version))

    def unlink_proconnect(self, actor: Actor, siret: str, identifiant: str,
                          expected_version: int | None = None) -> MutationResult:
        return self._change(actor, c.UnlinkProConnect(siret=siret, identifiant=identifiant,
                                                      expected_version=expected_version))

    def import_users(self, actor: Actor, siret: str, data: bytes, apply: bool,
                     expected_version: int | None = None) -> ImportPlan:
        r: ImportPlan = self.handle(actor, c.ImportUsers(siret=siret, data=data, apply=apply,
                                                         expected_version=expected_version))
        return r

    def adopt_account(self, actor: Actor, identifiant: str) -> MutationResult:
        return self._change(actor, c.AdoptAccount(identifiant=identifiant))

    def suspend_inactive(self, actor: Actor, days: int) -> list[str]:
        r: list[str] = self.handle(actor, c.SuspendInactive(days=days))
        return r

    # --- access reviews -------------------------------------------------------------------------------
    def open_review(self, actor: Actor, caf: str, deadline: datetime,
                    partners: list[str] | None = None) -> dict[str, Any]:
        r: dict[str, Any] = self.handle(actor, c.OpenReview(caf=caf, deadline=deadline, partners=partners))
        return r

    def decide(self, actor: Actor, campaign_id: str, key: str, verdict: rv.Verdict) -> dict[str, Any]:
        r: dict[str, Any] = self.handle(actor, c.DecideReview(campaign_id=campaign_id, key=key, verdict=verdict))
        return r

    def reviews(self, actor: Actor) -> list[dict[str, Any]]:
        return reviews.reviews(self, actor)

    def review(self, actor: Actor, campaign_id: str) -> dict[str, Any]:
        return reviews.review(self, actor, campaign_id)

    def review_items(self, actor: Actor, campaign_id: str, siret: str) -> dict[str, Any]:
        return reviews.review_items(self, actor, campaign_id, siret)

    def review_csv(self, actor: Actor, campaign_id: str) -> str:
        return reviews.review_csv(self, actor, campaign_id)

    def tick_reviews(self) -> dict[str, Any]:
        """The daily job's part: reminders due, campaigns past their deadline closed, yearly ones opened."""
        return reviews.tick_reviews(self)

    # --- usage rules (R15) -------------------------------------------------------------------------------
    def publish_usage_rules(self, actor: Actor, version: str, publisher: Publisher) -> datetime:
        return usage_rules.publish_usage_rules(self, actor, version, publisher)

    def usage_rules_acceptances(self, actor: Actor) -> list[dict[str, Any]]:
        return usage_rules.usage_rules_acceptances(self, actor)

    # --- the outbox (mails, credentials, incidents) -------------------------------------------------------
    def deliver_notifications(self) -> int:
        return mail.deliver_notifications(self)

    def notifications(self, actor: Actor, dead: bool = False, waiting: bool = False) -> list[dict[str, Any]]:
        return mail.notifications(self, actor, dead, waiting)

    def resend_notification(self, actor: Actor, msg_id: int) -> None:
        mail.resend_notification(self, actor, msg_id)

    def report_incident(self, actor: Actor, kind: str, description: str) -> int:
        return mail.report_incident(self, actor, kind, description)

    def disabled_wait(self, queued_at: datetime) -> float:
        return mail.disabled_wait(self, queued_at)

    def _queue_credentials(self, user: UserSpec) -> None:
        mail._queue_credentials(self, user)

    # --- Keycloak follows the registry --------------------------------------------------------------------
    def import_registry(self, actor: Actor, reg: Registry) -> None:
        reconciling.import_registry(self, actor, reg)

    def plan(self) -> list[Change]:
        return reconciling.plan(self)

    def reconcile(self, actor: Actor, progress: Progress | None = None, partner: str | None = None) -> ApplyReport:
        return reconciling.reconcile(self, actor, progress, partner)

    def execute_changes(self, actor: Actor, changes: list[Change], observed: State, *,
                        progress: Progress | None = None, gateway: Gateway | None = None) -> ApplyReport:
        return reconciling.execute_changes(self, actor, changes, observed, progress=progress, gateway=gateway)

    def reconcile_request(self, key: str) -> ApplyReport | None:
        return reconciling.reconcile_request(self, key)

    def reconcile_state(self, key: str) -> dict[str, Any] | None:
        return reconciling.reconcile_state(self, key)

    # --- reads beside the commands ----------------------------------------------------------------------
    def account(self, actor: Actor, siret: str, identifiant: str) -> dict[str, Any]:
        return people.account(self, actor, siret, identifiant)

    def account_states(self, p: Partner, identifiants: list[str]) -> dict[str, tuple[AccountState, datetime | None]]:
        return people.account_states(self, p, identifiants)

    def bulletin_identifiants(self, actor: Actor, siret: str, number: str, service: Service) -> list[dict[str, Any]]:
        return partners.bulletin_identifiants(self, actor, siret, number, service)

    def equipments(self, actor: Actor, siret: str) -> tuple[Partner, dict[Profile, list[str]]]:
        return partners.equipments(self, actor, siret)

    def _change(self, actor: Actor, command: c.Command) -> MutationResult:
        r: MutationResult = self.handle(actor, command)
        return r
