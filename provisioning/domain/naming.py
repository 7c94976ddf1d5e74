"""The one place for Keycloak names: organisations, groups, roles and the ownership marker."""

from __future__ import annotations

from provisioning.domain import catalogue

MANAGED_BY_ATTR = "mcp.managed-by"  # ownership marker: we never delete what does not carry it
MANAGED_BY = "mon-compte-partenaire"
BULK_ENDPOINT = "mcp-bulk/memberships"  # our Keycloak extension's read-only bulk read of memberships
PROCONNECT = "proconnect"  # issue 32: the identity provider's alias (realm-config), whose links we read and remove
BULK_ACCOUNTS = "mcp-bulk/accounts"     # …and of many accounts' states (a list of people)
KIND_ATTR = "mcp.kind"
PARTNER_ATTR = "partner"  # user and group attribute: the partner's SIRET (also a token claim)
CAF_ATTR = "caf"

PROVISIONAL_EXPIRES_ATTR = "mcp.provisional-expires-at"  # read by the Keycloak extension FirstLoginGuard
TERMS_ATTR = "terms_and_conditions"  # set by Keycloak when the usage rules are accepted (epoch seconds)

PARTNERS_ROOT = "partenaires"
CAFS_ROOT = "cafs"


def org_alias(siret: str) -> str:
    return f"p-{siret}"


def partner_group_path(siret: str) -> str:
    return f"/{PARTNERS_ROOT}/{siret}"


# Per partner, one group per habilitation; each holds exactly one role. Keys are stable identifiers (the groups'
# kind attribute). The services' groups and profiles come from the catalogue; these two are the partner's own.
#   key -> (group name, client id or None for a realm role, role name)
PARTNER_OWN_GROUPS: dict[str, tuple[str, str | None, str]] = {
    "administrateur": ("Administrateur partenaire", None, "administrateur-partenaire"),
    "delegues": ("Responsables des habilitations", None, "responsable-habilitations"),
}
CAF_ADMIN_GROUP = ("Administrateurs Caf", None, "caf-administrateur")


def partner_groups() -> dict[str, tuple[str, str | None, str]]:
    """Every group a partner may have: the catalogue's services' groups and profiles, then its own two."""
    return {**catalogue.current().keycloak_groups(), **PARTNER_OWN_GROUPS}


def group_key(group: str) -> str | None:
    found = catalogue.current().group(group)
    return found.key if found else None


def profile_key(profile: str) -> str | None:
    found = catalogue.current().profile(profile)
    return found.key if found else None


def managed_client_roles() -> set[tuple[str, str]]:
    """Client roles the reconciler owns: a direct (non-group) grant of one of them is drift."""
    return {(c, r) for (_, c, r) in partner_groups().values() if c}


MANAGED_REALM_ROLES = {r for (_, c, r) in [*PARTNER_OWN_GROUPS.values(), CAF_ADMIN_GROUP] if c is None}
