"""Keycloak state as plain data, the same shape for what we want (desired) and what is there (observed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from provisioning.domain import naming as n

RoleRef = tuple[str | None, str]  # (client id, role name); client None = realm role


@dataclass(frozen=True)
class OrgSpec:
    alias: str
    name: str
    attributes: tuple[tuple[str, str], ...] = ()
    id: str | None = None
    managed: bool = True


@dataclass(frozen=True)
class GroupSpec:
    path: str
    attributes: tuple[tuple[str, str], ...] = ()
    roles: frozenset[RoleRef] = frozenset()
    id: str | None = None
    managed: bool = True

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[1]

    @property
    def parent(self) -> str | None:
        head = self.path.rsplit("/", 1)[0]
        return head or None

    @property
    def depth(self) -> int:
        return self.path.count("/")


@dataclass(frozen=True)
class UserSpec:
    username: str
    first_name: str
    last_name: str
    email: str
    enabled: bool = True
    attributes: tuple[tuple[str, str], ...] = ()
    id: str | None = None
    managed: bool = True

    def profile(self) -> tuple[object, ...]:
        """What the reconciler keeps in line with the registry (never credentials)."""
        return (self.first_name, self.last_name, (self.email or "").lower(), self.attributes)


@dataclass(frozen=True)
class AccountState:
    """What Keycloak alone knows of one account, for the consoles (issue 12 §4)."""
    exists: bool
    enabled: bool = False
    last_login: datetime | None = None
    terms_accepted_at: datetime | None = None
    locked_until: datetime | None = None   # brute-force protection: a temporary lockout still running
    failures: int = 0
    password_change_pending: bool = False  # provisional password not yet replaced (UPDATE_PASSWORD)
    second_factors: tuple[str, ...] = ()   # issue 13: "otp", "webauthn", "recovery-authn-codes" held
    proconnect: bool = False               # issue 32: a ProConnect identity is linked to the account


@dataclass
class State:
    orgs: dict[str, OrgSpec] = field(default_factory=dict)          # alias -> org
    groups: dict[str, GroupSpec] = field(default_factory=dict)      # path -> group
    users: dict[str, UserSpec] = field(default_factory=dict)        # username -> user
    members: dict[str, set[str]] = field(default_factory=dict)      # group path -> usernames
    org_members: dict[str, set[str]] = field(default_factory=dict)  # org alias -> usernames
    direct_roles: set[tuple[str, RoleRef]] = field(default_factory=set)  # (username, role) outside groups
    member_ids: dict[str, str] = field(default_factory=dict)  # username -> id of every member seen, ours or not


@dataclass(frozen=True)
class Scope:
    """One partner's slice of the state: what an API mutation needs to reconcile, and nothing else."""
    siret: str
    usernames: frozenset[str] = frozenset()

    @property
    def group_prefix(self) -> str:
        return n.partner_group_path(self.siret)

    def covers_group(self, path: str) -> bool:
        return path == f"/{n.PARTNERS_ROOT}" or path == self.group_prefix or path.startswith(self.group_prefix + "/")

    def slice(self, state: State) -> State:
        """The part of a (desired) state that belongs to this partner, plus the root its groups hang from."""
        alias = n.org_alias(self.siret)
        users = {k: v for k, v in state.users.items() if (n.PARTNER_ATTR, self.siret) in v.attributes}
        return State(
            orgs={k: v for k, v in state.orgs.items() if k == alias},
            groups={k: v for k, v in state.groups.items() if self.covers_group(k)},
            users=users,
            members={k: set(v) for k, v in state.members.items() if self.covers_group(k)},
            org_members={k: set(v) for k, v in state.org_members.items() if k == alias},
            direct_roles={(u, r) for u, r in state.direct_roles if u in users},
        )
