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
from functools import partial
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
    users = {**observed.member_ids, **{name: u.id for name, u in observed.users.items() if u.id}}
    groups = {path: g.id for path, g in observed.groups.items() if g.id}
    orgs = {alias: o.id for alias, o in observed.orgs.items() if o.id}
    report = ApplyReport()

    def run(ch: Change) -> None:
        match ch:
            case CreateOrg():
                orgs[ch.target] = gateway.create_org(ch.spec)
            case UpdateOrg():
                gateway.update_org(ch.id, ch.spec)
            case DeleteOrg():
                gateway.delete_org(ch.id)
            case CreateGroup():
                parent = groups[ch.spec.parent] if ch.spec.parent else None
                groups[ch.spec.path] = gateway.create_group(ch.spec, parent)
            case UpdateGroupRoles():
                gateway.change_group_roles(ch.id, list(ch.add), list(ch.remove))
            case DeleteGroup():
                gateway.delete_group(ch.id)
            case CreateUser():
                password = new_password()
                users[ch.target] = gateway.create_user(ch.spec, password,
                                                       provisional_deadline() if provisional_deadline else None)
                report.created_users.append(ch.spec)
                if on_user_created:
                    on_user_created(ch.spec, password, users[ch.target])
            case UpdateUser():
                gateway.update_user(ch.id, ch.spec)
            case EnableUser():
                gateway.set_enabled(ch.id, True)
            case DisableUser():
                gateway.set_enabled(ch.id, False)
            case AddOrgMember():
                gateway.add_org_member(orgs[ch.org], users[ch.user])
            case RemoveOrgMember():
                gateway.remove_org_member(orgs[ch.org], users[ch.user])
            case AddMember():
                gateway.add_member(users[ch.user], groups[ch.group])
            case RemoveMember():
                gateway.remove_member(users[ch.user], groups[ch.group])
            case RemoveDirectRole():
                gateway.remove_direct_role(users[ch.user], ch.role)
            case EndSessions():
                gateway.logout_user(ch.user_id)
            case AccountConflict():
                raise Conflict(ch.reason, code="COMPTE_NON_GERE")
            case _:
                raise AssertionError(f"no executor for {type(ch).__name__}")

    lost_access: dict[str, str] = {}  # username -> id of people whose roles were just taken away

    def attempt(ch: Change, action: Callable[[], None]) -> bool:
        if on_audit and not isinstance(ch, AccountConflict):
            on_audit(ch, None)  # the intent, before Keycloak has it: a run killed right after leaves a true trail
        try:
            action()
        except Unavailable as e:
            report.halted = e.description
            why = e.description
        except ProvisioningError as e:
            why = e.description
            if not e.retryable:
                report.terminal.append(ch)
        except KeyError as e:  # the object it needs was not created (its own change failed above)
            why = f"dépend d'un changement qui a échoué ({e.args[0]})"
        else:
            report.applied.append(ch)
            return True
        report.failed.append((ch, why))
        if on_audit and not isinstance(ch, AccountConflict):
            on_audit(ch, why)  # and that it did not happen
        return False

    def end_sessions() -> None:
        """Losing access ends the person's sessions at once (Keycloak tells every application through
        back-channel logout), so no live session keeps a role it no longer has."""
        for name, user_id in sorted(lost_access.items()):
            if report.halted:
                return
            cut = EndSessions(target=name, reason="accès retiré : sessions en cours terminées", user_id=user_id)
            attempt(cut, partial(run, cut))
        lost_access.clear()

    def done(ch: Change, ok: bool) -> None:
        if ok:
            if isinstance(ch, (RemoveMember, RemoveDirectRole, RemoveOrgMember)):
                lost_access[ch.user] = users[ch.user]
            elif isinstance(ch, DeleteGroup):  # its members lose its role with it
                lost_access.update({u: users[u] for u in ch.members if u in users})
        count[0] += 1
        if ok and progress:
            progress(count[0], len(changes), ch)

    count = [0]
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for batch in _batches(changes):
            if report.halted:
                break
            if lost_access and not batch[0].destructive:  # removals come first: end sessions once all are done
                end_sessions()
            if len(batch) == 1 or workers <= 1:
                for ch in batch:
                    if report.halted:
                        break
                    done(ch, attempt(ch, partial(run, ch)))
            else:  # independent changes of one kind: a few at a time (Keycloak hashes, answers, in parallel)
                for ch, ok in zip(batch, pool.map(lambda ch: attempt(ch, partial(run, ch)), batch), strict=True):
                    done(ch, ok)
    if not report.halted:
        end_sessions()
    for ch, why in report.failed:
        log.warning("not applied: %s: %s", ch, why)
    return report
