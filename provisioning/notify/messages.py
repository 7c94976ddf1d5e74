"""Texts of the mails, in French, in the seed's voice."""

from __future__ import annotations

from provisioning.domain import catalogue
from provisioning.reconcile.state import UserSpec

PORTAL = "« Mon Compte Partenaire »"


def identifiant_mail(user: UserSpec, portal_url: str, action_link: bool = False) -> tuple[str, str]:
    """First of the two separate mails (R13): the identifiant only."""
    second = ("Un lien pour accepter les règles d'usage et choisir votre mot de passe vous parvient dans un",
              "courriel distinct. Il est valable 24 heures.") if action_link else (
              "Votre mot de passe provisoire vous parvient dans un courriel distinct. Il est valable 24 heures :",
              "connectez-vous dans ce délai, acceptez les règles d'usage puis choisissez votre mot de passe personnel.")
    return (f"{PORTAL} : votre identifiant", "\n".join([
        f"Bonjour {user.first_name} {user.last_name},",
        "",
        f"Un compte vous a été ouvert sur {PORTAL}.",
        f"Votre identifiant : {user.username}",
        "",
        *second,
        f"Adresse de connexion : {portal_url}",
        "",
        "Ne communiquez jamais votre identifiant ni votre mot de passe.",
    ]))


def password_mail(user: UserSpec, password: str) -> tuple[str, str]:
    """Second mail (R13): the provisional password only, never with the identifiant."""
    return (f"{PORTAL} : votre mot de passe provisoire", "\n".join([
        f"Bonjour {user.first_name} {user.last_name},",
        "",
        f"Votre mot de passe provisoire : {password}",
        "",
        "Il est valable 24 heures. À la première connexion, vous devrez accepter les règles d'usage,",
        "puis saisir et confirmer votre mot de passe personnel.",
        "En cas de perte ou de vol, signalez-le immédiatement à votre administrateur.",
    ]))


def change_report(caf_name: str, actor: str, lines: list[str]) -> tuple[str, str]:
    """R9: every change of user or role is reported to the Caf."""
    return (f"{PORTAL} : changement d'habilitations signalé à la {caf_name}", "\n".join([
        f"Changement effectué par : {actor}",
        "",
        *[line if line.startswith("  ") else f"- {line}" for line in lines],  # a person's detail under its change
    ]))


def suspension_mail(first: str, last: str, what: str, by: str = "La Caf") -> tuple[str, str]:
    """R18: users are informed of suspensions (`by`: « La Caf », or their own structure, issue 29)."""
    return (f"{PORTAL} : suspension de vos habilitations", "\n".join([
        f"Bonjour {first} {last},",
        "",
        f"{by} a suspendu {what}.",
        "Les habilitations peuvent être suspendues sans notification préalable, notamment en cas de risque pour la",
        "sécurité des systèmes ou des données (absence d'utilisation prolongée, accès non autorisé).",
        "Pour toute question, adressez-vous à votre administrateur partenaire.",
    ]))


def send_back_mail(first: str, last: str, service: str, equipment: str, period: str, by: str, reason: str,
                   url: str) -> tuple[str, str]:
    """Issue 29 §3: the providers learn that their declaration is back in their hands, why, and where."""
    return (f"{PORTAL} : déclaration {service} {period} de {equipment} à corriger", "\n".join([
        f"Bonjour {first} {last},",
        "",
        f"{by} vous renvoie la déclaration {service} {period} de l'équipement « {equipment} » pour correction,",
        "avant de l'approuver et de la transmettre à la Caf. Motif :",
        "",
        f"« {reason} »",
        "",
        f"Corrigez-la ici : {url}",
        "Elle reste modifiable tant qu'elle n'est pas transmise.",
    ]))


def _level_2() -> str:
    """The catalogue's services that ask a second factor (« CDAP »)."""
    return ", ".join(s.code for s in catalogue.current().services if s.level == "niveau-2") or "aucun aujourd'hui"


def second_factor_reset_mail(first: str, last: str, actor: str) -> tuple[str, str]:
    """Issue 13: the user is told when their second factor is reset (lost phone or key)."""
    return (f"{PORTAL} : votre second facteur a été réinitialisé", "\n".join([
        f"Bonjour {first} {last},",
        "",
        "Votre second facteur (application d'authentification, clé de sécurité et codes de récupération) a été",
        f"réinitialisé par {actor}. À votre prochaine connexion à un service qui le demande ({_level_2()}), vous en",
        "enregistrerez un nouveau.",
        "Si vous n'êtes pas à l'origine de cette demande, prévenez sans attendre votre administrateur partenaire :",
        "quelqu'un pourrait chercher à accéder à votre compte.",
    ]))


