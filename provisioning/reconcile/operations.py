"""The operations a plan is made of: one dataclass each, with the typed data its execution needs (no string
kinds and loose dicts). Each says what it acts on (`target`), why (`reason`, in French, for people reading a
plan), and whose object it is (`owner`: partner:SIRET, caf:CODE, or "" for the shared roots)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from provisioning.reconcile.state import GroupSpec, OrgSpec, RoleRef, UserSpec

DESTRUCTIVE = {"disable", "remove", "delete", "end"}
SIGNS = {"create": "+", "add": "+", "enable": "+", "update": "~", "remove": "-", "delete": "-", "disable": "-",
         "conflict": "!", "end": "-"}


@dataclass(frozen=True, kw_only=True)
class Change:
    action: ClassVar[str]
    kind: ClassVar[str]
    target: str
    reason: str
    owner: str = field(default="", compare=False)

    @property
    def destructive(self) -> bool:
        """Takes access away: the plan lists these first and `apply` guards their number."""
        return self.action in DESTRUCTIVE

    def __str__(self) -> str:
        return f"{SIGNS[self.action]} {self.action} {self.kind} {self.target}  ({self.reason})"

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "kind": self.kind, "target": self.target, "reason": self.reason,
                "destructive": self.destructive}


@dataclass(frozen=True, kw_only=True)
class CreateOrg(Change):
    action, kind = "create", "organisation"
    spec: OrgSpec


@dataclass(frozen=True, kw_only=True)
class UpdateOrg(Change):
    action, kind = "update", "organisation"
    id: str
    spec: OrgSpec


@dataclass(frozen=True, kw_only=True)
class DeleteOrg(Change):
    action, kind = "delete", "organisation"
    id: str


@dataclass(frozen=True, kw_only=True)
class CreateGroup(Change):
    action, kind = "create", "group"
    spec: GroupSpec


@dataclass(frozen=True, kw_only=True)
class UpdateGroupRoles(Change):
    action, kind = "update", "group-roles"
    id: str
    add: tuple[RoleRef, ...]
    remove: tuple[RoleRef, ...]


@dataclass(frozen=True, kw_only=True)
class DeleteGroup(Change):
    action, kind = "delete", "group"
    id: str
    members: frozenset[str] = frozenset()  # they lose its role with it: their sessions end


@dataclass(frozen=True, kw_only=True)
class CreateUser(Change):
    action, kind = "create", "user"
    spec: UserSpec


@dataclass(frozen=True, kw_only=True)
class UpdateUser(Change):
    action, kind = "update", "user"
    id: str
    spec: UserSpec


@dataclass(frozen=True, kw_only=True)
class EnableUser(Change):
    action, kind = "enable", "user"
    id: str


@dataclass(frozen=True, kw_only=True)
class DisableUser(Change):
    action, kind = "disable", "user"
    id: str
    forget_links: bool = False  # removed from the registry (not suspended): her ProConnect link goes too (issue 32)


@dataclass(frozen=True, kw_only=True)
class AccountConflict(Change):
    """An account we did not create stands where the registry wants one: shown, never executed."""
    action, kind = "conflict", "user"


@dataclass(frozen=True, kw_only=True)
class AddOrgMember(Change):
    action, kind = "add", "org-member"
    user: str
    org: str


@dataclass(frozen=True, kw_only=True)
class RemoveOrgMember(Change):
    action, kind = "remove", "org-member"
    user: str
    org: str


@dataclass(frozen=True, kw_only=True)
class AddMember(Change):
    action, kind = "add", "member"
    user: str
    group: str


@dataclass(frozen=True, kw_only=True)
class RemoveMember(Change):
    action, kind = "remove", "member"
    user: str
    group: str


@dataclass(frozen=True, kw_only=True)
class RemoveDirectRole(Change):
    action, kind = "remove", "direct-role"
    user: str
    role: RoleRef


@dataclass(frozen=True, kw_only=True)
class EndSessions(Change):
    """Not planned: added by execution after the removals that took someone's access away."""
    action, kind = "end", "sessions"
    user_id: str
