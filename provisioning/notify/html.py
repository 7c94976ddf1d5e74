"""Issue 15: every mail also as HTML with the portal's identity (the wordmark, the blue rule, the footer's links),
made from the plain text, which stays complete on its own (some mail readers show only that part).

Inline styles only (mail readers drop <style> and external sheets); the colours are the tokens of
sso_demo/static/mcp-identity.css."""

from __future__ import annotations

import html
import re

BLEU, TEXTE, DOUX, FOND_DOUX = "#1d3c78", "#1e1e1e", "#4a4a4a", "#f5f6f8"
_URL = re.compile(r"(https?://[^\s<>\"]+[^\s<>\".,;:!?)])")


def _paragraph(block: str) -> str:
    text = html.escape(block)
    text = _URL.sub(lambda m: f'<a href="{m.group(1)}" style="color:{BLEU}">{m.group(1)}</a>', text)
    return f'<p style="margin:0 0 12px">{text.replace(chr(10), "<br>")}</p>'


def as_html(subject: str, body: str, portal_url: str = "") -> str:
    paragraphs = "".join(_paragraph(b) for b in re.split(r"\n\s*\n", body.strip()) if b.strip())
    base = portal_url.rstrip("/")
    links = " · ".join(f'<a href="{base}{path}" style="color:{BLEU}">{label}</a>' for path, label in (
        ("/mentions-legales", "Mentions légales"), ("/donnees-personnelles", "Données personnelles"),
        ("/accessibilite", "Accessibilité"), ("/aide", "Aide et contact"))) if base else ""
    return f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>{html.escape(subject)}</title></head>
<body style="margin:0;padding:0;background:#ffffff;color:{TEXTE};font-family:'Segoe UI',Roboto,Arial,sans-serif;font-size:16px;line-height:1.5">
<div style="border-top:4px solid {BLEU};border-bottom:1px solid #c9ced6;padding:8px 16px">
<span style="display:inline-block;background:{BLEU};color:#ffffff;font-weight:700;font-size:12px;padding:8px 6px;border-radius:4px">MCP</span>
<strong style="color:{BLEU};font-size:20px;vertical-align:middle;margin-left:8px">Mon Compte Partenaire</strong>
</div>
<div style="max-width:40rem;padding:16px">
{paragraphs}
</div>
<div style="background:{FOND_DOUX};border-top:1px solid #c9ced6;padding:12px 16px;font-size:14px;color:{DOUX}">
<p style="margin:0 0 6px">{links}</p>
<p style="margin:0">Mon Compte Partenaire, un service des caisses d’allocations familiales (Caf) pour leurs partenaires. Ce courriel est envoyé automatiquement : n’y répondez pas.</p>
</div>
</body></html>
"""
