"""Issue 28 §3, the pure part: the realm's plan compares what the file says and nothing else, never shows or
overwrites what it cannot read (secrets), touches only clients that are ours, and is empty when all agrees.
The real Keycloak: tests/integration/test_realm_reconcile.py."""

from __future__ import annotations

import copy

from provisioning.domain import naming
from provisioning.reconcile.realm import MASK, ObservedRealm, flattened, plan_realm, resolve
from provisioning.usecases.realm import desired_realm

MARK = {naming.MANAGED_BY_ATTR: naming.MANAGED_BY}


def _observed_as_imported(desired: dict) -> ObservedRealm:
    """What Keycloak shows after importing the file: everything it says, plus its own defaults and ids."""
    settings = {k: copy.deepcopy(v) for k, v in desired.items() if k not in ("clients", "roles")}
    settings["smtpServer"] = {**settings["smtpServer"], "password": MASK}
    settings["otpPolicyDigits"] = 6  # a default the file never names
    clients = []
    for i, c in enumerate(desired["clients"]):
        c = copy.deepcopy(c)
        c["id"] = f"id-{i}"
        c["attributes"] = {**c.get("attributes", {}), **MARK, "client.secret.creation.time": "1764000000"}
        c["secret"] = MASK
        c["protocolMappers"] = [{**m, "id": f"m-{i}-{j}"} for j, m in enumerate(c.get("protocolMappers", []))]
        clients.append(c)
    scopes = {c["clientId"]: (c.get("defaultClientScopes", []), c.get("optionalClientScopes", []))
              for c in desired["clients"]}
    roles = desired.get("roles", {})
    actions = {a["alias"]: {**copy.deepcopy(a), "config": {**a.get("config", {})}} for a in desired["requiredActions"]}
    flows = desired["authenticationFlows"]
    executions = {f["alias"]: [_execution(key, requirement, flows) for key, requirement in flattened(flows, f["alias"])]
                  for f in flows if f.get("topLevel")}
    idps = {i["alias"]: {**copy.deepcopy(i), "internalId": "idp-1", "types": ["USER_AUTHENTICATION"],
                         "config": {**i["config"], "clientSecret": MASK}} for i in desired.get("identityProviders", [])}
    idp_mappers = {(m["identityProviderAlias"], m["name"]): {**copy.deepcopy(m), "id": f"im-{j}"}
                   for j, m in enumerate(desired.get("identityProviderMappers", []))}
    return ObservedRealm(settings, clients, scopes, {r["name"] for r in roles.get("realm", [])},
                         {cid: {r["name"] for r in rs} for cid, rs in roles.get("client", {}).items()}, actions,
                         executions, idps, idp_mappers)


def _execution(key: str, requirement: str, flows: list[dict]) -> dict:
    """As Keycloak lists a flow's executions: a sub-flow by its display name, an authenticator by provider."""
    if key in {f["alias"] for f in flows}:
        return {"id": f"e-{key}", "displayName": key, "authenticationFlow": True, "requirement": requirement}
    return {"id": f"e-{key}", "providerId": key, "displayName": key.title(), "requirement": requirement}


def test_placeholders_are_resolved_as_keycloaks_import_does():
    assert resolve({"a": "${X:def}", "b": ["${Y}"], "c": 3}, {"Y": "y"}) == {"a": "def", "b": ["y"], "c": 3}
    assert resolve("${MCP_CDAP_URL:http://localhost:8082}/cb", {"MCP_CDAP_URL": "https://cdap"}) == "https://cdap/cb"


def test_the_realm_as_imported_from_its_file_needs_nothing():
    desired = desired_realm(env={})
    assert plan_realm(desired, _observed_as_imported(desired)) == []


