"""Registry -> desired Keycloak state (pure). The mapping is documented in docs/architecture.md:

- one organisation per partner (alias p-<SIRET>), every partner user a member;
- groups /partenaires/<SIRET>/<habilitation>, each holding exactly one role (naming.partner_groups(): the
  catalogue's groups and profiles, and the partner's administrator and delegates);
  service groups exist once a convention (not terminated) carries a bulletin for the service;
  memberships only while a convention is active and the service not suspended;
- /cafs/<code>/Administrateurs Caf holds realm role caf-administrateur;
- users carry attribute `partner` (SIRET) or `caf` (code); suspended users are disabled.
"""

from __future__ import annotations

from datetime import date

from provisioning.domain import catalogue
from provisioning.domain import naming as n
from provisioning.domain.catalogue import Catalogue
from provisioning.domain.model import Caf, ConventionStatus, Partner, Registry, Service, Settings
from provisioning.reconcile.state import GroupSpec, OrgSpec, State, UserSpec


def _group(groups: dict[str, tuple[str, str | None, str]], path: str, key: str, **attrs: str) -> GroupSpec:
    name, client, role = groups.get(key, n.CAF_ADMIN_GROUP)
    return GroupSpec(path=path, attributes=tuple(sorted({n.KIND_ATTR: key, **attrs}.items())),
                     roles=frozenset({(client, role)}))


def _container(path: str, kind: str, **attrs: str) -> GroupSpec:
    return GroupSpec(path=path, attributes=tuple(sorted({n.KIND_ATTR: kind, **attrs}.items())))


SIGNED = frozenset({ConventionStatus.SIGNED_BY_CAF, ConventionStatus.ACTIVE, ConventionStatus.SUSPENDED})


def signed(p: Partner) -> bool:
    """Whether a convention of the partner is, or was, signed by both parties."""
    return any(c.status in SIGNED or any(h.status in SIGNED for h in c.history) for c in p.conventions)


AWAITING_SIGNATURE = frozenset({ConventionStatus.PREPARED, ConventionStatus.SIGNED_BY_PARTNER})


def with_accounts(p: Partner) -> set[str]:
    """Who of the partner's people has an account (issue 29 §2: a convention and its contract first, then the
    identifiant): everyone once a convention is signed by both parties; before, only the person who signs for it —
    its legal representative, or its administrator when none is named — while a convention awaits her electronic
    signature (issue 31: she signs from her account)."""
    if signed(p):
        return {u.identifiant for u in p.users}
    signer = p.representative or p.administrator
    if signer and p.user(signer) and any(c.status in AWAITING_SIGNATURE for c in p.conventions):
        return {signer}
    return set()


def _services_with_groups(p: Partner) -> set[Service]:
    return {b.service for c in p.conventions if c.status is not ConventionStatus.TERMINATED for b in c.bulletins}


def opening(cat: Catalogue, settings: Settings) -> dict[str, date]:
    """Group key -> the day it opens (R10), for the groups that have one."""
    out = {}
    for _, g in cat.groups():
        day = getattr(settings, g.opening_setting) if g.opening_setting else g.opens_on
        if day is not None:
            out[g.key] = day
    return out


def offered_keys(cat: Catalogue, p: Partner, settings: Settings, today: date) -> list[str]:
    """The partner's service groups in Keycloak: those of its services under a convention not terminated, each
    once it is open (R10)."""
    opens = opening(cat, settings)
    return [key for service in sorted(_services_with_groups(p)) for key in cat.keys_of(service)
            if key not in opens or today >= opens[key]]


def desired_state(reg: Registry, today: date) -> State:
    s = State()
    cat = catalogue.current()
    groups = n.partner_groups()

    def add_group(g: GroupSpec, members: set[str] | None = None) -> None:
        s.groups[g.path] = g
        if g.roles:
            s.members[g.path] = set(members or ())

    add_group(_container(f"/{n.CAFS_ROOT}", "root"))
    add_group(_container(f"/{n.PARTNERS_ROOT}", "root"))

    for caf in reg.cafs:
        base = f"/{n.CAFS_ROOT}/{caf.code}"
        add_group(_container(base, "caf", **{n.CAF_ATTR: caf.code}))
        add_group(_group(groups, f"{base}/{n.CAF_ADMIN_GROUP[0]}", "caf-admin", **{n.CAF_ATTR: caf.code}),
                  {a.identifiant for a in caf.administrators})
        for a in caf.administrators:
            s.users[a.identifiant] = UserSpec(a.identifiant, a.first_name, a.last_name, a.email, True,
                                              ((n.CAF_ATTR, caf.code),))

    for p in reg.partners:
        # issue 29 §2 (the seed: the convention and its contract first, then the identifiant): a partner's people
        # get their accounts — and their codes — once a convention is signed by both parties (its representative
        # before, to sign it: issue 31)
        opened = with_accounts(p)
        people = [u for u in p.users if u.identifiant in opened]
        alias = n.org_alias(p.siret)
        s.orgs[alias] = OrgSpec(alias, f"{p.name} ({p.siret})", ((n.PARTNER_ATTR, p.siret),))
        s.org_members[alias] = {u.identifiant for u in people}
        base = n.partner_group_path(p.siret)
        attrs = {n.PARTNER_ATTR: p.siret}
        add_group(_container(base, "partner", **attrs))
        for u in people:
            # the Caf too: a claim the services read (CDAP's beneficiaries of the partner's territory)
            s.users[u.identifiant] = UserSpec(u.identifiant, u.first_name, u.last_name, u.email,
                                              u.active, tuple(sorted(((n.PARTNER_ATTR, p.siret), (n.CAF_ATTR, p.caf)))))
        active = {u.identifiant for u in people if u.active}
        add_group(_group(groups, f"{base}/{groups['administrateur'][0]}", "administrateur", **attrs),
                  {p.administrator} & active if p.administrator else set())
        add_group(_group(groups, f"{base}/{groups['delegues'][0]}", "delegues", **attrs), set(p.delegates) & active)

        # R12: the administrator gets service roles only through explicit bulletin membership, like anyone.
        holders: dict[str, set[str]] = {}
        for ident, (held_groups, held_profiles) in p.grants_index().items():
            for key in filter(None, [*map(n.group_key, held_groups), *map(n.profile_key, held_profiles)]):
                holders.setdefault(key, set()).add(ident)
        for key in offered_keys(cat, p, reg.settings, today):
            add_group(_group(groups, f"{base}/{groups[key][0]}", key, **attrs), holders.get(key, set()))
    return s


def _role_label(client: str | None, role: str) -> str:
    return f"{client}:{role}" if client else role


def managed_role_labels() -> frozenset[str]:
    """Every role the registry decides, as tokens name them."""
    return frozenset(_role_label(c, r) for c, r in n.managed_client_roles()) | n.MANAGED_REALM_ROLES


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
        offered = set(offered_keys(catalogue.current(), partner, settings, today))
        held = {n.group_key(g) for g in partner.granted_groups(identifiant)}
        held |= {n.profile_key(prof) for prof in partner.granted_profiles(identifiant)}
        keys |= {k for k in held & offered if k}
    groups = n.partner_groups()
    out = set()
    for key in keys:
        _, client, role = groups.get(key, n.CAF_ADMIN_GROUP)
        out.add(_role_label(client, role))
    return frozenset(out)
