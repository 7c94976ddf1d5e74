"""The realm's configuration in Keycloak, read and changed for the realm reconcile (reconcile/realm.py), with a
realm administrator's credentials: the provisioning account may manage people, not clients nor the realm's
settings (least privilege). Representations stay Keycloak's own JSON: the realm file is written in them."""

from __future__ import annotations

import json
from typing import Any

from keycloak import KeycloakAdmin
from keycloak.exceptions import KeycloakError

from provisioning.errors import Transient
from provisioning.reconcile.realm import ObservedRealm, RealmChange


class RealmAdmin:
    def __init__(self, server_url: str, realm: str, username: str, password: str, admin_realm: str = "master"):
        self.realm = realm
        self.kc = KeycloakAdmin(server_url=server_url, username=username, password=password, realm_name=realm,
                                user_realm_name=admin_realm, timeout=30)

    def observe(self) -> ObservedRealm:
        """One read of the realm, its clients (mappers and scopes come with them) and its roles: a few calls,
        whatever the number of partners (the realm's own objects are a handful)."""
        try:
            settings = self.kc.get_realm(self.realm)
            clients = self.kc.get_clients()
            scopes = {c["clientId"]: (list(c.get("defaultClientScopes") or []), list(c.get("optionalClientScopes") or []))
                      for c in clients}
            client_roles = {c["clientId"]: {r["name"] for r in self.kc.get_client_roles(c["id"])}
                            for c in clients if not c["clientId"].endswith("-realm") and c["clientId"] != "broker"}
            realm_roles = {r["name"] for r in self.kc.get_realm_roles()}
            actions = {a["alias"]: a for a in self.kc.get_required_actions()}
            executions = {f["alias"]: self.kc.get_authentication_flow_executions(f["alias"])
                          for f in self.kc.get_authentication_flows() if f.get("topLevel")}
            idps = {i["alias"]: i for i in self.kc.get_idps()}
            idp_mappers = {(alias, m["name"]): m for alias in idps for m in self.kc.get_idp_mappers(alias)}
        except (KeycloakError, OSError) as e:
            raise Transient(f"Lecture de la configuration du royaume impossible : {e}") from e
        return ObservedRealm(settings, clients, scopes, realm_roles, client_roles, actions, executions, idps,
                             idp_mappers)

    def apply(self, changes: list[RealmChange]) -> list[RealmChange]:
        """Exactly these changes, in order (clients before their mappers, scopes and roles); returns them."""
        # a new flow first (the realm's settings and an identity provider name flows), its provider before mappers
        order = {"flow": -1, "realm": 0, "client": 1, "mapper": 2, "scope": 3, "role": 4, "action": 5, "execution": 6,
                 "idp": 7, "idpmapper": 8}
        done = []
        try:
            scope_ids: dict[str, str] | None = None
            for ch in sorted(changes, key=lambda c: order[c.kind]):
                if ch.kind == "flow" and ch.action != "create":
                    continue  # a flow's structure is not rebuilt here (reconcile.realm._flows): the next plan says it
                if ch.kind == "scope":
                    scope_ids = scope_ids or {s["name"]: s["id"] for s in self.kc.get_client_scopes()}
                    self._scopes(ch.fields, scope_ids)
                else:
                    try:
                        getattr(self, f"_{ch.action}_{ch.kind}")(ch)
                    except KeycloakError as e:
                        # another deploy created it a moment ago (two `realm apply` at once): it is there, as
                        # wanted; the plan made after the apply checks it says what the file says
                        if not (ch.action == "create" and getattr(e, "response_code", None) == 409):
                            raise
                done.append(ch)
        except (KeycloakError, OSError) as e:
            raise Transient(f"Keycloak a refusé un changement du royaume ({len(done)} appliqué(s) avant) : {e}") from e
        return done

    def _update_execution(self, ch: RealmChange) -> None:
        self.kc.update_authentication_flow_executions(ch.fields["execution"], ch.fields["flow"])

    def _update_realm(self, ch: RealmChange) -> None:
        self.kc.update_realm(self.realm, ch.fields)

    def _create_client(self, ch: RealmChange) -> None:
        self.kc.create_client(ch.fields)

    def _update_client(self, ch: RealmChange) -> None:
        fields = dict(ch.fields)
        client_id = fields.pop("id")
        current = self.kc.get_client(client_id)
        self.kc.update_client(client_id, {**current, **fields})

    def _delete_client(self, ch: RealmChange) -> None:
        found = self.kc.get_client_id(ch.target)
        if found:  # gone already: another deploy deleted it
            self.kc.delete_client(found)

    def _create_mapper(self, ch: RealmChange) -> None:
        fields = dict(ch.fields)
        self.kc.add_mapper_to_client(fields.pop("client"), fields)

    def _update_mapper(self, ch: RealmChange) -> None:
        fields = dict(ch.fields)
        self.kc.update_client_mapper(fields.pop("client"), fields["id"], fields)

    def _scopes(self, f: dict[str, Any], ids: dict[str, str]) -> None:
        add = self.kc.add_client_default_client_scope if f["kind"] == "default" \
            else self.kc.add_client_optional_client_scope
        remove = self.kc.delete_client_default_client_scope if f["kind"] == "default" \
            else self.kc.delete_client_optional_client_scope
        for name in f["remove"]:
            if name in ids:
                remove(f["client"], ids[name])
        for name in f["add"]:
            if name not in ids:
                raise Transient(f"La portée « {name} » n'existe pas dans le royaume.")
            add(f["client"], ids[name], {"realm": self.realm, "client": f["client"], "clientScopeId": ids[name]})

    def _update_action(self, ch: RealmChange) -> None:
        self.kc.update_required_action(ch.target, ch.fields)

    def _create_action(self, ch: RealmChange) -> None:
        self.kc.connection.raw_post(f"admin/realms/{self.realm}/authentication/register-required-action",
                                    data=json.dumps({"providerId": ch.fields["providerId"], "name": ch.fields["name"]}))
        self.kc.update_required_action(ch.target, ch.fields)

    def _create_role(self, ch: RealmChange) -> None:
        fields = dict(ch.fields)
        client = fields.pop("client", None)
        if client is None:
            self.kc.create_realm_role(fields, skip_exists=True)
            return
        internal = self.kc.get_client_id(client)
        if internal:
            self.kc.create_client_role(internal, fields, skip_exists=True)

    # --- identity providers (issue 32) -------------------------------------------------------------------
    def _create_idp(self, ch: RealmChange) -> None:
        self.kc.create_idp(ch.fields)

    def _update_idp(self, ch: RealmChange) -> None:
        self.kc.update_idp(ch.target, ch.fields)

    def _create_idpmapper(self, ch: RealmChange) -> None:
        self.kc.add_mapper_to_idp(ch.fields["identityProviderAlias"], ch.fields)

    def _update_idpmapper(self, ch: RealmChange) -> None:
        self.kc.update_mapper_in_idp(ch.fields["identityProviderAlias"], ch.fields["id"], ch.fields)

    # --- a flow the realm lacks, built step by step as the file says ----------------------------------------
    def _create_flow(self, ch: RealmChange) -> None:
        flows = {f["alias"]: f for f in ch.fields["flows"]}
        top = flows[ch.target]
        self.kc.create_authentication_flow({"alias": top["alias"], "description": top.get("description", ""),
                                            "providerId": top.get("providerId", "basic-flow"), "topLevel": True,
                                            "builtIn": False}, skip_exists=False)
        self._steps(top["alias"], flows, ch.fields["configs"])

    def _steps(self, alias: str, flows: dict[str, dict[str, Any]], configs: dict[str, dict[str, str]]) -> None:
        for e in sorted(flows[alias].get("authenticationExecutions") or [], key=lambda x: x.get("priority", 0)):
            sub = flows.get(e.get("flowAlias") or "")
            if sub is not None:
                self.kc.create_authentication_flow_subflow(
                    {"alias": sub["alias"], "type": sub.get("providerId", "basic-flow"),
                     "description": sub.get("description", ""), "provider": "registration-page-form"}, alias)
            else:
                self.kc.create_authentication_flow_execution({"provider": e["authenticator"]}, alias)
            # the step just added: the last of this flow's own level (Keycloak lists sub-flows' steps inline)
            added = [x for x in self.kc.get_authentication_flow_executions(alias) if x.get("level") == 0][-1]
            self.kc.update_authentication_flow_executions({**added, "requirement": e["requirement"]}, alias)
            if e.get("authenticatorConfig"):
                r = self.kc.connection.raw_post(
                    f"admin/realms/{self.realm}/authentication/executions/{added['id']}/config",
                    data=json.dumps({"alias": e["authenticatorConfig"],
                                     "config": configs.get(e["authenticatorConfig"], {})}))
                if r.status_code >= 400:
                    raise Transient(f"Configuration « {e['authenticatorConfig']} » refusée : {r.status_code} "
                                    f"{r.text[:200]}")
            if sub is not None:
                self._steps(sub["alias"], flows, configs)
