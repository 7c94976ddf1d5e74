"""Registry -> desired Keycloak state (pure). The mapping is documented in docs/architecture.md:

- one organisation per partner (alias p-<SIRET>), every partner user a member;
- groups /partenaires/<SIRET>/<habilitation>, each holding exactly one role (naming.PARTNER_GROUPS);
  service groups exist once a convention (not terminated) carries a bulletin for the service;
  memberships only while a convention is active and the service not suspended;
- /cafs/<code>/Administrateurs Caf holds realm role caf-administrateur;
- users carry attribute `partner` (SIRET) or `caf` (code); suspended users are disabled.
"""

from __future__ import annotations

from datetime import date

from provisioning.domain import naming as n
from provisioning.domain.model import Caf, ConventionStatus, Group, Partner, Registry, Service, Settings
from provisioning.reconcile.state import GroupSpec, OrgSpec, State, UserSpec

SERVICE_GROUP_KEYS = {
    Service.CDAP: ["cdap-consulter"],
    Service.AFAS: ["afas-declarer", "afas-habiliter", "afas-activite", "afas-financier", "afas-approbateur"],
}


def _group(path: str, key: str, **attrs: str) -> GroupSpec:
    name, client, role = n.PARTNER_GROUPS.get(key, n.CAF_ADMIN_GROUP)
    return GroupSpec(path=path, attributes=tuple(sorted({n.KIND_ATTR: key, **attrs}.items())),
                     roles=frozenset({(client, role)}))


def _container(path: str, kind: str, **attrs: str) -> GroupSpec:
    return GroupSpec(path=path, attributes=tuple(sorted({n.KIND_ATTR: kind, **attrs}.items())))


def _services_with_groups(p: Partner) -> set[Service]:
    return {b.service for c in p.conventions if c.status is not ConventionStatus.TERMINATED for b in c.bulletins}


def desired_state(reg: Registry, today: date) -> State:
    s = State()
    habiliter_open = today >= reg.settings.afas_habiliter_opening

    def add_group(g: GroupSpec, members: set[str] | None = None) -> None:
        s.groups[g.path] = g
        if g.roles:
            s.members[g.path] = set(members or ())

    add_group(_container(f"/{n.CAFS_ROOT}", "root"))
    add_group(_container(f"/{n.PARTNERS_ROOT}", "root"))

    for caf in reg.cafs:
        base = f"/{n.CAFS_ROOT}/{caf.code}"
        add_group(_container(base, "caf", **{n.CAF_ATTR: caf.code}))
        add_group(_group(f"{base}/{n.CAF_ADMIN_GROUP[0]}", "caf-admin", **{n.CAF_ATTR: caf.code}),
                  {a.identifiant for a in caf.administrators})
        for a in caf.administrators:
            s.users[a.identifiant] = UserSpec(a.identifiant, a.first_name, a.last_name, a.email, True,
                                              ((n.CAF_ATTR, caf.code),))

    for p in reg.partners:
        alias = n.org_alias(p.siret)
        s.orgs[alias] = OrgSpec(alias, f"{p.name} ({p.siret})", ((n.PARTNER_ATTR, p.siret),))
        s.org_members[alias] = {u.identifiant for u in p.users}
        base = n.partner_group_path(p.siret)
        attrs = {n.PARTNER_ATTR: p.siret}
        add_group(_container(base, "partner", **attrs))
        for u in p.users:
            # the Caf too: a claim the services read (CDAP's beneficiaries of the partner's territory)
            s.users[u.identifiant] = UserSpec(u.identifiant, u.first_name, u.last_name, u.email,
                                              u.active, tuple(sorted(((n.PARTNER_ATTR, p.siret), (n.CAF_ATTR, p.caf)))))
        active = {u.identifiant for u in p.users if u.active}
        add_group(_group(f"{base}/{n.PARTNER_GROUPS['administrateur'][0]}", "administrateur", **attrs),
                  {p.administrator} & active if p.administrator else set())
        add_group(_group(f"{base}/{n.PARTNER_GROUPS['delegues'][0]}", "delegues", **attrs), set(p.delegates) & active)

        # R12: the administrator gets service roles only through explicit bulletin membership, like anyone.
        holders: dict[str, set[str]] = {}
        for u in p.users:
            for g in p.granted_groups(u.identifiant):
                holders.setdefault(n.GROUP_KEY[g], set()).add(u.identifiant)
            for prof in p.granted_profiles(u.identifiant):
                holders.setdefault(n.PROFILE_KEY[prof], set()).add(u.identifiant)
        for service in sorted(_services_with_groups(p)):
            for key in SERVICE_GROUP_KEYS[service]:
                if key == n.GROUP_KEY[Group.AFAS_HABILITER] and not habiliter_open:
                    continue  # R10: not before its opening date
                add_group(_group(f"{base}/{n.PARTNER_GROUPS[key][0]}", key, **attrs), holders.get(key, set()))
    return s


def _role_label(client: str | None, role: str) -> str:
    return f"{client}:{role}" if client else role


MANAGED_ROLE_LABELS = frozenset(_role_label(c, r) for c, r in n.MANAGED_CLIENT_ROLES) | n.MANAGED_REALM_ROLES


def roles_of(identifiant: str, caf: Caf | None, partner: Partner | None, settings: Settings,
             today: date) -> frozenset[str]:
    """The roles the registry gives this one person now, as a token names them (« afas:AFAS-Habiliter »,
    « administrateur-partenaire »): what desired_state puts her groups' roles at, computed for her alone
    (issue 25: the API checks them on every request, at a cost that does not grow with the partner)."""
    keys: set[str] = set()
    if caf is not None and any(a.identifiant == identifiant for a in caf.administrators):
        keys.add("caf-admin")
    user = partner.user(identifiant) if partner is not None else None
    if partner is not None and user is not None and user.active:
        keys |= {"administrateur"} if partner.administrator == identifiant else set()
        keys |= {"delegues"} if identifiant in partner.delegates else set()
        offered = {k for s in _services_with_groups(partner) for k in SERVICE_GROUP_KEYS[s]}
        if today < settings.afas_habiliter_opening:
            offered.discard(n.GROUP_KEY[Group.AFAS_HABILITER])
        held = {n.GROUP_KEY[g] for g in partner.granted_groups(identifiant)}
        held |= {n.PROFILE_KEY[prof] for prof in partner.granted_profiles(identifiant)}
        keys |= held & offered
    out = set()
    for key in keys:
        _, client, role = n.PARTNER_GROUPS.get(key, n.CAF_ADMIN_GROUP)
        out.add(_role_label(client, role))
    return frozenset(out)
