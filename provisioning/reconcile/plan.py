"""plan(desired, observed) -> [Change]: pure data, each change with its reason. After apply, plan is empty.

Ownership is absolute: we create, update, grant and delete only objects carrying our marker (spec.managed).
An account already in Keycloak that we did not create (same username, or same email) is a conflict shown by
the plan: never adopted, updated, given credentials or groups, never deleted (adoption is an explicit,
audited command). Users we created and the registry no longer lists are disabled, not deleted.

Each change names its owner (`partner:SIRET`, `caf:CODE`, or "" for the shared roots), so a plan can be
limited to what a desired-state file owns.
"""

from __future__ import annotations

from provisioning.domain import naming as n
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
    RemoveDirectRole,
    RemoveMember,
    RemoveOrgMember,
    UpdateGroupRoles,
    UpdateOrg,
    UpdateUser,
)
from provisioning.reconcile.state import RoleRef, State, UserSpec

# Order of execution: what takes access away first (a suspension never waits behind a creation), then
# parents before children and creations before memberships. Conflicts are shown, never executed.
ORDER = ["disable:user", "remove:member", "remove:direct-role", "remove:org-member", "delete:group",
         "delete:organisation", "create:organisation", "update:organisation", "create:group", "update:group-roles",
         "create:user", "update:user", "enable:user", "add:org-member", "add:member", "conflict:user"]
__all__ = ["Change", "ORDER", "plan", "owner_of_path", "owner_of_user", "owner_of_alias"]


def owner_of_path(path: str) -> str:
    """/partenaires/SIRET/... -> partner:SIRET; /cafs/CODE/... -> caf:CODE; the roots belong to no one."""
    parts = path.split("/")
    if len(parts) < 3:
        return ""
    return {n.PARTNERS_ROOT: "partner:", n.CAFS_ROOT: "caf:"}.get(parts[1], "?:") + parts[2]


def owner_of_user(u: UserSpec | None) -> str:
    attrs = dict(u.attributes) if u else {}
    if n.PARTNER_ATTR in attrs:
        return f"partner:{attrs[n.PARTNER_ATTR]}"
    return f"caf:{attrs[n.CAF_ATTR]}" if n.CAF_ATTR in attrs else ""


def owner_of_alias(alias: str) -> str:
    return f"partner:{alias[2:]}" if alias.startswith("p-") else ""


def _role_label(r: RoleRef) -> str:
    return f"{r[0]}:{r[1]}" if r[0] else r[1]


def _known(id_: str | None) -> str:
    """Keycloak's id of an observed object (only desired objects have none)."""
    if id_ is None:
        raise ValueError("an observed Keycloak object without an id")
    return id_


def plan(desired: State, observed: State) -> list[Change]:
    """Pure: what to change in Keycloak so that `observed` becomes `desired`, each change with its reason."""
    out = _plan_orgs(desired, observed) + _plan_groups(desired, observed)
    users, unowned = _plan_users(desired, observed)
    out += users + _plan_memberships(desired, observed, unowned)
    return sorted(out, key=lambda c: ORDER.index(f"{c.action}:{c.kind}"))


def _plan_orgs(desired: State, observed: State) -> list[Change]:
    out: list[Change] = []
    for alias, want in desired.orgs.items():
        have = observed.orgs.get(alias)
        if have is None:
            out.append(CreateOrg(target=alias, reason="partenaire du registre sans organisation", spec=want,
                                 owner=owner_of_alias(alias)))
        elif have.managed and (have.name, have.attributes) != (want.name, want.attributes):
            out.append(UpdateOrg(target=alias, reason="nom ou attributs différents du registre", id=_known(have.id),
                                 spec=want, owner=owner_of_alias(alias)))
    for alias, have in observed.orgs.items():
        if have.managed and alias not in desired.orgs:
            out.append(DeleteOrg(target=alias, reason="partenaire retiré du registre", id=_known(have.id),
                                 owner=owner_of_alias(alias)))
    return out


