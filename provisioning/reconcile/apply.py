"""execute(changes, observed, gateway): carry out a plan exactly as computed, in its order; independent
changes of one kind (users, memberships) may run a few at a time.

One change that Keycloak refuses never stops the others: it is recorded with its reason and the run goes
on (changes that depend on it fail with it). Only an unreachable Keycloak halts the run, since nothing
after it could succeed. Each change is reported to `on_audit` before it is sent (its intent) and again if
it failed (with the reason), so the audit trail of an interrupted run lists everything Keycloak received. apply(desired, gateway) observes, plans and executes: safe to
interrupt and run again, each run starting from a fresh observation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from provisioning.errors import Conflict, ProvisioningError, Unavailable
from provisioning.keycloak.gateway import Gateway
from provisioning.reconcile.operations import (
    AccountConflict,
    AddMember,
    AddOrgMember,
    Change,
    CreateGroup,
    CreateOrg,
    CreateUser,
    DeleteGroup,
    DeleteOrg,
    DisableUser,
    EnableUser,
    EndSessions,
    RemoveDirectRole,
    RemoveMember,
    RemoveOrgMember,
    UpdateGroupRoles,
    UpdateOrg,
    UpdateUser,
)
from provisioning.reconcile.plan import plan
from provisioning.reconcile.state import Scope, State, UserSpec

log = logging.getLogger(__name__)
Progress = Callable[[int, int, Change], None]


@dataclass
class ApplyReport:
    applied: list[Change] = field(default_factory=list)
    created_users: list[UserSpec] = field(default_factory=list)
    failed: list[tuple[Change, str]] = field(default_factory=list)  # (change, reason in French)
    halted: str | None = None  # Keycloak unreachable: the rest of the plan was not attempted
    terminal: list[Change] = field(default_factory=list)  # failed for a reason retrying will not change

    @property
    def needs_attention(self) -> bool:
        """Every failure is a refusal (an unmanaged account, a name Keycloak refuses): retrying changes
        nothing until the registry or Keycloak does — « à traiter » (issue 25 §5)."""
        return bool(self.failed) and self.halted is None and len(self.terminal) == len(self.failed)

    @property
    def empty(self) -> bool:
        return not self.applied

    @property
    def complete(self) -> bool:
        return not self.failed and self.halted is None


def apply(desired: State, gateway: Gateway, *, scope: Scope | None = None, **options: Any) -> ApplyReport:
    """With a `scope`, only that partner's slice is observed and reconciled (the API's mutations touch one
    partner). `options` are those of execute()."""
    if scope is not None:
        desired = scope.slice(desired)
    observed = gateway.observe(scope)
    return execute(plan(desired, observed), observed, gateway, **options)


# kinds whose changes never depend on one another (each names existing objects): run `workers` at a time.
# Groups are created level by level (a child needs its parent: the plan orders them by depth); deletions of
# groups and organisations stay one at a time.
INDEPENDENT = (CreateOrg, UpdateOrg, CreateGroup, CreateUser, UpdateUser, EnableUser, DisableUser, AddOrgMember,
               RemoveOrgMember, AddMember, RemoveMember, RemoveDirectRole, UpdateGroupRoles)


def _kind(ch: Change) -> tuple[type, ...] | tuple[type, int]:
    return (type(ch), ch.spec.depth) if isinstance(ch, CreateGroup) else (type(ch),)


def _batches(changes: list[Change]) -> list[list[Change]]:
    """Consecutive changes of one independent kind (and, for groups, one depth) together; every other change
    alone; the plan's order is kept between batches."""
    out: list[list[Change]] = []
    for ch in changes:
        if out and isinstance(ch, INDEPENDENT) and _kind(out[-1][0]) == _kind(ch):
            out[-1].append(ch)
        else:
            out.append([ch])
    return out


def execute(changes: list[Change], observed: State, gateway: Gateway, *,
            new_password: Callable[[], str | None],
            on_user_created: Callable[[UserSpec, str | None, str], None] | None = None,
            on_audit: Callable[[Change, str | None], None] | None = None,
            progress: Progress | None = None,
            provisional_deadline: Callable[[], int] | None = None, workers: int = 1) -> ApplyReport:
    """`provisional_deadline()` gives the epoch second after which a new user's provisional password is
    refused (Keycloak extension FirstLoginGuard); None: no deadline. `workers`: how many independent changes
    of one kind run at once (1: strictly one after the other)."""
    run = _Run(changes, observed, gateway, new_password=new_password, on_user_created=on_user_created,
               on_audit=on_audit, progress=progress, provisional_deadline=provisional_deadline)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for batch in _batches(changes):
            if run.report.halted:
                break
            if run.lost_access and not batch[0].destructive:  # removals first: end sessions once all are done
                run.end_sessions()
            if len(batch) == 1 or workers <= 1:
                for ch in batch:
                    if run.report.halted:
                        break
                    run.done(ch, run.attempt(ch))
            else:  # independent changes of one kind: a few at a time (Keycloak hashes, answers, in parallel)
                for ch, ok in zip(batch, pool.map(run.attempt, batch), strict=True):
                    run.done(ch, ok)
    if not run.report.halted:
        run.end_sessions()
    for ch, why in run.report.failed:
        log.warning("not applied: %s: %s", ch, why)
    return run.report


