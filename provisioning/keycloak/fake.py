"""An in-memory Keycloak for unit tests: the same Gateway interface, plus hooks to simulate hand edits."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from provisioning.domain import naming as n
from provisioning.errors import Conflict
from provisioning.keycloak.gateway import AccountDisabled
from provisioning.reconcile.state import AccountState, GroupSpec, OrgSpec, RoleRef, Scope, State, UserSpec


class FakeGateway:
    def __init__(self) -> None:
        self.state = State()
        # C-level iterators, not a generator: the apply runs 4 changes at a time, and two threads calling next()
        # on one generator raise « generator already executing » (a flaky unit test, CI49)
        self._ids = map("id-{}".format, itertools.count(1))
        self.calls: list[str] = []
        self.passwords: dict[str, str | None] = {}  # None: an action link was mailed instead
        self.history: dict[str, list[str]] = {}  # passwords replaced (Keycloak's password history)
        self.logged_out: list[str] = []
        self.logins: dict = {}
        self.deadlines: dict[str, int | None] = {}
        self.action_links: list[tuple[str, int]] = []
        self.login_ids: set[str] = set()
        self.created_at: dict[str, float] = {}
        self.fail_on: str | None = None  # name of a method that raises, to simulate interruption
        self.attributes: dict[str, dict[str, list[str]]] = {}  # what Keycloak itself sets (terms_and_conditions)
        self.lockouts: dict[str, datetime] = {}  # username -> locked-until datetime (brute-force protection)
        self.second_factors: dict[str, set[str]] = {}  # username -> credential types (otp, webauthn, …)
        self.proconnect: set[str] = set()  # usernames whose account a ProConnect identity is linked to (issue 32)

    def copy(self) -> FakeGateway:
        """An independent twin in the same state (the simulation and the refusal property start from one)."""
        twin = FakeGateway()
        for name, value in vars(self).items():
            if name != "_ids":
                setattr(twin, name, copy.deepcopy(value))
        twin._ids = map("id-{}".format, itertools.count(10_000))  # ids this one has not used
        return twin

    def _hit(self, name: str) -> None:
        self.calls.append(name)
        if self.fail_on == name:
            from provisioning.errors import Transient
            raise Transient(f"simulated failure in {name}")

    def _user(self, user_id: str) -> UserSpec:
        return next(u for u in self.state.users.values() if u.id == user_id)

    def _group(self, group_id: str) -> GroupSpec:
        return next(g for g in self.state.groups.values() if g.id == group_id)

    def _org(self, org_id: str) -> OrgSpec:
        return next(o for o in self.state.orgs.values() if o.id == org_id)

    def unmanaged_account(self, username: str, email: str) -> str | None:
        for u in self.state.users.values():
            if (u.username == username or (u.email or "").lower() == email.lower()) and not u.managed:
                return u.username
        return None

    def account(self, username: str) -> AccountState:
        u = self.state.users.get(username)
        if u is None:
            return AccountState(exists=False)
        return AccountState(True, u.enabled, self.logins.get(u.id), None, self.lockouts.get(username),
                            password_change_pending=username in self.passwords,
                            second_factors=tuple(sorted(self.second_factors.get(username, ()))),
                            proconnect=username in self.proconnect)

    def accounts(self, usernames: list[str]) -> dict[str, AccountState]:
        self.calls.append("accounts")
        out = {}
        for name in usernames:
            u = self.state.users.get(name)
            if u is None:
                continue
            raw = (self.attributes.get(name, {}).get(n.TERMS_ATTR) or [""])[0]
            out[name] = AccountState(True, u.enabled, None,
                                     datetime.fromtimestamp(int(raw), tz=UTC) if raw and raw.isdigit() else None,
                                     self.lockouts.get(name), password_change_pending=name in self.passwords)
        return out

    def reset_second_factor(self, user_id: str) -> list[str]:
        self._hit("reset_second_factor")
        return sorted(self.second_factors.pop(self._user(user_id).username, set()))

    def unlink_identity(self, user_id: str) -> bool:
        self._hit("unlink_identity")
        name = self._user(user_id).username
        linked = name in self.proconnect
        self.proconnect.discard(name)
        return linked

    def proconnect_linked(self, user_id: str) -> bool:
        return any(u.id == user_id and u.username in self.proconnect for u in self.state.users.values())

    def unlock(self, user_id: str) -> None:
        self._hit("unlock")
        self.lockouts.pop(self._user(user_id).username, None)

    def adopt(self, username: str) -> bool:
        if username not in self.state.users:
            return False
        self.state.users[username] = replace(self.state.users[username], managed=True)
        return True

    def observe(self, scope: Scope | None = None) -> State:
        self.calls.append("observe" if scope is None else f"observe:{scope.siret}")
        st = copy.deepcopy(self.state)
        out = st if scope is None else scope.slice(st)
        for name in (scope.usernames if scope else set()) - set(out.users):  # found by username, as Keycloak does
            if name in st.users:
                out.users[name] = st.users[name]
        if scope is not None:
            out.direct_roles = {(u, r) for u, r in st.direct_roles if u in out.users}
        seen = set().union(*out.members.values(), *out.org_members.values())
        out.member_ids = {name: uid for name in seen if name in st.users  # foreign members too
                          for uid in [st.users[name].id] if uid is not None}
        return out

    def create_org(self, spec: OrgSpec) -> str:
        self._hit("create_org")
        oid = next(self._ids)
        self.state.orgs[spec.alias] = replace(spec, id=oid, managed=True)
        self.state.org_members[spec.alias] = set()
        return oid

    def update_org(self, org_id: str, spec: OrgSpec) -> None:
        self._hit("update_org")
        self.state.orgs[spec.alias] = replace(spec, id=org_id, managed=True)

    def delete_org(self, org_id: str) -> None:
        self._hit("delete_org")
        alias = self._org(org_id).alias
        del self.state.orgs[alias]
        self.state.org_members.pop(alias, None)

    def add_org_member(self, org_id: str, user_id: str) -> None:
        self._hit("add_org_member")
        self.state.org_members.setdefault(self._org(org_id).alias, set()).add(self._user(user_id).username)

    def remove_org_member(self, org_id: str, user_id: str) -> None:
        self._hit("remove_org_member")
        self.state.org_members[self._org(org_id).alias].discard(self._user(user_id).username)

    def create_group(self, spec: GroupSpec, parent_id: str | None) -> str:
        self._hit("create_group")
        if spec.parent and (spec.parent not in self.state.groups or self.state.groups[spec.parent].id != parent_id):
            raise AssertionError(f"parent of {spec.path} must exist first")
        gid = next(self._ids)
        self.state.groups[spec.path] = replace(spec, id=gid, managed=True)
        if spec.roles:
            self.state.members[spec.path] = set()
        return gid

    def change_group_roles(self, group_id: str, add: list[RoleRef], remove: list[RoleRef]) -> None:
        self._hit("change_group_roles")
        g = self._group(group_id)
        self.state.groups[g.path] = replace(g, roles=(g.roles | set(add)) - set(remove))

    def delete_group(self, group_id: str) -> None:
        self._hit("delete_group")
        if not any(g.id == group_id for g in self.state.groups.values()):
            return  # as Keycloak's 404, which the gateway accepts: already gone
        path = self._group(group_id).path
        for p in [p for p in self.state.groups if p == path or p.startswith(path + "/")]:
            del self.state.groups[p]
            self.state.members.pop(p, None)

    def create_user(self, spec: UserSpec, temporary_password: str | None, expires_at: int | None = None,
                    groups: Sequence[str] = ()) -> str:
        self._hit("create_user")
        self.deadlines[spec.username] = expires_at
        if spec.username in self.state.users:  # as Keycloak: 409, reported as a refusal
            from provisioning.errors import Transient
            raise Transient("Keycloak a refusé « create user » : 409 User exists with same username")
        if missing := [p for p in groups if p not in self.state.groups]:  # as Keycloak: nothing created
            from provisioning.errors import Transient
            raise Transient(f"Keycloak a refusé « create user » : 404 Group {missing[0]} not found")
        uid = next(self._ids)
        self.state.users[spec.username] = replace(spec, id=uid, managed=True)
        if temporary_password:
            self.passwords[spec.username] = temporary_password
        for path in groups:
            self.state.members.setdefault(path, set()).add(spec.username)
        return uid

    def update_user(self, user_id: str, spec: UserSpec) -> None:
        self._hit("update_user")
        u = self._user(user_id)
        self.state.users[u.username] = replace(u, first_name=spec.first_name, last_name=spec.last_name,
                                               email=spec.email, attributes=spec.attributes)

    def set_enabled(self, user_id: str, enabled: bool) -> None:
        self._hit("set_enabled")
        u = self._user(user_id)
        self.state.users[u.username] = replace(u, enabled=enabled)
        if not enabled:
            self.logged_out.append(u.username)

    def add_member(self, user_id: str, group_id: str) -> None:
        self._hit("add_member")
        self.state.members.setdefault(self._group(group_id).path, set()).add(self._user(user_id).username)

    def remove_member(self, user_id: str, group_id: str) -> None:
        self._hit("remove_member")
        self.state.members[self._group(group_id).path].discard(self._user(user_id).username)

    def remove_direct_role(self, user_id: str, role: RoleRef) -> None:
        self._hit("remove_direct_role")
        self.state.direct_roles.discard((self._user(user_id).username, role))

    def logout_user(self, user_id: str) -> None:
        self._hit("logout_user")
        self.logged_out.append(self._user(user_id).username)

    def previous_login(self, user_id: str, current_session: str | None):
        return self.logins.get(user_id)

    def reset_provisional(self, user_id: str, password: str | None, expires_at: int | None, *,
                          only_if_enabled: bool = False) -> None:
        self._hit("reset_provisional")
        u = self._user(user_id)
        if not u.managed:  # as the gateway: never the password of an account we did not create
            raise Conflict(f"Le compte {u.username} n'est pas géré par Mon Compte Partenaire.", code="COMPTE_NON_GERE")
        if only_if_enabled and not u.enabled:
            raise AccountDisabled(f"Le compte {u.username} est désactivé dans Keycloak.")
        old = self.passwords.get(u.username)
        if old:
            self.history.setdefault(u.username, []).append(old)  # as Keycloak: the replaced one is remembered
        self.passwords[u.username] = password
        self.deadlines[u.username] = expires_at
        self.logged_out.append(u.username)

    def send_action_link(self, user_id: str, lifespan: int, client_id: str) -> None:
        self._hit("send_action_link")
        self.action_links.append((self._user(user_id).username, lifespan))

    def users_with_attributes(self) -> list[dict]:
        return [{"id": u.id, "username": u.username, "created": self.created_at.get(u.username, 0.0),
                 "attributes": dict(self.attributes.get(u.username, {}))} for u in self.state.users.values()]

    def last_logins(self, since) -> dict:
        self._hit("last_logins")
        names = {u.id: u.username for u in self.state.users.values()}
        return {names[uid]: at for uid, at in self.logins.items() if uid in names and at >= since}

    def logins_since(self, since) -> set[str]:
        return set(self.login_ids)

    def user_id(self, username: str) -> str | None:
        u = self.state.users.get(username)
        return u.id if u else None

    # --- simulate what people do by hand in the admin console ---------------------------------------
    def hand_add_user(self, username: str, **kw) -> str:
        uid = next(self._ids)
        self.state.users[username] = UserSpec(username, kw.get("first", "X"), kw.get("last", "Y"),
                                              kw.get("email", f"{username}@ext.example"), True, (), uid, False)
        return uid

    def hand_add_member(self, username: str, path: str) -> None:
        self.state.members.setdefault(path, set()).add(username)

    def hand_grant_role(self, username: str, role: RoleRef) -> None:
        self.state.direct_roles.add((username, role))
