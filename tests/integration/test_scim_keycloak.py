"""SCIM 2.0 over HTTP with real Keycloak tokens: the Caf service's client-credentials token (audience scim, role
scim:lecture, claim caf) reads its Caf's partners; a partner-scoped client sees only its partner; a person's
token for the API is refused. Then scim2-tester runs every check against the server: every check that applies
to a read-only service passes, and every write check fails only because writes are refused (403)."""

from __future__ import annotations

import threading

import httpx2
import pytest
import requests
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server
from werkzeug.serving import make_server

from provisioning.api import create_app
from provisioning.api.auth import TokenVerifier
from tests.integration.conftest import OPERATOR
from tests.unit.factories import example_data, registry, second_partner

A, B = "12345678900015", "98765432100015"
PASSING = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE, Status.SKIPPED}


def client_token(keycloak, client_id: str, secret: str) -> str:
    r = requests.post(f"{keycloak.issuer}/protocol/openid-connect/token", timeout=30,
                      data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


@pytest.fixture
def scim_server(keycloak, provisioning):
    data = example_data()
    second_partner(data)
    provisioning.import_registry(OPERATOR, registry(data))
    provisioning.reconcile(OPERATOR)
    verifier = lambda aud: TokenVerifier(keycloak.issuer, aud)  # noqa: E731
    srv = make_server("127.0.0.1", 0, create_app(provisioning, verifier("provisioning-api"), verifier("scim")),
                      threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}/scim/v2"
    srv.shutdown()


@pytest.fixture
def partner_client(kc_admin):
    """A service of partner A: its own client whose tokens carry partner=A (a constant of the client)."""
    client_id = "scim-test-partenaire-a"
    kc_admin.post("/clients", json={
        "clientId": client_id, "secret": "test-partner-secret", "serviceAccountsEnabled": True,
        "standardFlowEnabled": False, "publicClient": False, "protocolMappers": [
            {"name": "audience scim", "protocol": "openid-connect", "protocolMapper": "oidc-audience-mapper",
             "config": {"included.client.audience": "scim", "access.token.claim": "true"}},
            {"name": "partner", "protocol": "openid-connect", "protocolMapper": "oidc-hardcoded-claim-mapper",
             "config": {"claim.name": "partner", "claim.value": A, "jsonType.label": "String",
                        "access.token.claim": "true"}}]})
    c = kc_admin.client(client_id)
    sa = kc_admin.get(f"/clients/{c['id']}/service-account-user")
    scim = kc_admin.client("scim")
    role = kc_admin.get(f"/clients/{scim['id']}/roles/lecture")
    kc_admin.post(f"/users/{sa['id']}/role-mappings/clients/{scim['id']}", json=[role])
    yield client_id, "test-partner-secret"
    kc_admin.delete(f"/clients/{c['id']}")


def test_each_keycloak_token_reads_its_scope(keycloak, scim_server, partner_client, user_token):
    caf = {"Authorization": f"Bearer {client_token(keycloak, 'caf-services', 'demo-only-caf-services-secret')}"}
    r = requests.get(f"{scim_server}/Users", headers=caf, params={"filter": 'userName sw "lea"'}, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/scim+json")
    assert sorted(u["userName"] for u in r.json()["Resources"]) == ["lea.petit"]
    assert len(requests.get(f"{scim_server}/Users", headers=caf, timeout=30).json()["Resources"]) == 8

    part = {"Authorization": f"Bearer {client_token(keycloak, *partner_client)}"}
    users = requests.get(f"{scim_server}/Users", headers=part, timeout=30).json()["Resources"]
    assert {u["urn:mon-compte-partenaire:params:scim:schemas:extension:partenaire:2.0:User"]["siret"]
            for u in users} == {A}
    assert requests.get(f"{scim_server}/Users/b.lea.petit", headers=part, timeout=30).status_code == 404
    assert requests.get(f"{scim_server}/Groups/{B}.afas-declarer", headers=part, timeout=30).status_code == 404

    # a person's token (audience provisioning-api) is not a SCIM token; none at all is a 401
    provisioning_token = user_token("jeanne.dupont")
    r = requests.get(f"{scim_server}/Users", headers={"Authorization": f"Bearer {provisioning_token}"}, timeout=30)
    assert r.status_code == 401 and r.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert requests.get(f"{scim_server}/Users", timeout=30).status_code == 401


def test_scim2_tester_passes_every_check_that_applies(keycloak, scim_server):
    token = client_token(keycloak, "caf-services", "demo-only-caf-services-secret")
    http = httpx2.Client(base_url=scim_server, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    results = check_server(SyncSCIMClient(http))
    refused = [r for r in results if r.status not in PASSING]
    passed = [r for r in results if r.status in PASSING]
    print("\n".join(f"{r.status.name:10} {sorted(r.tags)} {r.resource_type or ''} {r.title}: {str(r.reason)[:90]}"
                    for r in results))
    # what applies to a read-only directory passes: discovery (ServiceProviderConfig, ResourceTypes, Schemas, each
    # with its methods), the error on an unknown URL, the description of both resource types
    assert {"discovery", "misc"} <= {t for r in passed for t in r.tags}
    assert not [r for r in results if r.status not in PASSING and r.tags & {"discovery", "misc"}]
    # every other check starts by creating its own User or Group: it fails for that one reason, the directory
    # being read-only (403 « lecture seule »), never for what it then reads
    for r in refused:
        assert "lecture seule" in str(r.reason).lower(), (r.title, r.status.name, r.reason)


def test_the_reads_scim2_tester_cannot_reach_run_here_on_existing_resources(keycloak, scim_server):
    """scim2-tester's read checks first create their own resource; on a read-only directory they are replayed
    here on existing ones, through scim2-client, which validates every response against the served schemas."""
    from scim2_models import Group, ResponseParameters, SearchRequest

    from provisioning.scim.resources import UserResource
    token = client_token(keycloak, "caf-services", "demo-only-caf-services-secret")
    client = SyncSCIMClient(httpx2.Client(base_url=scim_server, headers={"Authorization": f"Bearer {token}"},
                                          timeout=30))
    client.discover()
    lea = client.query(UserResource, "lea.petit")                           # object_query
    assert lea.user_name == "lea.petit" and lea.meta.version
    listed = client.query(UserResource)                                    # object_query_without_id
    assert "lea.petit" in {u.id for u in listed.resources}
    narrowed = client.query(UserResource, "lea.petit",                       # object_query_with_attributes
                            query_parameters=ResponseParameters(attributes=["userName"]))
    assert narrowed.user_name == "lea.petit" and narrowed.emails is None
    found = client.search(SearchRequest(filter='userName eq "lea.petit"', attributes=["userName"]))  # POST /.search
    assert [u.id for u in found.resources] == ["lea.petit"]
    groups = client.query(Group, query_parameters=SearchRequest(filter=f'displayName co "{A}"', count=50))
    assert f"/partenaires/{A}/CDAP Consulter" in {g.display_name for g in groups.resources}
