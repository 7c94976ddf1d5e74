"""The habilitation core against the real Keycloak, SQLite and SMTP: each test is a reproduction that failed
before (lost update, crash on a foreign member, one refused object stalling every removal, adoption of an
account we did not create, a no-op that wrote) and must hold now."""

from __future__ import annotations

import sqlalchemy as sa

from provisioning.api import create_app
from provisioning.api.auth import TokenVerifier
from provisioning.store import tables as t
from provisioning.store.uow import UnitOfWork
from tests.integration.conftest import OPERATOR
from tests.support.snapshot import unchanged
from tests.unit.factories import example_data, registry, second_partner

A, B = "12345678900015", "98765432100015"
BASE_A = f"/partenaires/{A}"


def _h(token):
    return {"Authorization": f"Bearer {token}"}


def _api(provisioning, keycloak):
    return create_app(provisioning, TokenVerifier(keycloak.issuer, "provisioning-api")).test_client()


def _two_partners(provisioning):
    data = example_data()
    second_partner(data)
    provisioning.import_registry(OPERATOR, registry(data))
    provisioning.reconcile(OPERATOR)


def _members(kc_admin, path):
    g = kc_admin.get(f"/group-by-path{path}")
    return {u["username"] for u in kc_admin.get(f"/groups/{g['id']}/members")}


def _rows(engine) -> dict:
    with engine.connect() as c:
        return {"audit": c.execute(sa.select(sa.func.count()).select_from(t.audit_log)).scalar(),
                "outbox": c.execute(sa.select(sa.func.count()).select_from(t.outbox)).scalar(),
                "versions": dict(c.execute(sa.select(t.partners.c.siret, t.partners.c.version)).all())}


def test_a_foreign_member_added_by_hand_is_drift_removed_not_a_crash(provisioning, keycloak, kc_admin, user_token):
    """Regression: a user of partner B put by hand in one of A's groups made every later mutation of A
    answer an HTML 500 after committing."""
    _two_partners(provisioning)
    stranger = kc_admin.user_by_username("b.lea.petit")
    group = kc_admin.get(f"/group-by-path{BASE_A}/CDAP Consulter")
    kc_admin.put(f"/users/{stranger['id']}/groups/{group['id']}")  # as in the admin console
    assert "b.lea.petit" in _members(kc_admin, f"{BASE_A}/CDAP Consulter")

    api = _api(provisioning, keycloak)
    r = api.put(f"/api/v1/partners/{A}/delegates/lea.petit", headers=_h(user_token("jeanne.dupont")))
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert body["changed"] is True and body["reconciled"] is True
    assert ("remove", "member", f"b.lea.petit -> {BASE_A}/CDAP Consulter") in {
        (c["action"], c["kind"], c["target"]) for c in body["changes"]}
    assert _members(kc_admin, f"{BASE_A}/CDAP Consulter") == {"lea.petit"}
    assert provisioning.plan() == []


def test_a_refused_object_never_stalls_a_suspension(provisioning, kc_admin, smtp):
    """Regression: one user Keycloak refuses (here an email another account already uses) stopped the
    whole apply, so a later suspension was never carried out."""
    _two_partners(provisioning)
    data = example_data()
    second_partner(data)
    data["partners"][0]["users"].append({"identifiant": "refuse.par.keycloak", "first_name": "Ré", "last_name": "Fusé",
                                         "email": "refuse@x.example"})
    data["partners"][0]["users"][2]["suspended"] = True  # lea.petit
    other = kc_admin.create_user("deja.la", "Deja-La-Depuis-2020!", temporary=False, first="D", last="L", email="refuse@x.example")
    try:
        provisioning.import_registry(OPERATOR, registry(data))
        report = provisioning.reconcile(OPERATOR)
        assert [(c.action, c.target) for c, _ in report.failed] == [("conflict", "refuse.par.keycloak")]
        lea = kc_admin.user_by_username("lea.petit")
        assert lea["enabled"] is False
        assert "lea.petit" not in _members(kc_admin, f"{BASE_A}/CDAP Consulter")
        audit = provisioning.audit(OPERATOR)
        assert any(a["action"] == "keycloak:disable:user" and a["object"] == "lea.petit" for a in audit)
    finally:
        kc_admin.delete(f"/users/{other}")


