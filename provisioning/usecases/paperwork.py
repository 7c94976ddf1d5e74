"""Handlers of the convention's documents (issue 31 §2–4): list them with what is due, issue new versions (the
Caf), sign them (the partner's representative, then the Caf, each after a level-2 login), download them, check a
PDF. The decisions are domain/paperwork.py's; rendering and signing are adapters (provisioning/paperwork/).

A signature is decided from the file: after signing, each current document's PDF is verified (intact, trusted,
timestamped) and only what the files prove moves the convention to « signée par le partenaire » or « signée par
la Caf »."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from provisioning.domain import paperwork as pw
from provisioning.domain import policy, rules
from provisioning.domain.model import Convention, ConventionStatus, Partner, Registry
from provisioning.errors import Forbidden, NotFound, ProvisioningError, Violation
from provisioning.notify import messages
from provisioning.usecases.base import Actor, MutationResult, _unknown_or_forbidden
from provisioning.usecases.commands import IssueDocuments, SignDocuments

if TYPE_CHECKING:
    from provisioning.paperwork.pades import Verification
    from provisioning.services import Provisioning as App

LEVEL_2 = "niveau-2"
_LEVELS = {"niveau-1": 1, LEVEL_2: 2}


@dataclass(frozen=True)
class Documents:
    """A convention's documents as its consoles show them: every version, and the kinds due a new one."""
    partner: Partner
    convention: Convention
    versions: list[pw.Document]
    due: list[str]

    @property
    def current(self) -> list[pw.Document]:
        return [d for d in self.versions if d.current]


def altered(d: pw.Document) -> ProvisioningError:
    return ProvisioningError("DOCUMENT_ALTERE", f"Le fichier de « {d.title} » (version {d.version}) ne correspond "
                             "plus à son empreinte enregistrée : il a été modifié hors de Mon Compte Partenaire et "
                             "n'est ni servi ni signé. Prévenez l'équipe d'exploitation.", 409)


def _convention(p: Partner, number: str) -> Convention:
    conv = p.convention(number)
    if conv is None:
        raise NotFound(f"La convention {number} n'existe pas pour {p.name}.")
    return conv


def _readable(app: App, actor: Actor, siret: str) -> Partner:
    """The partner, for its Caf, its managers and the person who signs for it."""
    with app.uow() as uow:
        p = uow.registry.partner(siret)
    if p is None or not (actor.can_manage_partner(p) or (actor.partner == siret
                                                         and actor.username == pw.signer_of(p))):
        raise _unknown_or_forbidden(actor, siret, p is None)
    return p


def documents(app: App, actor: Actor, siret: str, number: str) -> Documents:
    """Its Caf, the partner's managers and its signer read them."""
    p = _readable(app, actor, siret)
    return _documents(app, p, _convention(p, number))


def every_convention(app: App, actor: Actor, siret: str) -> list[Documents]:
    """The documents of each convention that has or may have some (prepared, not terminated)."""
    p = _readable(app, actor, siret)
    return [_documents(app, p, c) for c in p.conventions
            if c.status not in (ConventionStatus.REQUESTED, ConventionStatus.TERMINATED)]


def _documents(app: App, p: Partner, conv: Convention) -> Documents:
    with app.uow() as uow:
        versions = uow.documents.versions(p.siret, conv.number)
        caf = uow.registry.load_caf(p.caf)
    assert caf is not None
    hashes = {k: pw.content_hash(pw.facts(k, caf, p, conv)) for k in pw.kinds(conv)}
    return Documents(p, conv, versions, pw.due(conv, {d.kind: d for d in versions if d.current}, hashes))


