"""AFAS declaration rules (pure): fields, automated consistency checks, who may do what, when to approve."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from sso_demo.labels import amount, french_amount, french_number

ACTIVITY_FIELDS = {  # name: (label, minimum, maximum)
    "jours_ouverture": ("Jours d'ouverture dans l'année", 1, 366),
    "capacite": ("Capacité d'accueil (places)", 1, 10_000),
    "enfants_inscrits": ("Enfants inscrits", 0, 100_000),
    "heures_realisees": ("Heures enfants réalisées", 0, 10_000_000),
}
FINANCIAL_FIELDS = {  # amounts in euros and cents, kept as exact decimal text ("90000.50"), never as floats
    "charges": ("Total des charges (€)", 0, 100_000_000),
    "produits": ("Total des produits (€)", 0, 100_000_000),
    "participations_familles": ("Participations des familles (€)", 0, 100_000_000),
}
MAX_HOURS_PER_PLACE_AND_DAY = 10
HOURLY_COST_RANGE = (2.0, 20.0)  # € per child-hour outside which the figure is atypical

ROLE_ACTIVITY = "afas:fournisseur-donnees-activite"
ROLE_FINANCIAL = "afas:fournisseur-donnees-financieres"
ROLE_APPROVER = "afas:approbateur"
PROFILE_OF_ROLE = {ROLE_ACTIVITY: "fournisseur-donnees-activite", ROLE_FINANCIAL: "fournisseur-donnees-financieres",
                   ROLE_APPROVER: "approbateur"}


AMOUNT_RE = re.compile(r"([0-9]+)(?:[.,]([0-9]{1,2}))?")
SPACES = str.maketrans("", "", " \u00a0\u202f\u2009€")


def transmitted_lines(activity: dict | None, financial: dict | None, justified: int) -> list[str]:
    """What an approval sends to the Caf, as the confirmation lists it before it is sent (issue 29 §3)."""
    out = [f"{label} : {french_number((activity or {}).get(name, 0))}" for name, (label, _, _) in ACTIVITY_FIELDS.items()]
    out += [f"{label.removesuffix(' (€)')} : {french_amount((financial or {}).get(name, 0))}"
            for name, (label, _, _) in FINANCIAL_FIELDS.items()]
    if justified:
        out.append(f"{justified} anomalie(s) de cohérence et leur justification")
    out.append("Une fois transmise, la déclaration ne peut plus être modifiée ici.")
    return out


def parse(fields: dict, form: dict) -> tuple[dict, dict[str, str]]:
    """Counts as whole numbers, amounts (FINANCIAL_FIELDS) in euros with at most two decimals — « 90 000,50 »,
    « 90000.5 », « 90 000 € » — within bounds; every fault at once, keyed by field (the form shows each next to
    its input), saying what was typed is wrong, never that it is missing when something was typed."""
    values: dict = {}
    errors: dict[str, str] = {}
    money = fields is FINANCIAL_FIELDS
    shown = french_amount if money else french_number
    for name, (label, lo, hi) in fields.items():
        typed = (form.get(name) or "").strip()
        v = _amount(typed) if money else _count(typed)
        if not typed:
            errors[name] = f"{label} : à renseigner."
        elif v is None:
            errors[name] = (f"{label} : « {typed[:30]} » n'est pas un montant en euros (des chiffres, au plus deux "
                            "décimales après la virgule, ex. 90 000,50)." if money else
                            f"{label} : « {typed[:30]} » n'est pas un nombre entier.")
        else:
            if not lo <= v <= hi:
                errors[name] = f"{label} : la valeur doit être comprise entre {shown(lo)} et {shown(hi)}."
            values[name] = str(v) if money else v
    return values, errors


def _count(typed: str) -> int | None:
    raw = typed.translate(SPACES)
    return int(raw) if raw.isascii() and raw.isdigit() else None


def _amount(typed: str) -> Decimal | None:
    found = AMOUNT_RE.fullmatch(typed.translate(SPACES))
    return Decimal(f"{found.group(1)}.{found.group(2) or '0'}").quantize(Decimal("0.01")) if found else None


@dataclass(frozen=True)
class Anomaly:
    code: str
    message: str

    @property
    def domain(self) -> str:
        return "activite" if self.code.startswith("ACT_") else "financier"


def consistency_checks(activity: dict | None, financial: dict | None) -> list[Anomaly]:
    out: list[Anomaly] = []
    if activity:
        ceiling = activity["capacite"] * activity["jours_ouverture"] * MAX_HOURS_PER_PLACE_AND_DAY
        if activity["heures_realisees"] > ceiling:
            out.append(Anomaly("ACT_HEURES_SUPERIEURES_CAPACITE",
                               f"Les heures réalisées ({french_number(activity['heures_realisees'])}) dépassent ce que "
                               f"permettent la capacité et les jours d'ouverture ({french_number(ceiling)} heures au "
                               "plus)."))
    if financial and amount(financial["participations_familles"]) > amount(financial["produits"]):
        out.append(Anomaly("FIN_PARTICIPATIONS_SUPERIEURES_PRODUITS",
                           "Les participations des familles dépassent le total des produits."))
    if activity and financial and activity["heures_realisees"] > 0:
        cost = hourly_cost(activity, financial)
        lo, hi = HOURLY_COST_RANGE
        if cost is not None and not Decimal(str(lo)) <= cost <= Decimal(str(hi)):
            out.append(Anomaly("FIN_COUT_HORAIRE_ATYPIQUE",
                               f"Le coût par heure enfant ({french_amount(cost)}) sort de la plage habituelle "
                               f"({french_amount(lo)} à {french_amount(hi)})."))
    return out


def hourly_cost(activity: dict | None, financial: dict | None) -> Decimal | None:
    """Charges per child-hour, to the cent (None without both figures or without hours)."""
    if not activity or not financial or not activity.get("heures_realisees"):
        return None
    return (amount(financial["charges"]) / activity["heures_realisees"]).quantize(Decimal("0.01"))


def may_act(roles: frozenset[str], username: str, role: str, assignments: dict[str, list[str]]) -> bool:
    """Holds the profile, and — once AFAS Habiliter associated people to this equipment — is associated."""
    if role not in roles:
        return False
    associated = assignments.get(PROFILE_OF_ROLE[role]) or []
    return not associated or username in associated


def approval_refusals(activity: dict | None, financial: dict | None, unjustified: int, transmitted: bool) -> list[str]:
    """Why the approver may not transmit yet (empty: may transmit)."""
    reasons = []
    if transmitted:
        reasons.append("La déclaration a déjà été transmise à la Caf.")
    if activity is None:
        reasons.append("Les données d'activité ne sont pas saisies.")
    if financial is None:
        reasons.append("Les données financières ne sont pas saisies.")
    if unjustified:
        reasons.append(f"{unjustified} anomalie(s) de cohérence ne sont pas justifiées.")
    return reasons
