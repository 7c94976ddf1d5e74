"""The realm's own configuration kept in step with realm-config/ at every deploy (issue 28 §3), with the
discipline of the partners' reconciler: `plan_realm(desired, observed)` is pure data — each change with its
reason — shown before it is applied; applying it twice changes nothing; after it, a second plan is empty.

What the file says is compared, nothing else (Keycloak adds defaults the file never names): the realm's
settings (its scalars, lists of names, `attributes`, `smtpServer`), each client it declares (its fields,
attributes, protocol mappers by name, default and optional scopes), the required actions it declares (by alias)
and the roles it declares (created when missing, never deleted), its identity providers and their mappers (ProConnect,
issue 32: created or put back, never deleted), and its top-level authentication flows that the realm lacks (created
with their steps: a realm made before a new flow gets it). A client is ours when the file declares it or when it carries the ownership marker;
a marked client the file no longer declares is deleted; a client nobody marked is never touched. The
authentication flows that exist, components and authenticator configurations (the usage rules' published version
lives there) are left as imported: creating a realm is Keycloak's import."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioning.domain import naming
from provisioning.domain.catalogue import Catalogue, ServiceDef

# realm-level keys never compared: handled below, or left to the import (see the module's docstring)
NOT_SETTINGS = {"id", "realm", "clients", "roles", "users", "groups", "components", "requiredActions",
                "authenticationFlows", "authenticatorConfig", "clientScopes", "identityProviders",
                "identityProviderMappers", "organizations", "scopeMappings", "clientScopeMappings"}
WRITE_ONLY = {"password", "secret", "clientSecret"}  # Keycloak shows them masked: sent, never compared
MASK = "**********"
CLIENT_OWN = {"protocolMappers", "defaultClientScopes", "optionalClientScopes", "id", "secret"}
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.]+)(?::([^}]*))?\}")


@dataclass(frozen=True)
class RealmChange:
    action: str            # create | update | delete
    kind: str              # realm | client | mapper | scope | role | action (a required action) | flow | execution
                           # | idp (an identity provider) | idpmapper
    target: str            # "realm", a clientId, "cdap/partner (attribut)", "cdap/role CDAP-Consulter"
    reason: str            # French, for the operator reading the plan
    fields: dict[str, Any] = field(default_factory=dict, compare=False)  # what to send

    def line(self) -> str:
        return f"{self.action:<6} {self.kind:<6} {self.target} — {self.reason}"


@dataclass
class ObservedRealm:
    settings: dict[str, Any]
    clients: list[dict[str, Any]]                        # with their protocolMappers
    client_scopes: dict[str, tuple[list[str], list[str]]]  # clientId -> (default, optional) scope names
    realm_roles: set[str]
    client_roles: dict[str, set[str]]                    # clientId -> role names
    required_actions: dict[str, dict[str, Any]] = field(default_factory=dict)  # alias -> representation
    # top-level flow alias -> Keycloak's flattened executions (`GET /authentication/flows/{alias}/executions`)
    executions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    identity_providers: dict[str, dict[str, Any]] | None = None        # alias -> representation (None: not read)
    idp_mappers: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (alias, name) -> mapper


# --- the file, as Keycloak's import reads it ---------------------------------------------------------------
def resolve(node: Any, env: Mapping[str, str] | None = None) -> Any:
    """`${VAR:default}` placeholders replaced as Keycloak's import does (from the environment)."""
    env = os.environ if env is None else env
    if isinstance(node, str):
        return _PLACEHOLDER.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), node)
    if isinstance(node, list):
        return [resolve(x, env) for x in node]
    if isinstance(node, dict):
        return {k: resolve(v, env) for k, v in node.items()}
    return node


