"""Where mails go: an SMTP server (production and the local sink) or a list in memory (unit tests)."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

from provisioning.errors import Transient, Unavailable
from provisioning.notify.html import as_html
from provisioning.typography import typo


class Notifier(Protocol):
    def send(self, recipient: str, subject: str, body: str) -> None: ...


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "127.0.0.1"
    port: int = 1025
    security: str = "none"  # none | starttls | ssl
    username: str = ""
    password: str = ""
    sender: str = "Mon Compte Partenaire <ne-pas-repondre@mon-compte-partenaire.example>"
    timeout: float = 20.0
    portal_url: str = ""  # the HTML part's footer links (issue 15)


class SmtpNotifier:
    def __init__(self, cfg: SmtpConfig):
        self.cfg = cfg

    def message(self, recipient: str, subject: str, body: str) -> EmailMessage:
        # French spacing where the text leaves for a person, as the pages do (issue 29 §8): « Objet : … » written
        # with ordinary spaces everywhere else (messages, the outbox, the tests' fakes)
        subject, body = typo(subject), typo(body)
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.cfg.sender, recipient, subject
        msg["Date"], msg["Message-ID"] = formatdate(localtime=True), make_msgid(domain="mon-compte-partenaire")
        msg.set_content(body)  # the text part, complete on its own
        msg.add_alternative(as_html(subject, body, self.cfg.portal_url), subtype="html")
        return msg

    def send(self, recipient: str, subject: str, body: str) -> None:
        msg = self.message(recipient, subject, body)
        try:
            smtp: smtplib.SMTP
            if self.cfg.security == "ssl":
                smtp = smtplib.SMTP_SSL(self.cfg.host, self.cfg.port, timeout=self.cfg.timeout,
                                        context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(self.cfg.host, self.cfg.port, timeout=self.cfg.timeout)
            with smtp:
                if self.cfg.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if self.cfg.username:
                    smtp.login(self.cfg.username, self.cfg.password)
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError) as e:
            raise Unavailable(f"Serveur de messagerie injoignable ({self.cfg.host}:{self.cfg.port}) : {e}") from e
        except smtplib.SMTPException as e:  # it answered, and refused this message
            raise Transient(f"Envoi du courriel à {recipient} refusé : {e}") from e


@dataclass
class MemoryNotifier:
    sent: list[tuple[str, str, str]] = field(default_factory=list)

    def send(self, recipient: str, subject: str, body: str) -> None:
        self.sent.append((recipient, subject, body))
