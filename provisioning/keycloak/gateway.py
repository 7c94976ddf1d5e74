"""The one module that talks to Keycloak (python-keycloak inside, our dataclasses outside).

Observation is bulk: users, our marked groups (paths, attributes, roles, members) and our organisations'
members come a page at a time from our extension's read-only endpoint (mcp-bulk/memberships), direct role
grants one read per managed role, side by side. Without the extension, the admin API's reads are used:
users in pages, groups by attribute query with their hierarchy, members one group at a time, concurrently.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from keycloak import KeycloakAdmin, KeycloakOpenIDConnection
from keycloak.exceptions import KeycloakError

from provisioning import metrics
from provisioning.domain import naming as n
from provisioning.errors import Conflict, KeycloakRefused, Transient, Unavailable
from provisioning.reconcile.state import AccountState, GroupSpec, OrgSpec, RoleRef, Scope, State, UserSpec

log = logging.getLogger(__name__)
PAGE = 500
KEPT_ATTRS = {n.PARTNER_ATTR, n.CAF_ATTR, n.KIND_ATTR}
SECOND_FACTORS = {"otp", "webauthn", "recovery-authn-codes"}  # Keycloak's credential types (issue 13)


class Gateway(Protocol):
    def observe(self, scope: Scope | None = None) -> State: ...
    def create_org(self, spec: OrgSpec) -> str: ...
    def update_org(self, org_id: str, spec: OrgSpec) -> None: ...
    def delete_org(self, org_id: str) -> None: ...
    def add_org_member(self, org_id: str, user_id: str) -> None: ...
    def remove_org_member(self, org_id: str, user_id: str) -> None: ...
    def create_group(self, spec: GroupSpec, parent_id: str | None) -> str: ...
    def change_group_roles(self, group_id: str, add: list[RoleRef], remove: list[RoleRef]) -> None: ...
    def delete_group(self, group_id: str) -> None: ...
    def create_user(self, spec: UserSpec, temporary_password: str | None, expires_at: int | None = None,
                    groups: Sequence[str] = ()) -> str: ...
    def reset_provisional(self, user_id: str, password: str | None, expires_at: int | None, *,
                          only_if_enabled: bool = False) -> None: ...
    def users_with_attributes(self) -> list[dict]: ...
    def send_action_link(self, user_id: str, lifespan: int, client_id: str) -> None: ...
    def logins_since(self, since: datetime) -> set[str]: ...
    def last_logins(self, since: datetime) -> dict[str, datetime]: ...
    def update_user(self, user_id: str, spec: UserSpec) -> None: ...
    def set_enabled(self, user_id: str, enabled: bool) -> None: ...
    def add_member(self, user_id: str, group_id: str) -> None: ...
    def remove_member(self, user_id: str, group_id: str) -> None: ...
    def remove_direct_role(self, user_id: str, role: RoleRef) -> None: ...
    def logout_user(self, user_id: str) -> None: ...
    def previous_login(self, user_id: str, current_session: str | None) -> datetime | None: ...
    def unmanaged_account(self, username: str, email: str) -> str | None: ...
    def adopt(self, username: str) -> bool: ...
    def account(self, username: str) -> AccountState: ...
    def accounts(self, usernames: list[str]) -> dict[str, AccountState]: ...
    def unlock(self, user_id: str) -> None: ...
    def reset_second_factor(self, user_id: str) -> list[str]: ...
    def unlink_identity(self, user_id: str) -> bool: ...
    def proconnect_linked(self, user_id: str) -> bool: ...
    def user_id(self, username: str) -> str | None: ...


@dataclass(frozen=True)
class KeycloakConfig:
    server_url: str
    realm: str = "mon-compte-partenaire"
    client_id: str = "provisioning"
    client_secret: str = ""
    verify: bool | str = True


class AccountDisabled(Transient):
    """The account is disabled in Keycloak: credentials wait until the plan enables it."""
    def __init__(self, description: str):
        super().__init__(description)
        self.code = "COMPTE_DESACTIVE"


def _password_created(credentials: list[dict] | None) -> int | None:
    """When the account's password credential was set (ms), or None without one."""
    dates = [int(c.get("createdDate") or 0) for c in credentials or [] if c.get("type") == "password"]
    return max(dates) if dates else None


def _nobody_knows() -> str:
    """A password no one will ever be told, that meets the realm's policy: it replaces one that must die."""
    return "Mcp-" + secrets.token_urlsafe(32) + "-9a!"


def _reason(e: KeycloakError) -> str:
    """Keycloak's own words (errorMessage / error), short, without echoing a whole body."""
    raw = e.error_message
    try:
        body = json.loads(raw) if isinstance(raw, (str, bytes)) else raw
        if isinstance(body, dict):
            raw = body.get("errorMessage") or body.get("error_description") or body.get("error") or raw
    except ValueError:
        pass
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    return text[:200]