def unset_placeholders(node: Any, env: Mapping[str, str] | None = None) -> list[str]:
    """The file's variables this environment leaves to a demonstration default (a `demo-only-…` secret, an
    address on this machine): in production the reconcile refuses to run with any, rather than put a redirect
    URI or a new client's secret back to the demo's. Other defaults (`external`, `false`, an empty password) are
    values a production may keep."""
    env = os.environ if env is None else env
    found: set[str] = set()

    def walk(n: Any) -> None:
        if isinstance(n, str):
            found.update(m.group(1) for m in _PLACEHOLDER.finditer(n)
                         if not env.get(m.group(1)) and _demo(m.group(2) or ""))
        elif isinstance(n, list):
            for x in n:
                walk(x)
        elif isinstance(n, dict):
            for x in n.values():
                walk(x)
    walk(node)
    return sorted(found)


def _demo(default: str) -> bool:
    return default.startswith("demo-only") or any(h in default for h in ("localhost", "127.0.0.1"))


def _same(want: Any, have: Any) -> bool:
    if want == "" and have is None:  # Keycloak does not keep an empty value (a mapper's blank client id)
        return True
    if isinstance(want, list) and all(not isinstance(x, (dict, list)) for x in want):
        return isinstance(have, list) and sorted(map(str, want)) == sorted(map(str, have))
    if isinstance(want, dict):
        return isinstance(have, dict) and all(
            k in WRITE_ONLY or _same(v, have.get(k)) for k, v in want.items())
    if isinstance(want, bool) or isinstance(have, bool):
        return str(want).lower() == str(have).lower()
    return want == have or (want is not None and have is not None and str(want) == str(have))


def _differing(want: dict[str, Any], have: dict[str, Any], skip: set[str]) -> list[str]:
    return sorted(k for k, v in want.items() if k not in skip and not _same(v, have.get(k)))


def _marked(client: dict[str, Any]) -> bool:
    return (client.get("attributes") or {}).get(naming.MANAGED_BY_ATTR) == naming.MANAGED_BY


def _with_marker(client: dict[str, Any]) -> dict[str, Any]:
    return {**client, "attributes": {**(client.get("attributes") or {}), naming.MANAGED_BY_ATTR: naming.MANAGED_BY}}


# --- the plan ---------------------------------------------------------------------------------------------
def plan_realm(desired: dict[str, Any], observed: ObservedRealm) -> list[RealmChange]:
    changes = _settings(desired, observed.settings)
    declared = {c["clientId"]: _with_marker(c) for c in desired.get("clients", [])}
    have = {c["clientId"]: c for c in observed.clients}
    for cid, want in declared.items():
        changes += _client(want, have.get(cid), observed.client_scopes.get(cid))
    for cid, c in sorted(have.items()):
        if cid not in declared and _marked(c):
            changes.append(RealmChange("delete", "client", cid, "client marqué comme le nôtre, absent du fichier"))
    changes += _roles(desired.get("roles") or {}, observed, set(declared))
    changes += _required_actions(desired.get("requiredActions") or [], observed.required_actions)
    changes += _flows(desired.get("authenticationFlows") or [], observed.executions)
    changes += _new_flows(desired, observed.executions)
    if observed.identity_providers is not None:
        changes += _identity_providers(desired.get("identityProviders") or [], desired.get("identityProviderMappers")
                                       or [], observed.identity_providers, observed.idp_mappers)
    return changes


def _new_flows(desired: dict[str, Any], observed: dict[str, list[dict[str, Any]]]) -> list[RealmChange]:
    """A top-level flow of ours (not built in) the realm lacks (a realm made before it, e.g. ProConnect's), created with its
    sub-flows, steps, requirements and configurations. A realm always holds Keycloak's built-in flows: none
    observed means they were not read, and nothing is planned."""
    if not observed:
        return []
    flows = desired.get("authenticationFlows") or []
    configs = {c["alias"]: c.get("config") or {} for c in desired.get("authenticatorConfig") or []}
    return [RealmChange("create", "flow", f["alias"], "parcours déclaré dans le fichier, absent du royaume : créé avec "
                        "ses étapes", {"flows": flows, "configs": configs})
            for f in flows if f.get("topLevel") and not f.get("builtIn") and f["alias"] not in observed]


