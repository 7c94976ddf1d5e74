"""Handlers of partners, their conventions and services, equipments and AFAS associations (R3–R11)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from provisioning.desired_file import partner_to_dict
from provisioning.domain import catalogue, rules
from provisioning.domain.model import (
    Bulletin,
    Convention,
    ConventionStatus,
    Equipment,
    Partner,
    Profile,
    Registry,
    Service,
    StatusChange,
)
from provisioning.errors import Forbidden, NotFound, ValidationFailed, Violation
from provisioning.notify import messages
from provisioning.usecases.base import CAF_ADMIN, Actor, MutationResult, _unknown_or_forbidden
from provisioning.usecases.commands import (
    CreatePartner,
    DeclareEquipment,
    PrepareConvention,
    RemoveEquipment,
    SendBack,
    SetAssignments,
    SetContract,
    SetSites,
    SuspendService,
    TransitionConvention,
)
from provisioning.usecases.people import refuse_unmanaged

if TYPE_CHECKING:
    from provisioning.services import Provisioning as App
    from provisioning.store.uow import UnitOfWork

log = logging.getLogger(__name__)


def create_partner(app: App, actor: Actor, cmd: CreatePartner) -> Partner:
    """R11: a Caf administrator registers a partner of its own Caf (administrator user included)."""
    partner = cmd.partner
    if not actor.is_caf_admin_of(partner.caf):
        raise Forbidden("Un partenaire ne peut être créé que par un administrateur de sa Caf.")
    for u in partner.users:
        refuse_unmanaged(app, u.identifiant, u.email)
    with app.uow() as uow:
        register_partner(app, uow, actor, partner)
        uow.commit()
    if app.reconcile_mode == "inline":
        app.reconcile_request(partner.siret)
    return partner


def register_partner(app: App, uow: UnitOfWork, actor: Actor, partner: Partner) -> None:
    """The partner stored, journaled, reported to its Caf and asked of Keycloak, in the caller's transaction (an
    accepted access request is accepted in the same one: issue 31)."""
    if uow.registry.partner_with_version(partner.siret):
        raise ValidationFailed([Violation("PARTENAIRE_EXISTANT", f"Le SIRET {partner.siret} est déjà enregistré.",
                                          "siret")])
    caf = uow.registry.load_caf(partner.caf)
    reg = Registry([caf] if caf else [], [partner], uow.registry.settings())
    violations = rules.validate(reg, app.today())
    if violations:
        raise ValidationFailed(violations)
    uow.registry.save_partner(partner)
    uow.audit.record(actor.username, "create-partner", f"partner:{partner.siret}", None,
                     partner_to_dict(partner), partner=partner.siret, caf=partner.caf)
    app.report(uow, reg, partner.caf, actor, [f"{partner.name} : partenaire enregistré"])
    uow.reconcile.request(partner.siret)


def prepare_convention(app: App, actor: Actor, cmd: PrepareConvention) -> MutationResult:
    """R3–R5: after the partner's request the Caf prepares the convention, its contract and its bulletins."""
    number = cmd.number
    with app.changing(actor, cmd, "prepare-convention", f"convention {number} préparée") as ch:
        if ch.partner.convention(number):
            ch.fail(Violation("CONVENTION_EXISTANTE", f"La convention {number} existe déjà.", "number"))
        if not cmd.services:
            ch.fail(Violation("BULLETIN_MANQUANT", "Choisissez au moins un service (un bulletin d'adhésion par "
                              "service).", "services"))
        at = app.now()
        ch.partner.conventions.append(Convention(
            number, ConventionStatus.PREPARED,
            # who really acted: the Caf administrator records the partner's request
            [StatusChange(ConventionStatus.REQUESTED, at, actor.username),
             StatusChange(ConventionStatus.PREPARED, at, actor.username)],
            cmd.contract, [Bulletin(svc) for svc in dict.fromkeys(cmd.services)]))
    return ch.result


