"""Desired-state files: plan, apply exactly the plan shown, export — never outside the file's scope.

A file owns its scope (domain.scope.FileScope): applying it replaces the in-scope part of the registry
and reconciles only the Keycloak objects of that part. The whole registry (`scope: all`) needs a national
operator; a Caf administrator applies only its own Caf's scope. Destructive changes (partners removed,
conventions terminated, users disabled, memberships removed) are listed first and counted; past a
threshold, or for any partner removal, `apply` needs that count repeated (`--allow-destroy N`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provisioning.desired_file import caf_to_dict, partner_to_dict
from provisioning.domain import rules
from provisioning.domain.model import Registry
from provisioning.domain.rules import validate
from provisioning.domain.scope import FileScope, RegistryChange, registry_diff
from provisioning.errors import Forbidden, ProvisioningError, ValidationFailed, Violation
from provisioning.reconcile.apply import ApplyReport, Progress
from provisioning.reconcile.desired import desired_state
from provisioning.reconcile.plan import Change, plan
from provisioning.reconcile.state import Scope, State
from provisioning.store.uow import UnitOfWork, holding, stale_version
from provisioning.usecases.base import Actor

if TYPE_CHECKING:
    from provisioning.services import Provisioning as App

DEFAULT_DESTROY_THRESHOLD = 5  # destructive changes allowed without --allow-destroy (never a partner removal)


@dataclass
class StatePlan:
    """What applying a file (or reconciling the stored registry: `registry` None) would do, and what it saw."""
    scope: FileScope
    registry_changes: list[RegistryChange]
    changes: list[Change]
    observed: State
    registry: Registry | None = None        # the file's registry, to store (None: the store is the source)
    versions: dict[str, int] = field(default_factory=dict)  # in-scope partners' versions read for the plan

    @property
    def destructive(self) -> list[RegistryChange | Change]:
        return [c for c in self.registry_changes if c.destructive] + [c for c in self.changes if c.destructive]

    @property
    def removes_partners(self) -> bool:
        return any(c.destructive and c.action == "remove" and "/" not in c.target for c in self.registry_changes)

    @property
    def empty(self) -> bool:
        return not self.registry_changes and not self.changes

    def lines(self) -> list[RegistryChange | Change]:
        """Destructive changes first, then the rest, each group in execution order."""
        everything: list[RegistryChange | Change] = [*self.registry_changes, *self.changes]
        return [c for c in everything if c.destructive] + [c for c in everything if not c.destructive]


def fingerprint(p: StatePlan) -> str:
    """What the plan was computed from, as far as it matters: the plan itself (which the observation of
    Keycloak and the registry determine) and the versions of the partners it reads. Recomputed at apply."""
    doc = {"scope": p.scope.as_data(), "versions": sorted(p.versions.items()),
           "changes": [c.as_dict() for c in p.lines()]}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def saved(p: StatePlan, file_text: str | None) -> dict[str, Any]:
    """`plan --out`: the plan as shown, with what is needed to check it is still the plan at apply time."""
    return {"format": "mon-compte-partenaire/plan/1", "scope": p.scope.as_data(), "file": file_text,
            "fingerprint": fingerprint(p), "destructive": len(p.destructive),
            "changes": [c.as_dict() for c in p.lines()]}


def check_saved(doc: dict[str, Any], p: StatePlan) -> None:
    if doc.get("format") != "mon-compte-partenaire/plan/1":
        raise ProvisioningError("PLAN_ILLISIBLE", "Ce fichier n'est pas un plan enregistré par `plan --out`.", 400)
    if doc.get("fingerprint") != fingerprint(p):
        raise ProvisioningError("PLAN_PERIME", "Keycloak ou le registre a changé depuis ce plan : il n'est plus ce "
                                "qui serait appliqué. Refaites `plan --out`, relisez-le, puis appliquez-le.", 409)


def check_mandate(actor: Actor, scope: FileScope, partners_cafs: set[str]) -> None:
    """Who may own which file: national operators anything; a Caf administrator its own Caf only
    (`partners_cafs`: the Cafs of the partners a partner-scoped file names, stored and as written)."""
    if actor.system:
        return
    mine = actor.caf if "caf-administrateur" in actor.roles else None
    if scope.everything or mine is None:
        raise Forbidden("Un fichier « scope: all » (tout le registre) est réservé à un opérateur national.",
                        code="HORS_MANDAT")
    owned = scope.cafs if scope.cafs else partners_cafs
    if owned - {mine}:
        raise Forbidden(f"Votre mandat couvre la Caf {mine} seulement : ce fichier vise "
                        f"{', '.join(sorted(owned - {mine}))}.", code="HORS_MANDAT")


def _in_scope(owner: str, ch: Change, scope: FileScope, sirets: set[str]) -> bool:
    if scope.everything:
        return True
    kind, _, key = owner.partition(":")
    if kind == "partner":
        return key in sirets
    if kind == "caf":
        return scope.covers_caf(key)
    return ch.action == "create" and ch.kind == "group"  # the shared roots, needed by the first partner


def plan_file(svc: App, actor: Actor, file_reg: Registry, *, observe: bool = True) -> StatePlan:
    """Merge the file into the stored registry inside its scope, validate the result, and plan the
    Keycloak changes inside the scope (`observe=False`: the registry part only)."""
    scope = file_reg.scope
    assert scope is not None  # a registry read from a file always carries the part of the store it owns
    file_sirets = {p.siret for p in file_reg.partners}
    with svc.uow() as uow:
        stored = _stored_part(uow, scope, file_sirets)
        versions = uow.registry.versions_of(sorted({p.siret for p in stored.partners}))
        before = stored.partners
        check_mandate(actor, scope, {p.caf for p in file_reg.partners} | {p.caf for p in before})
        if scope.everything:
            cafs, settings = file_reg.cafs, file_reg.settings
        else:
            cafs = file_reg.cafs + [c for c in stored.cafs if not scope.covers_caf(c.code)]
            settings = stored.settings
        # the file's objects keep their paths; the rest of the registry is not loaded: whom the file's people
        # would meet elsewhere is asked of the identifiant index (issue 27: one partner's file read 60,000)
        merged = Registry(cafs, file_reg.partners, settings, scope)
        violations = validate(merged, svc.today()) + _taken_outside(uow, scope, merged, file_sirets)
    if violations:
        raise ValidationFailed(violations, "Le fichier, joint au reste du registre, enfreint des règles ; "
                                           "rien n'a été appliqué.")
    reg_changes = registry_diff(
        {p.siret: (p, partner_to_dict(p)) for p in before},
        {p.siret: (p, partner_to_dict(p)) for p in file_reg.partners},
        {c.code: caf_to_dict(c) for c in stored.cafs if scope.covers_caf(c.code)},
        {c.code: caf_to_dict(c) for c in file_reg.cafs})
    if scope.everything and settings != stored.settings:
        reg_changes.append(RegistryChange("update", "settings", "réglages nationaux modifiés"))
    sirets = file_sirets | {p.siret for p in before}
    observed, changes = State(), []
    if observe:
        desired, observed = _observed_partners(svc, merged, sirets) if _partner_by_partner(scope, sirets) \
            else (desired_state(merged, svc.today()), svc.gateway().observe())
        changes = [c for c in plan(desired, observed) if _in_scope(c.owner, c, scope, sirets)]
    return StatePlan(scope, reg_changes, changes, observed, merged,
                     {s: versions[s] for s in sirets if s in versions})


OBSERVED_ONE_BY_ONE = 20  # a file naming at most this many partners: Keycloak read partner by partner


def _partner_by_partner(scope: FileScope, sirets: set[str]) -> bool:
    return not scope.everything and not scope.cafs and len(sirets) <= OBSERVED_ONE_BY_ONE


def _observed_partners(svc: App, merged: Registry, sirets: set[str]) -> tuple[State, State]:
    """(desired, observed) for the partners a file names, each read from Keycloak as an API mutation reads it
    (its users by attribute and by name, its groups and organisation): a file for one partner no longer reads
    the whole realm (issue 27: 23 to 34 minutes at 50,000 partners). What lies outside these partners is
    outside the file's scope and filtered out of its plan either way (test: the same plan as the full read)."""
    partners = [p for p in merged.partners if p.siret in sirets]
    desired_all = desired_state(Registry([], partners, merged.settings), svc.today())
    gw, desired, observed = svc.gateway(), [], []
    for siret in sorted(sirets):
        p = next((x for x in partners if x.siret == siret), None)
        scope = Scope(siret, frozenset(u.identifiant for u in p.users) if p else frozenset())
        desired.append(scope.slice(desired_all))
        observed.append(gw.observe(scope))
    return _union(desired), _union(observed)


