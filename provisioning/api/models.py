"""Request bodies and query strings of the API, declared once: they validate every request at the door
(unknown fields, types, bounds) and they are the request schemas of the served OpenAPI document, so the
document and the validation cannot diverge. Business rules (caps, conventions, formats with their French
messages) stay in domain/rules.py and apply after these.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import wraps
from typing import Annotated, Literal

from flask import g, request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, RootModel, ValidationError

from provisioning.catalogue_types import GroupName, ProfileCode, ServiceCode
from provisioning.domain.model import ConventionStatus, EquipmentType
from provisioning.domain.states import AccountState
from provisioning.errors import ProvisioningError, Violation

Text = Annotated[str, Field(max_length=200)]
Name = Annotated[str, Field(max_length=100)]
Email = Annotated[str, Field(max_length=254)]
Identifiant = Annotated[str, Field(max_length=64)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class NewUser(Strict):
    identifiant: Identifiant
    first_name: Name
    last_name: Name
    email: Email


def _without_spaces(v: object) -> object:
    """A SIRET as people type it, « 442 819 371 00018 » (spaces, non-breaking ones too): its 14 digits (issue 29)."""
    return "".join(v.split()) if isinstance(v, str) else v


class NewPartner(Strict):
    siret: Annotated[str, BeforeValidator(_without_spaces), Field(max_length=14)]
    name: Text
    caf: Annotated[str, Field(max_length=8)]
    administrator: NewUser


class Contact(Strict):
    name: Name
    email: Email = ""
    phone: Annotated[str, Field(max_length=30)] = ""


class Contract(Strict):
    partner_administrator: Contact | None = None
    partner_security_officer: Contact | None = None
    partner_cnil_referent: Contact | None = None
    caf_administrator: Contact | None = None
    caf_portal_manager: Contact | None = None
    caf_security_officer: Contact | None = None
    caf_cnil_referent: Contact | None = None
    incident_procedure: Annotated[str, Field(max_length=4000)] = ""


class NewConvention(Strict):
    number: Annotated[str, Field(max_length=40)]
    services: Annotated[list[ServiceCode], Field(max_length=50)]
    contract: Contract | None = None


class EquipmentBody(Strict):
    name: Text
    type: EquipmentType = EquipmentType.ALSH
    sites: Annotated[list[Text], Field(max_length=20)] = []


class Membership(Strict):
    groups: Annotated[list[GroupName], Field(max_length=50)]
    profiles: Annotated[list[ProfileCode], Field(max_length=50)] = []


class Assignments(RootModel[dict[ProfileCode, Annotated[list[Identifiant], Field(max_length=10)]]]):
    model_config = ConfigDict(strict=True)


class SitesOf(RootModel[dict[Identifiant, Annotated[list[Text], Field(max_length=20)]]]):
    """Issue 29 §3: for each person associated to the equipment, the sites she works for (someone absent, or
    given every site, works for the whole equipment)."""
    model_config = ConfigDict(strict=True)


class SendBack(Strict):
    """Issue 29 §3: an approver sends a declaration back to the equipment's providers, with the reason mailed."""
    service: ServiceCode
    period: Annotated[str, Field(pattern=r"^[0-9]{4}$", description="the year declared")]
    reason: Annotated[str, Field(max_length=1000)]


class RequestPerson(Strict):
    first_name: Name
    last_name: Name
    email: Email
    function: Annotated[str, Field(max_length=100)] = ""


class NewAccessRequest(Strict):
    """Issue 31 §1: an organisation's request (no account): checked whole, every fault listed, nothing stored."""
    siret: Annotated[str, BeforeValidator(_without_spaces), Field(max_length=14)]
    caf: Annotated[str, Field(max_length=8)]
    services: Annotated[list[Annotated[str, Field(max_length=16)]], Field(max_length=20)]
    representative: RequestPerson
    administrator: RequestPerson


class Confirmation(Strict):
    token: Annotated[str, Field(max_length=100)]


class Refusal(Strict):
    reason: Annotated[str, Field(max_length=1000)]


class Transition(Strict):
    to: ConventionStatus


class Incident(Strict):
    kind: Literal["incident", "perte"]
    description: Annotated[str, Field(max_length=4000)]


class NewReview(Strict):
    """Issue 16: a Caf opens an access review; `partners` absent or null: every partner of the Caf."""
    deadline: date
    partners: Annotated[list[Annotated[str, Field(max_length=14)]], Field(max_length=5000)] | None = None


