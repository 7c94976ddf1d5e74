"""The service catalogue (issue 28): the Caf services a partner's staff may be habilitated to, as values.

Read from realm-config/services.yaml by `provisioning.catalogue_file` (the edge: pydantic, YAML) and installed
here once per process; the rules, the plan into Keycloak, the realm's clients and roles, the pages and the API
read it instead of naming CDAP or AFAS. Pure: no file, no framework."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

GRANTERS = ("partner-administrator", "delegate", "caf")  # who may grant a service's groups and profiles
SCOPES = ("siret", "caf", "equipments")                    # what scopes a service's data (claims contract)


@dataclass(frozen=True)
class GroupDef:
    """A habilitation group of a service: bulletins, files and consoles name it (`name`), Keycloak holds one per
    partner (`key`, its kind) whose members get the service client's `role`."""
    name: str
    key: str
    role: str
    description: str = ""
    assigns_equipments: bool = False  # its members associate the service's profile holders to equipments (R10)
    opens_on: date | None = None      # granted only from this day (R10's « AFAS Habiliter »)
    opening_setting: str | None = None  # a registry setting that moves the opening (Settings attribute)
    not_open_code: str = "GROUPE_PAS_ENCORE_OUVERT"


@dataclass(frozen=True)
class ProfileDef:
    """A profile of a service (R7): held with its `requires` group, at most `cap` holders per bulletin and per
    equipment (R8)."""
    code: str
    key: str
    group_name: str
    label: str
    requires: str
    description: str = ""
    cap: int | None = None
    cap_code: str = "TROP_DE_TITULAIRES"
    approves: bool = False  # its holders approve what the others provide, and may send it back for correction


@dataclass(frozen=True)
class ServiceDef:
    code: str
    label: str
    client: str
    url: str
    description: str = ""
    level: str = "niveau-1"
    granted_by: frozenset[str] = frozenset(GRANTERS)
    scoped_by: tuple[str, ...] = ("siret", "caf")
    reviewed: bool = True
    review_every_months: int = 12
    groups: tuple[GroupDef, ...] = ()
    profiles: tuple[ProfileDef, ...] = ()
    profiles_min: int = 1
    profiles_max: int = 3
    profile_count_code: str = "NOMBRE_DE_PROFILS"
    profile_without_group_code: str = "PROFIL_SANS_GROUPE_REQUIS"
    equipment_types: frozenset[str] = frozenset()  # equipments its profiles are associated with (empty: none)
    equipment_type_code: str = "EQUIPEMENT_HORS_SERVICE"
    redirect_path: str = "/auth/callback"           # its client's addresses, under `url`
    post_logout_path: str = "/auth/logged-out"
    backchannel_logout_path: str | None = "/auth/backchannel-logout"

    def group(self, name: str) -> GroupDef | None:
        return next((g for g in self.groups if g.name == name), None)

    def profile(self, code: str) -> ProfileDef | None:
        return next((p for p in self.profiles if p.code == code), None)

    @property
    def assigns_equipments(self) -> bool:
        return bool(self.equipment_types)

    def role_label(self, role: str) -> str:
        """A client role as tokens and the API name it: « afas:AFAS-Habiliter »."""
        return f"{self.client}:{role}"