def issue_documents(app: App, actor: Actor, cmd: IssueDocuments) -> list[pw.Document]:
    """The Caf issues the documents whose next version is due (none yet, or the registry says something else:
    a bulletin's people changed); the partner's representative is mailed. Between the two signatures nothing is
    issued: the Caf countersigns what the partner signed first."""
    render = app.renderer()
    number, issued = cmd.number, []
    with app.changing(actor, cmd, "issue-documents", f"documents de la convention {number} émis", reconcile=False,
                      acts_outside=True, report=False) as ch:
        p = ch.partner
        conv = p.convention(number)
        if conv is None:
            ch.fail(Violation("CONVENTION_INCONNUE", f"La convention {number} n'existe pas pour {p.name}."))
        if conv.status not in pw.ISSUABLE:
            ch.fail(Violation("EMISSION_IMPOSSIBLE", f"La convention {number} est « {conv.status.value} » : ses "
                              "documents s'émettent une fois préparée, et pas entre les deux signatures (la Caf "
                              "contresigne d'abord ce que le partenaire a signé)."))
        if missing := conv.contract.missing():
            ch.fail(Violation("CONTRAT_INCOMPLET", f"Le contrat de service de la convention {number} est incomplet "
                              f"(il manque {', '.join(rules.CONTRACT_FIELD_LABELS[m] for m in missing)}) : complétez-le "
                              "avant d'émettre les documents.", "contract"))
        caf = ch.registry.caf(p.caf)
        assert caf is not None
        versions = ch.uow.documents.versions(p.siret, number)
        current = {d.kind: d for d in versions if d.current}
        hashes = {k: pw.content_hash(pw.facts(k, caf, p, conv)) for k in pw.kinds(conv)}
        kinds = pw.due(conv, current, hashes)
        if not kinds:
            ch.fail(Violation("DOCUMENTS_A_JOUR", f"Les documents de la convention {number} sont à jour : aucune "
                              "nouvelle version n'est due."))
        at, today = app.now(), app.today()
        for kind in kinds:
            version = max((d.version for d in versions if d.kind == kind), default=0) + 1
            doc = render(kind, caf, p, conv, version, today)
            issued.append(ch.uow.documents.issue(p.siret, number, kind, doc.title, doc.content_sha256, doc.pdf, at,
                                                 actor.username))
        ch.describe = f"documents de la convention {number} émis : " + " ; ".join(
            f"{d.title} version {d.version} (empreinte SHA-256 {d.sha256})" for d in issued)
        rep = p.user(signer) if (signer := pw.signer_of(p)) else None
        if rep:
            ch.mail(rep.email, *messages.documents_to_sign_mail(rep.first_name, rep.last_name, p.name, number,
                                                                [f"{d.title} (version {d.version})" for d in issued],
                                                                f"{app.portal_url}/console/{p.siret}/conventions"))
    return issued


def signs_for(app: App, actor: Actor) -> bool:
    """Whether the actor signs her partner's documents (her security page leads her to them)."""
    if actor.system or not actor.partner:
        return False
    with app.uow() as uow:
        p = uow.registry.partner(actor.partner)
    return p is not None and pw.signer_of(p) == actor.username


def side_of(actor: Actor, p: Partner) -> str:
    """Which side the actor signs for (domain/policy.py's SIGNATORIES decided that she may)."""
    return pw.CAF_SIDE if policy.its_caf(actor, p) else pw.PARTNER_SIDE


def _verified(app: App, d: pw.Document, pdf: bytes | None) -> Verification:
    if pdf is None or hashlib.sha256(pdf).hexdigest() != d.sha256:
        raise altered(d)
    return app.signatory().verify(pdf)