class ReviewDecision(Strict):
    item: Annotated[str, Field(max_length=255)]
    decision: Literal["confirmed", "revoked"]


class Query(BaseModel):
    """Query strings are text: numbers are read from it (lax), unknown parameters refused."""
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuditQuery(Query):
    partner: Annotated[str, Field(max_length=14)] | None = None
    actor: Identifiant | None = None
    user: Identifiant | None = None          # the person concerned
    since: date | None = None               # from this day (Europe/Paris), included
    until: date | None = None               # to this day (Europe/Paris), included
    request_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{8,64}$")] | None = None  # what one request made
    limit: Annotated[int, Field(ge=1, le=500)] = 100
    offset: Annotated[int, Field(ge=0, le=1_000_000)] = 0


class AuditExportQuery(AuditQuery):
    limit: Annotated[int, Field(ge=1, le=50_000)] = 10_000


class UsersQuery(Query):
    q: Annotated[str, Field(max_length=100)] = ""
    sort: Literal["identifiant", "nom", "prenom", "courriel", "etat"] = "nom"
    order: Literal["asc", "desc"] = "asc"
    offset: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    limit: Annotated[int, Field(ge=1, le=5000)] = 5000
    # issue 29: each person's account as her managers need it (one bulk read of Keycloak for the page), and a
    # filter on it (then the partner's people are all read, 200 a request)
    accounts: bool = False
    account_state: AccountState | None = None


class ImportQuery(Query):
    apply: bool = False


class NotificationsQuery(Query):
    state: Literal["all", "dead"] = "all"


# --- validation at the door -------------------------------------------------------------------------------

MESSAGES = {  # pydantic error type -> (stable code, French message); the input is never echoed
    "missing": ("CHAMP_MANQUANT", "Ce champ est obligatoire."),
    "json_invalid": ("CORPS_INVALIDE", "Le corps n'est pas un JSON valide."),
    "json_type": ("CORPS_INVALIDE", "Un objet JSON est attendu."),
    "model_type": ("CORPS_INVALIDE", "Un objet JSON est attendu."),
    "model_attributes_type": ("CORPS_INVALIDE", "Un objet JSON est attendu."),
    "dict_type": ("CHAMP_TYPE", "Un objet est attendu."),
    "extra_forbidden": ("CHAMP_INCONNU", "Ce champ est inconnu."),
    "string_too_long": ("TEXTE_TROP_LONG", "Ce texte est trop long."),
    "too_long": ("LISTE_TROP_LONGUE", "Cette liste est trop longue."),
    "enum": ("VALEUR_INCONNUE", "Cette valeur n'est pas permise."),
    "literal_error": ("VALEUR_INCONNUE", "Cette valeur n'est pas permise."),
    "less_than_equal": ("VALEUR_HORS_BORNES", "Cette valeur est trop grande."),
    "greater_than_equal": ("VALEUR_HORS_BORNES", "Cette valeur est trop petite."),
}


class BadRequest(ProvisioningError):
    """400: the request does not have the declared shape (before any rule is looked at)."""

    def __init__(self, violations: list[Violation]):
        super().__init__("requete_invalide", "La requête n'a pas la forme attendue ; rien n'a été modifié.", 400,
                         violations)


def violations_of(e: ValidationError) -> list[Violation]:
    out = []
    for err in e.errors(include_input=False, include_url=False):
        code, message = MESSAGES.get(err["type"], ("CHAMP_TYPE", "Ce champ n'a pas le type attendu."))
        path = ".".join(str(p) for p in err["loc"] if p not in ("root",))
        out.append(Violation(code, message, path))
    return out


def parse(model: type[BaseModel], data, *, json: bool = False) -> BaseModel:
    try:
        return model.model_validate_json(data) if json else model.model_validate(data)
    except ValidationError as e:
        raise BadRequest(violations_of(e)) from None


def body(model: type[BaseModel]) -> Callable:
    """Route decorator: the JSON body, validated by `model` (JSON mode: enums by value), in `g.body`; the
    model is the request schema of that operation in /openapi.json."""
    def deco(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            g.body = parse(model, request.get_data(cache=True) or b"null", json=True)
            return view(*args, **kwargs)
        wrapped.request_model = model
        return wrapped
    return deco


def query(model: type[BaseModel]) -> Callable:
    """Route decorator: the query string, validated by `model`, in `g.query`."""
    def deco(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            g.query = parse(model, dict(request.args.items()))
            return view(*args, **kwargs)
        wrapped.query_model = model
        return wrapped
    return deco
