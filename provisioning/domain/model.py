"""The registry of partners, conventions, contrats de service and bulletins d'adhésion (BRIEF R3–R12).

Pure Python: no Flask, SQLAlchemy or Keycloak here. A Partner is the aggregate: its users, equipments,
conventions (each with its contract and its bulletins) live inside it. The store keeps its people and their
grants as rows (issue 27); User and Member are frozen so that a change is a replacement it can see.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from provisioning.domain import catalogue

if TYPE_CHECKING:
    from provisioning.domain.catalogue import ServiceDef
    from provisioning.domain.scope import FileScope


class _CatalogueValue(str):
    """A value the service catalogue defines (domain.catalogue): a string, so files, documents, SQL and JSON
    carry it as is; whether the catalogue knows it is a rule (`rules.known_to_the_catalogue`), not a type."""
    __slots__ = ()

    @property
    def value(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str.__repr__(self)})"


class Service(_CatalogueValue):
    """A Caf service's code (« CDAP », « AFAS », any entry of the catalogue)."""
    __slots__ = ()
    CDAP: ClassVar[Service]  # the catalogue's first two entries, named for tests and the demo applications
    AFAS: ClassVar[Service]

    @property
    def spec(self) -> ServiceDef | None:
        return catalogue.current().service(self)


class Group(_CatalogueValue):
    """A habilitation group a bulletin places a member in, by its name (« AFAS Déclarer »)."""
    __slots__ = ()
    CDAP_CONSULTER: ClassVar[Group]
    AFAS_DECLARER: ClassVar[Group]
    AFAS_HABILITER: ClassVar[Group]

    @property
    def service(self) -> Service | None:
        s = catalogue.current().service_of_group(self)
        return Service(s.code) if s else None


class Profile(_CatalogueValue):
    """A service's profile, by its code (« approbateur », R7)."""
    __slots__ = ()
    ACTIVITE: ClassVar[Profile]
    FINANCIER: ClassVar[Profile]
    APPROBATEUR: ClassVar[Profile]

    @property
    def service(self) -> Service | None:
        s = catalogue.current().service_of_profile(self)
        return Service(s.code) if s else None


Service.CDAP, Service.AFAS = Service("CDAP"), Service("AFAS")
Group.CDAP_CONSULTER, Group.AFAS_DECLARER, Group.AFAS_HABILITER = (
    Group("CDAP Consulter"), Group("AFAS Déclarer"), Group("AFAS Habiliter"))
Profile.ACTIVITE, Profile.FINANCIER, Profile.APPROBATEUR = (
    Profile("fournisseur-donnees-activite"), Profile("fournisseur-donnees-financieres"), Profile("approbateur"))


class EquipmentType(str, enum.Enum):
    ALSH = "ALSH"  # accueil de loisirs sans hébergement: the only type declared in AFAS at first (R2)
    EAJE = "EAJE"  # établissement d'accueil du jeune enfant


class ConventionStatus(str, enum.Enum):
    REQUESTED = "requested"
    PREPARED = "prepared"
    SIGNED_BY_PARTNER = "signed_by_partner"
    SIGNED_BY_CAF = "signed_by_caf"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"


# The convention lifecycle (R3): the Caf prepares after the partner's request, both co-sign, then it is
# activated; the Caf may suspend (R18) and reactivate; any convention not yet terminated may be terminated.
TRANSITIONS: dict[ConventionStatus, frozenset[ConventionStatus]] = {
    ConventionStatus.REQUESTED: frozenset({ConventionStatus.PREPARED, ConventionStatus.TERMINATED}),
    ConventionStatus.PREPARED: frozenset({ConventionStatus.SIGNED_BY_PARTNER, ConventionStatus.TERMINATED}),
    ConventionStatus.SIGNED_BY_PARTNER: frozenset({ConventionStatus.SIGNED_BY_CAF, ConventionStatus.TERMINATED}),
    ConventionStatus.SIGNED_BY_CAF: frozenset({ConventionStatus.ACTIVE, ConventionStatus.TERMINATED}),
    ConventionStatus.ACTIVE: frozenset({ConventionStatus.SUSPENDED, ConventionStatus.TERMINATED}),
    ConventionStatus.SUSPENDED: frozenset({ConventionStatus.ACTIVE, ConventionStatus.TERMINATED}),
    ConventionStatus.TERMINATED: frozenset(),
}


@dataclass
class StatusChange:
    status: ConventionStatus
    at: datetime
    actor: str


@dataclass
class Contact:
    name: str
    email: str = ""
    phone: str = ""


