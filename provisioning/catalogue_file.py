"""The service catalogue's file (realm-config/services.yaml, docs/services.md): pydantic models at the edge,
read once per process into the pure `domain.catalogue.Catalogue`. A file with faults is refused whole, every
fault listed with its place (stable code CATALOGUE_INVALIDE).

    .venv/bin/python -m provisioning.catalogue_file --schema   # its JSON Schema
    .venv/bin/python -m provisioning.catalogue_file            # check the configured file
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from provisioning.domain import catalogue as dc
from provisioning.errors import ProvisioningError, Violation
from provisioning.reconcile.realm import resolve

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "realm-config" / "services.yaml"
CODE = r"^[A-Z][A-Z0-9_]{1,19}$"
KEY = r"^[a-z][a-z0-9-]{1,39}$"
ROLE = r"^[A-Za-zÀ-ÿ0-9][A-Za-zÀ-ÿ0-9_.-]{1,59}$"
NAME = r"^[^\s+;,/][^+;,/]{1,78}[^\s+;,/]$"  # « + » separates groups in the CSV import, « / » Keycloak paths


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GroupEntry(_Model):
    name: str = Field(pattern=NAME, description="the group as bulletins, files and consoles name it")
    key: str = Field(pattern=KEY, description="the Keycloak group's kind, stable")
    role: str = Field(pattern=ROLE, description="the client role its members get")
    description: str = ""
    assigns_equipments: bool = Field(False, description="its members associate the service's profile holders to "
                                                        "equipments")
    opens_on: date | None = Field(None, description="granted only from this day")
    opening_setting: Literal["afas_habiliter_opening"] | None = Field(
        None, description="the registry setting that moves the opening")
    not_open_code: str = Field("GROUPE_PAS_ENCORE_OUVERT", pattern=CODE.replace("{1,19}", "{1,59}"))


class ProfileEntry(_Model):
    code: str = Field(pattern=ROLE, description="the profile in files and tokens (a client role)")
    key: str = Field(pattern=KEY)
    group_name: str = Field(pattern=NAME, description="the Keycloak group of its holders, per partner")
    label: str = Field(min_length=2, max_length=80, description="French, in sentences: « approbateur »")
    description: str = ""
    requires: str = Field(description="the service's group a holder must be in")
    cap: int | None = Field(None, ge=1, le=1000, description="holders at most per bulletin and per equipment")
    cap_code: str = Field("TROP_DE_TITULAIRES", pattern=CODE.replace("{1,19}", "{1,59}"))
    approves: bool = Field(False, description="its holders approve what the other profiles provide and may send "
                                               "it back to them for correction (AFAS: the approver)")


class ProfilesPerPerson(_Model):
    min: int = Field(1, ge=0, le=20)
    max: int = Field(3, ge=1, le=20)
    code: str = Field("NOMBRE_DE_PROFILS", pattern=CODE.replace("{1,19}", "{1,59}"))
    without_group_code: str = Field("PROFIL_SANS_GROUPE_REQUIS", pattern=CODE.replace("{1,19}", "{1,59}"))


class EquipmentTypes(_Model):
    types: list[Literal["ALSH", "EAJE"]] = Field(min_length=1)
    code: str = Field("EQUIPEMENT_HORS_SERVICE", pattern=CODE.replace("{1,19}", "{1,59}"))


class Reviews(_Model):
    included: bool = True
    every_months: int = Field(12, ge=1, le=60)


Granter = Literal["partner-administrator", "delegate", "caf"]
ScopeName = Literal["siret", "caf", "equipments"]


def _everyone() -> list[Granter]:
    return ["partner-administrator", "delegate", "caf"]


def _siret_and_caf() -> list[ScopeName]:
    return ["siret", "caf"]


class ServiceEntry(_Model):
    code: str = Field(pattern=CODE, description="the service's code: bulletins, files, API, CSV")
    label: str = Field(min_length=2, max_length=80)
    description: str = ""
    client: str = Field(pattern=KEY, description="its OIDC client in the realm (created from this entry when the "
                                                 "realm file has none)")
    url: str = Field(pattern=r"^https?://[^\s]+$", description="its address (MCP_SERVICE_URLS overrides it)")
    redirect_path: str = Field("/auth/callback", pattern=r"^/[^\s]*$")
    post_logout_path: str = Field("/auth/logged-out", pattern=r"^/[^\s]*$")
    backchannel_logout_path: str | None = Field("/auth/backchannel-logout", pattern=r"^/[^\s]*$")
    level: Literal["niveau-1", "niveau-2"] = "niveau-1"
    granted_by: list[Granter] = Field(default_factory=_everyone, min_length=1)
    scoped_by: list[ScopeName] = Field(default_factory=_siret_and_caf)
    reviews: Reviews = Reviews(included=True, every_months=12)
    equipment_types: EquipmentTypes | None = None
    profiles_per_person: ProfilesPerPerson = ProfilesPerPerson(min=1, max=3, code="NOMBRE_DE_PROFILS",
                                                                without_group_code="PROFIL_SANS_GROUPE_REQUIS")
    groups: list[GroupEntry] = Field(min_length=1)
    profiles: list[ProfileEntry] = []

    def domain(self, url: str | None = None) -> dc.ServiceDef:
        return dc.ServiceDef(
            code=self.code, label=self.label, description=self.description.strip(), client=self.client,
            url=(url or self.url).rstrip("/"), level=self.level, granted_by=frozenset(self.granted_by),
            scoped_by=tuple(self.scoped_by), reviewed=self.reviews.included,
            review_every_months=self.reviews.every_months,
            groups=tuple(dc.GroupDef(g.name, g.key, g.role, g.description, g.assigns_equipments, g.opens_on,
                                     g.opening_setting, g.not_open_code) for g in self.groups),
            profiles=tuple(dc.ProfileDef(p.code, p.key, p.group_name, p.label, p.requires, p.description, p.cap,
                                         p.cap_code, p.approves) for p in self.profiles),
            profiles_min=self.profiles_per_person.min, profiles_max=self.profiles_per_person.max,
            profile_count_code=self.profiles_per_person.code,
            profile_without_group_code=self.profiles_per_person.without_group_code,
            equipment_types=frozenset(self.equipment_types.types) if self.equipment_types else frozenset(),
            equipment_type_code=self.equipment_types.code if self.equipment_types else "EQUIPEMENT_HORS_SERVICE",
            redirect_path=self.redirect_path, post_logout_path=self.post_logout_path,
            backchannel_logout_path=self.backchannel_logout_path)


class CatalogueFile(_Model):
    version: Literal[1] = Field(description="the format's version")
    services: list[ServiceEntry] = Field(min_length=1)


class InvalidCatalogue(ProvisioningError):
    def __init__(self, description: str, violations: list[Violation] | None = None):
        super().__init__("catalogue_invalide", description, 500, list(violations or []))


def parse_urls(pairs: str) -> dict[str, str]:
    """MCP_SERVICE_URLS: `CODE=https://…` pairs separated by commas."""
    out = {}
    for item in filter(None, (x.strip() for x in pairs.split(","))):
        code, _, url = item.partition("=")
        out[code.strip()] = url.strip()
    return out


def read(text: str, where: str = "services.yaml", urls: dict[str, str] | None = None,
         env: Mapping[str, str] | None = None) -> dc.Catalogue:
    """The catalogue in this text, or InvalidCatalogue listing every fault. A service's `url` may name a variable
    as the realm file does (`${MCP_CDAP_URL:http://localhost:8082}`): one setting for the client and the menus."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise InvalidCatalogue(f"{where} : YAML illisible ({e}).") from None
    for entry in (raw.get("services") if isinstance(raw, dict) else None) or []:
        if isinstance(entry, dict) and isinstance(entry.get("url"), str):
            entry["url"] = resolve(entry["url"], env)
    try:
        f = CatalogueFile.model_validate(raw)
    except ValidationError as e:
        faults = [Violation("CATALOGUE_INVALIDE", f"{where} : {err['msg']}",
                            ".".join(str(x) for x in err["loc"])) for err in e.errors()]
        raise InvalidCatalogue(f"{where} : {len(faults)} erreur(s).", faults) from None
    urls = urls or {}
    cat = dc.Catalogue(tuple(s.domain(urls.get(s.code)) for s in f.services), version=f.version)
    faults = [Violation("CATALOGUE_INVALIDE", f"{where} : {p}") for p in cat.problems()]
    faults += [Violation("CATALOGUE_INVALIDE", f"MCP_SERVICE_URLS : service « {c} » absent du catalogue.")
               for c in urls if cat.service(c) is None]
    if faults:
        raise InvalidCatalogue(f"{where} : {len(faults)} erreur(s).", faults)
    return cat


def load(path: str | Path | None = None, urls: dict[str, str] | None = None) -> dc.Catalogue:
    p = Path(path) if path else DEFAULT
    if not p.is_absolute():
        p = p if p.exists() else ROOT / p
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise InvalidCatalogue(f"Catalogue des services illisible : {p} ({e.strerror}).") from None
    return read(text, p.name, urls)


def configured() -> dc.Catalogue:
    """The file and URLs this process is configured with (MCP_CATALOGUE, MCP_SERVICE_URLS)."""
    from provisioning.settings import initial
    return load(initial("catalogue") or None, parse_urls(initial("service_urls") or ""))


def main(argv: list[str]) -> int:
    if argv[:1] == ["--schema"]:
        print(json.dumps(CatalogueFile.model_json_schema(), indent=2, ensure_ascii=False))
        return 0
    try:
        cat = load(argv[0] if argv else os.environ.get("MCP_CATALOGUE") or None)
    except InvalidCatalogue as e:
        print(e.description, file=sys.stderr)
        for v in e.violations:
            print(f"  - {v.message}" + (f" ({v.path})" if v.path else ""), file=sys.stderr)
        return 1
    print(f"{len(cat.services)} service(s) : {', '.join(cat.codes())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
