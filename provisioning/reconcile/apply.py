"""apply(desired, gateway): re-read Keycloak, plan, execute in order. Safe to interrupt and run again:
each run starts from a fresh observation, so it only does what is still missing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from provisioning.keycloak.gateway import Gateway
from provisioning.reconcile.plan import Change, plan
from provisioning.reconcile.state import Scope, State, UserSpec

Progress = Callable[[int, int, Change], None]


@dataclass
class ApplyReport:
    applied: list[Change] = field(default_factory=list)
    created_users: list[UserSpec] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.applied


def apply(desired: State, gateway: Gateway, *, new_password: Callable[[], str | None],
          on_user_created: Callable[[UserSpec, str | None, str], None] | None = None,
          progress: Progress | None = None, provisional_deadline: Callable[[], int] | None = None,
          scope: Scope | None = None) -> ApplyReport:
    """`provisional_deadline()` gives the epoch second after which a new user's provisional password is
    refused (Keycloak extension FirstLoginGuard); None: no deadline. With a `scope`, only that partner's
    slice is observed and reconciled (the API's mutations touch one partner)."""
    if scope is not None:
        desired = scope.slice(desired)
    observed = gateway.observe(scope)
    changes = plan(desired, observed)
    users = {name: u.id for name, u in observed.users.items()}
    groups = {path: g.id for path, g in observed.groups.items()}
    orgs = {alias: o.id for alias, o in observed.orgs.items()}
    report = ApplyReport()
    for i, ch in enumerate(changes, 1):
        d = ch.data
        match (ch.action, ch.kind):
            case ("create", "organisation"):
                orgs[ch.target] = gateway.create_org(d["spec"])
            case ("update", "organisation"):
                gateway.update_org(d["id"], d["spec"])
            case ("delete", "organisation"):
                gateway.delete_org(d["id"])
            case ("create", "group"):
                spec = d["spec"]
                groups[spec.path] = gateway.create_group(spec, groups.get(spec.parent) if spec.parent else None)
            case ("update", "group-roles"):
                gateway.change_group_roles(d["id"], d["add"], d["remove"])
            case ("delete", "group"):
                gateway.delete_group(d["id"])
            case ("create", "user"):
                password = new_password()
                users[ch.target] = gateway.create_user(d["spec"], password,
                                                       provisional_deadline() if provisional_deadline else None)
                report.created_users.append(d["spec"])
                if on_user_created:
                    on_user_created(d["spec"], password, users[ch.target])
            case ("update", "user"):
                gateway.update_user(d["id"], d["spec"])
            case ("enable", "user"):
                gateway.set_enabled(d["id"], True)
            case ("disable", "user"):
                gateway.set_enabled(d["id"], False)
            case ("add", "org-member"):
                gateway.add_org_member(orgs[d["org"]], users[d["user"]])
            case ("remove", "org-member"):
                gateway.remove_org_member(orgs[d["org"]], users[d["user"]])
            case ("add", "member"):
                gateway.add_member(users[d["user"]], groups[d["group"]])
            case ("remove", "member"):
                gateway.remove_member(users[d["user"]], groups[d["group"]])
            case ("remove", "direct-role"):
                gateway.remove_direct_role(users[d["user"]], d["role"])
            case _:
                raise AssertionError(f"no executor for {ch.action} {ch.kind}")
        report.applied.append(ch)
        if progress:
            progress(i, len(changes), ch)
    return report