def _union(states: list[State]) -> State:
    out = State()
    for st in states:
        out.orgs.update(st.orgs)
        out.groups.update(st.groups)
        out.users.update(st.users)
        for path, names in st.members.items():
            out.members.setdefault(path, set()).update(names)
        for alias, names in st.org_members.items():
            out.org_members.setdefault(alias, set()).update(names)
        out.direct_roles |= st.direct_roles
        out.member_ids.update(st.member_ids)
    return out


def plan_stored(svc: App) -> StatePlan:
    """Reconciling the stored registry: the whole realm, no registry change."""
    observed = svc.gateway().observe()
    return StatePlan(FileScope(everything=True), [], plan(desired_state(svc.registry(), svc.today()), observed),
                     observed)


def check_destruction(p: StatePlan, allow_destroy: int | None, threshold: int = DEFAULT_DESTROY_THRESHOLD) -> None:
    """Terraform's spirit: past `threshold` destructive changes, or for any partner removal, the operator
    repeats the exact count shown (`--allow-destroy N`); confirming alone never suffices."""
    count = len(p.destructive)
    if allow_destroy is not None and allow_destroy != count:
        raise ProvisioningError("DESTRUCTION_COMPTE_DIFFERENT", f"--allow-destroy {allow_destroy} ne correspond pas "
                                f"au plan, qui compte {count} changement(s) destructeur(s) : relisez le plan.", 409)
    if allow_destroy is None and (count > threshold or p.removes_partners):
        why = "retire au moins un partenaire" if p.removes_partners else f"dépasse le seuil de {threshold}"
        raise ProvisioningError("DESTRUCTION_NON_AUTORISEE", f"Ce plan compte {count} changement(s) destructeur(s) et "
                                f"{why} : relancez avec --allow-destroy {count} pour confirmer.", 409)