class _Run:
    """One execution of a plan: the ids known so far (observed, then created), the report, who lost access."""

    def __init__(self, changes: list[Change], observed: State, gateway: Gateway, *,
                 new_password: Callable[[], str | None],
                 on_user_created: Callable[[UserSpec, str | None, str], None] | None,
                 on_audit: Callable[[Change, str | None], None] | None, progress: Progress | None,
                 provisional_deadline: Callable[[], int] | None):
        self.total, self.gw = len(changes), gateway
        self.new_password, self.on_user_created = new_password, on_user_created
        self.on_audit, self.progress, self.provisional_deadline = on_audit, progress, provisional_deadline
        self.users = {**observed.member_ids, **{name: u.id for name, u in observed.users.items() if u.id}}
        self.groups = {path: g.id for path, g in observed.groups.items() if g.id}
        self.orgs = {alias: o.id for alias, o in observed.orgs.items() if o.id}
        self.report = ApplyReport()
        # issue 27 §4: a new person joins, with her creation, the groups that exist by then (one request, not
        # one more a group); her AddMember changes are then done already (still journaled, no call)
        created = {ch.target for ch in changes if isinstance(ch, CreateUser)}
        self.joins: dict[str, list[str]] = {}
        for ch in changes:
            if isinstance(ch, AddMember) and ch.user in created:
                self.joins.setdefault(ch.user, []).append(ch.group)
        self.joined: set[tuple[str, str]] = set()
        self.lost_access: dict[str, str] = {}  # username -> id of people whose roles were just taken away
        self.count = 0

    def send(self, ch: Change) -> None:
        """The one Keycloak call (or two) that carries out `ch`."""
        gw, groups, orgs = self.gw, self.groups, self.orgs
        match ch:
            case CreateOrg():
                orgs[ch.target] = gw.create_org(ch.spec)
            case UpdateOrg():
                gw.update_org(ch.id, ch.spec)
            case DeleteOrg():
                gw.delete_org(ch.id)
            case CreateGroup():
                groups[ch.spec.path] = gw.create_group(ch.spec, groups[ch.spec.parent] if ch.spec.parent else None)
            case UpdateGroupRoles():
                gw.change_group_roles(ch.id, list(ch.add), list(ch.remove))
            case DeleteGroup():
                gw.delete_group(ch.id)
            case CreateUser():
                self._create_user(ch)
            case UpdateUser() | EnableUser() | DisableUser():
                self._user(ch)
            case AddOrgMember() | RemoveOrgMember() | AddMember() | RemoveMember() | RemoveDirectRole():
                self._membership(ch)
            case EndSessions():
                gw.logout_user(ch.user_id)
            case AccountConflict():
                raise Conflict(ch.reason, code="COMPTE_NON_GERE")
            case _:
                raise AssertionError(f"no executor for {type(ch).__name__}")

    def _create_user(self, ch: CreateUser) -> None:
        password = self.new_password()
        deadline = self.provisional_deadline() if self.provisional_deadline else None
        groups = [path for path in self.joins.get(ch.target, []) if path in self.groups]
        self.users[ch.target] = self.gw.create_user(ch.spec, password, deadline, groups=groups)
        self.joined.update((ch.target, path) for path in groups)
        self.report.created_users.append(ch.spec)
        if self.on_user_created:
            self.on_user_created(ch.spec, password, self.users[ch.target])

    def _user(self, ch: UpdateUser | EnableUser | DisableUser) -> None:
        if isinstance(ch, UpdateUser):
            self.gw.update_user(ch.id, ch.spec)
        else:
            self.gw.set_enabled(ch.id, isinstance(ch, EnableUser))
            if isinstance(ch, DisableUser) and ch.forget_links:
                self.gw.unlink_identity(ch.id)

    def _membership(self, ch: AddOrgMember | RemoveOrgMember | AddMember | RemoveMember | RemoveDirectRole) -> None:
        gw, user = self.gw, self.users[ch.user]
        match ch:
            case AddOrgMember():
                gw.add_org_member(self.orgs[ch.org], user)
            case RemoveOrgMember():
                gw.remove_org_member(self.orgs[ch.org], user)
            case AddMember():
                if (ch.user, ch.group) not in self.joined:  # else: joined with her creation
                    gw.add_member(user, self.groups[ch.group])
            case RemoveMember():
                gw.remove_member(user, self.groups[ch.group])
            case RemoveDirectRole():
                gw.remove_direct_role(user, ch.role)

    def attempt(self, ch: Change) -> bool:
        audit = self.on_audit if not isinstance(ch, AccountConflict) else None
        if audit:
            audit(ch, None)  # the intent, before Keycloak has it: a run killed right after leaves a true trail
        try:
            self.send(ch)
        except Unavailable as e:
            self.report.halted = e.description
            why = e.description
        except ProvisioningError as e:
            why = e.description
            if not e.retryable:
                self.report.terminal.append(ch)
        except KeyError as e:  # the object it needs was not created (its own change failed above)
            why = f"dépend d'un changement qui a échoué ({e.args[0]})"
        else:
            self.report.applied.append(ch)
            return True
        self.report.failed.append((ch, why))
        if audit:
            audit(ch, why)  # and that it did not happen
        return False

    def end_sessions(self) -> None:
        """Losing access ends the person's sessions at once (Keycloak tells every application through
        back-channel logout), so no live session keeps a role it no longer has."""
        for name, user_id in sorted(self.lost_access.items()):
            if self.report.halted:
                return
            self.attempt(EndSessions(target=name, reason="accès retiré : sessions en cours terminées", user_id=user_id))
        self.lost_access.clear()

    def done(self, ch: Change, ok: bool) -> None:
        if ok:
            if isinstance(ch, (RemoveMember, RemoveDirectRole, RemoveOrgMember)):
                self.lost_access[ch.user] = self.users[ch.user]
            elif isinstance(ch, DeleteGroup):  # its members lose its role with it
                self.lost_access.update({u: self.users[u] for u in ch.members if u in self.users})
        self.count += 1
        if ok and self.progress:
            self.progress(self.count, self.total, ch)