def proconnect_unlinked_mail(first: str, last: str, actor: str) -> tuple[str, str]:
    """Issue 32: the person is told when someone else removes her ProConnect link."""
    return (f"{PORTAL} : votre connexion avec ProConnect a été retirée", "\n".join([
        f"Bonjour {first} {last},",
        "",
        f"La liaison entre votre compte et votre identité ProConnect a été retirée par {actor}. Vous vous connectez",
        "désormais avec votre identifiant et votre mot de passe ; à votre prochaine connexion avec ProConnect, votre",
        "compte sera relié de nouveau si votre adresse électronique et le SIRET de votre structure sont ceux que votre",
        "Caf a enregistrés.",
        "Si vous ne comprenez pas ce changement, prévenez votre administrateur partenaire.",
    ]))


def reactivation_mail(first: str, last: str, what: str, by: str = "La Caf") -> tuple[str, str]:
    return (f"{PORTAL} : rétablissement de vos habilitations", "\n".join([
        f"Bonjour {first} {last},", "", f"{by} a rétabli {what}.",
    ]))


def incident_mail(ref: int, kind: str, who: str, partner: str, at, description: str) -> tuple[str, str]:
    """R19: to the habilitation manager of the Caf."""
    return (f"{PORTAL} : signalement n° {ref} — {kind}", "\n".join([
        f"Signalement n° {ref} : {kind}",
        f"Par : {who} ({partner})",
        f"Le : {at:%d/%m/%Y à %H:%M} (UTC)",
        "",
        description,
    ]))


def _paris_day(at) -> str:
    from zoneinfo import ZoneInfo
    return f"{at.astimezone(ZoneInfo('Europe/Paris')):%d/%m/%Y}"


def review_opened_mail(first: str, last: str, partner: str, caf_name: str, count: int, deadline,
                       url: str) -> tuple[str, str]:
    """Issue 16: to the partner's administrator and responsables des habilitations when a campaign opens."""
    return (f"{PORTAL} : revue des habilitations de {partner} à faire avant le {_paris_day(deadline)}", "\n".join([
        f"Bonjour {first} {last},",
        "",
        f"La {caf_name} ouvre la revue périodique des habilitations de {partner}.",
        f"{count} habilitation(s) sont à confirmer ou à retirer avant le {_paris_day(deadline)}, dans la console",
        f"partenaire : {url}",
        "",
        "Pour chaque personne, confirmez les habilitations dont elle a encore besoin et retirez les autres.",
        "À l'échéance, toute habilitation qui n'a pas été confirmée est suspendue : la personne perd l'accès au",
        "service concerné jusqu'à ce qu'elle lui soit de nouveau accordée.",
    ]))


def review_reminder_mail(first: str, last: str, partner: str, pending: int, days: int, deadline,
                         url: str) -> tuple[str, str]:
    return (f"{PORTAL} : rappel — revue des habilitations de {partner}, échéance le {_paris_day(deadline)}", "\n".join([
        f"Bonjour {first} {last},",
        "",
        f"Il reste {pending} habilitation(s) de {partner} à revoir, et {days} jour(s) avant l'échéance du "
        f"{_paris_day(deadline)}.",
        f"Console partenaire : {url}",
        "",
        "À l'échéance, les habilitations non confirmées seront suspendues.",
    ]))


def review_suspended_mail(first: str, last: str, what: list[str]) -> tuple[str, str]:
    """R18: the person whose grants nobody confirmed at the deadline."""
    return (f"{PORTAL} : suspension de vos habilitations", "\n".join([
        f"Bonjour {first} {last},",
        "",
        "Lors de la revue périodique des habilitations, votre administrateur partenaire n'a pas confirmé, avant",
        "l'échéance, les habilitations suivantes ; elles sont suspendues :",
        *[f"- {w}" for w in what],
        "",
        "Si vous en avez encore besoin, adressez-vous à l'administration de votre organisme (administrateur",
        "partenaire), qui peut vous les accorder de nouveau.",
    ]))


def review_closed_report(caf_name: str, lines: list[str]) -> tuple[str, str]:
    """R9: the Caf is told what the deadline suspended."""
    return (f"{PORTAL} : clôture d'une revue des habilitations ({caf_name})", "\n".join([
        "La revue des habilitations est close. Habilitations suspendues faute de confirmation :",
        "",
        *([f"- {line}" for line in lines] or ["- aucune"]),
    ]))


