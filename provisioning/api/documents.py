"""The convention's documents (issue 31): their versions, a new issue (the Caf), the signatures (the partner's
representative, then the Caf, each with a level-2 token), the signed PDFs, and a check anyone signed in can make
of a PDF."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify, request

from provisioning.api import responses as answers
from provisioning.api.partners import _result
from provisioning.domain.paperwork import Document
from provisioning.errors import ValidationFailed, Violation

bp = Blueprint("documents", __name__, url_prefix="/api/v1")
MAX_PDF = 5 * 1024 * 1024  # a signed convention's document weighs tens of kilobytes


def _svc():
    return current_app.extensions["provisioning"]


def version_dict(d: Document) -> dict:
    return {"id": d.id, "kind": d.kind, "title": d.title, "version": d.version, "current": d.current,
            "state": d.state, "awaits": d.awaits, "sha256": d.sha256, "content_sha256": d.content_sha256,
            "created_at": d.created_at, "created_by": d.created_by, "partner_signed_at": d.partner_signed_at,
            "partner_signed_by": d.partner_signed_by, "caf_signed_at": d.caf_signed_at,
            "caf_signed_by": d.caf_signed_by, "superseded_at": d.superseded_at}


def _view(view) -> dict:
    return {"convention": view.convention.number, "status": view.convention.status.value, "due": view.due,
            "documents": [version_dict(d) for d in view.versions]}


@bp.get("/partners/<siret>/conventions/<number>/documents")
@answers.returns(answers.ConventionDocuments)
def list_documents(siret: str, number: str):
    return jsonify(_view(_svc().documents(g.actor, siret, number)))


@bp.get("/partners/<siret>/documents")
@answers.returns(answers.EveryConventionDocuments)
def every_convention(siret: str):
    """Each convention's documents at once: the page of the person who signs, the consoles."""
    return jsonify([_view(v) for v in _svc().every_convention_documents(g.actor, siret)])


@bp.post("/partners/<siret>/conventions/<number>/documents")
@answers.returns(answers.IssuedDocuments, 201)
def issue_documents(siret: str, number: str):
    return jsonify([version_dict(d) for d in _svc().issue_documents(g.actor, siret, number)]), 201


@bp.post("/partners/<siret>/conventions/<number>/signatures")
@answers.returns(answers.MutationAnswer)
def sign_documents(siret: str, number: str):
    return _result(_svc().sign_documents(g.actor, siret, number))


@bp.get("/partners/<siret>/documents/<int:doc_id>.pdf")
def document_pdf(siret: str, doc_id: int):
    d, pdf = _svc().document_pdf(g.actor, siret, doc_id)
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{d.convention}-{d.kind}-v{d.version}.pdf"',
        "Digest": f"sha-256={d.sha256}"})


@bp.post("/documents/verification")
@answers.returns(answers.DocumentCheck)
def verify_document():
    pdf = request.get_data()
    if not pdf.startswith(b"%PDF-"):
        raise ValidationFailed([Violation("PDF_ATTENDU", "Envoyez le fichier PDF lui-même (application/pdf).")])
    v = _svc().verify_pdf(pdf)
    return jsonify({"valid": v.ok, "signatures": [
        {"field": s.field, "signer": s.signer, "intact": s.intact, "trusted": s.trusted, "timestamped": s.timestamped,
         "whole_file": s.whole_file} for s in v.signatures]})