def set_contract(app: App, actor: Actor, cmd: SetContract) -> MutationResult:
    """R4: complete or update the contrat de service (contacts, incident procedure). A signed contract stays
    complete: once the partner has signed, no required field may be emptied."""
    number = cmd.number
    with app.changing(actor, cmd, "set-contract", f"contrat de service de la convention {number} mis à jour",
                      reconcile=False) as ch:
        conv = ch.partner.convention(number)
        if conv is None:
            ch.fail(Violation("CONVENTION_INCONNUE", f"La convention {number} n'existe pas pour {ch.partner.name}."))
        if conv.status is ConventionStatus.TERMINATED:
            ch.fail(Violation("CONVENTION_RESILIEE", f"La convention {number} est résiliée : son contrat n'est "
                              "plus modifiable."))
        signed = conv.status not in (ConventionStatus.REQUESTED, ConventionStatus.PREPARED)
        if signed and (missing := cmd.contract.missing()):
            ch.fail(Violation("CONTRAT_INCOMPLET", f"Le contrat de service de la convention {number} est signé : "
                              f"il doit rester complet (il manque "
                              f"{', '.join(rules.CONTRACT_FIELD_LABELS[m] for m in missing)}).", "contract"))
        conv.contract = cmd.contract
    return ch.result


def bulletin_identifiants(app: App, actor: Actor, siret: str, number: str, service: Service) -> list[dict[str, Any]]:
    """R13: the attachment of the bulletin sent to the Caf — who holds what on it."""
    p = app.partner(actor, siret)
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


def transition_convention(app: App, actor: Actor, cmd: TransitionConvention) -> MutationResult:
    """The lifecycle, dated with its actor; suspending or reactivating an active convention tells its users. The
    two signatures are never a button (issue 31): only the signed documents move a convention there."""
    number, to = cmd.number, cmd.to
    with app.changing(actor, cmd, "convention-transition", f"convention {number} → {to.value}") as ch:
        conv = ch.partner.convention(number)
        if conv is None:
            ch.fail(Violation("CONVENTION_INCONNUE", f"La convention {number} n'existe pas pour {ch.partner.name}."))
        if to in (ConventionStatus.SIGNED_BY_PARTNER, ConventionStatus.SIGNED_BY_CAF):
            ch.fail(Violation("SIGNATURE_ELECTRONIQUE_REQUISE", f"La convention {number} devient « {to.value} » par "
                              "la signature électronique de ses documents (le représentant du partenaire signe, la "
                              "Caf contresigne), jamais par un bouton.", "to"))
        before = conv.status
        ch.refuse(rules.transition(conv, to, actor.username, app.now()))
        if to is ConventionStatus.SUSPENDED or (to is ConventionStatus.ACTIVE and before is ConventionStatus.SUSPENDED):
            ch.inform([m.identifiant for b in conv.bulletins for m in b.members],
                      f"vos habilitations au titre de la convention {number}", to is ConventionStatus.SUSPENDED)
    return ch.result


def suspend_service(app: App, actor: Actor, cmd: SuspendService) -> MutationResult:
    """R18: suspend one service of a convention (every member loses it at once) or reactivate it."""
    number, service, suspended = cmd.number, cmd.service, cmd.suspended
    with app.changing(actor, cmd, "suspend-service" if suspended else "reactivate-service",
                      f"service {service.value} de la convention {number} "
                      f"{'suspendu' if suspended else 'rétabli'}") as ch:
        conv = ch.partner.convention(number)
        bulletin = conv.bulletin(service) if conv else None
        if conv is None or bulletin is None:
            ch.fail(Violation("BULLETIN_INCONNU", f"La convention {number} n'a pas de bulletin {service.value}."))
        conv.suspended_services = (conv.suspended_services | {service}) if suspended \
            else (conv.suspended_services - {service})
        ch.inform([m.identifiant for m in bulletin.members], f"votre accès au service {service.value}", suspended)
    return ch.result


