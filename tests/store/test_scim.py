"""SCIM 2.0 over the registry (in-process: SQLite, a verifier naming the caller): discovery, filters (eq, co, sw,
and, on core and extension attributes), sorting, paging, ETags, who sees what, and writes refused with nothing
written. The same endpoints with real Keycloak tokens, and scim2-tester: tests/integration/test_scim_keycloak.py."""

from __future__ import annotations

from datetime import UTC
from urllib.parse import quote

import pytest
from scim2_models import ListResponse
from werkzeug.test import Client

from provisioning.api import create_app
from provisioning.domain.model import Group as G
from provisioning.domain.model import Service
from provisioning.scim.resources import UserResource
from provisioning.services import Actor
from tests.unit.factories import add_caf_692, example_data, registry, second_partner
from tests.unit.services import make_service
from tests.unit.test_api_usecases import Verifier
from tests.unit.test_desired_state_files import NATIONAL

A, B = "12345678900015", "98765432100015"
EXT = "urn:mon-compte-partenaire:params:scim:schemas:extension:partenaire:2.0:User"
TOKENS = {
    "caf": Actor("service-account-caf-services", frozenset({"scim:lecture"}), caf="751"),
    "lyon": Actor("service-account-lyon", frozenset({"scim:lecture"}), caf="692"),
    "a": Actor("service-account-a", frozenset({"scim:lecture"}), partner=A),
    "national": Actor("service-account-cnaf", frozenset({"scim:lecture-nationale"})),
    "sans-role": Actor("jeanne.dupont", frozenset({"administrateur-partenaire"}), partner=A),
}


@pytest.fixture
def scim(use_case_engine):
    svc = make_service(use_case_engine)
    data = example_data()
    second_partner(data)
    add_caf_692(data)
    svc.import_registry(NATIONAL, registry(data))
    client = Client(create_app(svc, Verifier(TOKENS), Verifier(TOKENS)))
    client.svc = svc
    return client


def get(c, path, who="caf", **headers):
    return c.get("/scim/v2" + path, headers={"Authorization": f"Bearer {who}", **headers})


def names(r) -> list[str]:
    return [x.get("userName") or x.get("displayName") for x in r.json.get("Resources", [])]


def test_discovery_describes_a_read_only_service_with_our_extension(scim):
    spc = scim.get("/scim/v2/ServiceProviderConfig").json    # public (RFC 7643 §5)
    assert spc["filter"]["supported"] and spc["etag"]["supported"] and spc["sort"]["supported"]
    assert not spc["patch"]["supported"] and not spc["bulk"]["supported"]
    types = {t["name"]: t for t in get(scim, "/ResourceTypes").json["Resources"]}
    assert set(types) == {"User", "Group"}
    assert EXT in {e["schema"] for e in types["User"]["schemaExtensions"]}
    schemas = {s["id"]: s for s in get(scim, "/Schemas").json["Resources"]}
    ours = {a["name"]: a for a in schemas[EXT]["attributes"]}
    assert {"siret", "caf", "habilitations", "afasProfiles"} <= set(ours)
    assert ours["siret"]["mutability"] == "readOnly"