def test_hand_made_drift_is_planned_back_with_its_reason_and_only_what_differs():
    desired = desired_realm(env={})
    observed = _observed_as_imported(desired)
    observed.settings["ssoSessionIdleTimeout"] = 7200
    cdap = next(c for c in observed.clients if c["clientId"] == "cdap")
    cdap["redirectUris"] = ["https://ailleurs.example/*"]
    cdap["attributes"]["minimum.acr.value"] = "niveau-1"
    cdap["protocolMappers"] = [m for m in cdap["protocolMappers"] if m["name"] != "caf (attribut)"]
    observed.client_scopes["cdap"] = (["profile", "email"], [])
    lines = {(c.action, c.kind, c.target): c for c in plan_realm(desired, observed)}
    assert set(lines) == {("update", "realm", "realm"), ("update", "client", "cdap"),
                          ("create", "mapper", "cdap/caf (attribut)"), ("update", "scope", "cdap/default"),
                          ("update", "scope", "cdap/optional")}
    assert lines[("update", "realm", "realm")].fields == {"ssoSessionIdleTimeout": 1800}
    client = lines[("update", "client", "cdap")]
    assert set(client.fields) == {"id", "redirectUris", "attributes"} and "attributes, redirectUris" in client.reason
    # Keycloak's own attributes are kept beside ours
    assert client.fields["attributes"]["client.secret.creation.time"] == "1764000000"
    assert client.fields["attributes"]["minimum.acr.value"] == "niveau-2"


def test_secrets_are_neither_compared_nor_overwritten_with_what_this_process_lacks():
    desired = desired_realm(env={})  # no MCP_SMTP_PASSWORD, no client secret given: the file's defaults
    observed = _observed_as_imported(desired)
    observed.settings["smtpServer"]["host"] = "ancien.example"
    [change] = plan_realm(desired, observed)
    assert change.fields["smtpServer"]["password"] == MASK  # Keycloak keeps the password it holds
    assert all("secret" not in c.fields for c in plan_realm(desired, observed))


def test_only_our_clients_are_created_changed_or_deleted():
    desired = desired_realm(env={})
    observed = _observed_as_imported(desired)
    observed.clients.append({"id": "x", "clientId": "outil-de-la-caf", "redirectUris": ["https://outil/*"]})
    observed.clients.append({"id": "y", "clientId": "ancien-service", "attributes": dict(MARK)})
    observed.clients = [c for c in observed.clients if c["clientId"] != "service-tiers"]
    plan = {(c.action, c.target) for c in plan_realm(desired, observed) if c.kind == "client"}
    assert plan == {("create", "service-tiers"), ("delete", "ancien-service")}
    created = next(c for c in plan_realm(desired, observed) if c.action == "create")
    assert created.fields["attributes"][naming.MANAGED_BY_ATTR] == naming.MANAGED_BY


def test_declared_roles_missing_are_created_never_deleted():
    desired = desired_realm(env={})
    observed = _observed_as_imported(desired)
    observed.realm_roles = {"role-a-la-main"}
    observed.client_roles["cdap"] = set()
    plan = [c for c in plan_realm(desired, observed) if c.kind == "role"]
    assert plan and all(c.action == "create" for c in plan)
    assert any(c.target == "cdap/CDAP-Consulter" for c in plan)


def test_a_required_step_turned_off_by_hand_is_turned_back_on():
    desired = desired_realm(env={})
    observed = _observed_as_imported(desired)
    observed.required_actions["TERMS_AND_CONDITIONS"]["enabled"] = False
    del observed.required_actions["CONFIGURE_TOTP"]
    plan = {(c.action, c.target): c for c in plan_realm(desired, observed) if c.kind == "action"}
    assert set(plan) == {("update", "TERMS_AND_CONDITIONS"), ("create", "CONFIGURE_TOTP")}
    assert plan[("update", "TERMS_AND_CONDITIONS")].fields["enabled"] is True


def test_in_production_every_variable_of_the_file_must_be_set_or_nothing_is_planned():
    import pytest

    from provisioning.errors import ValidationFailed
    with pytest.raises(ValidationFailed) as refused:
        desired_realm(env={"MCP_CDAP_URL": "https://cdap.caf.example"}, every_variable_set=True)
    unset = {v.path for v in refused.value.violations}
    assert "MCP_PORTAIL_URL" in unset and "MCP_SERVICE_TIERS_CLIENT_SECRET" in unset and "MCP_CDAP_URL" not in unset
    assert {v.code for v in refused.value.violations} == {"VARIABLE_NON_DEFINIE"}
    assert desired_realm(env={}) is not None  # the demo takes the file's defaults


