"""The desired-state file's format as pydantic models (issue 26 §3): the shape and types of a Caf and of a
partner, read from the YAML's plain data. Faults become our violations with stable codes and the path the
YAML reader turns into a line (desired_file.py). What pydantic does not say by itself is checked here too,
with the same codes as ever: a field nobody reads (SCHEMA_CHAMP_INCONNU: left aside, so the rest of the object
is still read and checked), a value listed twice (VALEUR_EN_DOUBLE, never merged
silently). The rules of habilitation (R1…R19) are domain/rules.py's, applied afterwards.

    .venv/bin/python -m provisioning.file_format    # the JSON Schema of a partner and of a Caf (editors)
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from provisioning.catalogue_types import GroupName, ProfileCode, ServiceCode
from provisioning.domain.model import (
    Bulletin,
    Caf,
    CafAdministrator,
    Contact,
    Convention,
    ConventionStatus,
    Equipment,
    EquipmentType,
    Member,
    Partner,
    ServiceContract,
    StatusChange,
    User,
)
from provisioning.errors import Violation

M = TypeVar("M", bound=BaseModel)


CONTACT_ROLES = [f for f in ServiceContract.__dataclass_fields__ if f != "incident_procedure"]


def _moment(v: Any) -> datetime:
    """A status change's moment: a YAML timestamp, a date (midnight) or an ISO text; never a number."""
    if isinstance(v, datetime):
        return v
    if isinstance(v, date):
        return datetime(v.year, v.month, v.day)
    if isinstance(v, str):
        try:
            return datetime.fromisoformat(v)
        except ValueError:
            pass
    raise PydanticCustomError("SCHEMA_DATE", "Une date est attendue.")


def _day(v: Any) -> date:
    if isinstance(v, date):
        return v
    raise PydanticCustomError("SCHEMA_DATE", "Une date AAAA-MM-JJ est attendue.")


Moment = Annotated[datetime, BeforeValidator(_moment)]
Day = Annotated[date, BeforeValidator(_day)]


class _In(BaseModel):
    """Unknown keys are left aside (reported as SCHEMA_CHAMP_INCONNU by `read`, the rest still read); a key
    written `null` is an absent one; SIRET and Caf codes may be written without quotes."""
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, d: Any) -> Any:
        return {k: v for k, v in d.items() if v is not None} if isinstance(d, dict) else d


class ContactIn(_In):
    name: str
    email: str = ""
    phone: str = ""

    def domain(self) -> Contact:
        return Contact(self.name, self.email, self.phone)


class ContractIn(_In):
    partner_administrator: ContactIn | None = None
    partner_security_officer: ContactIn | None = None
    partner_cnil_referent: ContactIn | None = None
    caf_administrator: ContactIn | None = None
    caf_portal_manager: ContactIn | None = None
    caf_security_officer: ContactIn | None = None
    caf_cnil_referent: ContactIn | None = None
    incident_procedure: str = ""

    def domain(self) -> ServiceContract:
        return ServiceContract(**{r: (c.domain() if (c := getattr(self, r)) else None) for r in CONTACT_ROLES},
                               incident_procedure=self.incident_procedure)


class StatusChangeIn(_In):
    status: ConventionStatus
    at: Moment
    actor: str


class MemberIn(_In):
    identifiant: str
    groups: list[GroupName]
    profiles: list[ProfileCode] = []
    suspended: bool = False


class BulletinIn(_In):
    service: ServiceCode
    members: list[MemberIn] = []


class ConventionIn(_In):
    number: str
    status: ConventionStatus
    history: list[StatusChangeIn] = []
    contract: ContractIn | None = None
    bulletins: list[BulletinIn] = []
    suspended_services: list[ServiceCode] = []

    def domain(self) -> Convention:
        return Convention(
            self.number, self.status, [StatusChange(h.status, h.at, h.actor) for h in self.history],
            self.contract.domain() if self.contract else ServiceContract(),
            [Bulletin(b.service, [Member(m.identifiant, set(m.groups), set(m.profiles), m.suspended)
                                  for m in b.members]) for b in self.bulletins],
            set(self.suspended_services))


class EquipmentIn(_In):
    code: str
    name: str
    type: EquipmentType
    sites: list[str] = []
    site: str = ""  # documents written before `sites`: one address
    assignments: dict[ProfileCode, list[str] | None] = {}
    sites_of: dict[str, list[str]] = {}  # issue 29 §3: a person associated for some sites only

    def domain(self) -> Equipment:
        sites = list(dict.fromkeys(self.sites))
        if self.site and self.site not in sites:
            sites.insert(0, self.site)
        return Equipment(self.code, self.name, self.type, sites,
                         {prof: list(dict.fromkeys(ids or [])) for prof, ids in self.assignments.items()},
                         {i: list(dict.fromkeys(s)) for i, s in self.sites_of.items() if s})


class UserIn(_In):
    identifiant: str
    first_name: str
    last_name: str
    email: str
    suspended: bool = False
    locked: bool = False
    suspended_by: Literal["caf", "partenaire"] | None = None


class PartnerIn(_In):
    """A partner, its people, equipments and conventions (docs/provisioning.md, « The file »)."""
    siret: str = Field(description="14 chiffres")
    name: str
    caf: str = Field(description="le code de la Caf du partenaire, décrite sous « cafs »")
    administrator: str | None = None
    representative: str | None = Field(None, description="son représentant légal, qui signe les documents de la "
                                       "convention (absent : l'administrateur signe)")
    delegates: list[str] = []
    users: list[UserIn] = []
    equipments: list[EquipmentIn] = []
    conventions: list[ConventionIn] = []

    def domain(self) -> Partner:
        return Partner(self.siret, self.name, self.caf, self.administrator, list(dict.fromkeys(self.delegates)),
                       [User(u.identifiant, u.first_name, u.last_name, u.email, u.suspended, u.locked,
                             (u.suspended_by or "caf") if u.suspended else "") for u in self.users],
                       [e.domain() for e in self.equipments], [c.domain() for c in self.conventions],
                       self.representative)


