"""The audit trail in French for people: each stable action code has a sentence; the code stays beside it
in small print for support. Times are shown in Europe/Paris and say so."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")

ACTIONS = {
    "create-partner": "Création du partenaire",
    "create-user": "Création d'un utilisateur",
    "set-membership": "Habilitations modifiées",
    "set-assignments": "Associations aux équipements modifiées",
    "delegate": "Désignation d'un responsable des habilitations",
    "revoke-delegate": "Fin de désignation d'un responsable des habilitations",
    "suspend-user": "Suspension d'un utilisateur",
    "reactivate-user": "Rétablissement d'un utilisateur",
    "report-lost-credentials": "Codes déclarés perdus ou volés (compte verrouillé)",
    "reissue-credentials": "Nouveaux codes envoyés",
    "suspend-inactive": "Suspension pour inactivité",
    "prepare-convention": "Convention préparée",
    "set-contract": "Contrat de service mis à jour",
    "declare-equipment": "Équipement déclaré ou modifié",
    "remove-equipment": "Équipement retiré",
    "import-users": "Import d'utilisateurs (CSV)",
    "unlock-user": "Déverrouillage après tentatives de connexion",
    "convention-transition": "Changement d'état d'une convention",
    "suspend-service": "Suspension d'un service",
    "reactivate-service": "Rétablissement d'un service",
    "report-incident": "Signalement d'incident de sécurité",
    "publish-usage-rules": "Publication des règles d'usage",
    "resend-mail": "Courriel renvoyé",
    "adopt-account": "Reprise d'un compte existant",
    "import": "Import d'un fichier d'état",
    "delete": "Suppression",
}
KEYCLOAK_VERBS = {"create": "création", "update": "modification", "delete": "suppression", "add": "ajout",
                  "remove": "retrait", "enable": "activation", "disable": "désactivation", "end": "fin",
                  "conflict": "conflit"}
KEYCLOAK_KINDS = {"user": "utilisateur", "group": "groupe", "member": "membre d'un groupe",
                  "organisation": "organisation", "org-member": "membre de l'organisation",
                  "direct-role": "rôle attribué directement", "group-roles": "rôles d'un groupe",
                  "sessions": "sessions"}


def action_fr(code: str) -> str:
    """« Keycloak : création (utilisateur) » for the reconciler's rows; the sentence for the others."""
    if code.startswith("keycloak:"):
        parts = code.split(":")[1:]
        failed = parts[0] == "echec"
        verb, kind = (parts[1:] if failed else parts) + [""] * (2 - len(parts[1:] if failed else parts))
        text = f"Keycloak : {KEYCLOAK_VERBS.get(verb, verb)} ({KEYCLOAK_KINDS.get(kind, kind)})"
        return text + " — échec" if failed else text
    return ACTIONS.get(code, code)


def paris(value, seconds: bool = False, label: bool = False) -> str:
    """An instant (datetime or ISO text; naive means UTC, as our stores keep it) as Paris wall-clock time:
    27/11/2026 à 23h05 — with « (heure de Paris) » when `label` (a sentence, not a labelled column)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return "—" if value is None else str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    text = value.astimezone(PARIS).strftime("%d/%m/%Y à %Hh%M" + (":%S" if seconds else ""))
    return text + " (heure de Paris)" if label else text