def test_registering_an_unmanaged_account_is_refused_before_anything_is_stored(provisioning, keycloak, kc_admin,
                                                                                user_token, smtp):
    _two_partners(provisioning)
    uid = kc_admin.create_user("compte.externe", "Externe-Depuis-2020!", temporary=False, first="E", last="X",
                               email="externe@ailleurs.example")
    try:
        api = _api(provisioning, keycloak)
        token = user_token("jeanne.dupont")
        with unchanged(provisioning.engine, kc_admin):
            for ident, mail in (("compte.externe", "autre@hirondelles.example"),
                                ("nouveau.nom", "EXTERNE@ailleurs.example")):
                r = api.post(f"/api/v1/partners/{A}/users", headers=_h(token), json={
                    "identifiant": ident, "first_name": "Ex", "last_name": "Terne", "email": mail})
                assert r.status_code == 409 and r.get_json()["error"] == "COMPTE_NON_GERE", r.get_json()
        account = kc_admin.get(f"/users/{uid}")
        assert not account.get("attributes") and kc_admin.get(f"/users/{uid}/groups") == []
    finally:
        kc_admin.delete(f"/users/{uid}")


def test_if_match_refuses_an_edit_based_on_a_stale_read(provisioning, keycloak, user_token):
    """Regression: two interleaved edits of one partner silently lost one."""
    _two_partners(provisioning)
    api = _api(provisioning, keycloak)
    token = user_token("jeanne.dupont")
    etag = api.get(f"/api/v1/partners/{A}", headers=_h(token)).headers["ETag"]
    first = api.post(f"/api/v1/partners/{A}/users", headers={**_h(token), "If-Match": etag}, json={
        "identifiant": "premier.ajout", "first_name": "Pre", "last_name": "Mier", "email": "premier@x.example"})
    assert first.status_code == 201 and first.headers["ETag"] != etag
    second = api.post(f"/api/v1/partners/{A}/users", headers={**_h(token), "If-Match": etag}, json={
        "identifiant": "second.ajout", "first_name": "Se", "last_name": "Cond", "email": "second@x.example"})
    assert second.status_code == 409 and second.get_json()["error"] == "VERSION_PERIMEE"
    assert "rechargez" in second.get_json()["error_description"]
    users = {u["identifiant"] for u in api.get(f"/api/v1/partners/{A}/users", headers=_h(token)).get_json()}
    assert "premier.ajout" in users and "second.ajout" not in users
    retry = api.post(f"/api/v1/partners/{A}/users", headers={**_h(token), "If-Match": first.headers["ETag"]}, json={
        "identifiant": "second.ajout", "first_name": "Se", "last_name": "Cond", "email": "second@x.example"})
    assert retry.status_code == 201


def test_a_request_that_changes_nothing_writes_nothing(provisioning, keycloak, user_token, smtp):
    """Regression: revoking the delegation of someone who is not a delegate wrote an audit row, mailed the
    Caf and bumped the version."""
    _two_partners(provisioning)
    provisioning.deliver_notifications()
    api = _api(provisioning, keycloak)
    token = user_token("jeanne.dupont")
    before, mails = _rows(provisioning.engine), len(smtp.mails)
    r = api.delete(f"/api/v1/partners/{A}/delegates/lea.petit", headers=_h(token))
    assert r.status_code == 200 and r.get_json()["changed"] is False
    assert r.get_json()["message"] == "aucun changement"
    r = api.put(f"/api/v1/partners/{A}/delegates/marc.martin", headers=_h(token))  # already a delegate
    assert r.get_json()["changed"] is False
    assert _rows(provisioning.engine) == before and len(smtp.mails) == mails