@dataclass
class ServiceContract:
    """Contrat de service (R4): contacts on both sides and the incident procedure."""
    partner_administrator: Contact | None = None
    partner_security_officer: Contact | None = None
    partner_cnil_referent: Contact | None = None
    caf_administrator: Contact | None = None
    caf_portal_manager: Contact | None = None  # responsable « Mon compte partenaire »
    caf_security_officer: Contact | None = None
    caf_cnil_referent: Contact | None = None
    incident_procedure: str = ""

    def missing(self) -> list[str]:
        """Fields a signature needs that are still empty (R4: every contact named with a mail address, and
        the incident procedure)."""
        out = [role for role in CONTRACT_CONTACTS
               if not (c := getattr(self, role)) or not c.name.strip() or not c.email.strip()]
        return out + ([] if self.incident_procedure.strip() else ["incident_procedure"])


CONTRACT_CONTACTS = ("partner_administrator", "partner_security_officer", "partner_cnil_referent",
                     "caf_administrator", "caf_portal_manager", "caf_security_officer", "caf_cnil_referent")


@dataclass(frozen=True)
class Member:
    """A user listed on a bulletin, with the groups and (AFAS) profiles granted to them. `suspended`: the
    grant is kept but gives nothing — an access review's deadline passed with nobody confirming it (issue 16);
    granting again (set-membership) lifts it. Frozen, as User: a change replaces it (`Bulletin.update`), so the
    store can share the people of a partner as read and find what changed by identity (issue 27)."""
    identifiant: str
    groups: set[Group] = field(default_factory=set)
    profiles: set[Profile] = field(default_factory=set)
    suspended: bool = False


@dataclass
class Bulletin:
    """Bulletin d'adhésion (R5): one per service per convention."""
    service: Service
    members: list[Member] = field(default_factory=list)

    def member(self, identifiant: str) -> Member | None:
        return next((m for m in self.members if m.identifiant == identifiant), None)

    def update(self, identifiant: str, **changes: Any) -> Member | None:
        """Replace the member's entry by a copy with these changes (None: not a member)."""
        for i, m in enumerate(self.members):
            if m.identifiant == identifiant:
                self.members[i] = replace(m, **changes)
                return self.members[i]
        return None

    def granting(self, identifiant: str) -> Member | None:
        """The member's entry when it grants something (not suspended by a review)."""
        m = self.member(identifiant)
        return m if m and not m.suspended else None


@dataclass
class Convention:
    number: str
    status: ConventionStatus = ConventionStatus.REQUESTED
    history: list[StatusChange] = field(default_factory=list)
    contract: ServiceContract = field(default_factory=ServiceContract)
    bulletins: list[Bulletin] = field(default_factory=list)
    suspended_services: set[Service] = field(default_factory=set)

    def bulletin(self, service: Service) -> Bulletin | None:
        return next((b for b in self.bulletins if b.service == service), None)

    def grants(self, service: Service) -> bool:
        """Only an active convention holding a bulletin for the service grants it."""
        return (self.status is ConventionStatus.ACTIVE and self.bulletin(service) is not None
                and service not in self.suspended_services)


@dataclass(frozen=True)
class User:
    """A partner's person. Frozen: a change replaces it (`Partner.update_user`), see Member."""
    identifiant: str
    first_name: str
    last_name: str
    email: str
    suspended: bool = False   # by the Caf (R18), e.g. prolonged non-use
    locked: bool = False      # credentials reported lost or stolen: locked until re-issued (R18)
    suspended_by: str = ""    # "caf" or "partenaire" (issue 29: a partner lifts only its own suspensions)

    @property
    def active(self) -> bool:
        return not (self.suspended or self.locked)


@dataclass
class Equipment:
    code: str
    name: str
    type: EquipmentType
    sites: list[str] = field(default_factory=list)  # where it runs (an ALSH may have several sites)
    assignments: dict[Profile, list[str]] = field(default_factory=dict)  # profile -> identifiants
    # AFAS Habiliter per site (issue 29 §3, the seed's « lieux d'implantation »): identifiant -> the sites she is
    # associated with; someone associated and absent here works for every site of the equipment
    sites_of: dict[str, list[str]] = field(default_factory=dict)

    @property
    def associated(self) -> set[str]:
        """Everyone associated to it, whatever the profile."""
        return {i for ids in self.assignments.values() for i in ids}

    def forget_sites_of_the_unassociated(self) -> None:
        """Whoever is no longer associated (Habiliter, a review's withdrawal) keeps no sites (issue 29 §3)."""
        associated = self.associated
        self.sites_of = {i: s for i, s in self.sites_of.items() if i in associated}