def test_a_user_carries_its_partner_its_groups_and_its_afas_profiles(scim):
    r = get(scim, "/Users/lea.petit")
    assert r.status_code == 200
    user = UserResource.model_validate(r.json)             # a valid SCIM User with our extensions
    assert user.user_name == "lea.petit" and user.emails[0].value == "lea.petit@hirondelles.example"
    assert r.json[EXT] == {"siret": A, "caf": "751", "habilitations": ["AFAS Déclarer", "CDAP Consulter"],
                           "profiles": ["fournisseur-donnees-activite"], "afasProfiles": ["fournisseur-donnees-activite"]}
    assert r.json["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["organization"] == \
        "Centre de loisirs Les Hirondelles"
    assert r.headers["ETag"] == r.json["meta"]["version"]


def test_filters_eq_co_sw_and_on_core_and_extension_attributes(scim):
    q = lambda f: get(scim, "/Users?filter=" + quote(f))  # noqa: E731
    assert names(q('userName eq "lea.petit"')) == ["lea.petit"]
    assert names(q('userName eq "LEA.PETIT"')) == ["lea.petit"]          # userName is case-insensitive (RFC 7643)
    assert sorted(names(q('emails.value co "bernard"'))) == ["b.paul.bernard", "paul.bernard"]
    assert sorted(names(q('name.familyName sw "Pe"'))) == ["b.lea.petit", "lea.petit"]
    assert names(q(f'name.familyName sw "Pe" and {EXT}:siret eq "{A}"')) == ["lea.petit"]
    assert sorted(names(q(f'{EXT}:afasProfiles eq "approbateur"'))) == ["b.marc.martin", "marc.martin"]
    # the shortcuts (one person, one partner) still apply the whole filter to what they find
    assert names(q('userName eq "lea.petit" and active eq true')) == ["lea.petit"]
    assert names(q('userName eq "lea.petit" and active eq false')) == []
    assert len(names(q(f'{EXT}:siret eq "{B}"'))) == 4
    assert names(q(f'{EXT}:siret eq "{B}" and userName sw "b.lea"')) == ["b.lea.petit"]
    assert len(names(q(f'{EXT}:siret eq "{B}" or userName eq "lea.petit"'))) == 5   # an `or` is not narrowed
    groups = get(scim, "/Groups?filter=" + quote(f'displayName sw "/partenaires/{A}/CDAP"'))
    assert names(groups) == [f"/partenaires/{A}/CDAP Consulter"]
    assert [m["value"] for m in groups.json["Resources"][0]["members"]] == ["lea.petit"]
    bad = q('userName zz "x"')
    assert bad.status_code == 400 and bad.json["scimType"] == "invalidFilter"


def test_sorting_paging_and_the_page_size_cap(scim):
    first = get(scim, "/Users?sortBy=userName&count=3&startIndex=1")
    second = get(scim, "/Users?sortBy=userName&count=3&startIndex=4")
    assert first.json["totalResults"] == second.json["totalResults"] == 8
    assert first.json["itemsPerPage"] == 3 and first.json["startIndex"] == 1
    everyone = names(first) + names(second) + names(get(scim, "/Users?sortBy=userName&count=3&startIndex=7"))
    assert everyone == sorted(everyone) and len(set(everyone)) == 8
    assert names(get(scim, "/Users?sortBy=userName&sortOrder=descending&count=1")) == ["paul.bernard"]
    # the shortcut that builds only the page's people gives what the general path (a filter) gives
    general = get(scim, "/Users?sortBy=userName&count=3&startIndex=4&filter=" + quote("userName pr"))
    assert names(general) == names(second) and general.json["totalResults"] == 8
    assert get(scim, "/Users?sortBy=userName&count=3&startIndex=4").json == general.json
    assert names(get(scim, "/Users?sortBy=name.familyName&count=2")) in (["b.paul.bernard", "paul.bernard"],
                                                                       ["paul.bernard", "b.paul.bernard"])
    assert ListResponse[UserResource].model_validate(first.json).total_results == 8


def test_etag_answers_not_modified_until_the_person_changes(scim):
    r = get(scim, "/Users/lea.petit")
    etag = r.headers["ETag"]
    assert get(scim, "/Users/lea.petit", **{"If-None-Match": etag}).status_code == 304
    assert get(scim, "/Users/paul.bernard", **{"If-None-Match": etag}).status_code == 200
    scim.svc.set_membership(NATIONAL, A, "CONV-751-2026-0001", Service.CDAP, "lea.petit", set(), set())
    again = get(scim, "/Users/lea.petit", **{"If-None-Match": etag})
    assert again.status_code == 200 and again.headers["ETag"] != etag
    assert again.json[EXT]["habilitations"] == ["AFAS Déclarer"]


def test_each_token_sees_its_scope_and_nothing_else(scim):
    assert sorted(names(get(scim, "/Users", "a"))) == ["jeanne.dupont", "lea.petit", "marc.martin", "paul.bernard"]
    assert get(scim, "/Users/b.lea.petit", "a").status_code == 404                   # another partner: unknown
    assert get(scim, f"/Groups/{B}.cdap-consulter", "a").status_code == 404
    assert names(get(scim, "/Users?filter=" + quote(f'{EXT}:siret eq "{B}"'), "a")) == []
    assert names(get(scim, "/Users?filter=" + quote('userName eq "b.lea.petit"'), "a")) == []   # the index shortcut
    assert names(get(scim, "/Users?filter=" + quote('id eq "lea.petit"'), "a")) == ["lea.petit"]
    assert all(g.startswith(f"/partenaires/{A}/") for g in names(get(scim, "/Groups", "a")))
    assert len(names(get(scim, "/Users", "caf"))) == 8                               # both partners of Caf 751
    assert names(get(scim, "/Users", "lyon")) == []                                  # Caf 692 has none
    assert get(scim, "/Users/lea.petit", "lyon").status_code == 404
    assert len(names(get(scim, "/Users", "national"))) == 8
    assert get(scim, "/Users", "sans-role").status_code == 403                        # a person's token: no SCIM role
    assert scim.get("/scim/v2/Users").status_code == 401
    assert scim.get("/scim/v2/Users", headers={"Authorization": "Bearer forged"}).status_code == 401


def test_writes_are_refused_and_write_nothing(scim):
    h = {"Authorization": "Bearer caf", "Content-Type": "application/scim+json"}
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "intrus"}
    assert scim.post("/scim/v2/Users", json=body, headers=h).status_code == 403
    assert scim.put("/scim/v2/Users/lea.petit", json={**body, "userName": "lea.petit", "active": False},
                    headers=h).status_code == 403
    assert scim.delete("/scim/v2/Users/lea.petit", headers=h).status_code == 403
    assert scim.patch("/scim/v2/Groups/x", json={}, headers=h).status_code in (403, 501)
    reg = scim.svc.registry()
    assert reg.partner_of("intrus") is None and reg.partner(A).user("lea.petit").active


