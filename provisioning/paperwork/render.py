"""The convention d'accès, the contrat de service and each bulletin d'adhésion as PDF/A-3u, tagged (PDF/UA-style
structure: headings, tables, lists readable by assistive technologies), from the registry's data through Jinja2
templates (autoescaped: a name holding markup stays text) and WeasyPrint. French typography as in the mails."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from provisioning.domain import catalogue
from provisioning.domain.model import Caf, Convention, Partner, Service
from provisioning.typography import typo

TEMPLATES = Path(__file__).parent / "templates"
_ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
_ENV.filters["typo"] = lambda s: typo(str(s))

KINDS = ("convention", "contrat")  # and « bulletin-<SERVICE> », one per bulletin


@dataclass(frozen=True)
class Rendered:
    kind: str            # convention | contrat | bulletin-CDAP …
    title: str
    content_sha256: str  # of the data rendered: a new version only when it changes (the PDF bytes differ each time)
    pdf: bytes


def _siret(s: str) -> str:
    return f"{s[:3]}\u00a0{s[3:6]}\u00a0{s[6:9]}\u00a0{s[9:]}"


def facts(kind: str, caf: Caf, partner: Partner, conv: Convention) -> dict[str, Any]:
    """What a document says, as plain data (its hash decides whether a new version is due)."""
    base: dict[str, Any] = {"caf": {"code": caf.code, "name": caf.name}, "convention": conv.number,
                            "partner": {"siret": partner.siret, "name": partner.name}}
    if kind == "convention":
        return {**base, "services": sorted(b.service for b in conv.bulletins)}
    if kind == "contrat":
        c = conv.contract
        contacts = {role: ({"name": x.name, "email": x.email, "phone": x.phone} if (x := getattr(c, role)) else None)
                    for role in ("partner_administrator", "partner_security_officer", "partner_cnil_referent",
                                 "caf_administrator", "caf_portal_manager", "caf_security_officer",
                                 "caf_cnil_referent")}
        return {**base, "contacts": contacts, "incident_procedure": c.incident_procedure}
    service = Service(kind.removeprefix("bulletin-"))
    b = conv.bulletin(service)
    people = {u.identifiant: u for u in partner.users}
    members = [] if b is None else [
        {"identifiant": m.identifiant, "name": f"{people[m.identifiant].first_name} {people[m.identifiant].last_name}"
         if m.identifiant in people else m.identifiant,
         "groups": sorted(m.groups), "profiles": sorted(m.profiles)}
        for m in sorted(b.members, key=lambda m: m.identifiant)]
    return {**base, "service": service, "members": members}


def render(kind: str, caf: Caf, partner: Partner, conv: Convention, version: int, today: date) -> Rendered:
    data = facts(kind, caf, partner, conv)
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    service = data.get("service")
    label = (catalogue.current().service(service).label if service and catalogue.current().service(service)
             else service)
    title = {"convention": "Convention d’accès à « Mon Compte Partenaire »",
             "contrat": "Contrat de service"}.get(kind, f"Bulletin d’adhésion — {label}")
    html = _ENV.get_template(f"{kind.split('-')[0]}.html").render(
        d=data, title=title, version=version, today=today.strftime("%d/%m/%Y"), siret=_siret(partner.siret),
        service_label=label)
    from weasyprint import HTML  # imported here: only what renders needs it (and its libraries)
    pdf = HTML(string=html, base_url=str(TEMPLATES)).write_pdf(pdf_variant="pdf/a-3u", pdf_tags=True)
    return Rendered(kind, title, digest, pdf)
