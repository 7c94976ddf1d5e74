"""plan(desired, observed) -> [Change]: pure data, each change with its reason. After apply, plan is empty.

Ownership is absolute: we create, update, grant and delete only objects carrying our marker (spec.managed).
An account already in Keycloak that we did not create (same username, or same email) is a conflict shown by
the plan: never adopted, updated, given credentials or groups, never deleted (adoption is an explicit,
audited command). Users we created and the registry no longer lists are disabled, not deleted.

Each change names its owner (`partner:SIRET`, `caf:CODE`, or "" for the shared roots), so a plan can be
limited to what a desired-state file owns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from provisioning.domain import naming as n
from provisioning.reconcile.state import RoleRef, State, UserSpec

# Order of execution: what takes access away first (a suspension never waits behind a creation), then
# parents before children and creations before memberships. Conflicts are shown, never executed.
ORDER = ["disable:user", "remove:member", "remove:direct-role", "remove:org-member", "delete:group",
         "delete:organisation", "create:organisation", "update:organisation", "create:group", "update:group-roles",
         "create:user", "update:user", "enable:user", "add:org-member", "add:member", "conflict:user"]
DESTRUCTIVE = {"disable", "remove", "delete"}


@dataclass(frozen=True)
class Change:
    action: str   # create | update | delete | add | remove | enable | disable
    kind: str     # organisation | group | group-roles | user | member | org-member | direct-role
    target: str   # what it acts on: alias, group path, username, "user -> group"
    reason: str   # why, in French, for people reading a plan
    data: dict = field(default_factory=dict, compare=False, hash=False)
    owner: str = field(default="", compare=False)  # partner:SIRET | caf:CODE | "" (shared roots)

    @property
    def destructive(self) -> bool:
        """Takes access away: the plan lists these first and `apply` guards their number."""
        return self.action in DESTRUCTIVE

    def __str__(self) -> str:
        sign = {"create": "+", "add": "+", "enable": "+", "update": "~", "remove": "-", "delete": "-",
                "disable": "-", "conflict": "!", "end": "-"}[self.action]
        return f"{sign} {self.action} {self.kind} {self.target}  ({self.reason})"

    def as_dict(self) -> dict:
        return {"action": self.action, "kind": self.kind, "target": self.target, "reason": self.reason,
                "destructive": self.destructive}


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


def plan(desired: State, observed: State) -> list[Change]:
    out: list[Change] = []

    for alias, want in desired.orgs.items():
        have = observed.orgs.get(alias)
        if have is None:
            out.append(Change("create", "organisation", alias, "partenaire du registre sans organisation",
                              {"spec": want}, owner_of_alias(alias)))
        elif have.managed and (have.name, have.attributes) != (want.name, want.attributes):
            out.append(Change("update", "organisation", alias, "nom ou attributs différents du registre",
                              {"spec": want, "id": have.id}, owner_of_alias(alias)))
    for alias, have in observed.orgs.items():
        if have.managed and alias not in desired.orgs:
            out.append(Change("delete", "organisation", alias, "partenaire retiré du registre", {"id": have.id},
                              owner_of_alias(alias)))

    for path, want in sorted(desired.groups.items(), key=lambda kv: kv[1].depth):
        have = observed.groups.get(path)
        if have is None:
            out.append(Change("create", "group", path, "habilitation prévue par le registre", {"spec": want},
                              owner_of_path(path)))
        elif have.managed and have.roles != want.roles:
            out.append(Change("update", "group-roles", path,
                              "rôles du groupe modifiés hors registre (dérive) : attendu "
                              + ", ".join(sorted(map(_role_label, want.roles))),
                              {"id": have.id, "add": sorted(want.roles - have.roles, key=str),
                               "remove": sorted(have.roles - want.roles, key=str)}, owner_of_path(path)))
    for path, have in sorted(observed.groups.items(), key=lambda kv: -kv[1].depth):
        if have.managed and path not in desired.groups:
            out.append(Change("delete", "group", path, "habilitation plus prévue par le registre", {"id": have.id},
                              owner_of_path(path)))

    by_email = {(u.email or "").lower(): u for u in observed.users.values() if u.email}
    unowned: set[str] = set()  # desired users whose account (or email) belongs to someone we do not manage
    for name, want in desired.users.items():
        have = observed.users.get(name)
        owner = owner_of_user(want)
        if have is None:
            other = by_email.get((want.email or "").lower())
            if other is not None and other.username != name and not other.managed:
                unowned.add(name)
                out.append(Change("conflict", "user", name, f"le courriel {want.email} appartient déjà au compte "
                                  f"« {other.username} », non géré par Mon Compte Partenaire : rien n'est créé",
                                  {}, owner))
                continue
            out.append(Change("create", "user", name, "nouvel utilisateur : identifiant et mot de passe provisoire",
                              {"spec": want}, owner))
            continue
        if not have.managed:
            unowned.add(name)
            out.append(Change("conflict", "user", name, "compte existant non créé par Mon Compte Partenaire : "
                              "jamais repris ni modifié (adoption explicite par la Caf seulement)", {}, owner))
            continue
        if have.profile() != want.profile():
            out.append(Change("update", "user", name, "nom, courriel ou rattachement différents du registre",
                              {"spec": want, "id": have.id}, owner))
        if want.enabled and not have.enabled:
            out.append(Change("enable", "user", name, "utilisateur actif au registre", {"id": have.id}, owner))
        elif not want.enabled and have.enabled:
            out.append(Change("disable", "user", name, "utilisateur suspendu", {"id": have.id}, owner))
    for name, have in observed.users.items():
        if have.managed and have.enabled and name not in desired.users:
            out.append(Change("disable", "user", name, "utilisateur retiré du registre", {"id": have.id},
                              owner_of_user(have)))

    for alias, want_members in desired.org_members.items():
        have_members = observed.org_members.get(alias, set())
        for u in sorted(want_members - have_members - unowned):
            out.append(Change("add", "org-member", f"{u} -> {alias}", "utilisateur du partenaire",
                              {"user": u, "org": alias}, owner_of_alias(alias)))
        if observed.orgs.get(alias, None) is None or observed.orgs[alias].managed:
            for u in sorted(have_members - want_members):
                out.append(Change("remove", "org-member", f"{u} -> {alias}", "n'est pas un utilisateur de ce partenaire",
                                  {"user": u, "org": alias}, owner_of_alias(alias)))

    for path, want_members in desired.members.items():
        have_members = observed.members.get(path, set())
        for u in sorted(want_members - have_members - unowned):
            out.append(Change("add", "member", f"{u} -> {path}", "habilitation accordée au registre",
                              {"user": u, "group": path}, owner_of_path(path)))
        for u in sorted(have_members - want_members):
            out.append(Change("remove", "member", f"{u} -> {path}",
                              "membre absent du registre (retrait, suspension ou ajout hors registre)",
                              {"user": u, "group": path}, owner_of_path(path)))

    for user, role in sorted(observed.direct_roles, key=str):
        if user in desired.users and user not in unowned:
            out.append(Change("remove", "direct-role", f"{user} -> {_role_label(role)}",
                              "rôle attribué directement hors groupe (dérive) : les rôles passent par les groupes",
                              {"user": user, "role": role}, owner_of_user(desired.users[user])))

    return sorted(out, key=lambda c: ORDER.index(f"{c.action}:{c.kind}"))
