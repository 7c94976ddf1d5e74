"""Partners, their users, bulletin memberships, delegates, suspensions and convention lifecycle."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from provisioning.api import models as m
from provisioning.api import responses as answers
from provisioning.catalogue_types import known
from provisioning.desired_file import partner_to_dict
from provisioning.domain import catalogue, journal
from provisioning.domain.model import Contact, Group, Partner, Profile, Service, ServiceContract, User
from provisioning.domain.states import PersonState
from provisioning.errors import NotFound, ValidationFailed, Violation
from provisioning.services import MutationResult

bp = Blueprint("partners", __name__, url_prefix="/api/v1/partners")


def _svc():
    return current_app.extensions["provisioning"]


def _enum_list(cls, values, field: str) -> tuple[set, list[Violation]]:
    """Values the catalogue knows, each once: an unknown one or the same one twice is refused, never merged."""
    out, faults = set(), []
    allowed = known(cls)
    for v in values:
        if v not in allowed:
            faults.append(Violation("VALEUR_INCONNUE", f"« {str(v)[:50]} » n'est pas une valeur permise.", field))
            continue
        e = cls(v)
        if e in out:
            faults.append(Violation("VALEUR_EN_DOUBLE", f"« {e.value} » figure deux fois.", field))
        out.add(e)
    return out, faults


def _service(name: str) -> Service:
    """The {service} path segment: a path naming a service that does not exist names nothing (404)."""
    codes = catalogue.current().codes()
    if name not in codes:
        raise NotFound(f"Service « {name[:50]} » inconnu : {' ou '.join(codes)}.")
    return Service(name)


def _if_match() -> int | None:
    """The partner version the client read (ETag "v<N>"): a save based on an older one is refused with
    409 VERSION_PERIMEE. Absent or `*`: no precondition."""
    raw = request.headers.get("If-Match", "").strip()
    if raw in ("", "*"):
        return None
    m = re.fullmatch(r'(?:W/)?"v([0-9]{1,9})"', raw)
    if not m:
        raise ValidationFailed([Violation("IF_MATCH_INVALIDE", "If-Match attend l'ETag reçu, de la forme \"v12\".",
                                          "If-Match")])
    return int(m.group(1))


def _etag(resp, version: int):
    resp.headers["ETag"] = f'"v{version}"'
    return resp


def _minimal() -> bool:
    """RFC 7240: `Prefer: return=minimal` asks for the answer without the partner's document."""
    asked = (p.split(";", 1)[0].strip().lower() for h in request.headers.getlist("Prefer") for p in h.split(","))
    return "return=minimal" in {a.replace(" ", "") for a in asked}


def _result(r: MutationResult, status: int = 200):
    body: dict[str, Any] = {"changed": r.changed, "reconciled": r.reconciled,
                            "reconcile": r.reconcile_state, "changes": [c.as_dict() for c in r.applied]}
    minimal = _minimal()
    if not minimal:
        body["partner"] = partner_to_dict(r.partner)  # the whole partner: what `return=minimal` spares
    if not r.changed:
        body["message"] = "aucun changement"
        status = 200
    if r.reconcile_error:
        body["reconcile_error"] = r.reconcile_error
    resp = _etag(jsonify(body), r.version)
    resp.vary.add("Prefer")
    if minimal:
        resp.headers["Preference-Applied"] = "return=minimal"
    return resp, status


@bp.get("")
@answers.returns(answers.PartnerList)
def list_partners():
    return jsonify([{"siret": siret, "name": name, "caf": caf} for siret, name, caf in _svc().partner_list(g.actor)])


@bp.post("")
@m.body(m.NewPartner)
@answers.returns(answers.PartnerDoc, 201)
def create_partner():
    b, a = g.body, g.body.administrator
    admin = User(a.identifiant.strip().lower(), a.first_name.strip(), a.last_name.strip(), a.email.strip())
    partner = Partner(b.siret.strip(), b.name.strip(), b.caf.strip(), admin.identifiant, [], [admin])
    _svc().create_partner(g.actor, partner)
    return jsonify(partner_to_dict(partner)), 201


def _contract(raw: m.Contract) -> ServiceContract:
    contacts = {role: Contact(c.name.strip(), c.email.strip(), c.phone.strip())
                for role in ServiceContract.__dataclass_fields__ if role != "incident_procedure"
                and (c := getattr(raw, role)) is not None}
    return ServiceContract(**contacts, incident_procedure=raw.incident_procedure.strip())