def test_the_compose_deployment_gives_keycloak_and_its_realm_step_every_production_value():
    """docker-compose.yml (no Docker here to run it): Keycloak's import and the `realm` step resolve the file
    alike, and neither leaves a demonstration default (the step would refuse to run)."""
    import json
    from pathlib import Path

    import yaml

    from provisioning.reconcile.realm import unset_placeholders
    from provisioning.usecases.realm import REALM_FILE
    root = Path(__file__).resolve().parents[2]
    services = yaml.safe_load((root / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
    raw = json.loads(REALM_FILE.read_text(encoding="utf-8"))
    kc_env = {k: str(v) for k, v in services["kc1"]["environment"].items()}
    step_env = {k: str(v) for k, v in services["realm"]["environment"].items()}
    assert unset_placeholders(raw, kc_env) == [] and unset_placeholders(raw, step_env) == []
    names = {m for m in json.dumps(raw).split("${")[1:] for m in [m.split(":")[0].split("}")[0]]}
    assert {k: kc_env.get(k) for k in names} == {k: step_env.get(k) for k in names}


def test_a_login_step_disabled_by_hand_is_put_back_and_a_rebuilt_flow_is_shown():
    """The second factor of level 2 made optional, the first-login guard disabled: security drift, each put back
    with its reason; a flow whose steps changed is shown (not rebuilt: re-import)."""
    desired = desired_realm(env={})
    observed = _observed_as_imported(desired)
    browser = observed.executions["browser"]
    next(e for e in browser if e.get("providerId") == "mcp-first-login-guard")["requirement"] = "DISABLED"
    next(e for e in browser if e.get("providerId") == "mcp-second-factor-enrolment")["requirement"] = "ALTERNATIVE"
    changes = {(c.action, c.kind, c.target): c for c in plan_realm(desired, observed)}
    assert set(changes) == {("update", "execution", "browser/mcp-first-login-guard"),
                            ("update", "execution", "browser/mcp-second-factor-enrolment")}
    fix = changes[("update", "execution", "browser/mcp-first-login-guard")]
    assert fix.fields["flow"] == "browser" and fix.fields["execution"]["requirement"] == "REQUIRED"
    assert fix.fields["execution"]["id"] == "e-mcp-first-login-guard"  # Keycloak's own execution, its id kept
    observed.executions["browser"] = [e for e in browser if e.get("providerId") != "auth-otp-form"]
    assert [(c.action, c.kind, c.target) for c in plan_realm(desired, observed)] == [("update", "flow", "browser")]


def test_proconnect_is_created_when_missing_put_back_when_changed_and_its_secret_never_compared():
    """Issue 32: the identity provider and its mappers as the file says; the flows it runs created in a realm
    made before them; the client secret Keycloak shows masked is never a difference."""
    desired = desired_realm(env={})
    observed = _observed_as_imported(desired)
    assert plan_realm(desired, observed) == []
    observed.identity_providers["proconnect"]["config"]["clientSecret"] = "**********"
    observed.identity_providers["proconnect"]["config"]["tokenUrl"] = "https://ailleurs.example/token"
    observed.idp_mappers[("proconnect", "siret")]["config"]["claim"] = "siren"
    del observed.idp_mappers[("proconnect", "acr")]
    del observed.executions["MCP ProConnect premier accès"]
    changes = {(c.action, c.kind, c.target): c for c in plan_realm(desired, observed)}
    assert set(changes) == {("update", "idp", "proconnect"), ("update", "idpmapper", "proconnect/siret"),
                            ("create", "idpmapper", "proconnect/acr"), ("create", "flow", "MCP ProConnect premier accès")}
    assert changes[("update", "idp", "proconnect")].reason == "différent du fichier : config.tokenUrl"
    assert changes[("update", "idp", "proconnect")].fields["config"]["tokenUrl"].endswith("/openid-connect/token")
    observed.identity_providers = {}
    assert ("create", "idp", "proconnect") in {(c.action, c.kind, c.target) for c in plan_realm(desired, observed)}