def _identity_providers(declared: list[dict[str, Any]], mappers: list[dict[str, Any]],
                        have: dict[str, dict[str, Any]], have_mappers: dict[tuple[str, str], dict[str, Any]],
                        ) -> list[RealmChange]:
    """Each identity provider of the file (ProConnect) as the file says: its settings, the flows it runs, its
    configuration (endpoints, client id, PKCE; the client secret is sent at creation, never compared), and its
    mappers by name. Never deleted: one the file no longer names stays until an administrator removes it."""
    out: list[RealmChange] = []
    for want in declared:
        alias, found = want["alias"], have.get(want["alias"])
        if found is None:
            out.append(RealmChange("create", "idp", alias, "fournisseur d'identité déclaré dans le fichier, absent "
                                   "du royaume", want))
            continue
        differing = _differing({k: v for k, v in want.items() if k != "config"}, found, set())
        config, held = want.get("config") or {}, found.get("config") or {}
        changed = sorted(k for k, v in config.items() if k not in WRITE_ONLY and not _same(v, held.get(k)))
        if differing or changed:
            out.append(RealmChange("update", "idp", alias, "différent du fichier : " + ", ".join(
                differing + [f"config.{k}" for k in changed]), {**found, **{k: want[k] for k in differing},
                                                                "config": {**held, **{k: config[k] for k in changed}}}))
    for m in mappers:
        key = (m["identityProviderAlias"], m["name"])
        target, found = f"{key[0]}/{key[1]}", have_mappers.get(key)
        if found is None:
            out.append(RealmChange("create", "idpmapper", target, "déclaré dans le fichier", m))
        elif differing_m := _differing(m, found, {"id"}):
            out.append(RealmChange("update", "idpmapper", target, "différent du fichier : " + ", ".join(differing_m),
                                   {**m, "id": found["id"]}))
    return out


def _settings(desired: dict[str, Any], have: dict[str, Any]) -> list[RealmChange]:
    want = {k: v for k, v in desired.items() if k not in NOT_SETTINGS}
    differing = _differing(want, have, set())
    if not differing:
        return []
    fields = {k: _masked_if_unset(want[k]) for k in differing}
    return [RealmChange("update", "realm", "realm", "réglages différents du fichier : " + ", ".join(differing),
                        fields)]


def _masked_if_unset(value: Any) -> Any:
    """A write-only value this process was not given (the SMTP password) is sent masked: Keycloak keeps its own."""
    if isinstance(value, dict):
        return {k: (MASK if k in WRITE_ONLY and not v else v) for k, v in value.items()}
    return value


def _client(want: dict[str, Any], have: dict[str, Any] | None,
            scopes: tuple[list[str], list[str]] | None) -> list[RealmChange]:
    cid = want["clientId"]
    if have is None:
        return [RealmChange("create", "client", cid, "déclaré dans le fichier, absent du royaume", want)]
    out: list[RealmChange] = []
    differing = _differing(want, have, CLIENT_OWN)  # the secret is set at creation; rotating it is its own act
    if differing:
        fields = {k: want[k] for k in differing}
        if "attributes" in fields:
            fields["attributes"] = {**(have.get("attributes") or {}), **want["attributes"]}
        out.append(RealmChange("update", "client", cid, "différent du fichier : " + ", ".join(differing),
                               {**fields, "id": have["id"]}))
    mappers = {m["name"]: m for m in have.get("protocolMappers") or []}
    for m in want.get("protocolMappers") or []:
        found = mappers.get(m["name"])
        target = f"{cid}/{m['name']}"
        if found is None:
            out.append(RealmChange("create", "mapper", target, "déclaré dans le fichier", {"client": have["id"], **m}))
        elif differing_m := _differing(m, found, {"id"}):
            out.append(RealmChange("update", "mapper", target, "différent du fichier : " + ", ".join(differing_m),
                                   {"client": have["id"], **m, "id": found["id"]}))
    default, optional = scopes or ([], [])
    for kind, wanted, held in (("default", want.get("defaultClientScopes"), default),
                               ("optional", want.get("optionalClientScopes"), optional)):
        if wanted is None:
            continue
        add, remove = sorted(set(wanted) - set(held)), sorted(set(held) - set(wanted))
        if add or remove:
            out.append(RealmChange("update", "scope", f"{cid}/{kind}",
                                   "portées " + ", ".join([f"+{s}" for s in add] + [f"-{s}" for s in remove]),
                                   {"client": have["id"], "kind": kind, "add": add, "remove": remove}))
    return out