def declare_equipment(app: App, actor: Actor, cmd: DeclareEquipment) -> MutationResult:
    """R7: the Caf declares an equipment of the partner (or corrects its name, type, sites); the AFAS
    associations made by AFAS Habiliter are kept."""
    with app.changing(actor, cmd, "declare-equipment",
                      f"équipement {cmd.code} ({cmd.type.value}) déclaré : {cmd.name}") as ch:
        e = next((x for x in ch.partner.equipments if x.code == cmd.code), None)
        if e is None:
            ch.partner.equipments.append(Equipment(cmd.code, cmd.name, cmd.type, list(cmd.sites)))
        else:
            e.name, e.type, e.sites = cmd.name, cmd.type, list(cmd.sites)
    return ch.result


def remove_equipment(app: App, actor: Actor, cmd: RemoveEquipment) -> MutationResult:
    """The equipment closes: it and its AFAS associations go (the declarations already made stay in AFAS)."""
    code = cmd.code
    with app.changing(actor, cmd, "remove-equipment", f"équipement {code} retiré") as ch:
        p = ch.partner
        if not any(x.code == code for x in p.equipments):
            ch.fail(Violation("EQUIPEMENT_INCONNU", f"L'équipement {code} n'existe pas pour {p.name}.", "code"))
        p.equipments = [x for x in p.equipments if x.code != code]
    return ch.result


def equipments(app: App, actor: Actor, siret: str) -> tuple[Partner, dict[Profile, list[str]]]:
    """The partner's equipments for its own staff (AFAS), with who may be associated to each profile."""
    p = app._load_partner(siret)
    if p is None or not (actor.is_member_of(p) or actor.can_manage_partner(p)):
        raise _unknown_or_forbidden(actor, siret, p is None)
    candidates: dict[Profile, list[str]] = {Profile(prof.code): [] for s in catalogue.current().services
                                            if s.assigns_equipments for prof in s.profiles}
    for u in p.users:
        for prof in p.granted_profiles(u.identifiant):
            if prof in candidates:
                candidates[prof].append(u.identifiant)
    return p, candidates


def set_assignments(app: App, actor: Actor, cmd: SetAssignments) -> MutationResult:
    """AFAS Habiliter (R10): associate providers and the approver to an equipment, within the caps (R8)."""
    siret, code, assignments = cmd.siret, cmd.code, cmd.assignments
    if not (actor.system or actor.partner == siret or CAF_ADMIN in actor.roles):
        raise _unknown_or_forbidden(actor, siret, False)
    what = f"équipement {code} : " + "; ".join(f"{k.value} = {', '.join(v) or '—'}" for k, v in assignments.items())
    with app.changing(actor, cmd, "set-assignments", what) as ch:
        e = next((x for x in ch.partner.equipments if x.code == code), None)
        if e is None:
            ch.fail(Violation("EQUIPEMENT_INCONNU", f"L'équipement {code} n'existe pas pour {ch.partner.name}.",
                              "code"))
        e.assignments = {prof: list(dict.fromkeys(ids)) for prof, ids in assignments.items() if ids}
        e.forget_sites_of_the_unassociated()
    return ch.result


def set_sites(app: App, actor: Actor, cmd: SetSites) -> MutationResult:
    """AFAS Habiliter per site (issue 29 §3; the seed: « aux équipements, services et/ou lieux d'implantation »):
    for each person associated to the equipment, the sites she works for. Someone absent, or given every site
    of the equipment, works for all of them (as before sites could be chosen); the rules refuse a site the
    equipment does not have and a person who is not associated to it."""
    siret, code = cmd.siret, cmd.code
    if not (actor.system or actor.partner == siret or CAF_ADMIN in actor.roles):
        raise _unknown_or_forbidden(actor, siret, False)
    what = f"équipement {code}, lieux : " + ("; ".join(f"{i} = {', '.join(s)}" for i, s in sorted(cmd.sites_of.items()))
                                            or "tous pour chacun")
    with app.changing(actor, cmd, "set-sites", what) as ch:
        e = next((x for x in ch.partner.equipments if x.code == code), None)
        if e is None:
            ch.fail(Violation("EQUIPEMENT_INCONNU", f"L'équipement {code} n'existe pas pour {ch.partner.name}.",
                              "code"))
        chosen = {i: list(dict.fromkeys(s.strip() for s in sites if s.strip())) for i, sites in cmd.sites_of.items()}
        e.sites_of = {i: s for i, s in chosen.items() if s and set(s) != set(e.sites)}
    return ch.result