def _attrs(raw: dict | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v[0]) for k, v in (raw or {}).items() if k in KEPT_ATTRS and v))


def _managed(raw: dict | None) -> bool:
    return (raw or {}).get(n.MANAGED_BY_ATTR) == [n.MANAGED_BY]


def _wire_attrs(attributes: tuple[tuple[str, str], ...], managed: bool) -> dict[str, list[str]]:
    out = {k: [v] for k, v in attributes}
    if managed:
        out[n.MANAGED_BY_ATTR] = [n.MANAGED_BY]
    return out


class KeycloakGateway:
    def __init__(self, cfg: KeycloakConfig, workers: int = 8, page_size: int = PAGE, bulk_reads: bool = True):
        conn = KeycloakOpenIDConnection(server_url=cfg.server_url, realm_name=cfg.realm, user_realm_name=cfg.realm,
                                        client_id=cfg.client_id, client_secret_key=cfg.client_secret,
                                        verify=cfg.verify, timeout=30, pool_maxsize=max(10, workers))
        # one gateway serves a process (app_factory.build): python-keycloak keeps its service-account token
        # and renews it at 90 % of its lifetime, so a request never pays for a token
        self.kc = KeycloakAdmin(connection=conn)
        self.realm = cfg.realm
        self.workers = workers
        self.page_size = page_size
        self.bulk_reads = bulk_reads  # members through our extension's bulk endpoint while it answers
        self._client_ids: dict[str, str] = {}
        self._roles: dict[RoleRef, dict] = {}

    # --- helpers ---------------------------------------------------------------------------------
    def _call(self, what: str, fn, *args, accept: tuple[int, ...] = (), **kw):
        """Every call to Keycloak goes through here: no answer -> Unavailable; a refusal -> Transient with
        Keycloak's reason, unless its status is in `accept` (then None is returned). Counted and timed by
        operation and outcome (provisioning/metrics.py)."""
        op = metrics.operation(what)
        outcome = "ok"
        try:
            with metrics.KEYCLOAK_SECONDS.labels(op).time():
                return fn(*args, **kw)
        except KeycloakError as e:
            outcome = "unavailable" if e.response_code is None else "refused"
            if e.response_code is None:  # no answer at all
                raise Unavailable(f"Keycloak injoignable pendant « {what} » : {_reason(e)}") from e
            if e.response_code in accept:
                outcome = f"accepted-{e.response_code}"
                return None
            if e.response_code == 404:  # the realm was re-imported under a long-lived process: ids moved
                self._client_ids.clear()
                self._roles.clear()
            refusal = KeycloakRefused if e.response_code in (400, 403, 409, 422) else Transient
            raise refusal(f"Keycloak a refusé « {what} » : {e.response_code} {_reason(e)}") from e
        except OSError as e:  # connection refused, DNS, timeouts
            outcome = "unavailable"
            raise Unavailable(f"Keycloak injoignable pendant « {what} » : {e}") from e
        finally:
            metrics.KEYCLOAK_CALLS.labels(op, outcome).inc()

    def _raw_get(self, path: str, **params: Any) -> Any:
        url = f"admin/realms/{self.realm}{path}"
        r = self._call(f"GET {path}", self.kc.connection.raw_get, url, **params)
        if r.status_code >= 400:
            raise Transient(f"Keycloak a refusé « GET {path} » : {r.status_code} {r.text[:200]}")
        return r.json()

    @staticmethod
    def _pages(fetch, size: int) -> list[dict]:
        """Every item of a listing read `size` at a time: `fetch(first, size)` gives one page."""
        out, first = [], 0
        while True:
            page = fetch(first, size)
            out.extend(page)
            if len(page) < size:
                return out
            first += size

    def _paged(self, path: str, **params) -> list[dict]:
        return self._pages(lambda first, size: self._raw_get(path, first=first, max=size, **params), self.page_size)

    def _bulk(self, kind: str, partner: str | None, usernames: Sequence[str] = (), roots: Sequence[str] = (),
              ) -> list[dict] | None:
        """Every user (kind "users"), or every group or organisation carrying our marker (of one partner, or
        all) with its members, a page at a time, from our extension's read-only endpoint (keycloak-extension,
        MembershipsResource); None where the extension is not installed (then the admin API's reads).

        Pages are read by key (issue 27 §3): each asks for the ids after the last one received, so the last
        page of a branch-sized realm costs what the first costs. An extension older than that ignores `after`
        and answers its first page again: met, the read goes on by offset."""
        if not self.bulk_reads:
            return None
        url = f"realms/{self.realm}/{n.BULK_ENDPOINT}"
        size = min(self.page_size, 1000)

        def fetch(**where: Any) -> list[dict]:
            params: dict[str, Any] = {"kind": kind, "max": size, **where, **({"partner": partner} if partner else {}),
                                      **({"username": list(usernames)} if usernames else {}),
                                      **({"root": list(roots)} if roots else {})}
            r = self._call(f"GET {n.BULK_ENDPOINT}", self.kc.connection.raw_get, url, **params)
            if r.status_code == 404 and not where:
                raise LookupError  # not installed
            if r.status_code >= 400:
                raise Transient(f"Keycloak a refusé « GET {n.BULK_ENDPOINT} » : {r.status_code} {r.text[:200]}")
            return r.json()
        try:
            out = fetch()
        except LookupError:
            log.warning("Keycloak has no %s endpoint (extension not installed): the admin API's reads instead",
                        n.BULK_ENDPOINT)
            self.bulk_reads = False
            return None
        page = out
        while len(page) == size:
            page = fetch(after=page[-1]["id"])
            if page and page[0]["id"] == out[0]["id"]:  # an extension without keyset paging
                return self._pages(lambda first, _: fetch(first=first), size)
            out.extend(page)
        return out

    def _client_uuid(self, client_id: str) -> str:
        """A client's id, kept once found. A client not (yet) in the realm is never remembered as missing: a
        catalogue service's client appears when the realm's configuration is applied, maybe after this process
        started (found by the third-service story: a worker had looked it up a moment before)."""
        if client_id not in self._client_ids:
            found = self._call("client", self.kc.get_client_id, client_id)
            if not found:
                raise Unavailable(f"Le client « {client_id} » n'existe pas dans le royaume : appliquez sa "
                                  "configuration (mcp-provisioning realm apply).")
            self._client_ids[client_id] = found
        return self._client_ids[client_id]

    def _client_exists(self, client_id: str) -> bool:
        try:
            self._client_uuid(client_id)
        except Unavailable:
            return False
        return True

    def _role(self, ref: RoleRef) -> dict:
        if ref not in self._roles:
            client, name = ref
            rep = (self._call("role", self.kc.get_client_role, self._client_uuid(client), name) if client
                   else self._call("role", self.kc.get_realm_role, name))
            self._roles[ref] = {"id": rep["id"], "name": rep["name"]}
        return self._roles[ref]

    # --- observation -------------------------------------------------------------------------------
    def observe(self, scope: Scope | None = None) -> State:
        """What Keycloak holds. With a scope (one partner, for API mutations) only that partner's objects
        are read: its users by attribute query, its groups and organisation by their partner attribute."""
        s = State()
        users, with_roles = self._observed_users(scope)
        for u in users:
            s.users[u["username"]] = UserSpec(
                u["username"], u.get("firstName") or "", u.get("lastName") or "", u.get("email") or "",
                u.get("enabled", True), _attrs(u.get("attributes")), u["id"], _managed(u.get("attributes")))
        partner = scope.siret if scope else None
        # one partner's groups come with the root they hang from (its id: a first group is created under it)
        bulk_groups = self._bulk("groups", partner, roots=[n.PARTNERS_ROOT] if partner else ())
        self._observe_groups(s, scope, bulk_groups)
        bulk = {e["id"]: e["members"] for e in bulk_groups or []}
        by_id = {u.id: u.username for u in s.users.values()}

        def members(g: GroupSpec) -> tuple[str, set[str]]:
            rows = bulk.get(g.id)
            if rows is None:  # no extension, or a group without our marker: Keycloak's own per-group read
                rows = self._paged(f"/groups/{g.id}/members", briefRepresentation="true")
            s.member_ids.update({r["username"]: r["id"] for r in rows})  # foreign members too: drift to remove
            return g.path, {by_id.get(r["id"], r["username"]) for r in rows}

        org_entries = self._bulk("organizations", partner)
        self._observe_orgs(s, scope, org_entries)
        org_bulk = {e["id"]: e["members"] for e in org_entries or []}

        def org_members(o: OrgSpec) -> tuple[str, set[str]]:
            rows = org_bulk.get(o.id)
            if rows is None:
                rows = self._paged(f"/organizations/{o.id}/members", briefRepresentation="true")
            s.member_ids.update({r["username"]: r["id"] for r in rows})
            return o.alias, {r["username"] for r in rows}

        with ThreadPoolExecutor(self.workers) as pool:
            s.members = dict(pool.map(members, [g for g in s.groups.values() if g.roles]))
            s.org_members = dict(pool.map(org_members, s.orgs.values()))
        if with_roles:
            # the extension read the partner's people with the roles they hold directly: nothing more to ask
            managed = {(None, r) for r in n.MANAGED_REALM_ROLES} | set(n.managed_client_roles())
            s.direct_roles.update((u["username"], ref) for u in users for ref in [
                *((None, r) for r in u["realmRoles"]),
                *((c, r) for c, rs in (u.get("clientRoles") or {}).items() for r in rs)] if ref in managed)
        else:
            self._observe_direct_roles(s, scope)
        return s

    def _observed_users(self, scope: Scope | None) -> tuple[list[dict], bool]:
        """The users to observe, and whether they came with the roles they hold directly."""
        if scope is None:
            # our extension reads users with their attributes in two queries a page; the admin API's full
            # representation costs Keycloak a user profile evaluation per user (slow on large realms)
            users = self._bulk("users", None)
            return (users if users is not None else self._paged("/users", briefRepresentation="false")), False
        try:
            bulk = self._bulk("users", scope.siret)
        except Transient:  # an extension from before one partner's users (400): the admin API's reads
            bulk = None
        if bulk is not None:  # the partner's people and their direct roles, one request (issue 27 §3)
            missing = sorted(scope.usernames - {u["username"] for u in bulk})
            for i in range(0, len(missing), 200):  # someone new, not yet marked: named (its partner's again)
                seen = {u["username"] for u in bulk}
                bulk += [u for u in self._bulk("users", scope.siret, missing[i:i + 200]) or []
                         if u["username"] not in seen]
            return bulk, all("realmRoles" in u for u in bulk)  # an older extension gives no roles
        users = self._paged("/users", q=f"{n.PARTNER_ATTR}:{scope.siret}", briefRepresentation="false")
        found = {u["username"] for u in users}
        for name in sorted(scope.usernames - found):  # new users, or users adopted without our attribute
            users += [u for u in self._raw_get("/users", username=name, exact="true", briefRepresentation="false")
                      if u["username"] == name]
        return users, False

    @staticmethod
    def _group_spec(g: dict) -> GroupSpec:
        roles = {(None, r) for r in g.get("realmRoles", [])}
        roles |= {(c, r) for c, rs in (g.get("clientRoles") or {}).items() for r in rs}
        return GroupSpec(g["path"], _attrs(g.get("attributes")), frozenset(roles), g["id"],
                         _managed(g.get("attributes")))

    def _observe_groups(self, s: State, scope: Scope | None, bulk_groups: list[dict] | None) -> None:
        def walk(g: dict) -> None:
            s.groups[g["path"]] = self._group_spec(g)
            children = g.get("subGroups") or []
            in_scope = scope is None or (scope.covers_group(g["path"]) and g["path"] != f"/{n.PARTNERS_ROOT}")
            if in_scope and g.get("subGroupCount", 0) > len(children):
                # search results carry a truncated hierarchy on large realms: read the rest, a page at a time
                children = self._paged(f"/groups/{g['id']}/children", briefRepresentation="false")
            for child in children:
                walk(child)

        if bulk_groups is not None:
            # our extension lists every marked group with its path and roles: no hierarchy walk (which costs
            # about one request a partner on large realms). Unmarked groups are not ours: a creation at
            # such a path is refused by Keycloak and reported, never taken over.
            for e in bulk_groups:
                s.groups[e["path"]] = self._group_spec(e)
        else:
            query = f"{n.MANAGED_BY_ATTR}:{n.MANAGED_BY}" if scope is None else f"{n.PARTNER_ATTR}:{scope.siret}"
            for top in self._paged("/groups", q=query, briefRepresentation="false", populateHierarchy="true"):
                walk(top)
        if scope is None:  # the query returns ancestors of matches too; keep what belongs to our trees
            s.groups = {p: g for p, g in s.groups.items()
                        if p.split("/")[1] in (n.PARTNERS_ROOT, n.CAFS_ROOT) or g.managed}
            return
        s.groups = {p: g for p, g in s.groups.items() if scope.covers_group(p)}
        if f"/{n.PARTNERS_ROOT}" not in s.groups:  # a partner without groups yet: its parent still counts
            root = self._call("group by path", self.kc.get_group_by_path, f"/{n.PARTNERS_ROOT}", accept=(404,))
            if root:
                walk({**root, "subGroups": []})

    def _observe_orgs(self, s: State, scope: Scope | None, bulk: list[dict] | None = None) -> None:
        if bulk is not None and all("name" in o for o in bulk):  # the extension gives names and attributes too
            for o in bulk:
                s.orgs[o["alias"]] = OrgSpec(o["alias"], o["name"], _attrs(o.get("attributes")), o["id"],
                                             _managed(o.get("attributes")))
            return
        org_query = {} if scope is None else {"q": f"{n.PARTNER_ATTR}:{scope.siret}"}
        for o in self._paged("/organizations", briefRepresentation="false", **org_query):
            s.orgs[o["alias"]] = OrgSpec(o["alias"], o["name"], _attrs(o.get("attributes")), o["id"],
                                         _managed(o.get("attributes")))

    def _observe_direct_roles(self, s: State, scope: Scope | None) -> None:
        holders = [(None, r) for r in sorted(n.MANAGED_REALM_ROLES)] + sorted(n.managed_client_roles(), key=str)

        def held(ref: RoleRef) -> list[tuple[str, RoleRef]]:
            client, role = ref
            if client and not self._client_exists(client):
                return []  # nobody holds a role of a client the realm does not have yet
            path = f"/clients/{self._client_uuid(client)}/roles/{role}/users" if client else f"/roles/{role}/users"
            return [(u["username"], ref) for u in self._paged(path, briefRepresentation="true")]

        with ThreadPoolExecutor(self.workers) as pool:  # one read per managed role, side by side
            for grants in pool.map(held, holders):
                s.direct_roles.update(g for g in grants if scope is None or g[0] in s.users)

    # --- organisations ------------------------------------------------------------------------------
    def create_org(self, spec: OrgSpec) -> str:
        payload = {"name": spec.name, "alias": spec.alias, "enabled": True,
                   "attributes": _wire_attrs(spec.attributes, True)}
        oid = self._call(f"création de l'organisation {spec.alias}", self.kc.create_organization, payload,
                         accept=(409,))
        if oid:
            return oid
        # 409: created by an interrupted run; take it only if it carries our marker
        for o in self._paged("/organizations", search=spec.alias, briefRepresentation="false"):
            if o["alias"] == spec.alias and _managed(o.get("attributes")):
                return o["id"]
        raise KeycloakRefused(f"Création de l'organisation {spec.alias} refusée : une organisation de ce nom existe "
                        "sans être gérée par Mon Compte Partenaire.")

    def update_org(self, org_id: str, spec: OrgSpec) -> None:
        self._call("update organisation", self.kc.update_organization, org_id,
                   {"id": org_id, "name": spec.name, "alias": spec.alias, "enabled": True,
                    "attributes": _wire_attrs(spec.attributes, True)})

    def delete_org(self, org_id: str) -> None:
        self._call("delete organisation", self.kc.delete_organization, org_id)

    def add_org_member(self, org_id: str, user_id: str) -> None:
        self._call("ajout à l'organisation", self.kc.organization_user_add, user_id, org_id, accept=(409,))

    def remove_org_member(self, org_id: str, user_id: str) -> None:
        self._call("remove organisation member", self.kc.organization_user_remove, user_id, org_id)

    # --- groups ---------------------------------------------------------------------------------------
    def create_group(self, spec: GroupSpec, parent_id: str | None) -> str:
        payload = {"name": spec.name, "attributes": _wire_attrs(spec.attributes, True)}
        gid = self._call(f"création du groupe {spec.path}", self.kc.create_group, payload, parent=parent_id,
                         skip_exists=False, accept=(409,))
        if gid is None:  # created by an interrupted run: take it only if it carries our marker
            found = self._call("group by path", self.kc.get_group_by_path, spec.path)
            if not _managed(found.get("attributes")):
                raise KeycloakRefused(f"Création du groupe {spec.path} refusée : un groupe de ce nom existe sans être "
                                "géré par Mon Compte Partenaire.")
            gid = found["id"]
        self.change_group_roles(gid, sorted(spec.roles, key=str), [])
        return gid

    def change_group_roles(self, group_id: str, add: list[RoleRef], remove: list[RoleRef]) -> None:
        for refs, realm_fn, client_fn in ((add, self.kc.assign_group_realm_roles, self.kc.assign_group_client_roles),
                                          (remove, self.kc.delete_group_realm_roles, self.kc.delete_group_client_roles)):
            for ref in refs:
                role = self._role(ref)
                if ref[0]:
                    self._call("group client role", client_fn, group_id, self._client_uuid(ref[0]), [role])
                else:
                    self._call("group realm role", realm_fn, group_id, [role])

    def delete_group(self, group_id: str) -> None:
        self._call("suppression du groupe", self.kc.delete_group, group_id, accept=(404,))

    # --- users ------------------------------------------------------------------------------------------
    def create_user(self, spec: UserSpec, temporary_password: str | None, expires_at: int | None = None,
                    groups: Sequence[str] = ()) -> str:
        """`groups`: paths of existing groups she joins with her creation (one request instead of one each)."""
        attributes = _wire_attrs(spec.attributes, True)
        if expires_at:
            attributes[n.PROVISIONAL_EXPIRES_ATTR] = [str(expires_at)]
        payload = {"username": spec.username, "firstName": spec.first_name, "lastName": spec.last_name,
                   "email": spec.email, "emailVerified": True, "enabled": spec.enabled,
                   "attributes": attributes, "requiredActions": ["TERMS_AND_CONDITIONS", "UPDATE_PASSWORD"]}
        if groups:
            payload["groups"] = list(groups)
        if temporary_password:
            payload["credentials"] = [{"type": "password", "value": temporary_password, "temporary": True}]
        return self._call("create user", self.kc.create_user, payload, exist_ok=False)

    def reset_provisional(self, user_id: str, password: str | None, expires_at: int | None, *,
                          only_if_enabled: bool = False) -> None:
        """Re-issue (R13, R18): the old password dies; a new provisional one with a new 24 h deadline, or
        (`password` None: a re-issue before its mail, or action-link mode) a random one nobody knows if the
        account has a password to kill. Either way Keycloak moves the old one into its password history, so it
        cannot be chosen again (a deleted credential would leave no history). Never enables the account: that
        is the plan's decision; with `only_if_enabled`, a disabled account gets nothing (COMPTE_DESACTIVE,
        retried later)."""
        current = self._call("get user", self.kc.get_user, user_id)
        if not _managed(current.get("attributes")):  # never the password of an account we did not create
            raise Conflict(f"Le compte {current.get('username')} n'est pas géré par Mon Compte Partenaire : "
                           "aucun code ne lui est envoyé.", code="COMPTE_NON_GERE")
        if only_if_enabled and not current.get("enabled"):
            raise AccountDisabled(f"Le compte {current.get('username')} est désactivé dans Keycloak : ses codes "
                                  "partiront quand il sera actif.")
        before = _password_created(self._call("credentials", self.kc.get_credentials, user_id))
        if password or before is not None:
            self._call("reset password", self.kc.set_user_password, user_id, password or _nobody_knows(),
                       temporary=True)
        if password:  # issue 25: mailed only once Keycloak shows it holds this password (a newer credential)
            after = _password_created(self._call("credentials", self.kc.get_credentials, user_id))
            if after is None or (before is not None and after <= before):
                raise Transient(f"Keycloak ne confirme pas le nouveau mot de passe de {current.get('username')} : "
                                "rien n'est envoyé, un autre partira.")
        attrs = current.setdefault("attributes", {})
        if expires_at:
            attrs[n.PROVISIONAL_EXPIRES_ATTR] = [str(expires_at)]
        else:
            attrs.pop(n.PROVISIONAL_EXPIRES_ATTR, None)
        current["requiredActions"] = sorted(set(current.get("requiredActions") or []) | {"UPDATE_PASSWORD"})
        # `enabled` left out (Keycloak keeps it): a representation read before the worker enabled or disabled
        # the account would otherwise put the old value back
        current.pop("enabled", None)
        self._put_user(user_id, current)
        self.logout_user(user_id)

    def _put_user(self, user_id: str, rep: dict) -> None:
        """Always the whole representation: with the declarative user profile, a partial one that carries
        `attributes` drops the names and email it does not repeat."""
        rep = {k: v for k, v in rep.items() if k not in ("access", "credentials")}
        self._call("update user", self.kc.update_user, user_id, rep)

    def send_action_link(self, user_id: str, lifespan: int, client_id: str) -> None:
        """Action-link onboarding: Keycloak mails a link (valid `lifespan` s) to accept the usage rules and
        choose a password; no password ever travels by mail. Keycloak's final page links back to the
        client's base URL (no extra redirect URI to register)."""
        self._call("execute-actions-email", self.kc.send_update_account, user_id,
                   ["TERMS_AND_CONDITIONS", "UPDATE_PASSWORD"], client_id=client_id, lifespan=lifespan)

    def users_with_attributes(self) -> list[dict]:
        """Every user with id, username, creation time and attributes (one paged read)."""
        return [{"id": u["id"], "username": u["username"], "created": u.get("createdTimestamp", 0) / 1000,
                 "attributes": u.get("attributes") or {}}
                for u in self._paged("/users", briefRepresentation="false")]

    def logins_since(self, since: datetime) -> set[str]:
        """Ids of users with a stored LOGIN event since `since` (one paged read of the event store)."""
        out, first = set(), 0
        while True:
            page = self._raw_get("/events", type="LOGIN", dateFrom=since.strftime("%Y-%m-%d"),
                                 first=first, max=self.page_size)
            out |= {e["userId"] for e in page if e.get("userId") and e["time"] / 1000 >= since.timestamp()}
            if len(page) < self.page_size:
                return out
            first += self.page_size

    def last_logins(self, since: datetime) -> dict[str, datetime]:
        """username -> newest LOGIN since `since` (one paged read of the event store, newest first: what an
        access review shows beside each person, for a whole partner at once)."""
        out: dict[str, datetime] = {}
        first = 0
        while True:
            page = self._raw_get("/events", type="LOGIN", dateFrom=since.strftime("%Y-%m-%d"),
                                 first=first, max=self.page_size)
            for e in page:
                name = (e.get("details") or {}).get("username")
                at = datetime.fromtimestamp(e["time"] / 1000, tz=UTC)
                if name and (name not in out or at > out[name]):
                    out[name] = at
            if len(page) < self.page_size:
                return out
            first += self.page_size

    def update_user(self, user_id: str, spec: UserSpec) -> None:
        current = self._call("get user", self.kc.get_user, user_id)
        attrs = dict(current.get("attributes") or {})
        for k in KEPT_ATTRS - {n.KIND_ATTR}:
            attrs.pop(k, None)
        attrs.update({k: [v] for k, v in spec.attributes})
        current.update(firstName=spec.first_name, lastName=spec.last_name, email=spec.email, attributes=attrs)
        self._put_user(user_id, current)

    def set_enabled(self, user_id: str, enabled: bool) -> None:
        current = self._call("get user", self.kc.get_user, user_id)
        current["enabled"] = enabled
        self._put_user(user_id, current)
        if not enabled:
            self.logout_user(user_id)

    def add_member(self, user_id: str, group_id: str) -> None:
        self._call("add member", self.kc.group_user_add, user_id, group_id)

    def remove_member(self, user_id: str, group_id: str) -> None:
        self._call("remove member", self.kc.group_user_remove, user_id, group_id)

    def remove_direct_role(self, user_id: str, role: RoleRef) -> None:
        rep = self._role(role)
        if role[0]:
            self._call("remove client role", self.kc.delete_client_roles_of_user, user_id,
                       self._client_uuid(role[0]), [rep])
        else:
            self._call("remove realm role", self.kc.delete_realm_roles_of_user, user_id, [rep])

    def logout_user(self, user_id: str) -> None:
        self._call("logout user", self.kc.user_logout, user_id)

    # --- small reads used by services -------------------------------------------------------------------
    def previous_login(self, user_id: str, current_session: str | None) -> datetime | None:
        """Keycloak keeps no last-login (#52319): the newest stored LOGIN event of another session."""
        events = self._raw_get("/events", type="LOGIN", user=user_id, max=50)
        for e in sorted(events, key=lambda e: e["time"], reverse=True):
            if e.get("sessionId") != current_session:
                return datetime.fromtimestamp(e["time"] / 1000, tz=UTC)
        return None

    def account(self, username: str) -> AccountState:
        """One account's state for the consoles: three reads (the user, its brute-force status, its newest
        LOGIN event), made only on a user's own page, never for a list."""
        found = [u for u in self._raw_get("/users", username=username, exact="true", briefRepresentation="false")
                 if u.get("username") == username]
        if not found:
            return AccountState(exists=False)
        u = found[0]
        bf = self._raw_get(f"/attack-detection/brute-force/users/{u['id']}")
        creds = self._raw_get(f"/users/{u['id']}/credentials")
        events = self._raw_get("/events", type="LOGIN", user=u["id"], max=1)
        raw = ((u.get("attributes") or {}).get(n.TERMS_ATTR) or [None])[0]
        not_before = int(bf.get("failedLoginNotBefore") or 0)  # seconds: the end of a temporary lockout
        locked_until = datetime.fromtimestamp(not_before, tz=UTC) if bf.get("disabled") and not_before else None
        return AccountState(
            exists=True, enabled=bool(u.get("enabled")),
            last_login=datetime.fromtimestamp(events[0]["time"] / 1000, tz=UTC) if events else None,
            terms_accepted_at=datetime.fromtimestamp(int(raw), tz=UTC) if raw and raw.isdigit() else None,
            locked_until=locked_until, failures=int(bf.get("numFailures") or 0),
            password_change_pending="UPDATE_PASSWORD" in (u.get("requiredActions") or []),
            second_factors=tuple(sorted({c["type"] for c in creds if c.get("type") in SECOND_FACTORS})),
            proconnect=self.proconnect_linked(u["id"]))

    def proconnect_linked(self, user_id: str) -> bool:
        return any(x.get("identityProvider") == n.PROCONNECT
                   for x in self._raw_get(f"/users/{user_id}/federated-identity"))

    def unlink_identity(self, user_id: str) -> bool:
        """Issue 32: the account's ProConnect link removed (the next ProConnect login matches again, by e-mail
        and SIRET). False when there was none."""
        r = self._call("suppression de la liaison ProConnect", self.kc.connection.raw_delete,
                       f"admin/realms/{self.realm}/users/{user_id}/federated-identity/{n.PROCONNECT}")
        if r.status_code == 404:
            return False
        if r.status_code >= 400:
            raise Transient(f"Keycloak a refusé la suppression de la liaison ProConnect : {r.status_code} {r.text[:200]}")
        return True

    def accounts(self, usernames: list[str]) -> dict[str, AccountState]:
        """The state of many accounts for a list of people (issue 29): one request to our extension per 200
        (enabled, usage rules accepted, provisional password pending, a lockout running), never one per person.
        Only those Keycloak holds are in the answer. Without the extension: an empty answer (« inconnu »)."""
        out: dict[str, AccountState] = {}
        url = f"realms/{self.realm}/{n.BULK_ACCOUNTS}"
        for chunk in (usernames[i:i + 200] for i in range(0, len(usernames), 200)):
            r = self._call(f"GET {n.BULK_ACCOUNTS}", self.kc.connection.raw_get, url, username=chunk)
            if r.status_code == 404:
                raise Transient("Keycloak ne sait pas lire l'état de plusieurs comptes (extension absente).")
            if r.status_code >= 400:
                raise Transient(f"Keycloak a refusé « GET {n.BULK_ACCOUNTS} » : {r.status_code} {r.text[:200]}")
            for a in r.json():
                raw, until = a.get("termsAcceptedAt"), a.get("lockedUntil")
                out[a["username"]] = AccountState(
                    exists=True, enabled=bool(a.get("enabled")),
                    terms_accepted_at=datetime.fromtimestamp(int(raw), tz=UTC) if raw and str(raw).isdigit() else None,
                    locked_until=datetime.fromtimestamp(int(until), tz=UTC) if until else None,
                    password_change_pending=bool(a.get("passwordChangePending")))
        return out

    def reset_second_factor(self, user_id: str) -> list[str]:
        """Lost phone or key: every second factor and recovery code goes; the next level-2 login enrols anew.
        Returns the types removed."""
        removed = []
        for c in self._raw_get(f"/users/{user_id}/credentials"):
            if c.get("type") in SECOND_FACTORS:
                url = f"admin/realms/{self.realm}/users/{user_id}/credentials/{c['id']}"
                r = self._call("suppression d'un second facteur", self.kc.connection.raw_delete, url)
                if r.status_code >= 400:
                    raise Transient(f"Keycloak a refusé la suppression du second facteur : {r.status_code}")
                removed.append(c["type"])
        return sorted(removed)

    def unlock(self, user_id: str) -> None:
        """End a brute-force lockout (Keycloak clears the user's login failures)."""
        url = f"admin/realms/{self.realm}/attack-detection/brute-force/users/{user_id}"
        r = self._call("déverrouillage", self.kc.connection.raw_delete, url)
        if r.status_code >= 400:
            raise Transient(f"Keycloak a refusé le déverrouillage : {r.status_code} {r.text[:200]}")

    def unmanaged_account(self, username: str, email: str) -> str | None:
        """The username of an account with this username or email that does not carry our marker, if any
        (two exact queries)."""
        for query in ({"username": username}, {"email": email}):
            for u in self._raw_get("/users", exact="true", briefRepresentation="false", **query):
                same = (u.get("username") == username) or ((u.get("email") or "").lower() == email.lower())
                if same and not _managed(u.get("attributes")):
                    return u["username"]
        return None

    def adopt(self, username: str) -> bool:
        """Put our ownership marker on an existing account (explicit, audited adoption). False: no account."""
        user_id = self.user_id(username)
        if user_id is None:
            return False
        current = self._call("get user", self.kc.get_user, user_id)
        current.setdefault("attributes", {})[n.MANAGED_BY_ATTR] = [n.MANAGED_BY]
        self._put_user(user_id, current)
        return True

    def user_id(self, username: str) -> str | None:
        return self._call("recherche d'utilisateur", self.kc.get_user_id, username, accept=(404,))


class UsageRulesPublisher:
    """Publishing a version of the usage rules changes the realm's authentication configuration, which the
    least-privilege provisioning account may not do: it takes a realm administrator's credentials."""

    GUARD = "mcp-first-login-guard"

    def __init__(self, server_url: str, realm: str, username: str, password: str, admin_realm: str = "master"):
        self.realm = realm
        self.kc = KeycloakAdmin(server_url=server_url, username=username, password=password, realm_name=realm,
                                user_realm_name=admin_realm, timeout=30)

    def publish(self, version: str, published_at: int) -> None:
        try:
            execs = self.kc.get_authentication_flow_executions("forms")
            guard = next(e for e in execs if e.get("providerId") == self.GUARD)
            config_id = guard["authenticationConfig"]
            self.kc.update_authenticator_config(
                {"id": config_id, "alias": self.GUARD,
                 "config": {"usageRulesVersion": version, "usageRulesPublishedAt": str(published_at)}}, config_id)
        except (KeycloakError, OSError, StopIteration, KeyError) as e:
            raise Transient(f"Publication des règles d'usage dans Keycloak impossible : {e}") from e