@bp.put("/<siret>/conventions/<number>/contract")
@m.body(m.Contract)
@answers.returns(answers.MutationAnswer)
def set_contract(siret: str, number: str):
    """R4: the contrat de service's contacts and incident procedure (all required before the signatures)."""
    return _result(_svc().set_contract(g.actor, siret, number, _contract(g.body), expected_version=_if_match()))


@bp.post("/<siret>/conventions")
@m.body(m.NewConvention)
@answers.returns(answers.MutationAnswer, 200, 201)
def prepare_convention(siret: str):
    b = g.body
    _, faults = _enum_list(Service, [s.value for s in b.services], "services")  # the same service twice
    if faults:
        raise ValidationFailed(faults)
    contract = _contract(b.contract or m.Contract())
    order = [Service(s) for s in catalogue.current().codes() if s in b.services]
    return _result(_svc().prepare_convention(g.actor, siret, b.number.strip(), contract, order,
                                             expected_version=_if_match()), 201)


@bp.get("/<siret>/conventions/<number>/bulletins/<service>/identifiants.csv")
def bulletin_csv(siret: str, number: str, service: str):
    rows = _svc().bulletin_identifiants(g.actor, siret, number, _service(service))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["identifiant", "nom", "prenom", "courriel", "groupes", "profils"], delimiter=";")
    w.writeheader()
    w.writerows({k: journal.spreadsheet_cell(v) for k, v in row.items()} for row in rows)
    return Response("\ufeff" + buf.getvalue(), mimetype="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="bulletin-{service}-{number}.csv"'})


@bp.get("/<siret>")
@answers.returns(answers.PartnerWithReconcile)
def get_partner(siret: str):
    p, version = _svc().partner_with_version(g.actor, siret)
    return _etag(jsonify({**partner_to_dict(p), "reconcile": _svc().reconcile_state(siret)}), version)


@bp.get("/<siret>/reconcile")
@answers.returns(answers.ReconcileStatus)
def reconcile_state(siret: str):
    """Where Keycloak stands for this partner (polled by the consoles while a change is « en attente »)."""
    _svc().partner_with_version(g.actor, siret)  # rights, and unknown and forbidden look the same
    return jsonify(_svc().reconcile_state(siret) or {"state": None})


@bp.get("/<siret>/users")
@m.query(m.UsersQuery)
@answers.returns(answers.UserList)
def list_users(siret: str):
    """Users with their granted groups and profiles: searched without accents or case (identifiant, names,
    address), sorted, a page at a time; the total matching is in X-Total-Count."""
    q = g.query
    p = _svc().partner(g.actor, siret)
    grants = p.grants_index()
    needle = journal.folded(q.q.strip())
    users = [u for u in p.users if not needle or needle in journal.folded(
        f"{u.identifiant} {u.first_name} {u.last_name} {u.email} {u.last_name} {u.first_name}")]
    state = lambda u: (PersonState.LOCKED if u.locked else PersonState.SUSPENDED if u.suspended  # noqa: E731
                       else PersonState.ACTIVE)
    keys = {"identifiant": lambda u: u.identifiant, "courriel": lambda u: u.email.lower(),
            "nom": lambda u: (journal.folded(u.last_name), journal.folded(u.first_name)),
            "prenom": lambda u: (journal.folded(u.first_name), journal.folded(u.last_name)),
            "etat": lambda u: (state(u).label, journal.folded(u.last_name))}
    users.sort(key=keys[q.sort], reverse=q.order == "desc")
    accounts: dict = {}
    if q.account_state is not None:  # a filter on what Keycloak says: every matching person read, 200 a request
        accounts = _svc().account_states(p, [u.identifiant for u in users])
        users = [u for u in users if accounts.get(u.identifiant, (None,))[0] == q.account_state]
    page = users[q.offset:q.offset + q.limit]
    if q.accounts and not accounts:
        accounts = _svc().account_states(p, [u.identifiant for u in page])

    def account(u: User) -> dict:
        if u.identifiant not in accounts:
            return {}
        state_, until = accounts[u.identifiant]
        return {"account_state": state_.value, "account_state_label": state_.label, "locked_until": until}
    resp = jsonify([{**account(u), "identifiant": u.identifiant, "first_name": u.first_name, "last_name": u.last_name,
                     "email": u.email, "suspended": u.suspended, "locked": u.locked, "state": state(u).value,
                     "state_label": state(u).label,
                     "groups": sorted(x.value for x in grants.get(u.identifiant, (set(), set()))[0]),
                     "profiles": sorted(x.value for x in grants.get(u.identifiant, (set(), set()))[1]),
                     "administrator": p.administrator == u.identifiant,
                     "delegate": u.identifiant in p.delegates} for u in page])
    resp.headers["X-Total-Count"] = str(len(users))
    return resp


@bp.post("/<siret>/users")
@m.body(m.NewUser)
@answers.returns(answers.MutationAnswer, 200, 201)
def create_user(siret: str):
    b = g.body
    user = User(b.identifiant.strip().lower(), b.first_name.strip(), b.last_name.strip(), b.email.strip())
    return _result(_svc().create_user(g.actor, siret, user, expected_version=_if_match()), 201)


@bp.post("/<siret>/users/import")
@m.query(m.ImportQuery)
@answers.returns(answers.ImportAnswer)
def import_users(siret: str):
    """CSV of users and their habilitations (columns of provisioning/domain/user_import.py): the plan line by
    line (`apply=false`, the default), or every line applied in one transaction (`apply=true`: any refused
    line refuses the file, 422 with every line's violations, nothing written)."""
    plan = _svc().import_users(g.actor, siret, request.get_data(cache=False), g.query.apply,
                               expected_version=_if_match())
    if plan.applied is None:
        return jsonify(plan.as_dict())
    resp, status = _result(plan.applied)
    body = resp.get_json()
    body.update(plan.as_dict())
    return _etag(jsonify(body), plan.applied.version), status


@bp.put("/<siret>/conventions/<number>/bulletins/<service>/members/<identifiant>")
@m.body(m.Membership)
@answers.returns(answers.MutationAnswer)
def set_membership(siret: str, number: str, service: str, identifiant: str):
    groups, f2 = _enum_list(Group, [x.value for x in g.body.groups], "groups")
    profiles, f3 = _enum_list(Profile, [x.value for x in g.body.profiles], "profiles")
    if f2 or f3:
        raise ValidationFailed(f2 + f3)
    return _result(_svc().set_membership(g.actor, siret, number, _service(service), identifiant, groups, profiles,
                                         expected_version=_if_match()))


@bp.delete("/<siret>/conventions/<number>/bulletins/<service>/members/<identifiant>")
@answers.returns(answers.MutationAnswer)
def revoke_membership(siret: str, number: str, service: str, identifiant: str):
    return _result(_svc().set_membership(g.actor, siret, number, _service(service), identifiant, set(), set(), expected_version=_if_match()))


@bp.get("/<siret>/equipments")
@answers.returns(answers.EquipmentsAnswer)
def list_equipments(siret: str):
    p, candidates = _svc().equipments(g.actor, siret)
    return jsonify({"equipments": partner_to_dict(p)["equipments"],
                    "candidates": {k.value: v for k, v in candidates.items()}})


@bp.put("/<siret>/equipments/<code>")
@m.body(m.EquipmentBody)
@answers.returns(answers.MutationAnswer)
def declare_equipment(siret: str, code: str):
    """R7: the Caf declares (or corrects) an equipment: number (the code), name, type, sites."""
    b = g.body
    sites = [s.strip() for s in b.sites if s.strip()]  # the same site twice: refused by the rules, with the rest
    return _result(_svc().declare_equipment(g.actor, siret, code.strip(), b.name.strip(), b.type, sites,
                                            expected_version=_if_match()))


@bp.delete("/<siret>/equipments/<code>")
@answers.returns(answers.MutationAnswer)
def remove_equipment(siret: str, code: str):
    return _result(_svc().remove_equipment(g.actor, siret, code, expected_version=_if_match()))


@bp.put("/<siret>/equipments/<code>/assignments")
@m.body(m.Assignments)
@answers.returns(answers.MutationAnswer)
def set_assignments(siret: str, code: str):
    faults = [Violation("VALEUR_EN_DOUBLE", f"« {k.value} » cite deux fois la même personne.", k.value)
              for k, v in g.body.root.items() if len(set(v)) != len(v)]
    if faults:
        raise ValidationFailed(faults)
    return _result(_svc().set_assignments(g.actor, siret, code, dict(g.body.root), expected_version=_if_match()))


@bp.put("/<siret>/equipments/<code>/sites")
@m.body(m.SitesOf)
@answers.returns(answers.MutationAnswer)
def set_sites(siret: str, code: str):
    """AFAS Habiliter per site (issue 29 §3): for each person associated to the equipment, the sites she works
    for; someone absent, or given every site, works for the whole equipment. Replaces what was set."""
    faults = [Violation("VALEUR_EN_DOUBLE", f"« {k} » cite deux fois le même lieu.", k)
              for k, v in g.body.root.items() if len(set(v)) != len(v)]
    if faults:
        raise ValidationFailed(faults)
    return _result(_svc().set_sites(g.actor, siret, code, dict(g.body.root), expected_version=_if_match()))


@bp.post("/<siret>/equipments/<code>/send-back")
@m.body(m.SendBack)
@answers.returns(answers.MutationAnswer)
def send_back(siret: str, code: str):
    """Issue 29 §3: the equipment's approver sends what its providers declared for a year back to them for
    correction; each provider is mailed the reason (nothing of the registry changes; the journal keeps it)."""
    b = g.body
    return _result(_svc().send_back(g.actor, siret, b.service, code, b.period, b.reason))


@bp.put("/<siret>/delegates/<identifiant>")
@answers.returns(answers.MutationAnswer)
def add_delegate(siret: str, identifiant: str):
    return _result(_svc().set_delegate(g.actor, siret, identifiant, True, expected_version=_if_match()))


@bp.delete("/<siret>/delegates/<identifiant>")
@answers.returns(answers.MutationAnswer)
def remove_delegate(siret: str, identifiant: str):
    return _result(_svc().set_delegate(g.actor, siret, identifiant, False, expected_version=_if_match()))


@bp.post("/<siret>/users/<identifiant>/suspension")
@answers.returns(answers.MutationAnswer)
def suspend(siret: str, identifiant: str):
    return _result(_svc().suspend_user(g.actor, siret, identifiant, True, expected_version=_if_match()))


@bp.delete("/<siret>/users/<identifiant>/suspension")
@answers.returns(answers.MutationAnswer)
def reactivate(siret: str, identifiant: str):
    return _result(_svc().suspend_user(g.actor, siret, identifiant, False, expected_version=_if_match()))


@bp.post("/<siret>/users/<identifiant>/credentials")
@answers.returns(answers.MutationAnswer)
def reissue(siret: str, identifiant: str):
    """Re-issue: a new pair of mails, a new 24 h provisional password; unlocks lost credentials."""
    return _result(_svc().reissue_credentials(g.actor, siret, identifiant, expected_version=_if_match()))


@bp.get("/<siret>/users/<identifiant>/account")
@answers.returns(answers.AccountAnswer)
def account(siret: str, identifiant: str):
    """What Keycloak knows of the account (state, lockout, last connection, usage rules accepted)."""
    return jsonify(_svc().account(g.actor, siret, identifiant))


@bp.delete("/<siret>/users/<identifiant>/lockout")
@answers.returns(answers.MutationAnswer)
def unlock(siret: str, identifiant: str):
    return _result(_svc().unlock_user(g.actor, siret, identifiant, expected_version=_if_match()))


@bp.delete("/<siret>/users/<identifiant>/second-factor")
@answers.returns(answers.MutationAnswer)
def reset_second_factor(siret: str, identifiant: str):
    """Issue 13: lost phone or key: every second factor and recovery code removed, the user told by mail."""
    return _result(_svc().reset_second_factor(g.actor, siret, identifiant, expected_version=_if_match()))


@bp.delete("/<siret>/users/<identifiant>/proconnect")
@answers.returns(answers.MutationAnswer)
def unlink_proconnect(siret: str, identifiant: str):
    """Issue 32: the person's ProConnect link removed (by herself, her managers or her Caf)."""
    return _result(_svc().unlink_proconnect(g.actor, siret, identifiant, expected_version=_if_match()))


@bp.post("/<siret>/users/<identifiant>/lost-credentials")
@answers.returns(answers.MutationAnswer)
def lost(siret: str, identifiant: str):
    return _result(_svc().report_lost_credentials(g.actor, siret, identifiant, expected_version=_if_match()))


@bp.post("/<siret>/conventions/<number>/services/<service>/suspension")
@answers.returns(answers.MutationAnswer)
def suspend_service(siret: str, number: str, service: str):
    return _result(_svc().suspend_service(g.actor, siret, number, _service(service), True, expected_version=_if_match()))


@bp.delete("/<siret>/conventions/<number>/services/<service>/suspension")
@answers.returns(answers.MutationAnswer)
def reactivate_service(siret: str, number: str, service: str):
    return _result(_svc().suspend_service(g.actor, siret, number, _service(service), False, expected_version=_if_match()))


@bp.post("/<siret>/conventions/<number>/transitions")
@m.body(m.Transition)
@answers.returns(answers.MutationAnswer)
def transition(siret: str, number: str):
    return _result(_svc().transition_convention(g.actor, siret, number, g.body.to, expected_version=_if_match()))


