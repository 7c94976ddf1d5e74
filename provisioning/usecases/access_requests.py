"""Handlers of the organisations' access requests (issue 31 §1): submitted by anyone (nothing stored when a rule
fails), confirmed address by address through a link, then accepted by the Caf (the partner is registered with its
future administrator, who has no account until a convention awaits her signature) or refused with a reason, both
mailed. Every step is journaled."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from provisioning.domain import rules
from provisioning.domain.access_requests import (
    CONFIRMATION_HOURS,
    AccessRequest,
    Contact,
    RequestState,
    faults,
    identifiant_for,
)
from provisioning.domain.model import Partner, User
from provisioning.errors import Forbidden, NotFound, ProvisioningError, ValidationFailed, Violation
from provisioning.notify import messages
from provisioning.usecases.base import Actor

if TYPE_CHECKING:
    from provisioning.directory import Directory
    from provisioning.services import Provisioning as App
    from provisioning.store.uow import UnitOfWork

REQUESTER = "demandeur"  # the journal's actor of what an unauthenticated requester does


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def submit(app: App, directory: Directory, siret: str, caf: str, services: list[str], representative: Contact,
           administrator: Contact) -> AccessRequest:
    """Every rule checked first; then the request is stored « à confirmer » and each address gets its link."""
    siret = siret.replace(" ", "").strip()
    found = directory.lookup(siret) if rules.siret_is_valid(siret) else None
    with app.uow() as uow:
        known = {c.code for c in uow.registry.cafs()}
        violations = faults(siret, found, caf, known, services, representative, administrator)
        if not violations and uow.registry.partner_summary(siret):
            violations.append(Violation("PARTENAIRE_EXISTANT", "Cet établissement est déjà partenaire de sa Caf : "
                                        "son administrateur gère ses accès depuis la console.", "siret"))
        elif not violations and uow.requests.open_for(siret):
            violations.append(Violation("DEMANDE_EN_COURS", "Une demande d'accès de cet établissement attend déjà "
                                        "une confirmation ou la décision de la Caf.", "siret"))
        if violations:
            raise ValidationFailed(violations, "La demande n'est pas recevable ; rien n'a été enregistré.")
        assert found is not None
        r = AccessRequest(str(uuid.uuid4()), app.now(), found, caf, list(dict.fromkeys(services)), representative,
                          administrator)
        links: dict[str, str] = {}
        for address in r.addresses():
            token = secrets.token_urlsafe(32)
            r.tokens[address], links[address] = _sha(token), f"{app.portal_url}/demande-d-acces/{r.id}/{token}"
            r.confirmed[address] = None
        uow.requests.add(r)
        for c, role in ((representative, "représentant légal"), (administrator, "futur administrateur")):
            if (address := c.email.lower()) in links:
                uow.outbox.put(c.email, *messages.access_request_confirmation(c.first_name, c.last_name, found.name,
                                                                               role, links.pop(address)), caf=caf)
        uow.audit.record(REQUESTER, "access-request", f"request:{r.id}", caf=caf,
                         summary=f"demande d'accès de {found.name} ({siret}) aux services {', '.join(r.services)}, "
                                 f"adresses à confirmer")
        uow.commit()
    return r


def confirm(app: App, rid: str, token: str) -> AccessRequest:
    """One address confirmed; once every one is, the request reaches the Caf (its mailbox is told)."""
    with app.uow() as uow:
        r = uow.requests.get(rid)
        address = next((a for a, sha in (r.tokens.items() if r else []) if hmac.compare_digest(sha, _sha(token))),
                       None)
        if r is None or address is None:
            raise ProvisioningError("LIEN_INVALIDE", "Ce lien de confirmation n'est pas valide.", 404)
        if r.state is not RequestState.UNCONFIRMED or r.confirmed.get(address):
            return r  # a second click: already done
        if app.now() - r.created_at.replace(tzinfo=r.created_at.tzinfo or app.now().tzinfo) > \
                timedelta(hours=CONFIRMATION_HOURS):
            raise ProvisioningError("LIEN_EXPIRE", f"Ce lien a expiré ({CONFIRMATION_HOURS} heures) : déposez une "
                                    "nouvelle demande.", 410)
        r.confirmed[address] = app.now()
        if all(r.confirmed.values()):
            r.state = RequestState.REQUESTED
            caf = uow.registry.load_caf(r.caf)
            if caf:
                uow.outbox.put(caf.habilitation_mailbox, *messages.access_request_to_caf(
                    r.establishment.name, r.siret, r.services, f"{app.portal_url}/caf/demandes"), caf=caf.code)
        uow.requests.save(r, RequestState.UNCONFIRMED)
        uow.audit.record(REQUESTER, "access-request-confirmation", f"request:{r.id}", caf=r.caf,
                         summary=f"adresse {address} confirmée" + (" ; demande transmise à la Caf"
                                                                  if r.state is RequestState.REQUESTED else ""))
        uow.commit()
    return r


def requests_of(app: App, actor: Actor) -> list[AccessRequest]:
    """A Caf administrator's requests: those waiting for her decision first, then the last decided ones."""
    if actor.system or not actor.caf or not actor.is_caf_admin_of(actor.caf):
        raise Forbidden("Les demandes d'accès sont celles d'une Caf : réservé à ses administrateurs.")
    with app.uow() as uow:
        return uow.requests.of_caf(actor.caf, (RequestState.REQUESTED, RequestState.ACCEPTED, RequestState.REFUSED))