def apply_plan(svc: App, actor: Actor, p: StatePlan, *, allow_destroy: int | None = None,
               threshold: int = DEFAULT_DESTROY_THRESHOLD, progress: Progress | None = None,
               claim_wait: float | None = None) -> ApplyReport:
    """Store the file's part of the registry (only what changed), then carry out exactly the Keycloak
    changes shown. Refused whole if the registry moved since the plan was made. Done under the claims of every
    partner it touches (and the realm's, for shared objects): the worker, or another `apply`, waits its turn
    (issue 25: `apply` racing the worker left 150 people without codes)."""
    check_destruction(p, allow_destroy, threshold)
    with holding(svc.uow, claim_keys(p), wait=claim_wait):
        if p.registry is not None and p.registry_changes:
            _store(svc, actor, p)
        return svc.execute_changes(actor, p.changes, p.observed, progress=progress)


def claim_keys(p: StatePlan) -> list[str]:
    """The reconcile claims a plan needs: each partner it changes, and always "*" — what partners share, and
    the worker's full reconciles, which write every partner under that claim alone (a store of a file asks
    for one): an `apply` and a full reconcile never run together."""
    keys = {"*"} | {c.target.split("/", 1)[0] for c in p.registry_changes if c.target[:1].isdigit()}
    for ch in p.changes:
        keys.add(ch.owner.removeprefix("partner:") if ch.owner and ch.owner.startswith("partner:") else "*")
    if any(not c.target[:1].isdigit() for c in p.registry_changes):
        keys.add("*")
    return sorted(keys)


def store_file(svc: App, actor: Actor, file_reg: Registry) -> StatePlan:
    """Store a file's part of the registry without touching Keycloak (the next reconcile does it)."""
    p = plan_file(svc, actor, file_reg, observe=False)
    if p.registry_changes:
        _store(svc, actor, p)
    return p


def _stored_part(uow: UnitOfWork, scope: FileScope, file_sirets: set[str]) -> Registry:
    """What a file replaces, as stored: its scope's partners and any partner it names, every Caf (a hundred
    at most), the settings — never the other partners (the whole registry for a `scope: all` file)."""
    if scope.everything:
        return uow.registry.load()
    before = [p for code in sorted(scope.cafs) for p in uow.registry.partners_of_caf(code)]
    named = sorted((scope.partners | file_sirets) - {p.siret for p in before})
    before += uow.registry.partners_in(named)
    return Registry(uow.registry.cafs(), sorted(before, key=lambda p: p.siret), uow.registry.settings())


