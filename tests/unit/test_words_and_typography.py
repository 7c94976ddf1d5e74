"""Issue 29 §8: one word list for the whole product and French typography, checked in CI over what people read —
the applications' templates, Keycloak's pages and French messages, the mails, the journal's sentences. English
slipped in where nobody looked (« Warning alert: » on the recovery-codes page, read by screen readers), and « Nom
d'utilisateur » where everything else says « identifiant ».

Typography: pages are written with ordinary spaces and every page's main content goes through `typo` (base.html);
Keycloak renders its messages as they are, so those carry their no-break spaces themselves."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from provisioning.domain import journal
from sso_demo import catalogue, portal
from sso_demo.legal import typo_html
from tests.unit.test_pages_make_no_remote_call import _cfg, _logged_in

ROOT = Path(__file__).resolve().parents[2]
THEME = ROOT / "keycloak-theme" / "mon-compte-partenaire" / "login"

# English shown to people, and the words the product does not use (the word list: identifiant, courriel,
# habilitation, se connecter / se déconnecter)
ENGLISH = re.compile(r"\b(Warning|Error|alert|Username|Password|Submit|Cancel|Login|Logout|Sign (?:in|out)|Email|"
                     r"Back|Next|Save|Delete|Edit|Search|Loading|Required|Invalid|Please|Welcome|Type:)\b")
NOT_OUR_WORDS = re.compile(r"(?i)\b(nom d['’]utilisateur|e-?mail|login|logout|username|mot de passe utilisateur)\b")
ALLOWED = {"FreeOTP", "Google Authenticator", "Mon Compte Partenaire"}


def _text_of_markup(source: str) -> list[str]:
    """The text people read in a Jinja or FreeMarker template: tags, expressions, scripts and comments out."""
    t = re.sub(r"(?is)<script\b.*?</script>|<style\b.*?</style>|<!--.*?-->", " ", source)
    t = re.sub(r"(?s)\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", " ", t)
    t = re.sub(r"(?s)<#--.*?-->|</?#[^>]*>|</?@[^>]*>|\$\{[^}]*\}", " ", t)
    t = re.sub(r"(?s)<[^>]+>", "\n", t)
    return [line.strip() for line in t.split("\n") if line.strip()]


def _theme_messages() -> list[tuple[str, str]]:
    out = []
    for line in (THEME / "messages" / "messages_fr.properties").read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            out += [(key, text) for text in _text_of_markup(value)]
    return out


def _mail_texts() -> list[str]:
    """The string constants of the mails (docstrings aside)."""
    tree = ast.parse((ROOT / "provisioning" / "notify" / "messages.py").read_text(encoding="utf-8"))
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.FunctionDef, ast.Module)) and n.body and isinstance(n.body[0], ast.Expr)}
    return [n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def _everything_people_read() -> list[tuple[str, str]]:
    found = [(str(f.relative_to(ROOT)), text) for f in sorted((ROOT / "sso_demo" / "templates").rglob("*.html"))
             for text in _text_of_markup(f.read_text(encoding="utf-8"))]
    found += [(str(f.relative_to(ROOT)), text) for f in sorted(THEME.glob("*.ftl"))
              for text in _text_of_markup(f.read_text(encoding="utf-8"))]
    found += [(f"messages_fr.properties:{key}", text) for key, text in _theme_messages()]
    found += [("provisioning/notify/messages.py", text) for text in _mail_texts()]
    found += [("provisioning/domain/journal.py", text) for text in journal.ACTIONS.values()]
    return found


def test_the_sources_are_read():
    """The scan reaches each kind of source (a scanner that reads nothing passes everything)."""
    where = {w.split(":")[0].split("/")[0] for w, _ in _everything_people_read()}
    assert {"sso_demo", "keycloak-theme", "messages_fr.properties", "provisioning"} <= where
    assert len(_everything_people_read()) > 500


def test_no_english_and_only_our_words_in_what_people_read():
    faults = []
    for where, text in _everything_people_read():
        for pattern in (ENGLISH, NOT_OUR_WORDS):
            for m in pattern.finditer(text):
                if not any(a in text and m.group(0) in a for a in ALLOWED):
                    faults.append(f"{where}: « {m.group(0)} » in « {text[:80]} »")
    assert faults == []


@pytest.mark.parametrize(("bad", "where"), [("Warning alert:", "a Keycloak page"), ("Nom d'utilisateur", "a form")])
def test_the_check_finds_what_it_is_for(bad, where):
    assert ENGLISH.search(bad) or NOT_OUR_WORDS.search(bad), where


def test_keycloak_texts_carry_their_french_spacing():
    """Keycloak shows its messages as written: a no-break space before « : ; ? ! » and inside « »."""
    faults = [(key, text) for key, text in _theme_messages()
              if re.search(r" [:;?!](?=\s|$)|« | »", text)]
    faults += [(str(f.name), text) for f in THEME.glob("*.ftl") for text in _text_of_markup(f.read_text("utf-8"))
               if re.search(r" [:;?!](?=\s|$)|« | »", text)]
    assert faults == []


def test_every_page_prints_french_spacing_and_leaves_scripts_and_typed_text_alone(tmp_path):
    app = portal.create_app(_cfg(tmp_path))
    catalogue.remember([])  # no catalogue to read from an API
    client, _ = _logged_in(app, {"previous_login": ("known", "2026-11-20T08:05:00+00:00")})
    with client.session_transaction() as flask_session:  # a message written with ordinary spaces, as all are
        flask_session["_flashes"] = [("info", "Enregistré : « tout » ; vraiment ?")]
    html = client.get("/").get_data(as_text=True)
    main = html[html.index("<main"):html.index("</main>")]
    assert "Enregistré\u00a0: «\u00a0tout\u00a0»\u202f; vraiment\u202f?" in main
    text = re.sub(r"(?is)<script\b.*?</script>|<[^>]+>", "", main)
    assert not re.search(r" [:;?!](?=\s|$)|« | »", text), re.search(r".{30} [:;?!](?=\s|$)", text)
    kept = str(typo_html('<p>Note : ici</p><textarea>a : b ; c ?</textarea><script>x ? y : z</script>'
                         '<pre>k : v</pre><input value="a : b">'))
    assert kept == ('<p>Note\u00a0: ici</p><textarea>a : b ; c ?</textarea><script>x ? y : z</script>'
                    '<pre>k : v</pre><input value="a : b">')
