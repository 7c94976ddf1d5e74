"""Our SCIM resources: a partner's user (core User, the enterprise extension's organisation, and our own
extension with the partner's SIRET, its Caf, the habilitation groups and the AFAS profiles), and a partner's
habilitation group as Keycloak holds it (members = who the registry says)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Any

from scim2_models import (
    URN,
    Email,
    EnterpriseUser,
    Extension,
    Group,
    GroupMember,
    Meta,
    Mutability,
    Name,
    Reference,
    ResourceType,
    Returned,
    ScimProvider,
    User,
)
from scim2_models import Group as ScimGroup

from provisioning.domain import naming as n
from provisioning.domain.model import Partner

EPOCH = datetime(2016, 6, 20, tzinfo=UTC)  # before anything: an object no journal line dates
READ = [Mutability.read_only]


class PartnerUser(Extension):
    """urn:…:PartnerUser — what a Caf service needs beyond the core schema."""
    __schema__ = URN("urn:mon-compte-partenaire:params:scim:schemas:extension:partenaire:2.0:User")

    siret: Annotated[str | None, Mutability.read_only] = None
    """SIRET of the partner organisation the person works for."""
    caf: Annotated[str | None, Mutability.read_only] = None
    """Code of the partner's Caf."""
    habilitations: Annotated[list[str] | None, Mutability.read_only, Returned.default] = None
    """Habilitation groups held now, of every service of the catalogue (« CDAP Consulter », « AFAS Déclarer »…)."""
    profiles: Annotated[list[str] | None, Mutability.read_only, Returned.default] = None
    """Profiles held now, of every service of the catalogue (approbateur, …)."""
    afas_profiles: Annotated[list[str] | None, Mutability.read_only, Returned.default] = None
    """AFAS's profiles only (kept for the readers of version 1; `profiles` holds every service's)."""


UserResource = User[EnterpriseUser | PartnerUser]
USER_TYPE = ResourceType.from_resource(UserResource)
GROUP_TYPE = ResourceType.from_resource(Group)
USER_TYPE.description = "Personnes habilitées des partenaires (registre Mon Compte Partenaire)"
GROUP_TYPE.description = "Groupes d'habilitation des partenaires (tels que Keycloak les porte)"


def version(payload: Any) -> str:
    """A weak ETag from the resource's content: it changes exactly when what a client reads changes."""
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]
    return f'W/"{digest}"'


def _meta(kind: str, payload: Any, dates: tuple[datetime, datetime] | None) -> Meta:
    created, modified = dates or (EPOCH, EPOCH)
    return Meta(resource_type=kind, created=created, last_modified=modified, version=version(payload))


def users_of(p: Partner, dates: dict[str, tuple[datetime, datetime]],
             partner_dates: tuple[datetime, datetime] | None = None) -> list[Any]:
    """Every user of a partner, with what they hold now (one pass over the bulletins). Dates: the first and
    last journal lines about the person, else the partner's (a person imported with a whole file)."""
    grants = p.grants_index()
    out = []
    for u in p.users:
        groups, profiles = grants.get(u.identifiant, (set(), set()))
        payload = (u.identifiant, u.first_name, u.last_name, u.email, u.active, p.siret, p.name, p.caf,
                   sorted(g.value for g in groups), sorted(x.value for x in profiles))
        res = UserResource(
            id=u.identifiant, user_name=u.identifiant, display_name=f"{u.first_name} {u.last_name}",
            name=Name(given_name=u.first_name, family_name=u.last_name,
                      formatted=f"{u.first_name} {u.last_name}"),
            emails=[Email(value=u.email, primary=True, type=Email.Type.work)], active=u.active,
            meta=_meta("User", payload, dates.get(u.identifiant) or partner_dates))
        res[EnterpriseUser] = EnterpriseUser(organization=p.name)
        res[PartnerUser] = PartnerUser(siret=p.siret, caf=p.caf, habilitations=sorted(g.value for g in groups),
                                       profiles=sorted(x.value for x in profiles),
                                       afas_profiles=sorted(x.value for x in profiles if x.service == "AFAS"))
        out.append(res)
    return out


def groups_of(p: Partner, holders: dict[str, set[str]], dates: tuple[datetime, datetime] | None) -> list[Any]:
    """The partner's habilitation groups: id <SIRET>.<key>, name the Keycloak path."""
    names = {u.identifiant: f"{u.first_name} {u.last_name}" for u in p.users}
    out = []
    for key in sorted(holders):
        name = n.partner_groups()[key][0]
        members = sorted(holders[key])
        res = ScimGroup(id=f"{p.siret}.{key}", display_name=f"{n.partner_group_path(p.siret)}/{name}",
                        members=[GroupMember(value=m, ref=Reference(f"Users/{m}"), display=names.get(m), type="User")
                                 for m in members] or None,
                        meta=_meta("Group", (p.siret, key, members), dates))
        out.append(res)
    return out


def provider(config) -> ScimProvider:
    return ScimProvider(models=[User, EnterpriseUser, PartnerUser, Group],
                        resource_types=[USER_TYPE, GROUP_TYPE], config=config)