def _taken_outside(uow: UnitOfWork, scope: FileScope, merged: Registry, file_sirets: set[str]) -> list[Violation]:
    """The file's people whose identifiant or address a partner outside the file already holds: the same
    violations the whole-registry rule gives, asked of the index 500 at a time."""
    if scope.everything:
        return []
    people = [(ident, email, path) for ident, email, path in rules.people(merged) if path.startswith("partners[")]
    ids, mails = uow.registry.people_taken([i for i, _, _ in people], [e or "" for _, e, _ in people],
                                           besides=sorted(scope.partners | file_sirets), cafs=sorted(scope.cafs))
    out = []
    for ident, email, path in people:
        if ident in ids:
            out.append(Violation("IDENTIFIANT_EN_DOUBLE", f"L'identifiant « {ident} » est déjà utilisé : "
                                 "un utilisateur appartient à un seul partenaire.", path + ".identifiant"))
        if (email or "").lower() in mails:
            out.append(Violation("COURRIEL_EN_DOUBLE", f"L'adresse « {email} » est déjà utilisée par un autre "
                                 "utilisateur.", path + ".email"))
    return out


def _store(svc: App, actor: Actor, p: StatePlan) -> None:
    scope, reg = p.scope, p.registry
    assert reg is not None  # only a file's plan is stored
    file_partners = {x.siret: x for x in reg.partners if scope.covers_partner(x) or x.siret in p.versions}
    with svc.uow() as uow:
        stored = _stored_part(uow, scope, set(file_partners))
        now_versions = uow.registry.versions_of(sorted({x.siret for x in stored.partners}))
        in_scope = {x.siret: x for x in stored.partners if scope.covers_partner(x) or x.siret in file_partners}
        if {s: now_versions[s] for s in in_scope} != p.versions:
            raise stale_version(", ".join(sorted(in_scope)) or scope.describe())
        changed = [x for x in file_partners.values()
                   if x.siret not in in_scope or partner_to_dict(x) != partner_to_dict(in_scope[x.siret])]
        removed = [x for s, x in in_scope.items() if s not in file_partners]
        cafs = [c for c in reg.cafs if scope.covers_caf(c.code) and caf_to_dict(c) != _caf_doc(stored, c.code)]
        for x in [*changed, *removed]:  # forget first, so people moving between partners never clash
            uow.registry.unindex(partner=x.siret)
        for c in cafs:
            uow.registry.unindex(caf=c.code)
        for c in cafs:
            uow.registry.save_caf(c, reindex=False)
            uow.registry.index_caf(c)
            uow.audit.record(actor.username, "import", f"caf:{c.code}", _caf_doc(stored, c.code), caf_to_dict(c),
                             caf=c.code)
        for x in removed:
            uow.registry.delete_partner(x.siret)
            uow.audit.record(actor.username, "delete", f"partner:{x.siret}", partner_to_dict(x), None,
                             partner=x.siret, caf=x.caf)
        for x in changed:
            old = in_scope.get(x.siret)
            uow.registry.save_partner(x, p.versions.get(x.siret), reindex=False)
            uow.registry.index_partner(x)
            uow.audit.record(actor.username, "import", f"partner:{x.siret}",
                             partner_to_dict(old) if old else None, partner_to_dict(x), partner=x.siret, caf=x.caf)
        if scope.everything and reg.settings != stored.settings:
            uow.registry.save_settings(reg.settings)
        lines: dict[str, list[str]] = {}
        for x in changed:
            lines.setdefault(x.caf, []).append(f"{x.name} : mis à jour depuis l'état désiré")
        for x in removed:
            lines.setdefault(x.caf, []).append(f"{x.name} : retiré du registre")
        for code, report in lines.items():
            svc.report(uow, reg, code, actor, report)
        for x in [*changed, *removed]:  # level-triggered: the worker checks (and finishes) what apply does now
            uow.reconcile.request(x.siret)
        if cafs or (scope.everything and reg.settings != stored.settings):
            uow.reconcile.request("*")  # Caf administrators and national settings: the whole realm
        uow.commit()


def _caf_doc(reg: Registry, code: str) -> dict[str, Any] | None:
    c = reg.caf(code)
    return caf_to_dict(c) if c else None


def export(svc: App, actor: Actor, scope: FileScope) -> Registry:
    """The stored registry inside `scope`, in the file format: validate accepts it, plan on it is empty."""
    with svc.uow() as uow:  # the scope's documents only (issue 27: one partner out of 60,000)
        stored = _stored_part(uow, scope, set())
    partners = [p for p in stored.partners if scope.covers_partner(p)]
    check_mandate(actor, scope, {p.caf for p in partners})
    cafs = [c for c in stored.cafs if scope.covers_caf(c.code)] if not scope.partners else []
    return Registry(cafs, partners, stored.settings, scope)