def review_auto_opened_report(caf_name: str, items: int, partners: int, deadline) -> tuple[str, str]:
    """R9: the yearly review opened by itself; the Caf is told what it asks and until when."""
    return (f"{PORTAL} : revue annuelle des habilitations ouverte ({caf_name})", "\n".join([
        "Un an après la précédente, la revue annuelle des habilitations de vos partenaires est ouverte.",
        f"{items} habilitation(s) chez {partners} partenaire(s) sont à confirmer ou à retirer avant le "
        f"{_paris_day(deadline)}.",
        "Les administrateurs des partenaires en sont informés ; l'avancement se suit dans la console Caf.",
    ]))


def review_withdrawn_mail(first: str, last: str, what: str, by: str) -> tuple[str, str]:
    """R18: the person whose grant a reviewer withdrew."""
    return (f"{PORTAL} : retrait d'une habilitation", "\n".join([
        f"Bonjour {first} {last},",
        "",
        f"Lors de la revue périodique des habilitations, {by} a retiré votre habilitation {what}.",
        "Si vous en avez encore besoin, adressez-vous à votre administrateur partenaire.",
    ]))


def documents_to_sign_mail(first: str, last: str, partner: str, convention: str, titles: list[str],
                           portal_url: str) -> tuple[str, str]:
    """Issue 31: the partner's representative is told that documents of the convention await her signature."""
    return (f"{PORTAL} : documents de la convention {convention} à signer", "\n".join([
        f"Bonjour {first} {last},",
        "",
        f"La Caf a établi pour {partner} les documents suivants de la convention {convention} :",
        *(f"  – {t}" for t in titles),
        "",
        f"Vous les lisez et les signez électroniquement sur {portal_url}, après une",
        "connexion renforcée (second facteur). La Caf les contresigne ensuite.",
    ]))


def documents_signed_report(partner: str, convention: str, side: str, titles: list[str], by: str) -> tuple[str, str]:
    """Issue 31: the Caf's mailbox (after the partner's signature: to countersign) and the partner's administrator
    (after the countersignature) are told."""
    done = "signés par le partenaire, à contresigner" if side == "partenaire" else "contresignés par la Caf"
    return (f"{PORTAL} : convention {convention} de {partner} — documents {done}", "\n".join([
        "Bonjour,",
        "",
        f"{by} a signé électroniquement ces documents de la convention {convention} ({partner}) :",
        *(f"  – {t}" for t in titles),
        "",
        "Ils sont désormais " + done + "." + (" Contresignez-les depuis la console de la Caf." if side == "partenaire"
                                              else " Les fichiers signés se téléchargent depuis les consoles."),
    ]))


def access_request_confirmation(first: str, last: str, organisation: str, role: str, link: str) -> tuple[str, str]:
    """Issue 31 §1: each address a request names confirms it is hers before the Caf sees the request."""
    return (f"{PORTAL} : confirmez votre adresse pour la demande d'accès de {organisation}", "\n".join([
        f"Bonjour {first} {last},",
        "",
        f"Une demande d'accès à {PORTAL} vient d'être déposée pour {organisation}, qui vous désigne comme {role}.",
        f"Si c'est bien le cas, confirmez votre adresse dans les {48} heures en ouvrant ce lien :",
        f"  {link}",
        "La demande parvient à la Caf une fois chaque adresse confirmée. Si vous n'êtes pas concerné(e), ignorez",
        "ce courriel : sans confirmation, la demande n'aboutit pas.",
    ]))


def access_request_to_caf(organisation: str, siret: str, services: list[str], console_url: str) -> tuple[str, str]:
    return (f"{PORTAL} : demande d'accès de {organisation} ({siret})", "\n".join([
        "Bonjour,",
        "",
        f"{organisation} (SIRET {siret}) demande l'accès aux services : {', '.join(services)}.",
        "Ses adresses sont confirmées. Acceptez-la (vous préparerez ensuite la convention) ou refusez-la avec un",
        f"motif depuis la console de la Caf : {console_url}",
    ]))


def access_request_decided(first: str, last: str, organisation: str, accepted: bool, reason: str) -> tuple[str, str]:
    if accepted:
        return (f"{PORTAL} : la demande d'accès de {organisation} est acceptée", "\n".join([
            f"Bonjour {first} {last},",
            "",
            f"La Caf a accepté la demande d'accès de {organisation}. Elle prépare la convention ; son administrateur",
            "recevra ses codes pour la lire et la signer électroniquement.",
        ]))
    return (f"{PORTAL} : la demande d'accès de {organisation} n'est pas acceptée", "\n".join([
        f"Bonjour {first} {last},",
        "",
        f"La Caf n'a pas accepté la demande d'accès de {organisation}, pour ce motif :",
        f"  {reason}",
        "Vous pouvez déposer une nouvelle demande une fois ce point réglé.",
    ]))
