"""A partner administrator imports users from a CSV file: a preview (the plan, line by line) then the apply,
which re-plans inside one transaction and writes all the lines or none (issue 12 §5)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provisioning.domain import policy, rules, user_import
from provisioning.domain.model import Partner, Registry, Service
from provisioning.domain.states import ImportAction
from provisioning.errors import Forbidden, ProvisioningError, ValidationFailed
from provisioning.usecases.base import Actor, MutationResult, _check_hierarchy
from provisioning.usecases.commands import ImportUsers

if TYPE_CHECKING:
    from provisioning.services import Provisioning as App


@dataclass
class ImportPlan:
    outcomes: list[user_import.Outcome]
    applied: MutationResult | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"lines": [o.as_dict() for o in self.outcomes], "counts": self.counts}


def import_users(app: App, actor: Actor, cmd: ImportUsers) -> ImportPlan:
    siret = cmd.siret
    p = app.partner(actor, siret)  # who may see it (unknown and forbidden look the same)
    if refused := policy.refusal(actor, "import-users", p):
        raise Forbidden(refused)
    lines, faults = user_import.read(cmd.data)
    if faults:
        raise ValidationFailed(faults)
    new = [ln for ln in lines if p.user(ln.identifiant) is None]
    unmanaged = _unmanaged(app, [(ln.identifiant, ln.email) for ln in new])
    with app.uow() as uow:
        taken = uow.registry.people_taken([ln.identifiant for ln in new], [ln.email for ln in new],
                                          besides=[siret], caf_administrators=True)

    def hierarchy(identifiant: str) -> str | None:
        try:
            _check_hierarchy(actor, p, identifiant, self_ok=False)
        except ProvisioningError as e:
            return e.description
        return None

    def grantable(service: Service) -> str | None:
        spec = service.spec
        return policy.grant_refusal(spec) if spec is not None and not policy.may_grant(actor, p, spec) else None

    def outcomes_on(reg: Registry, partner: Partner) -> list[user_import.Outcome]:
        return user_import.plan(partner, lines, caf=reg.caf(partner.caf), settings=reg.settings,
                                today=app.today(), taken=taken, unmanaged=unmanaged, hierarchy=hierarchy,
                                grantable=grantable)

    if not cmd.apply:
        with app.uow() as uow:
            caf = uow.registry.load_caf(p.caf)
            return _summary(ImportPlan(outcomes_on(Registry([caf] if caf else [], [p], uow.registry.settings()), p)))
    with app.changing(actor, cmd, "import-users",
                      f"import CSV de {len(lines)} ligne(s) dont {len(new)} création(s)") as ch:
        outcomes = outcomes_on(ch.registry, ch.partner)  # planned again on the partner as stored now
        ch.refuse([v for o in outcomes for v in o.refusals])
        ch.about([o.identifiant for o in outcomes if not o.refused])
    return _summary(ImportPlan(outcomes, ch.result))


def _unmanaged(app: App, people: list[tuple[str, str]]) -> set[str]:
    """New identifiants Keycloak already holds without our marker (never adopted): a few at a time."""
    candidates = [(u, e) for u, e in people if rules.IDENTIFIANT_RE.fullmatch(u)
                  and not rules.email_faults(e, "")]
    if not candidates:
        return set()
    gw = app.gateway()
    with ThreadPoolExecutor(4) as pool:
        found = pool.map(lambda ue: ue[0] if gw.unmanaged_account(*ue) else None, candidates)
        return {u for u in found if u}


def _summary(plan: ImportPlan) -> ImportPlan:
    plan.counts = {"lines": len(plan.outcomes),
                   "created": sum(o.action is ImportAction.CREATE for o in plan.outcomes),
                   "updated": sum(o.action is ImportAction.UPDATE for o in plan.outcomes),
                   "refused": sum(o.refused for o in plan.outcomes)}
    return plan
