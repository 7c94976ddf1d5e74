"""Partners, their conventions and services, equipments and AFAS associations (R3–R11)."""

from __future__ import annotations

import logging
from typing import Any

from provisioning.desired_file import partner_to_dict
from provisioning.domain import rules
from provisioning.domain.model import (
    Bulletin,
    Convention,
    ConventionStatus,
    Equipment,
    EquipmentType,
    Partner,
    Profile,
    Registry,
    Service,
    ServiceContract,
    StatusChange,
)
from provisioning.errors import Forbidden, NotFound, ValidationFailed, Violation
from provisioning.store.uow import UnitOfWork
from provisioning.usecases.base import CAF_ADMIN, Actor, MutationResult, _unknown_or_forbidden
from provisioning.usecases.people import People

log = logging.getLogger(__name__)


class Partners(People):
    def create_partner(self, actor: Actor, partner: Partner) -> Partner:
        """R11: a Caf administrator registers a partner of its own Caf (administrator user included)."""
        if not actor.is_caf_admin_of(partner.caf):
            raise Forbidden("Un partenaire ne peut être créé que par un administrateur de sa Caf.")
        for u in partner.users:
            self._refuse_unmanaged(u.identifiant, u.email)
        with UnitOfWork(self.engine) as uow:
            if uow.registry.partner_with_version(partner.siret):
                raise ValidationFailed([Violation("PARTENAIRE_EXISTANT", f"Le SIRET {partner.siret} est déjà enregistré.",
                                                  "siret")])
            caf = uow.registry.load_caf(partner.caf)
            reg = Registry([caf] if caf else [], [partner], uow.registry.settings())
            violations = rules.validate(reg, self.today())
            if violations:
                raise ValidationFailed(violations)
            uow.registry.save_partner(partner)
            uow.audit.record(actor.username, "create-partner", f"partner:{partner.siret}", None,
                             partner_to_dict(partner), partner=partner.siret, caf=partner.caf)
            self.report(uow, reg, partner.caf, actor, [f"{partner.name} : partenaire enregistré"])
            uow.reconcile.request(partner.siret)
            uow.commit()
        if self.reconcile_mode == "inline":
            self.reconcile_request(partner.siret)
        return partner

    def prepare_convention(self, actor: Actor, siret: str, number: str, contract: ServiceContract,
                           services: list[Service], expected_version: int | None = None) -> MutationResult:
        """R3–R5: after the partner's request the Caf prepares the convention, its contract and its bulletins."""

        def change(reg: Registry, p: Partner) -> list[Violation]:
            if p.convention(number):
                return [Violation("CONVENTION_EXISTANTE", f"La convention {number} existe déjà.", "number")]
            if not services:
                return [Violation("BULLETIN_MANQUANT", "Choisissez au moins un service (un bulletin d'adhésion par "
                                  "service).", "services")]
            at = self.now()
            conv = Convention(number, ConventionStatus.PREPARED,
                              # who really acted: the Caf administrator records the partner's request
                              [StatusChange(ConventionStatus.REQUESTED, at, actor.username),
                               StatusChange(ConventionStatus.PREPARED, at, actor.username)],
                              contract, [Bulletin(svc) for svc in dict.fromkeys(services)])
            p.conventions.append(conv)
            return []
        return self._mutate(actor, siret, "prepare-convention", f"convention {number} préparée", change,
                            expected_version=expected_version)

    def set_contract(self, actor: Actor, siret: str, number: str, contract: ServiceContract,
                     expected_version: int | None = None) -> MutationResult:
        """R4: complete or update the contrat de service (contacts, incident procedure). A signed contract
        stays complete: once the partner has signed, no required field may be emptied."""

        def change(reg: Registry, p: Partner) -> list[Violation]:
            conv = p.convention(number)
            if conv is None:
                return [Violation("CONVENTION_INCONNUE", f"La convention {number} n'existe pas pour {p.name}.")]
            if conv.status is ConventionStatus.TERMINATED:
                return [Violation("CONVENTION_RESILIEE", f"La convention {number} est résiliée : son contrat n'est "
                                  "plus modifiable.")]
            signed = conv.status not in (ConventionStatus.REQUESTED, ConventionStatus.PREPARED)
            if signed and (missing := contract.missing()):
                return [Violation("CONTRAT_INCOMPLET", f"Le contrat de service de la convention {number} est signé : "
                                  f"il doit rester complet (il manque {', '.join(rules.CONTRACT_FIELD_LABELS[m] for m in missing)}).",
                                  "contract")]
            conv.contract = contract
            return []
        return self._mutate(actor, siret, "set-contract", f"contrat de service de la convention {number} mis à jour",
                            change, reconcile=False, expected_version=expected_version)

    def bulletin_identifiants(self, actor: Actor, siret: str, number: str, service: Service) -> list[dict[str, Any]]:
        """R13: the attachment of the bulletin sent to the Caf — who holds what on it."""
        p = self.partner(actor, siret)
        conv = p.convention(number)
        b = conv.bulletin(service) if conv else None
        if b is None:
            raise NotFound(f"Pas de bulletin {service.value} pour la convention {number}.")
        rows = []
        for m in b.members:
            u = p.user(m.identifiant)
            rows.append({"identifiant": m.identifiant, "nom": u.last_name if u else "", "prenom": u.first_name if u else "",
                         "courriel": u.email if u else "", "groupes": " + ".join(sorted(g.value for g in m.groups)),
                         "profils": " + ".join(sorted(x.value for x in m.profiles))})
        return rows

    def transition_convention(self, actor: Actor, siret: str, number: str, to: ConventionStatus, expected_version: int | None = None) -> MutationResult:
        """The lifecycle, dated with its actor; suspending or reactivating an active convention tells its users."""
        members: list[str] = []
        before: list[ConventionStatus] = []

        def change(reg: Registry, p: Partner) -> list[Violation]:
            conv = p.convention(number)
            if conv is None:
                return [Violation("CONVENTION_INCONNUE", f"La convention {number} n'existe pas pour {p.name}.")]
            before.append(conv.status)
            members.extend(m.identifiant for b in conv.bulletins for m in b.members)
            return rules.transition(conv, to, actor.username, self.now())
        def inform() -> tuple[list[str], str, bool] | None:  # evaluated once the change is made
            if to is ConventionStatus.SUSPENDED or (to is ConventionStatus.ACTIVE and before == [ConventionStatus.SUSPENDED]):
                return members, f"vos habilitations au titre de la convention {number}", to is ConventionStatus.SUSPENDED
            return None
        return self._mutate(actor, siret, "convention-transition", f"convention {number} → {to.value}", change,
                            inform=inform,
                            expected_version=expected_version)

    def suspend_service(self, actor: Actor, siret: str, number: str, service: Service,
                        suspended: bool, expected_version: int | None = None) -> MutationResult:
        """R18: suspend one service of a convention (every member loses it at once) or reactivate it."""
        members: list[str] = []

        def change(reg: Registry, p: Partner) -> list[Violation]:
            conv = p.convention(number)
            bulletin = conv.bulletin(service) if conv else None
            if conv is None or bulletin is None:
                return [Violation("BULLETIN_INCONNU", f"La convention {number} n'a pas de bulletin {service.value}.")]
            members.extend(m.identifiant for m in bulletin.members)
            conv.suspended_services = (conv.suspended_services | {service}) if suspended \
                else (conv.suspended_services - {service})
            return []
        return self._mutate(actor, siret, "suspend-service" if suspended else "reactivate-service",
                            f"service {service.value} de la convention {number} "
                            f"{'suspendu' if suspended else 'rétabli'}", change,
                            inform=(members, f"votre accès au service {service.value}", suspended),
                            expected_version=expected_version)

    def declare_equipment(self, actor: Actor, siret: str, code: str, name: str, etype: EquipmentType,
                          sites: list[str], expected_version: int | None = None) -> MutationResult:
        """R7: the Caf declares an equipment of the partner (or corrects its name, type, sites); the AFAS
        associations made by AFAS Habiliter are kept."""

        def change(reg: Registry, p: Partner) -> list[Violation]:
            e = next((x for x in p.equipments if x.code == code), None)
            if e is None:
                p.equipments.append(Equipment(code, name, etype, list(sites)))
            else:
                e.name, e.type, e.sites = name, etype, list(sites)
            return []
        return self._mutate(actor, siret, "declare-equipment", f"équipement {code} ({etype.value}) déclaré : {name}",
                            change, expected_version=expected_version)

    def remove_equipment(self, actor: Actor, siret: str, code: str,
                         expected_version: int | None = None) -> MutationResult:
        """The equipment closes: it and its AFAS associations go (the declarations already made stay in AFAS)."""

        def change(reg: Registry, p: Partner) -> list[Violation]:
            if not any(x.code == code for x in p.equipments):
                return [Violation("EQUIPEMENT_INCONNU", f"L'équipement {code} n'existe pas pour {p.name}.", "code")]
            p.equipments = [x for x in p.equipments if x.code != code]
            return []
        return self._mutate(actor, siret, "remove-equipment", f"équipement {code} retiré", change,
                            expected_version=expected_version)

    def equipments(self, actor: Actor, siret: str) -> tuple[Partner, dict[Profile, list[str]]]:
        """The partner's equipments for its own staff (AFAS), with who may be associated to each profile."""
        p = self._load_partner(siret)
        if p is None or not (actor.is_member_of(p) or actor.can_manage_partner(p)):
            raise _unknown_or_forbidden(actor, siret, p is None)
        candidates: dict[Profile, list[str]] = {prof: [] for prof in Profile}
        for u in p.users:
            for prof in p.granted_profiles(u.identifiant):
                candidates[prof].append(u.identifiant)
        return p, candidates

    def set_assignments(self, actor: Actor, siret: str, code: str, assignments: dict[Profile, list[str]], expected_version: int | None = None) -> MutationResult:
        """AFAS Habiliter (R10): associate providers and the approver to an equipment, within the caps (R8)."""
        if not (actor.system or actor.partner == siret or CAF_ADMIN in actor.roles):
            raise _unknown_or_forbidden(actor, siret, False)

        def change(reg: Registry, p: Partner) -> list[Violation]:
            e = next((x for x in p.equipments if x.code == code), None)
            if e is None:
                return [Violation("EQUIPEMENT_INCONNU", f"L'équipement {code} n'existe pas pour {p.name}.", "code")]
            e.assignments = {prof: list(dict.fromkeys(ids)) for prof, ids in assignments.items() if ids}
            return []
        what = f"équipement {code} : " + "; ".join(f"{k.value} = {', '.join(v) or '—'}" for k, v in assignments.items())
        return self._mutate(actor, siret, "set-assignments", what, change,
                            expected_version=expected_version)
