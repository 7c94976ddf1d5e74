"""An organisation's request for access (issue 31 §1), before it is a partner: who it is (its SIRET, checked in the
SIRENE directory, which gives its name and address), its Caf, the services it wants, its legal representative and
its future administrator, each address confirmed by a link. The Caf accepts it (the partner is registered, then the
convention prepared) or refuses it with a reason. Nobody gets an account before the Caf accepts.

Pure: the directory is an adapter (provisioning/directory.py); this module decides what a request must be."""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from provisioning.domain import catalogue, rules
from provisioning.errors import Violation

CONFIRMATION_HOURS = 48


class RequestState(str, enum.Enum):
    UNCONFIRMED = "a_confirmer"   # an address has not followed its link yet: the Caf does not see it
    REQUESTED = "demandee"        # every address confirmed: in the Caf's console
    ACCEPTED = "acceptee"         # the partner is registered
    REFUSED = "refusee"           # with a reason, mailed

    @property
    def label(self) -> str:
        return {"a_confirmer": "adresses à confirmer", "demandee": "demandée", "acceptee": "acceptée",
                "refusee": "refusée"}[self.value]


@dataclass(frozen=True)
class Establishment:
    """What the SIRENE directory says of a SIRET."""
    siret: str
    name: str
    address: str
    postal_code: str
    city: str


@dataclass(frozen=True)
class Contact:
    first_name: str
    last_name: str
    email: str
    function: str = ""


@dataclass
class AccessRequest:
    id: str
    created_at: datetime
    establishment: Establishment
    caf: str
    services: list[str]
    representative: Contact
    administrator: Contact
    state: RequestState = RequestState.UNCONFIRMED
    confirmed: dict[str, datetime | None] = field(default_factory=dict)  # address (lower case) -> when
    decided_at: datetime | None = None
    decided_by: str | None = None
    reason: str = ""
    tokens: dict[str, str] = field(default_factory=dict)  # address -> SHA-256 of its confirmation link's token

    @property
    def siret(self) -> str:
        return self.establishment.siret

    def addresses(self) -> list[str]:
        return list(dict.fromkeys([self.representative.email.lower(), self.administrator.email.lower()]))


def department(postal_code_or_caf: str) -> str:
    """A département from a postal code or a Caf's code (« 751 » is Paris's Caf, « 692 » the Rhône's; overseas
    ones have three digits: « 974 »)."""
    s = postal_code_or_caf.strip()
    return s[:3] if s.startswith("97") else s[:2]


def covers(caf_code: str, e: Establishment) -> bool:
    """A Caf serves its département's organisations (R11: a partner belongs to its Caf)."""
    return department(caf_code) == department(e.postal_code)


def identifiant_for(c: Contact) -> str:
    """prénom.nom, lower case, without accents, as the registry's identifiants are (« ines.moreau »)."""
    def part(s: str) -> str:
        ascii_ = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode().lower()
        return "-".join(w for w in "".join(ch if ch.isalnum() else " " for ch in ascii_).split() if w)
    return f"{part(c.first_name)}.{part(c.last_name)}"[:64].strip(".-") or "administrateur"


def faults(siret: str, found: Establishment | None, caf: str, known_cafs: set[str], services: list[str],
           representative: Contact, administrator: Contact) -> list[Violation]:
    """Every fault of a request at once (nothing is stored when there is one)."""
    out: list[Violation] = []
    if not rules.siret_is_valid(siret):
        out.append(Violation("SIRET_INVALIDE", "Le SIRET doit compter 14 chiffres et sa clé être juste (vérifiez-le sur "
                             "votre avis de situation au répertoire SIRENE).", "siret"))
    elif found is None:
        out.append(Violation("SIRET_INCONNU", f"Le SIRET {siret} est absent du répertoire SIRENE : seul un "
                             "établissement enregistré peut demander un accès.", "siret"))
    if caf not in known_cafs:
        out.append(Violation("CAF_INCONNUE", "Choisissez la Caf de votre département.", "caf"))
    elif found is not None and not covers(caf, found):
        out.append(Violation("HORS_TERRITOIRE", f"Votre établissement ({found.postal_code} {found.city}) ne relève pas "
                             f"de cette Caf : choisissez celle de votre département.", "caf"))
    known = set(catalogue.current().codes())
    if not services:
        out.append(Violation("SERVICE_MANQUANT", "Choisissez au moins un service.", "services"))
    for s in services:
        if s not in known:
            out.append(Violation("VALEUR_INCONNUE", f"« {s[:50]} » n'est pas un service proposé.", "services"))
    if len(set(services)) != len(services):
        out.append(Violation("VALEUR_EN_DOUBLE", "Un service figure deux fois.", "services"))
    for who, c, label in (("representative", representative, "représentant légal"),
                          ("administrator", administrator, "futur administrateur")):
        out += rules.person_name_faults(c.first_name, f"prénom du {label}", f"{who}.first_name")
        out += rules.person_name_faults(c.last_name, f"nom du {label}", f"{who}.last_name")
        out += rules.email_faults(c.email, f"{who}.email", f"L'adresse du {label}")
        out += rules.text_faults(c.function, f"fonction du {label}", f"{who}.function", limit=100, required=False)
    return out
