"""The pages every footer links to (issue 15): mentions légales, données personnelles, accessibilité, aide et
contact. Public (no login: Keycloak's pages link here before anyone is known), the same in the three apps.

`typo` (provisioning/typography.py) is French typography for texts written with ordinary spaces; `typo_html`
applies it to a rendered page."""

from __future__ import annotations

import re

from flask import Blueprint, render_template
from markupsafe import Markup

from provisioning.typography import typo

bp = Blueprint("legal", __name__)

_UNTOUCHED = re.compile(r"(?is)(<(script|style|textarea|pre|code)\b.*?</\2\s*>|<[^>]+>)")


def typo_html(html: str) -> Markup:
    """The same on rendered HTML, text between tags only: attributes and URLs, scripts, styles, and what people
    typed (a textarea given back) or code shown as it is are left alone. Every page's main content goes through
    it (base.html, issue 29 §8), so templates and messages are written with ordinary spaces."""
    out, at = [], 0
    text = str(html)
    for m in _UNTOUCHED.finditer(text):
        out += [typo(text[at:m.start()]), m.group(0)]
        at = m.end()
    out.append(typo(text[at:]))
    return Markup("".join(out))


# (address, title, template) of each page, in footer order
PAGES = [("/mentions-legales", "Mentions légales", "legal/mentions.html"),
         ("/donnees-personnelles", "Données personnelles", "legal/donnees.html"),
         ("/accessibilite", "Déclaration d’accessibilité", "legal/accessibilite.html"),
         ("/aide", "Aide et contact", "legal/aide.html")]


def _view(title: str, template: str):
    def view():
        return render_template(template, title=title)
    view.__name__ = template.split("/")[-1].removesuffix(".html")
    return view


for _path, _title, _template in PAGES:
    bp.add_url_rule(_path, view_func=_view(_title, _template))


def init_legal(app) -> None:
    app.register_blueprint(bp)
    app.add_template_filter(typo_html, "typo")