@dataclass(frozen=True)
class Catalogue:
    services: tuple[ServiceDef, ...]
    version: int = 1
    _groups: dict[str, tuple[ServiceDef, GroupDef]] = field(default_factory=dict, compare=False, repr=False)
    _profiles: dict[str, tuple[ServiceDef, ProfileDef]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for s in self.services:
            self._groups.update({g.name: (s, g) for g in s.groups})
            self._profiles.update({p.code: (s, p) for p in s.profiles})

    def codes(self) -> list[str]:
        return [s.code for s in self.services]

    def service(self, code: str) -> ServiceDef | None:
        return next((s for s in self.services if s.code == code), None)

    def by_client(self, client: str) -> ServiceDef | None:
        return next((s for s in self.services if s.client == client), None)

    def group(self, name: str) -> GroupDef | None:
        found = self._groups.get(name)
        return found[1] if found else None

    def service_of_group(self, name: str) -> ServiceDef | None:
        found = self._groups.get(name)
        return found[0] if found else None

    def profile(self, code: str) -> ProfileDef | None:
        found = self._profiles.get(code)
        return found[1] if found else None

    def service_of_profile(self, code: str) -> ServiceDef | None:
        found = self._profiles.get(code)
        return found[0] if found else None

    def groups(self) -> Iterator[tuple[ServiceDef, GroupDef]]:
        return ((s, g) for s in self.services for g in s.groups)

    def profiles(self) -> Iterator[tuple[ServiceDef, ProfileDef]]:
        return ((s, p) for s in self.services for p in s.profiles)

    def keycloak_groups(self) -> dict[str, tuple[str, str, str]]:
        """Per partner, one Keycloak group per habilitation and per profile: key -> (name, client, role)."""
        out = {g.key: (g.name, s.client, g.role) for s, g in self.groups()}
        out.update({p.key: (p.group_name, s.client, p.code) for s, p in self.profiles()})
        return out

    def keys_of(self, code: str) -> list[str]:
        s = self.service(code)
        return [g.key for g in s.groups] + [p.key for p in s.profiles] if s else []

    def equipment_assigners(self) -> frozenset[str]:
        """The roles whose holders associate profile holders to equipments (« afas:AFAS-Habiliter »)."""
        return frozenset(s.role_label(g.role) for s, g in self.groups() if g.assigns_equipments)

    def problems(self) -> list[str]:
        """What makes a catalogue unusable, in French (the edge adds the file's line)."""
        out: list[str] = []
        seen: dict[tuple[str, str], str] = {}

        def unique(kind: str, value: str, where: str) -> None:
            if (kind, value) in seen:
                out.append(f"{where} : {kind} « {value} » déjà employé par {seen[(kind, value)]}.")
            seen[(kind, value)] = where
        for s in self.services:
            unique("code", s.code, f"service {s.code}")
            unique("client", s.client, f"service {s.code}")
            for g in s.groups:
                unique("groupe", g.name, f"service {s.code}")
                unique("clé", g.key, f"service {s.code}")
                unique(f"rôle de {s.client}", g.role, f"service {s.code}")
                if g.opening_setting and g.opening_setting != "afas_habiliter_opening":
                    out.append(f"service {s.code}, groupe {g.name} : réglage d'ouverture « {g.opening_setting} » "
                               "inconnu (seul afas_habiliter_opening existe).")
            for p in s.profiles:
                unique("profil", p.code, f"service {s.code}")
                unique("groupe", p.group_name, f"service {s.code}")
                unique("clé", p.key, f"service {s.code}")
                unique(f"rôle de {s.client}", p.code, f"service {s.code}")
                if s.group(p.requires) is None:
                    out.append(f"service {s.code}, profil {p.code} : le groupe requis « {p.requires} » n'est pas un "
                               f"groupe du service.")
            if not s.groups:
                out.append(f"service {s.code} : au moins un groupe.")
            if s.profiles and not 0 <= s.profiles_min <= s.profiles_max:
                out.append(f"service {s.code} : nombre de profils par personne incohérent "
                           f"({s.profiles_min} à {s.profiles_max}).")
        return out


# --- the process's catalogue: installed by the composition root, read by the domain -----------------------------

_current: Catalogue | None = None
_loader: Callable[[], Catalogue] | None = None


def set_loader(loader: Callable[[], Catalogue]) -> None:
    """How `current()` finds the catalogue when nothing was installed (the package root sets it: the configured
    file)."""
    global _loader
    _loader = loader


def install(cat: Catalogue) -> None:
    global _current
    _current = cat


def current() -> Catalogue:
    global _current
    if _current is None:
        if _loader is None:
            raise RuntimeError("no service catalogue installed")
        _current = _loader()
    return _current


@contextmanager
def installed(cat: Catalogue) -> Iterator[Catalogue]:
    """This catalogue for the block (tests of another catalogue), the previous one after."""
    global _current
    before, _current = _current, cat
    try:
        yield cat
    finally:
        _current = before
