"""The one place for Keycloak names: organisations, groups, roles and the ownership marker."""

from __future__ import annotations

from provisioning.domain.model import Group, Profile

MANAGED_BY_ATTR = "mcp.managed-by"  # ownership marker: we never delete what does not carry it
MANAGED_BY = "mon-compte-partenaire"
BULK_ENDPOINT = "mcp-bulk/memberships"  # our Keycloak extension's read-only bulk read of memberships
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


# Per partner, one group per habilitation; each holds exactly one role. Keys are stable identifiers.
#   key -> (group name, client id or None for a realm role, role name)
PARTNER_GROUPS: dict[str, tuple[str, str | None, str]] = {
    "cdap-consulter": (Group.CDAP_CONSULTER.value, "cdap", "CDAP-Consulter"),
    "afas-declarer": (Group.AFAS_DECLARER.value, "afas", "AFAS-Déclarer"),
    "afas-habiliter": (Group.AFAS_HABILITER.value, "afas", "AFAS-Habiliter"),
    "afas-activite": ("AFAS Fournisseurs de données d'activité", "afas", Profile.ACTIVITE.value),
    "afas-financier": ("AFAS Fournisseurs de données financières", "afas", Profile.FINANCIER.value),
    "afas-approbateur": ("AFAS Approbateur", "afas", Profile.APPROBATEUR.value),
    "administrateur": ("Administrateur partenaire", None, "administrateur-partenaire"),
    "delegues": ("Responsables des habilitations", None, "responsable-habilitations"),
}
CAF_ADMIN_GROUP = ("Administrateurs Caf", None, "caf-administrateur")

GROUP_KEY = {Group.CDAP_CONSULTER: "cdap-consulter", Group.AFAS_DECLARER: "afas-declarer",
             Group.AFAS_HABILITER: "afas-habiliter"}
PROFILE_KEY = {Profile.ACTIVITE: "afas-activite", Profile.FINANCIER: "afas-financier",
               Profile.APPROBATEUR: "afas-approbateur"}

# Client roles the reconciler owns: a direct (non-group) grant of one of them is drift.
MANAGED_CLIENT_ROLES = {(c, r) for (_, c, r) in PARTNER_GROUPS.values() if c}
MANAGED_REALM_ROLES = {r for (_, c, r) in [*PARTNER_GROUPS.values(), CAF_ADMIN_GROUP] if c is None}