@dataclass
class Partner:
    siret: str
    name: str
    caf: str
    administrator: str | None = None  # identifiant of the administrateur partenaire (R12)
    delegates: list[str] = field(default_factory=list)  # responsables des habilitations
    users: list[User] = field(default_factory=list)
    equipments: list[Equipment] = field(default_factory=list)
    conventions: list[Convention] = field(default_factory=list)
    # issue 31: its legal representative, who signs the convention's documents (None: its administrator signs)
    representative: str | None = None
    # where each person stood when the store read it (identifiant → index): a hint, checked at each use, so
    # that finding one person of 5,000 is a lookup (issue 27); never part of what the partner is
    positions: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def _at(self, identifiant: str) -> int | None:
        i = self.positions.get(identifiant)
        if i is not None and i < len(self.users) and self.users[i].identifiant == identifiant:
            return i
        return next((k for k, u in enumerate(self.users) if u.identifiant == identifiant), None)

    def user(self, identifiant: str) -> User | None:
        i = self._at(identifiant)
        return None if i is None else self.users[i]

    def update_user(self, identifiant: str, **changes: Any) -> User | None:
        """Replace the person by a copy with these changes (None: not one of its people)."""
        i = self._at(identifiant)
        if i is None:
            return None
        self.users[i] = replace(self.users[i], **changes)
        return self.users[i]

    def convention(self, number: str) -> Convention | None:
        return next((c for c in self.conventions if c.number == number), None)

    def granted_groups(self, identifiant: str) -> set[Group]:
        """Groups the user holds through active conventions (R6: only through assigned profiles)."""
        return self._grants(identifiant)[0]

    def _grants(self, identifiant: str) -> tuple[set[Group], set[Profile]]:
        user = self.user(identifiant)
        if user is None or not user.active:
            return set(), set()
        groups: set[Group] = set()
        offered: list[tuple[Service, set[Profile]]] = []
        for conv in self.conventions:
            for b in conv.bulletins:
                m = b.granting(identifiant)
                if m and conv.grants(b.service):
                    groups |= {g for g in m.groups if g.service == b.service}
                    offered.append((b.service, m.profiles))
        return groups, _held_profiles(groups, offered)

    def grants_index(self) -> dict[str, tuple[set[Group], set[Profile]]]:
        """Every user's granted groups and profiles in one pass over the bulletins (the same answers as
        granted_groups and granted_profiles, without their per-user scans: lists of 2,000 users)."""
        found: dict[str, tuple[set[Group], list[tuple[Service, set[Profile]]]]] = {
            u.identifiant: (set(), []) for u in self.users if u.active}
        for conv in self.conventions:
            for b in conv.bulletins:
                if not conv.grants(b.service):
                    continue
                for m in b.members:
                    if m.identifiant in found and not m.suspended:
                        found[m.identifiant][0].update(g for g in m.groups if g.service == b.service)
                        found[m.identifiant][1].append((b.service, m.profiles))
        return {ident: (groups, _held_profiles(groups, offered)) for ident, (groups, offered) in found.items()}

    def granted_profiles(self, identifiant: str) -> set[Profile]:
        return self._grants(identifiant)[1]


def _held_profiles(groups: set[Group], offered: list[tuple[Service, set[Profile]]]) -> set[Profile]:
    """R6/R7: a profile counts while its holder has the group it requires, on a bulletin of its own service."""
    cat = catalogue.current()
    out: set[Profile] = set()
    for service, profiles in offered:
        for prof in profiles:
            spec, owner = cat.profile(prof), cat.service_of_profile(prof)
            if spec is not None and owner is not None and owner.code == service and spec.requires in groups:
                out.add(prof)
    return out


@dataclass
class CafAdministrator:
    identifiant: str
    first_name: str
    last_name: str
    email: str


@dataclass
class Caf:
    code: str
    name: str
    habilitation_mailbox: str  # where every change of user or role is reported (R9)
    administrators: list[CafAdministrator] = field(default_factory=list)


@dataclass
class Settings:
    afas_habiliter_opening: date = date(2018, 4, 1)  # R10: "deuxième trimestre 2018", configurable


@dataclass
class Registry:
    """The whole desired state: what the Caf has agreed with its partners. `scope` is set on a registry
    read from a desired-state file (domain.scope.FileScope): the part of the store that file owns."""
    cafs: list[Caf] = field(default_factory=list)
    partners: list[Partner] = field(default_factory=list)
    settings: Settings = field(default_factory=Settings)
    scope: FileScope | None = None

    def partner(self, siret: str) -> Partner | None:
        return next((p for p in self.partners if p.siret == siret), None)

    def caf(self, code: str) -> Caf | None:
        return next((c for c in self.cafs if c.code == code), None)

    def partner_of(self, identifiant: str) -> Partner | None:
        return next((p for p in self.partners if p.user(identifiant)), None)