def test_the_same_identifiant_in_two_partners_is_refused_by_the_store(provisioning, keycloak, user_token):
    """Cross-partner uniqueness is the database's unique index, with the rule's own code, naming no one."""
    _two_partners(provisioning)
    api = _api(provisioning, keycloak)
    r = api.post(f"/api/v1/partners/{A}/users", headers=_h(user_token("jeanne.dupont")), json={
        "identifiant": "b.lea.petit", "first_name": "Lé", "last_name": "A", "email": "nouvelle@x.example"})
    assert r.status_code == 422
    body = r.get_json()
    assert [v["code"] for v in body["violations"]] == ["IDENTIFIANT_EN_DOUBLE"]
    assert "Sainte-Foy" not in str(body) and B not in str(body)
    with UnitOfWork(provisioning.engine) as uow:
        assert uow.registry.partner(A).user("b.lea.petit") is None


def test_every_refused_input_leaves_registry_outbox_and_keycloak_unchanged(provisioning, keycloak, kc_admin,
                                                                            user_token):
    """Shape errors, broken rules, hostile strings, another partner's objects, stale versions, a delegate
    acting on the administrator: each refused, none writing anywhere."""
    _two_partners(provisioning)
    api = _api(provisioning, keycloak)
    jeanne, marc, caf = user_token("jeanne.dupont"), user_token("marc.martin"), user_token("caf.admin")
    etag = api.get(f"/api/v1/partners/{A}", headers=_h(jeanne)).headers["ETag"]
    api.put(f"/api/v1/partners/{A}/delegates/lea.petit", headers=_h(jeanne))  # moves the version on
    users = f"/api/v1/partners/{A}/users"
    refused = [
        (jeanne, "post", users, {"identifiant": 42}, {}, 400),
        (jeanne, "post", users, {"identifiant": "x.y", "first_name": "<script>", "last_name": "N",
                                 "email": "x@y.fr"}, {}, 422),
        (jeanne, "post", users, {"identifiant": "x.y", "first_name": "Jean\u0000", "last_name": "N",
                                 "email": "x@y.fr"}, {}, 422),
        (jeanne, "post", users, {"identifiant": "x.y", "first_name": "J", "last_name": "N" * 10_000,
                                 "email": "x@y.fr"}, {}, 400),
        (jeanne, "post", users, {"identifiant": "b.lea.petit", "first_name": "L", "last_name": "P",
                                 "email": "new@x.fr"}, {}, 422),
        (jeanne, "post", users, {"identifiant": "x.z", "first_name": "X", "last_name": "Z", "email": "x@z.fr"},
         {"If-Match": etag}, 409),
        (jeanne, "post", f"/api/v1/partners/{B}/users", {"identifiant": "x.w", "first_name": "X", "last_name": "W",
                                                         "email": "x@w.fr"}, {}, 404),
        (marc, "post", f"/api/v1/partners/{A}/users/jeanne.dupont/lost-credentials", None, {}, 403),
        (caf, "post", "/api/v1/partners", {"siret": "12345678900017", "name": "Bad key", "caf": "751",
                                           "administrator": {"identifiant": "k.ey", "first_name": "K",
                                                             "last_name": "Ey", "email": "k@ey.fr"}}, {}, 422),
        (caf, "post", f"/api/v1/partners/{A}/conventions", {"number": "", "services": ["CDAP"]}, {}, 422),
        (caf, "post", f"/api/v1/partners/{A}/conventions/CONV-751-2026-0001/transitions", {"to": "prepared"},
         {}, 422),
    ]
    with unchanged(provisioning.engine, kc_admin):
        for token, method, path, body, headers, status in refused:
            r = getattr(api, method)(path, headers={**_h(token), **headers}, json=body)
            assert r.status_code == status, (path, body, r.get_json())
