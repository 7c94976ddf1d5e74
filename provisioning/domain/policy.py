"""Who may do what to a partner: one table. Each mutation of a partner names its action; the table gives
the rule that decides, and the French refusal. (Who may see a partner at all, and the R12 hierarchy between
a partner's administrator and its delegates, are checked first by the use-case kernel.)

Pure: the actor is anything with `username`, `roles`, `partner`, `caf` and `system`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from provisioning.domain import catalogue
from provisioning.domain.catalogue import ServiceDef
from provisioning.domain.model import Partner

CAF_ADMIN, PARTNER_ADMIN, DELEGATE = "caf-administrateur", "administrateur-partenaire", "responsable-habilitations"


class Acting(Protocol):
    """Who acts, as the rules see it (usecases.base.Actor is one)."""
    @property
    def username(self) -> str: ...
    @property
    def roles(self) -> frozenset[str]: ...
    @property
    def partner(self) -> str | None: ...
    @property
    def caf(self) -> str | None: ...
    @property
    def system(self) -> bool: ...


def its_caf(a: Acting, p: Partner) -> bool:
    """A national operator, or an administrator of the partner's own Caf (R11)."""
    return a.system or (CAF_ADMIN in a.roles and a.caf == p.caf)


def its_managers(a: Acting, p: Partner) -> bool:
    """Its Caf, or the partner's administrator and responsables des habilitations (R12)."""
    return its_caf(a, p) or (a.partner == p.siret and bool(set(a.roles) & {PARTNER_ADMIN, DELEGATE}))


def its_administrator(a: Acting, p: Partner) -> bool:
    """Its Caf, or the administrator of this very partner (not a delegate)."""
    return its_caf(a, p) or (a.partner == p.siret and PARTNER_ADMIN in a.roles and p.administrator == a.username)


def its_signatories(a: Acting, p: Partner) -> bool:
    """Issue 31: who signs the convention's documents — an administrator of its Caf, or the partner's legal
    representative (its administrator when none is named); never the CLI: a signature is a person's."""
    return (not a.system and its_caf(a, p)) or (a.partner == p.siret
                                                 and a.username == (p.representative or p.administrator))


def its_habiliter_members(a: Acting, p: Partner) -> bool:
    """Members of the partner's group whose catalogue entry associates equipments (R10: « AFAS Habiliter »), or a
    national operator."""
    return a.system or (a.partner == p.siret and bool(a.roles & catalogue.current().equipment_assigners()))


def may_grant(a: Acting, p: Partner, service: ServiceDef) -> bool:
    """Whether this actor may grant the service's groups and profiles: the catalogue says who (`granted_by`)."""
    if a.system:
        return True
    who = set()
    if its_caf(a, p):
        who.add("caf")
    if a.partner == p.siret and PARTNER_ADMIN in a.roles and p.administrator == a.username:
        who.add("partner-administrator")
    if a.partner == p.siret and DELEGATE in a.roles:
        who.add("delegate")
    return bool(who & service.granted_by)


GRANTER_LABELS = {"partner-administrator": "l'administrateur du partenaire",
                  "delegate": "un responsable des habilitations", "caf": "la Caf du partenaire"}


def grant_refusal(service: ServiceDef) -> str:
    who = [GRANTER_LABELS[g] for g in sorted(service.granted_by)]
    return f"Seul(e) {' ou '.join(who)} attribue les habilitations {service.code}."


def national(a: Acting, p: Partner) -> bool:
    return a.system


@dataclass(frozen=True)
class Rule:
    allows: Callable[[Acting, Partner], bool]
    refusal: str


MANAGERS = Rule(its_managers, "Ce partenaire ne relève pas de votre périmètre.")
CAF = Rule(its_caf, "Seule la Caf du partenaire peut faire cette opération.")
ADMINISTRATOR = Rule(its_administrator, "Seul l'administrateur de ce partenaire délègue ou révoque les "
                                        "responsables des habilitations.")
HABILITER = Rule(its_habiliter_members, "L'association aux équipements est réservée aux membres du groupe "
                                        "qui habilite (« AFAS Habiliter »).")
NATIONAL = Rule(national, "Opération nationale (ligne de commande).")
SIGNATORIES = Rule(its_signatories, "Seuls le représentant légal du partenaire (à défaut, son administrateur) et un "
                                    "administrateur de sa Caf signent les documents de la convention.")
# its staff (the profile the command needs is checked by its handler), its Caf, the CLI
STAFF = Rule(lambda a, p: a.system or its_caf(a, p) or a.partner == p.siret,
             "Ce partenaire ne relève pas de votre périmètre.")

# action (as audited) -> who may
POLICY: dict[str, Rule] = {
    "create-user": MANAGERS,
    "set-membership": MANAGERS,
    "report-lost-credentials": MANAGERS,
    "reissue-credentials": MANAGERS,
    "import-users": MANAGERS,
    "unlock-user": MANAGERS,
    "reset-second-factor": MANAGERS,
    "unlink-proconnect": STAFF,      # issue 32: the person herself too (the handler narrows STAFF to her)
    "delegate": ADMINISTRATOR,
    "revoke-delegate": ADMINISTRATOR,
    "set-assignments": HABILITER,
    "set-sites": HABILITER,
    "send-back": STAFF,              # issue 29 §3: an approver, within her equipments (checked by the handler)
    "suspend-user": MANAGERS,       # issue 29: the partner's administrator and delegates too (R12 hierarchy)
    "reactivate-user": MANAGERS,
    "suspend-service": CAF,
    "reactivate-service": CAF,
    "prepare-convention": CAF,
    "set-contract": CAF,
    "declare-equipment": CAF,
    "remove-equipment": CAF,
    "convention-transition": CAF,
    "issue-documents": CAF,          # issue 31: the convention's documents, new versions
    "sign-documents": SIGNATORIES,
    "suspend-inactive": NATIONAL,
    "review-revoke": MANAGERS,       # issue 16: a reviewer withdraws a grant (R12 hierarchy checked too)
    "review-suspend": NATIONAL,      # the deadline's suspensions: the review job only
}


def refusal(actor: Acting, action: str, p: Partner) -> str | None:
    """None when the actor may; else the French reason. An action missing from the table is refused."""
    rule = POLICY.get(action)
    if rule is None:
        return f"Action « {action} » inconnue de la politique d'accès."
    return None if rule.allows(actor, p) else rule.refusal
