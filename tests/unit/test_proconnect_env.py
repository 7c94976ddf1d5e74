"""Issue 32: pointing the broker at ProConnect is its discovery URL; the variables it gives, and the documents
refused (an endpoint missing, plain http elsewhere than on this machine, the level we ask not offered)."""

from __future__ import annotations

import pytest

from provisioning.errors import ValidationFailed
from provisioning.proconnect import env_from_discovery

D = "https://proconnect.example.gouv.fr/api/v2"
DOC = {"issuer": D, "authorization_endpoint": f"{D}/authorize", "token_endpoint": f"{D}/token",
       "userinfo_endpoint": f"{D}/userinfo", "jwks_uri": f"{D}/jwks", "end_session_endpoint": f"{D}/session/end",
       "acr_values_supported": ["eidas1", "eidas2", "https://proconnect.gouv.fr/assurance/certification-dirigeant"]}


def test_the_variables_come_from_the_discovery_document_with_the_level_we_ask():
    env = env_from_discovery(DOC)
    assert env == {"MCP_PROCONNECT_ISSUER": D, "MCP_PROCONNECT_AUTHORIZATION_URL": f"{D}/authorize?acr_values=eidas1",
                   "MCP_PROCONNECT_TOKEN_URL": f"{D}/token", "MCP_PROCONNECT_USERINFO_URL": f"{D}/userinfo",
                   "MCP_PROCONNECT_JWKS_URL": f"{D}/jwks", "MCP_PROCONNECT_LOGOUT_URL": f"{D}/session/end"}


def test_a_document_missing_endpoints_in_plain_http_or_without_our_level_is_refused_with_every_fault():
    bad = {**DOC, "token_endpoint": "http://proconnect.example.gouv.fr/api/v2/token", "acr_values_supported": ["eidas2"]}
    del bad["jwks_uri"]
    with pytest.raises(ValidationFailed) as refused:
        env_from_discovery(bad)
    assert sorted((v.code, v.path) for v in refused.value.violations) == [
        ("ACR_NON_PROPOSE", "acr_values_supported"), ("DECOUVERTE_INCOMPLETE", "jwks_uri"),
        ("DECOUVERTE_NON_HTTPS", "token_endpoint")]


def test_the_stand_in_on_this_machine_gives_what_devstack_gives():
    from devstack.keycloak import proconnect_standin_env
    base = "http://localhost:8080/realms/proconnect"
    oidc = f"{base}/protocol/openid-connect"
    doc = {"issuer": base, "authorization_endpoint": f"{oidc}/auth", "token_endpoint": f"{oidc}/token",
           "userinfo_endpoint": f"{oidc}/userinfo", "jwks_uri": f"{oidc}/certs", "end_session_endpoint": f"{oidc}/logout",
           "acr_values_supported": ["0", "1"]}
    assert env_from_discovery(doc, acr="") == {**proconnect_standin_env("http://localhost:8080"),
                                               "MCP_PROCONNECT_AUTHORIZATION_URL":
                                               f"{oidc}/auth"}
