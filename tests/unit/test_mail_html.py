"""Issue 15: each mail leaves as text and HTML; the text part is the whole message on its own, the HTML part
carries the portal's identity and footer links, and nothing of the text can inject markup into it."""

from __future__ import annotations

import re

from provisioning.notify import messages
from provisioning.notify.notifier import SmtpConfig, SmtpNotifier
from provisioning.reconcile.state import UserSpec
from provisioning.typography import NBSP, NNBSP, typo


def _parts(body: str, subject: str = "Vos codes"):
    msg = SmtpNotifier(SmtpConfig(portal_url="https://portail.example/")).message("a@x.example", subject, body)
    assert msg.get_content_type() == "multipart/alternative"
    return msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()


def test_the_identifiant_mail_leaves_as_complete_text_and_as_html_with_the_identity():
    subject, body = messages.identifiant_mail(UserSpec("lea.petit", "Léa", "Petit", "lea@x.example"),
                                              "https://portail.example")
    text, page = _parts(body, subject)
    assert text.strip() == typo(body).strip(), "the text part is the whole message"
    assert "lea.petit" in page and "Mon Compte Partenaire" in page and 'lang="fr"' in page
    assert 'href="https://portail.example"' in page or 'href="https://portail.example/' in page
    for path in ("/mentions-legales", "/donnees-personnelles", "/accessibilite", "/aide"):
        assert f'href="https://portail.example{path}"' in page


def test_the_html_part_escapes_what_the_text_carries():
    _, page = _parts("Bonjour <script>alert(1)</script> & « Léa »\n\nhttps://x.example/a?b=1&c=2")
    assert "<script>" not in page and "&lt;script&gt;" in page and "&amp;" in page
    assert 'href="https://x.example/a?b=1&amp;c=2"' in page


def test_a_mail_leaves_with_french_spacing_and_the_password_as_it_was_made():
    """Issue 29 §8: the mails, like the pages, put no-break spaces before « : ; ? ! » and inside « »; a password
    with those signs (generate_password's alphabet: ! and ?) is left as it is, and a URL's colon too."""
    user = UserSpec("lea.petit", "Léa", "Petit", "lea@x.example")
    subject, body = messages.password_mail(user, "!Ab?c#d!e?f")
    msg = SmtpNotifier(SmtpConfig(portal_url="https://portail.example/")).message("a@x.example", subject, body)
    assert msg["Subject"] == f"«{NBSP}Mon Compte Partenaire{NBSP}»{NBSP}: votre mot de passe provisoire"
    text = msg.get_body(("plain",)).get_content()
    assert re.search(r"Votre mot de passe provisoire\s*:\s*(\S+)\n", text).group(1) == "!Ab?c#d!e?f"
    assert f"provisoire{NBSP}:" in text
    assert " :" not in text and " !" not in text and " ?" not in text and " ;" not in text
    _, body = messages.identifiant_mail(user, "https://portail.example")
    text, page = _parts(body)
    assert f"Adresse de connexion{NBSP}: https://portail.example" in text and 'href="https://portail.example"' in page
    _, body = messages.send_back_mail("Léa", "Petit", "AFAS", "Crèche", "2026-11", "Marc Martin", "Montant faux ?",
                                      "https://afas.example/x")
    assert f"«{NBSP}Montant faux{NNBSP}?{NBSP}»" in _parts(body)[0]
