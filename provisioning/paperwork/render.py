"""The convention d'accès, the contrat de service and each bulletin d'adhésion as PDF/A-3u, tagged (headings,
tables and lists readable by assistive technologies), from the registry's data (domain/paperwork.facts) through
Jinja2 templates (autoescaped: a name holding markup stays text) and WeasyPrint. French typography as in the
mails; the portal's own font (Source Sans 3, shipped in sso_demo/static/fonts), so a PDF does not depend on the
fonts a machine has installed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from provisioning.domain import catalogue
from provisioning.domain.model import Caf, Convention, Partner
from provisioning.domain.paperwork import CONTRACT, CONVENTION, content_hash, facts, service_of
from provisioning.typography import typo

TEMPLATES = Path(__file__).parent / "templates"
FONTS = Path(__file__).resolve().parents[2] / "sso_demo" / "static" / "fonts"
_ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
_ENV.filters["typo"] = lambda s: typo(str(s))


@dataclass(frozen=True)
class Rendered:
    kind: str            # convention | contrat | bulletin-CDAP …
    title: str
    content_sha256: str  # of the facts rendered: a new version only when they change
    pdf: bytes


def _siret(s: str) -> str:
    return f"{s[:3]}\u00a0{s[3:6]}\u00a0{s[6:9]}\u00a0{s[9:]}"


def title(kind: str) -> str:
    service = service_of(kind)
    if service is None:
        return {CONVENTION: "Convention d’accès à « Mon Compte Partenaire »", CONTRACT: "Contrat de service"}[kind]
    spec = catalogue.current().service(service)
    return f"Bulletin d’adhésion — {spec.label if spec else service}"


def render(kind: str, caf: Caf, partner: Partner, conv: Convention, version: int, today: date) -> Rendered:
    data = facts(kind, caf, partner, conv)
    service = service_of(kind)
    spec = catalogue.current().service(service) if service else None
    html = _ENV.get_template(f"{kind.split('-')[0]}.html").render(
        d=data, title=title(kind), version=version, today=today.strftime("%d/%m/%Y"), siret=_siret(partner.siret),
        service_label=spec.label if spec else service, fonts=FONTS.as_uri())
    from weasyprint import HTML  # imported here: only what renders needs it (and its libraries)
    pdf = HTML(string=html, base_url=str(TEMPLATES)).write_pdf(pdf_variant="pdf/a-3u", pdf_tags=True)
    return Rendered(kind, title(kind), content_hash(data), pdf)
