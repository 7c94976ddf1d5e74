"""What a change did to one person, in French, before → after: the line the journals show (issue 12 §4).
Pure: it reads two partner documents (the store's format) and names the differences for that person."""

from __future__ import annotations

import unicodedata
from typing import Any

PERSON_KINDS = {"user", "member", "org-member", "direct-role", "sessions"}

# each stable action code has a sentence for people; the code stays beside it in small print for support
ACTIONS = {
    "create-partner": "Création du partenaire",
    "create-user": "Création d'un utilisateur",
    "set-membership": "Habilitations modifiées",
    "set-assignments": "Associations aux équipements modifiées",
    "set-sites": "Lieux d'implantation des associations modifiés",
    "send-back": "Déclaration renvoyée pour correction",
    "delegate": "Désignation d'un responsable des habilitations",
    "revoke-delegate": "Fin de désignation d'un responsable des habilitations",
    "suspend-user": "Suspension d'un utilisateur",
    "reactivate-user": "Rétablissement d'un utilisateur",
    "report-lost-credentials": "Codes déclarés perdus ou volés (compte verrouillé)",
    "reissue-credentials": "Nouveaux codes envoyés",
    "credentials-withdrawn": "Codes non envoyés (personne retirée ou verrouillée depuis)",
    "suspend-inactive": "Suspension pour inactivité",
    "prepare-convention": "Convention préparée",
    "set-contract": "Contrat de service mis à jour",
    "declare-equipment": "Équipement déclaré ou modifié",
    "remove-equipment": "Équipement retiré",
    "import-users": "Import d'utilisateurs (CSV)",
    "unlock-user": "Déverrouillage après tentatives de connexion",
    "reset-second-factor": "Second facteur réinitialisé (téléphone ou clé perdus)",
    "unlink-proconnect": "Liaison ProConnect retirée",
    "convention-transition": "Changement d'état d'une convention",
    "suspend-service": "Suspension d'un service",
    "reactivate-service": "Rétablissement d'un service",
    "report-incident": "Signalement d'incident de sécurité",
    "publish-usage-rules": "Publication des règles d'usage",
    "resend-mail": "Courriel renvoyé",
    "adopt-account": "Reprise d'un compte existant",
    "import": "Import d'un fichier d'état",
    "delete": "Suppression",
    "open-review": "Ouverture d'une revue des habilitations",
    "review-confirm": "Revue : habilitation confirmée",
    "review-revoke": "Revue : habilitation retirée",
    "review-reminder": "Revue : rappel envoyé",
    "review-suspend": "Revue : habilitations non confirmées suspendues",
    "close-review": "Clôture d'une revue des habilitations",
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


def _holdings(doc: dict[str, Any] | None, ident: str) -> dict[str, tuple[list[str], list[str], bool]]:
    """(convention, service) → (groups, profiles, suspended by a review) held on the bulletins by `ident`."""
    out = {}
    for c in (doc or {}).get("conventions", []):
        for b in c.get("bulletins", []):
            for m in b.get("members", []):
                if m.get("identifiant") == ident:
                    out[f"{b['service']} ({c['number']})"] = (sorted(m.get("groups", [])), sorted(m.get("profiles", [])),
                                                               bool(m.get("suspended")))
    return out


def _user(doc: dict[str, Any] | None, ident: str) -> dict[str, Any] | None:
    return next((u for u in (doc or {}).get("users", []) if u.get("identifiant") == ident), None)


def _state(u: dict[str, Any] | None) -> str:
    if u is None:
        return "absent"
    return "verrouillé" if u.get("locked") else "suspendu" if u.get("suspended") else "actif"


def person_changes(before: dict[str, Any] | None, after: dict[str, Any] | None, ident: str) -> list[str]:
    """« habilitations AFAS (CONV-1) : aucune → AFAS Déclarer ; profils approbateur », « état : actif → suspendu »…"""
    out = []
    ub, ua = _user(before, ident), _user(after, ident)
    if ub is None and ua is not None:
        out.append(f"compte créé : {ua['first_name']} {ua['last_name']} <{ua['email']}>")
    elif ub and ua:
        for key, label in (("first_name", "prénom"), ("last_name", "nom"), ("email", "courriel")):
            if ub.get(key) != ua.get(key):
                out.append(f"{label} : {ub.get(key)} → {ua.get(key)}")
    if _state(ub) != _state(ua) and ub is not None:
        out.append(f"état : {_state(ub)} → {_state(ua)}")
    hb, ha = _holdings(before, ident), _holdings(after, ident)

    def text(h: tuple[list[str], list[str], bool] | None) -> str:
        if not h:
            return "aucune"
        return (" + ".join(h[0]) + (f" ; profils {' + '.join(h[1])}" if h[1] else "")
                + (" (suspendues par la revue)" if h[2] else ""))
    for where in sorted(set(hb) | set(ha)):
        if hb.get(where) != ha.get(where):
            out.append(f"habilitations {where} : {text(hb.get(where))} → {text(ha.get(where))}")
    db = ident in (before or {}).get("delegates", [])
    da = ident in (after or {}).get("delegates", [])
    if db != da:
        out.append(f"responsable des habilitations : {'oui' if db else 'non'} → {'oui' if da else 'non'}")
    return out


def summary(describe: str, before: dict[str, Any] | None, after: dict[str, Any] | None, subject: str | None) -> str:
    details = person_changes(before, after, subject) if subject else []
    return describe + (" — " + " ; ".join(details) if details else "")


def folded(text: str) -> str:
    """For searching as people type: no accents, no case (« Élodie » is found by « elodie »)."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).casefold()


def spreadsheet_cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run: text starting with = + - @ (or a tab or carriage return) is a
    formula to Excel and LibreOffice (OWASP « CSV injection »); a leading apostrophe keeps it text."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