def sign_documents(app: App, actor: Actor, cmd: SignDocuments) -> MutationResult:
    """Sign every current document that awaits the actor's side, after a level-2 login; then the files decide the
    convention's status. What the partner signs is what the Caf countersigns: a document altered since, or whose
    earlier signature no longer verifies, is refused."""
    number = cmd.number
    with app.changing(actor, cmd, "sign-documents", f"documents de la convention {number} signés",
                      acts_outside=True, report=False) as ch:  # who may sign: the policy, before anything else
        if _LEVELS.get(actor.acr or "", 0) < 2:
            raise Forbidden("Signer demande une connexion renforcée : reconnectez-vous avec votre second facteur "
                            "(niveau 2), puis signez.", code="NIVEAU_2_REQUIS")
        p = ch.partner
        side = side_of(actor, p)
        conv = p.convention(number)
        if conv is None:
            ch.fail(Violation("CONVENTION_INCONNUE", f"La convention {number} n'existe pas pour {p.name}."))
        current = ch.uow.documents.current(p.siret, number)
        todo = [d for d in current if d.awaits == side]
        if not todo:
            waiting = "aucun document n'est émis" if not current else "aucun document n'attend votre signature"
            ch.fail(Violation("RIEN_A_SIGNER", f"Convention {number} : {waiting}."))
        name, organisation = _signer(ch.registry, p, actor, side)
        at, done, valid = app.now(), [], {}
        signatory = app.signatory()
        for d in current:
            check = _verified(app, d, ch.uow.documents.pdf(d.id))
            valid[d.id] = check.fields()
            if d not in todo:
                continue
            if side == pw.CAF_SIDE and not (check.ok and pw.PARTNER_SIDE in check.fields()):
                raise altered(d)  # the partner's signature no longer verifies: nothing is countersigned
            signed = signatory.sign(ch.uow.documents.pdf(d.id) or b"", side, name, organisation,
                                    "Signature du partenaire" if side == pw.PARTNER_SIDE else "Contreseing de la Caf")
            after = signatory.verify(signed)
            if not (after.ok and side in after.fields()):
                raise ProvisioningError("SIGNATURE_INVALIDE", f"La signature de « {d.title} » ne se vérifie pas : "
                                        "rien n'a été signé.", 500)
            done.append(ch.uow.documents.sign(d, side, signed, at, actor.username))
            valid[d.id] = after.fields()
        to = pw.status_after(conv, [*{d.id: d for d in [*current, *done]}.values()], valid)
        for step in _path(conv.status, to):
            ch.refuse(rules.transition(conv, step, actor.username, at))
        ch.describe = (f"documents de la convention {number} {'signés' if side == pw.PARTNER_SIDE else 'contresignés'} "
                       f"par {name} : " + " ; ".join(f"{d.title} version {d.version} (empreinte SHA-256 {d.sha256})"
                                                   for d in done)
                       + (f" ; convention « {to.value} »" if to else ""))
        titles = [f"{d.title} (version {d.version})" for d in done]
        caf = ch.registry.caf(p.caf)
        if side == pw.PARTNER_SIDE and caf:
            ch.mail(caf.habilitation_mailbox, *messages.documents_signed_report(p.name, number, side, titles, name))
        admin = p.user(p.administrator) if p.administrator else None
        if side == pw.CAF_SIDE and admin:
            ch.mail(admin.email, *messages.documents_signed_report(p.name, number, side, titles, name))
    return ch.result


def _path(now: ConventionStatus, to: ConventionStatus | None) -> list[ConventionStatus]:
    steps = [ConventionStatus.SIGNED_BY_PARTNER, ConventionStatus.SIGNED_BY_CAF]
    if to is None or to not in steps:
        return []
    start = steps.index(now) + 1 if now in steps else 0
    return steps[start:steps.index(to) + 1]


def _signer(reg: Registry, p: Partner, actor: Actor, side: str) -> tuple[str, str]:
    """The signer's name and organisation, as the registry knows them (her certificate says them)."""
    if side == pw.PARTNER_SIDE:
        u = p.user(actor.username)
        return (f"{u.first_name} {u.last_name}" if u else actor.username), p.name
    caf = reg.caf(p.caf)
    admin = next((a for a in caf.administrators if a.identifiant == actor.username), None) if caf else None
    return (f"{admin.first_name} {admin.last_name}" if admin else actor.username), (caf.name if caf else p.caf)


def document_pdf(app: App, actor: Actor, siret: str, doc_id: int) -> tuple[pw.Document, bytes]:
    """The file as signed so far, for its Caf, the partner's managers and its signer; refused if it no longer
    matches its recorded hash."""
    _readable(app, actor, siret)
    with app.uow() as uow:
        d, pdf = uow.documents.get(doc_id), uow.documents.pdf(doc_id)
    if d is None or d.siret != siret or pdf is None:
        raise NotFound(f"Document {doc_id} inconnu pour le partenaire {siret}.")
    if hashlib.sha256(pdf).hexdigest() != d.sha256:
        raise altered(d)
    return d, pdf


def verify_pdf(app: App, pdf: bytes) -> Verification:
    """Anyone may check a signed document: every signature, from the PDF alone."""
    return app.signatory().verify(pdf)