def _plan_groups(desired: State, observed: State) -> list[Change]:
    out: list[Change] = []
    for path, want in sorted(desired.groups.items(), key=lambda kv: kv[1].depth):
        have = observed.groups.get(path)
        if have is None:
            out.append(CreateGroup(target=path, reason="habilitation prévue par le registre", spec=want,
                                   owner=owner_of_path(path)))
        elif have.managed and have.roles != want.roles:
            out.append(UpdateGroupRoles(
                target=path, reason="rôles du groupe modifiés hors registre (dérive) : attendu "
                + ", ".join(sorted(map(_role_label, want.roles))), id=_known(have.id),
                add=tuple(sorted(want.roles - have.roles, key=str)), remove=tuple(sorted(have.roles - want.roles, key=str)),
                owner=owner_of_path(path)))
    for path, have in sorted(observed.groups.items(), key=lambda kv: -kv[1].depth):
        if have.managed and path not in desired.groups:
            out.append(DeleteGroup(target=path, reason="habilitation plus prévue par le registre", id=_known(have.id),
                                   members=frozenset(observed.members.get(path, ())), owner=owner_of_path(path)))
    return out


def _plan_users(desired: State, observed: State) -> tuple[list[Change], set[str]]:
    """The users' changes, and the desired users whose account (or email) belongs to someone we do not manage."""
    out: list[Change] = []
    by_email = {(u.email or "").lower(): u for u in observed.users.values() if u.email}
    unowned: set[str] = set()
    for name, want in desired.users.items():
        have = observed.users.get(name)
        owner = owner_of_user(want)
        if have is None:
            other = by_email.get((want.email or "").lower())
            if other is not None and other.username != name and not other.managed:
                unowned.add(name)
                out.append(AccountConflict(target=name, reason=f"le courriel {want.email} appartient déjà au compte "
                                           f"« {other.username} », non géré par Mon Compte Partenaire : rien n'est créé",
                                           owner=owner))
                continue
            out.append(CreateUser(target=name, reason="nouvel utilisateur : identifiant et mot de passe provisoire",
                                  spec=want, owner=owner))
            continue
        if not have.managed:
            unowned.add(name)
            out.append(AccountConflict(target=name, reason="compte existant non créé par Mon Compte Partenaire : "
                                       "jamais repris ni modifié (adoption explicite par la Caf seulement)", owner=owner))
            continue
        if have.profile() != want.profile():
            out.append(UpdateUser(target=name, reason="nom, courriel ou rattachement différents du registre",
                                  id=_known(have.id), spec=want, owner=owner))
        if want.enabled and not have.enabled:
            out.append(EnableUser(target=name, reason="utilisateur actif au registre", id=_known(have.id), owner=owner))
        elif not want.enabled and have.enabled:
            out.append(DisableUser(target=name, reason="utilisateur suspendu", id=_known(have.id), owner=owner))
    for name, have in observed.users.items():
        if have.managed and have.enabled and name not in desired.users:
            out.append(DisableUser(target=name, reason="utilisateur retiré du registre", id=_known(have.id),
                                   owner=owner_of_user(have), forget_links=True))
    return out, unowned


def _plan_memberships(desired: State, observed: State, unowned: set[str]) -> list[Change]:
    out: list[Change] = []
    for alias, want_members in desired.org_members.items():
        have_members = observed.org_members.get(alias, set())
        for u in sorted(want_members - have_members - unowned):
            out.append(AddOrgMember(target=f"{u} -> {alias}", reason="utilisateur du partenaire", user=u, org=alias,
                                    owner=owner_of_alias(alias)))
        if observed.orgs.get(alias, None) is None or observed.orgs[alias].managed:
            for u in sorted(have_members - want_members):
                out.append(RemoveOrgMember(target=f"{u} -> {alias}", reason="n'est pas un utilisateur de ce partenaire",
                                           user=u, org=alias, owner=owner_of_alias(alias)))

    for path, want_members in desired.members.items():
        have_members = observed.members.get(path, set())
        for u in sorted(want_members - have_members - unowned):
            out.append(AddMember(target=f"{u} -> {path}", reason="habilitation accordée au registre", user=u,
                                 group=path, owner=owner_of_path(path)))
        for u in sorted(have_members - want_members):
            out.append(RemoveMember(target=f"{u} -> {path}",
                                    reason="membre absent du registre (retrait, suspension ou ajout hors registre)",
                                    user=u, group=path, owner=owner_of_path(path)))

    for user, role in sorted(observed.direct_roles, key=str):
        if user in desired.users and user not in unowned:
            out.append(RemoveDirectRole(
                target=f"{user} -> {_role_label(role)}",
                reason="rôle attribué directement hors groupe (dérive) : les rôles passent par les groupes",
                user=user, role=role, owner=owner_of_user(desired.users[user])))
    return out
