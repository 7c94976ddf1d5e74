"""AFAS declaration rules (pure): fields, automated consistency checks, who may do what, when to approve."""

from __future__ import annotations

from dataclasses import dataclass

ACTIVITY_FIELDS = {  # name: (label, minimum, maximum)
    "jours_ouverture": ("Jours d'ouverture dans l'année", 1, 366),
    "capacite": ("Capacité d'accueil (places)", 1, 10_000),
    "enfants_inscrits": ("Enfants inscrits", 0, 100_000),
    "heures_realisees": ("Heures enfants réalisées", 0, 10_000_000),
}
FINANCIAL_FIELDS = {
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


def french_number(v: int | float) -> str:
    """« 90 000 » (narrow no-break space between thousands), as French pages write numbers (issue 29)."""
    return f"{v:,}".replace(",", "\u202f")


def transmitted_lines(activity: dict | None, financial: dict | None, justified: int) -> list[str]:
    """What an approval sends to the Caf, as the confirmation lists it before it is sent (issue 29 §3)."""
    out = [f"{label} : {french_number((activity or {}).get(name, 0))}" for name, (label, _, _) in ACTIVITY_FIELDS.items()]
    out += [f"{label.removesuffix(' (€)')} : {french_number((financial or {}).get(name, 0))} €"
            for name, (label, _, _) in FINANCIAL_FIELDS.items()]
    if justified:
        out.append(f"{justified} anomalie(s) de cohérence et leur justification")
    out.append("Une fois transmise, la déclaration ne peut plus être modifiée ici.")
    return out


def parse(fields: dict, form: dict) -> tuple[dict, dict[str, str]]:
    """Integers within bounds; every fault at once, keyed by field (the form shows each next to its input)."""
    values, errors = {}, {}
    for name, (label, lo, hi) in fields.items():
        raw = (form.get(name) or "").strip().replace(" ", "")
        if not raw.isdigit():
            errors[name] = f"{label} : saisissez un nombre entier."
            continue
        v = int(raw)
        if not lo <= v <= hi:
            errors[name] = f"{label} : la valeur doit être comprise entre {lo} et {hi}."
        values[name] = v
    return values, errors


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
                               f"Les heures réalisées ({activity['heures_realisees']}) dépassent ce que permettent la "
                               f"capacité et les jours d'ouverture ({ceiling} heures au plus)."))
    if financial and financial["participations_familles"] > financial["produits"]:
        out.append(Anomaly("FIN_PARTICIPATIONS_SUPERIEURES_PRODUITS",
                           "Les participations des familles dépassent le total des produits."))
    if activity and financial and activity["heures_realisees"] > 0:
        cost = financial["charges"] / activity["heures_realisees"]
        lo, hi = HOURLY_COST_RANGE
        if not lo <= cost <= hi:
            out.append(Anomaly("FIN_COUT_HORAIRE_ATYPIQUE",
                               f"Le coût par heure enfant ({cost:.2f} €) sort de la plage habituelle ({lo:.0f} à {hi:.0f} €)."))
    return out


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