def _waiting(uow: UnitOfWork, actor: Actor, rid: str) -> AccessRequest:
    r: AccessRequest | None = uow.requests.get(rid)
    if r is None or r.state is RequestState.UNCONFIRMED or not actor.is_caf_admin_of(r.caf) or actor.system:
        raise NotFound(f"Demande {rid} inconnue.")  # another Caf's request is as unknown as none
    if r.state is not RequestState.REQUESTED:
        raise ProvisioningError("DEMANDE_TRAITEE", f"Cette demande est déjà {r.state.label}.", 409)
    return r


def _identifiants(uow: UnitOfWork, people: list[Contact]) -> list[str]:
    """prénom.nom for each, numbered when someone (or the other one) holds it already."""
    out: list[str] = []
    for c in people:
        ident, n = identifiant_for(c), 1
        while ident in out or uow.registry.people_taken([ident], [], besides=[], caf_administrators=True)[0]:
            n += 1
            ident = f"{identifiant_for(c)[:60]}{n}"
        out.append(ident)
    return out


def accept(app: App, actor: Actor, rid: str) -> Partner:
    """The partner is registered with its legal representative (who signs) and its future administrator — one
    person when the request named one address for both; her account comes with the convention to sign, the
    others' once it is signed by both parties. The request is accepted in the same transaction, or nothing is."""
    from provisioning.usecases.partners import register_partner
    from provisioning.usecases.people import refuse_unmanaged
    with app.uow() as uow:
        r = _waiting(uow, actor, rid)
        people = list({c.email.lower(): c for c in (r.administrator, r.representative)}.values())
        idents = _identifiants(uow, people)
    for ident, c in zip(idents, people, strict=True):
        refuse_unmanaged(app, ident, c.email)  # an account of Keycloak we do not manage is never taken over
    admin, representative = idents[0], idents[-1]
    partner = Partner(r.siret, r.establishment.name, r.caf, admin, [],
                      [User(i, c.first_name, c.last_name, c.email) for i, c in zip(idents, people, strict=True)],
                      representative=representative if representative != admin else None)
    ident = admin
    with app.uow() as uow:
        r = _waiting(uow, actor, rid)
        register_partner(app, uow, actor, partner)
        r.state, r.decided_at, r.decided_by = RequestState.ACCEPTED, app.now(), actor.username
        uow.requests.save(r, RequestState.REQUESTED)
        _tell(uow, r, True)
        uow.audit.record(actor.username, "access-request-accepted", f"request:{r.id}", partner=r.siret, caf=r.caf,
                         summary=f"demande d'accès de {r.establishment.name} acceptée : partenaire enregistré, "
                                 f"administrateur {ident}, représentant légal {representative}")
        uow.commit()
    if app.reconcile_mode == "inline":
        app.reconcile_request(partner.siret)
    return partner


def refuse(app: App, actor: Actor, rid: str, reason: str) -> AccessRequest:
    if faults_ := rules.text_faults(reason.strip(), "motif du refus", "reason", limit=1000):
        raise ValidationFailed(faults_)
    with app.uow() as uow:
        r = _waiting(uow, actor, rid)
        r.state, r.decided_at, r.decided_by, r.reason = RequestState.REFUSED, app.now(), actor.username, reason.strip()
        uow.requests.save(r, RequestState.REQUESTED)
        _tell(uow, r, False)
        uow.audit.record(actor.username, "access-request-refused", f"request:{r.id}", caf=r.caf,
                         summary=f"demande d'accès de {r.establishment.name} refusée : {r.reason}")
        uow.commit()
    return r


def _tell(uow: UnitOfWork, r: AccessRequest, accepted: bool) -> None:
    for c in {c.email.lower(): c for c in (r.representative, r.administrator)}.values():
        uow.outbox.put(c.email, *messages.access_request_decided(c.first_name, c.last_name, r.establishment.name,
                                                                 accepted, r.reason), caf=r.caf)