def _required_actions(declared: list[dict[str, Any]], have: dict[str, dict[str, Any]]) -> list[RealmChange]:
    """The steps Keycloak makes a person take (usage rules, personal password, second factor): a step disabled
    or made optional by hand is a security drift, put back."""
    out = []
    for want in declared:
        alias, found = want["alias"], have.get(want["alias"])
        if found is None:
            out.append(RealmChange("create", "action", alias, "action requise déclarée, non enregistrée", want))
        elif differing := _differing(want, found, set()):
            out.append(RealmChange("update", "action", alias, "différente du fichier : " + ", ".join(differing),
                                   {**found, **{k: want[k] for k in differing}}))
    return out


def flattened(flows: list[dict[str, Any]], alias: str) -> list[tuple[str, str]]:
    """A flow's executions as Keycloak lists them: depth first, each (authenticator or sub-flow alias,
    requirement)."""
    by_alias = {f["alias"]: f for f in flows}
    out: list[tuple[str, str]] = []

    def walk(name: str) -> None:
        for e in sorted(by_alias[name].get("authenticationExecutions") or [], key=lambda x: x.get("priority", 0)):
            key = e.get("flowAlias") or e.get("authenticator") or "?"
            out.append((key, e["requirement"]))
            if e.get("flowAlias") in by_alias:
                walk(e["flowAlias"])
    walk(alias)
    return out


def _observed_key(e: dict[str, Any]) -> str:
    return str(e.get("displayName") if e.get("authenticationFlow") else e.get("providerId"))


def _flows(declared: list[dict[str, Any]], observed: dict[str, list[dict[str, Any]]]) -> list[RealmChange]:
    """The steps of login (`browser` and its forms: password, first-login guard, the second factor of level 2)
    as the file says: an execution made optional or disabled by hand is a security drift, put back. A flow
    whose steps themselves differ (added, removed, reordered) is shown; it is not rebuilt here (Keycloak's
    import creates flows; re-import to repair)."""
    out: list[RealmChange] = []
    for flow in declared:
        alias = flow["alias"]
        if not flow.get("topLevel") or alias not in observed:
            continue
        want, have = flattened(declared, alias), observed[alias]
        if [k for k, _ in want] != [_observed_key(e) for e in have]:
            out.append(RealmChange("update", "flow", alias, "étapes différentes du fichier (ajoutées, retirées ou "
                                   "déplacées) : non réparable ici, réimporter le royaume"))
            continue
        for (key, requirement), e in zip(want, have, strict=True):
            if e.get("requirement") != requirement:
                out.append(RealmChange("update", "execution", f"{alias}/{key}",
                                       f"exigence {e.get('requirement')} au lieu de {requirement}",
                                       {"flow": alias, "execution": {**e, "requirement": requirement}}))
    return out


def _roles(declared: dict[str, Any], observed: ObservedRealm, clients: set[str]) -> list[RealmChange]:
    out = [RealmChange("create", "role", f"royaume/{r['name']}", "rôle déclaré dans le fichier", r)
           for r in declared.get("realm") or [] if r["name"] not in observed.realm_roles]
    for cid, roles in sorted((declared.get("client") or {}).items()):
        if cid not in clients:
            continue
        held = observed.client_roles.get(cid, set())
        out += [RealmChange("create", "role", f"{cid}/{r['name']}", "rôle déclaré dans le fichier",
                            {"client": cid, **r}) for r in roles if r["name"] not in held]
    return out


# --- the catalogue's part of the realm (issue 28 §1, §3) -----------------------------------------------------
def _attribute_mapper(name: str) -> dict[str, Any]:
    return {"name": f"{name} (attribut)", "protocol": "openid-connect",
            "protocolMapper": "oidc-usermodel-attribute-mapper", "consentRequired": False,
            "config": {"user.attribute": name, "claim.name": name, "jsonType.label": "String",
                       "id.token.claim": "true", "access.token.claim": "true", "userinfo.token.claim": "true",
                       "introspection.token.claim": "true", "multivalued": "false"}}


