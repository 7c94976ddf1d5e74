"""Access requests (issue 31 §1): the directory lookup and the request itself are public (an organisation has no
account yet; the portal's form in front of them is rate-limited), the confirmation is the link's token; the Caf's
administrators list, accept and refuse."""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, current_app, g, jsonify

from provisioning.api import models as m
from provisioning.api import responses as answers
from provisioning.api.partners import partner_to_dict
from provisioning.domain.access_requests import AccessRequest, Contact
from provisioning.errors import NotFound

bp = Blueprint("access_requests", __name__, url_prefix="/api/v1")
PUBLIC = {"access_requests.directory", "access_requests.submit", "access_requests.confirm", "access_requests.cafs"}


def _svc():
    return current_app.extensions["provisioning"]


def request_dict(r: AccessRequest) -> dict:
    return {"id": r.id, "created_at": r.created_at, "state": r.state.value, "state_label": r.state.label,
            "establishment": asdict(r.establishment), "caf": r.caf, "services": r.services,
            "representative": asdict(r.representative), "administrator": asdict(r.administrator),
            "confirmed": r.confirmed, "decided_at": r.decided_at, "decided_by": r.decided_by, "reason": r.reason}


@bp.get("/directory/<siret>")
@answers.returns(answers.EstablishmentAnswer)
def directory(siret: str):
    """What the SIRENE directory says of a SIRET (the form fills the name and the address from it)."""
    from provisioning.directory import from_settings
    found = (_svc().directory or from_settings()).lookup(siret.replace(" ", ""))
    if found is None:
        raise NotFound(f"Le SIRET {siret[:20]} est absent du répertoire SIRENE.")
    return jsonify(asdict(found))


def _contact(p: m.RequestPerson) -> Contact:
    return Contact(p.first_name.strip(), p.last_name.strip(), p.email.strip(), p.function.strip())


@bp.post("/access-requests")
@m.body(m.NewAccessRequest)
@answers.returns(answers.AccessRequestAnswer, 201)
def submit():
    b = g.body
    r = _svc().submit_access_request(b.siret, b.caf.strip(), [s.strip() for s in b.services],
                                     _contact(b.representative), _contact(b.administrator))
    return jsonify(request_dict(r)), 201


@bp.post("/access-requests/<rid>/confirmations")
@m.body(m.Confirmation)
@answers.returns(answers.AccessRequestAnswer)
def confirm(rid: str):
    return jsonify(request_dict(_svc().confirm_access_request(rid, g.body.token)))


@bp.get("/access-requests")
@answers.returns(answers.AccessRequestList)
def list_requests():
    return jsonify([request_dict(r) for r in _svc().access_requests(g.actor)])


@bp.post("/access-requests/<rid>/acceptance")
@answers.returns(answers.PartnerDoc, 201)
def accept(rid: str):
    return jsonify(partner_to_dict(_svc().accept_access_request(g.actor, rid))), 201


@bp.post("/access-requests/<rid>/refusal")
@m.body(m.Refusal)
@answers.returns(answers.AccessRequestAnswer)
def refuse(rid: str):
    return jsonify(request_dict(_svc().refuse_access_request(g.actor, rid, g.body.reason)))


@bp.get("/cafs")
@answers.returns(answers.CafList)
def cafs():
    """The Cafs an organisation may ask (public: codes and names, nobody's data)."""
    return jsonify([{"code": code, "name": name} for code, name in _svc().caf_names()])