REASON_MIN, REASON_MAX = 10, 1000


def send_back(app: App, actor: Actor, cmd: SendBack) -> MutationResult:
    """Issue 29 §3: the holder of an approving profile of the service (catalogue: `approves`), associated to
    the equipment if anyone is, sends the providers' declaration back to them with a reason: each provider of
    the equipment (those associated to it, or every holder of a providing profile when nobody is) is mailed
    with the change; the journal keeps it. Nothing of the registry changes."""
    service = catalogue.current().service(cmd.service.value)
    reason = " ".join(cmd.reason.split())
    with app.changing(actor, cmd, "send-back", f"{cmd.service.value} {cmd.period}, équipement {cmd.code} : renvoi "
                      f"pour correction (« {reason[:200]} »)", acts_outside=True, reconcile=False,
                      report=False) as ch:
        p = ch.partner
        e = next((x for x in p.equipments if x.code == cmd.code), None)
        if e is None:
            ch.fail(Violation("EQUIPEMENT_INCONNU", f"L'équipement {cmd.code} n'existe pas pour {p.name}.", "code"))
        holders = _holders(p, cmd.service)
        approving = [x for x in service.profiles if x.approves] if service else []
        if not actor.system and not any(
                actor.username in (e.assignments.get(Profile(x.code)) or holders.get(x.code, [])) for x in approving):
            raise Forbidden(f"Seul l'approbateur de l'équipement {e.name} renvoie sa déclaration pour correction.",
                            code="APPROBATEUR_SEULEMENT")
        ch.refuse(rules.text_faults(reason, "motif", "reason", REASON_MAX) or (
            [Violation("MOTIF_TROP_COURT", f"Le motif compte au moins {REASON_MIN} caractères : dites aux "
                       "fournisseurs ce qu'il faut corriger.", "reason")] if len(reason) < REASON_MIN else []))
        providers = [x for x in service.profiles if not x.approves] if service else []
        to = list(dict.fromkeys(i for x in providers for i in (e.assignments.get(Profile(x.code)) or holders.get(x.code, []))))
        if not to:
            ch.fail(Violation("AUCUN_FOURNISSEUR", f"Personne ne fournit les données de l'équipement {e.name} : "
                              "rien à renvoyer.", "code"))
        me = p.user(actor.username)
        by = f"{me.first_name} {me.last_name}" if me else "La Caf"
        url = f"{service.url if service else ''}/equipements/{cmd.code}/{cmd.period}"
        for ident in to:
            u = p.user(ident)
            if u is not None and not u.suspended:  # a suspended person has no access to correct anything
                ch.mail(u.email, *messages.send_back_mail(u.first_name, u.last_name, cmd.service.value, e.name,
                                                          cmd.period, by, reason, url))
        ch.about(to)
    return ch.result


def _holders(p: Partner, service: Service) -> dict[str, list[str]]:
    """Who holds each profile of the service on the partner's active conventions (suspended grants aside)."""
    out: dict[str, list[str]] = {}
    for c in p.conventions:
        for b in c.bulletins:
            if b.service == service and c.grants(service):
                for prof, ids in rules.profile_holders(b).items():
                    out.setdefault(prof.value, []).extend(ids)
    return out
