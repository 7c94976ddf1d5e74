"""The realm's configuration reconciled from realm-config/ at every deploy (issue 28 §3): planned, shown,
applied by a realm administrator, journaled; a second plan must then be empty."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

from provisioning.catalogue_file import parse_urls
from provisioning.domain import catalogue
from provisioning.errors import ValidationFailed, Violation
from provisioning.reconcile.realm import (
    ObservedRealm,
    RealmChange,
    missing_secrets,
    plan_realm,
    resolve,
    unset_placeholders,
    with_catalogue,
)
from provisioning.settings import initial
from provisioning.store.uow import UnitOfWork

REALM_FILE = Path(__file__).resolve().parents[2] / "realm-config" / "mon-compte-partenaire-realm.json"


class RealmKeycloak(Protocol):
    def observe(self) -> ObservedRealm: ...
    def apply(self, changes: list[RealmChange]) -> list[RealmChange]: ...


def desired_realm(path: Path = REALM_FILE, env: dict[str, str] | None = None, *,
                  every_variable_set: bool = False) -> dict[str, object]:
    """The file as Keycloak's import reads it in this environment. `every_variable_set` (production): a
    variable of the file left unset is refused, every one listed, before anything is read from Keycloak."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    cat = catalogue.current()
    secrets = parse_urls(env.get("MCP_SERVICE_SECRETS", "") if env is not None else initial("service_secrets"))
    faults = []
    if every_variable_set:
        faults = [Violation("VARIABLE_NON_DEFINIE", "Variable du fichier du royaume non définie : sa valeur de "
                            "démonstration serait appliquée.", name) for name in unset_placeholders(raw, env)]
        faults += [Violation("SECRET_NON_DEFINI", f"Le service {code} du catalogue n'a pas de secret de client "
                             "(MCP_SERVICE_SECRETS).", "MCP_SERVICE_SECRETS")
                   for code in missing_secrets(cat, raw, secrets)]
    if faults:
        raise ValidationFailed(faults, "La configuration du royaume n'est pas appliquée : définissez ces variables.")
    data = resolve(raw, env)
    assert isinstance(data, dict)
    # the catalogue's services: a client made from its entry where the file has none (the demo's secret: named
    # after the client, refused in production above), the roles of its groups and profiles in either case
    demo = {s.code: f"demo-only-{s.client}-secret" for s in cat.services}
    return with_catalogue(data, cat, {**demo, **secrets})


def realm_plan(kc: RealmKeycloak, desired: dict[str, object]) -> list[RealmChange]:
    return plan_realm(desired, kc.observe())


def realm_apply(kc: RealmKeycloak, desired: dict[str, object], *, actor: str,
                journal: UnitOfWork | None = None) -> tuple[list[RealmChange], list[RealmChange]]:
    """(applied, left): what was applied, and what a second plan still finds (empty when all went well)."""
    applied = kc.apply(realm_plan(kc, desired))
    if applied and journal is not None:
        with journal as uow:
            uow.audit.record(actor, "realm-apply", "realm", None, {"changes": [c.line() for c in applied]},
                             summary=f"configuration du royaume : {len(applied)} changement(s) appliqué(s)")
            uow.commit()
    return applied, realm_plan(kc, desired)