class CafAdministratorIn(_In):
    identifiant: str
    first_name: str
    last_name: str
    email: str


class CafIn(_In):
    """A Caf, its habilitation mailbox and its administrators."""
    code: str
    name: str
    habilitation_mailbox: str
    administrators: list[CafAdministratorIn] = []

    def domain(self) -> Caf:
        return Caf(self.code, self.name, self.habilitation_mailbox,
                   [CafAdministrator(a.identifiant, a.first_name, a.last_name, a.email) for a in self.administrators])


class SettingsIn(_In):
    afas_habiliter_opening: Day | None = None


# --- from pydantic's faults to ours ----------------------------------------------------------------------
def _path(base: str, loc: tuple[int | str, ...]) -> str:
    out = base
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part != "[key]":
            out = f"{out}.{part}" if out else str(part)
    return out


def _allowed(ctx: dict[str, Any]) -> str:
    return re.sub(r"'([^']*)'", r"\1", str(ctx.get("expected", ""))).replace(" or ", ", ")


def _violation(base: str, err: Any) -> Violation:
    loc = tuple(err["loc"])
    kind, key = err["type"], next((str(p) for p in reversed(loc) if isinstance(p, str) and p != "[key]"), "")
    if kind == "missing":
        return Violation("SCHEMA_CHAMP_MANQUANT", f"Le champ « {key} » est obligatoire.", _path(base, loc[:-1]))
    path = _path(base, loc)
    shown = str(err.get("input"))[:60]
    if kind == "enum":
        return Violation("SCHEMA_VALEUR", f"« {shown} » n'est pas une valeur permise (permises : "
                                          f"{_allowed(err.get('ctx') or {})}).", path)
    if kind in ("SCHEMA_DATE",):
        return Violation(kind, err["msg"], path)
    if kind in ("string_type", "str_type"):
        return Violation("SCHEMA_TYPE", f"« {key} » doit être un texte.", path)
    if kind == "list_type":
        return Violation("SCHEMA_TYPE", f"« {key} » doit être une liste.", path)
    if kind in ("bool_type", "bool_parsing"):
        return Violation("SCHEMA_TYPE", f"« {key} » vaut true ou false.", path)
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return Violation("SCHEMA_TYPE", "Un objet (clé: valeur) est attendu ici.", path)
    return Violation("SCHEMA_TYPE", f"Valeur inattendue : {err['msg']}"[:200], path)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models a field holds (`list[UserIn]`, `ContactIn | None`: UserIn, ContactIn)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _shape(annotation: Any) -> Any:
    """list or dict when the field holds one (through `| None`), else None."""
    origin = get_origin(annotation)
    if origin in (list, dict):
        return origin
    return next((found for arg in get_args(annotation) if (found := _shape(arg)) is not None), None)


def _unknown_and_repeated(model: type[BaseModel], raw: Any, path: str) -> list[Violation]:
    """Read on the file's own data, guided by the model, so that they are found even where pydantic refused
    the object: keys nobody reads, and values listed twice."""
    out: list[Violation] = []
    if not isinstance(raw, dict):
        return out
    for key, value in raw.items():
        where = f"{path}.{key}" if path else str(key)
        field = model.model_fields.get(str(key))
        if field is None:
            out.append(Violation("SCHEMA_CHAMP_INCONNU", f"Le champ « {key} » est inconnu.", where))
            continue
        inner, shape = _models_in(field.annotation), _shape(field.annotation)
        if shape is list and isinstance(value, list):
            out += _repeated_items(inner, value, where)
        elif shape is dict and isinstance(value, dict):  # {profil: [identifiants]}
            out += [v for k, x in value.items() if isinstance(x, list) for v in _repeated_items([], x, f"{where}.{k}")]
        elif shape is None and inner and isinstance(value, dict):
            out += _unknown_and_repeated(inner[0], value, where)
    return out


def _repeated_items(inner: list[type[BaseModel]], items: list[Any], path: str) -> list[Violation]:
    out: list[Violation] = []
    seen: list[Any] = []
    for i, x in enumerate(items):
        if isinstance(x, dict) and inner:
            out += _unknown_and_repeated(inner[0], x, f"{path}[{i}]")
        elif not isinstance(x, (dict, list)) and x in seen:
            out.append(Violation("VALEUR_EN_DOUBLE", f"« {str(x)[:60]} » figure deux fois.", f"{path}[{i}]"))
        else:
            seen.append(x)
    return out


def read(model: type[M], data: Any, path: str) -> tuple[M | None, list[Violation]]:
    """One object of the file: the model (None when its shape is wrong) and every fault found, coded."""
    faults = _unknown_and_repeated(model, data, path)
    try:
        found = model.model_validate(data)
    except ValidationError as e:
        return None, [_violation(path, err) for err in e.errors()] + faults
    return found, faults


def schema() -> dict[str, Any]:
    """The JSON Schema of the file's objects (for editors; the rules are checked by `validate`)."""
    return {"partner": PartnerIn.model_json_schema(), "caf": CafIn.model_json_schema()}


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(schema(), ensure_ascii=False, indent=2))