def test_a_grant_suspended_by_a_review_is_no_longer_listed(scim):
    p = scim.svc.registry().partner(A)
    assert G.CDAP_CONSULTER in p.granted_groups("lea.petit")
    from datetime import datetime, timedelta

    from provisioning.services import CAF_ADMIN
    caf = Actor("caf.admin", frozenset({CAF_ADMIN}), caf="751")
    at = [datetime(2026, 11, 27, tzinfo=UTC)]
    scim.svc.now = lambda: at[0]
    scim.svc.open_review(caf, "751", at[0] + timedelta(days=10), [A])
    at[0] += timedelta(days=11)
    scim.svc.tick_reviews()
    assert get(scim, "/Users/lea.petit").json[EXT].get("habilitations", []) == []   # an empty list is left out
    cdap = get(scim, f"/Groups/{A}.cdap-consulter").json
    assert not cdap.get("members")


def test_a_large_body_is_refused_and_never_read_whole_even_without_a_token(scim):
    """scim2-server reads a body before authentication: at most MAX_BODY + 1 bytes of it are read."""
    import io

    from werkzeug.test import EnvironBuilder, run_wsgi_app

    from provisioning.scim.app import MAX_BODY
    body = b'{"filter": "userName eq \\"' + b"x" * 1_000_000 + b'\\""}'

    class Counting(io.BytesIO):
        taken = 0

        def read(self, n=-1):
            out = super().read(n)
            Counting.taken += len(out)
            return out
    for headers in ({"Authorization": "Bearer caf"}, {}):
        Counting.taken = 0
        env = EnvironBuilder("/scim/v2/.search", method="POST", headers=headers, content_type="application/scim+json",
                             content_length=len(body), input_stream=Counting(body)).get_environ()
        _, status, _ = run_wsgi_app(scim.application, env)
        assert int(status.split()[0]) in (400, 401, 413) and Counting.taken <= MAX_BODY + 1


def test_no_statement_carries_a_parameter_per_partner(use_case_engine):
    """Issue 27: a national list bound one parameter per partner (past 65,535, PostgreSQL refused it); now the
    scope is a condition, and what a search found is read 500 at a time, whatever the number of partners."""
    import sqlalchemy as sa

    from provisioning.domain.model import Caf, CafAdministrator, Partner, Registry, User
    from provisioning.domain.rules import siret_with_key
    from provisioning.domain.scope import FileScope
    n = 1200
    caf = Caf("751", "Caf de Paris", "habilitations@caf75.example",
              [CafAdministrator("caf.admin", "Claire", "Fontaine", "claire@caf75.example")])
    partners = [Partner(siret_with_key(f"{9000000000000 + i:013d}"), f"Partenaire {i}", "751", f"u{i}.a", [],
                        [User(f"u{i}.a", "Prénom", "Nom", f"u{i}.a@x.example")]) for i in range(n)]
    svc = make_service(use_case_engine)
    svc.import_registry(NATIONAL, Registry([caf], partners, scope=FileScope(everything=True)))
    client = Client(create_app(svc, Verifier(TOKENS), Verifier(TOKENS)))
    widest: list[int] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        widest.append(len(parameters) if isinstance(parameters, (tuple, list, dict)) and not executemany else 0)
    sa.event.listen(use_case_engine, "before_cursor_execute", count)
    try:
        for who in ("national", "caf"):
            r = get(client, "/Users?count=5&filter=" + quote('emails co "x.example"'), who=who)
            assert r.status_code == 200 and r.json["totalResults"] == n, r.json
    finally:
        sa.event.remove(use_case_engine, "before_cursor_execute", count)
    assert widest and max(widest) <= 510, max(widest)