def habilitations_mapper(service: ServiceDef) -> dict[str, Any]:
    """The person's roles in this service's client, in the ID token too (claims contract v1: relying parties
    such as mod_auth_openidc read the ID token and the userinfo)."""
    return {"name": f"habilitations {service.code}", "protocol": "openid-connect",
            "protocolMapper": "oidc-usermodel-client-role-mapper", "consentRequired": False,
            "config": {"usermodel.clientRoleMapping.clientId": service.client,
                       "claim.name": f"resource_access.{service.client}.roles", "jsonType.label": "String",
                       "multivalued": "true", "id.token.claim": "true", "access.token.claim": "true",
                       "userinfo.token.claim": "true", "introspection.token.claim": "true"}}


def service_client(service: ServiceDef, secret: str) -> dict[str, Any]:
    """The OIDC client of a catalogue entry the realm file does not define: confidential, code flow with PKCE,
    back-channel logout, its level of authentication, the claims of the contract (docs/claims.md)."""
    url = service.url
    attributes = {"pkce.code.challenge.method": "S256", "backchannel.logout.session.required": "true",
                  "backchannel.logout.revoke.offline.tokens": "false",
                  "post.logout.redirect.uris": url + service.post_logout_path,
                  "oauth2.device.authorization.grant.enabled": "false", "oidc.ciba.grant.enabled": "false"}
    if service.backchannel_logout_path:
        attributes["backchannel.logout.url"] = url + service.backchannel_logout_path
    if service.level != "niveau-1":
        attributes |= {"minimum.acr.value": service.level, "default.acr.values": service.level}
    return {"clientId": service.client, "name": f"{service.code} - {service.label}",
            "description": service.description, "enabled": True, "protocol": "openid-connect",
            "publicClient": False, "clientAuthenticatorType": "client-secret", "secret": secret,
            "standardFlowEnabled": True, "implicitFlowEnabled": False, "directAccessGrantsEnabled": False,
            "serviceAccountsEnabled": False, "frontchannelLogout": False, "consentRequired": False,
            "rootUrl": url, "baseUrl": url + "/", "redirectUris": [url + service.redirect_path], "webOrigins": [],
            "attributes": attributes,
            "defaultClientScopes": ["web-origins", "acr", "profile", "roles", "basic", "email", "organization"],
            "optionalClientScopes": [],
            "protocolMappers": [_attribute_mapper("partner"), _attribute_mapper("caf"), habilitations_mapper(service)]}


def with_catalogue(realm: dict[str, Any], cat: Catalogue, secrets: Mapping[str, str]) -> dict[str, Any]:
    """The realm file completed by the catalogue: each service's client (the file's when it has one, else made
    from the entry) holds the roles of its groups and profiles."""
    out = {**realm, "clients": list(realm.get("clients") or []),
           "roles": {**(realm.get("roles") or {}), "client": dict((realm.get("roles") or {}).get("client") or {})}}
    defined = {c["clientId"] for c in out["clients"]}
    for s in cat.services:
        if s.client not in defined:
            out["clients"].append(service_client(s, secrets.get(s.code, "")))
        roles = list(out["roles"]["client"].get(s.client) or [])
        names = {r["name"] for r in roles}
        roles += [{"name": g.role, "description": g.description} for g in s.groups if g.role not in names]
        roles += [{"name": p.code, "description": p.description} for p in s.profiles if p.code not in names]
        out["roles"]["client"][s.client] = roles
    return out


def missing_secrets(cat: Catalogue, realm: dict[str, Any], secrets: Mapping[str, str]) -> list[str]:
    """The catalogue's services whose client the file does not define and whose secret nobody gave."""
    defined = {c["clientId"] for c in realm.get("clients") or []}
    return [s.code for s in cat.services if s.client not in defined and not secrets.get(s.code)]
