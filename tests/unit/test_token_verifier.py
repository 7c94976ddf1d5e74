"""The API's bearer tokens, with keys made here (a local JWKS): signature, issuer, audience, expiry and token
type are all checked, a rotated key is fetched once, and the roles and partner become the Actor. The real
Keycloak's tokens are checked the same way in tests/integration/test_api.py."""

from __future__ import annotations

import time

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from provisioning.api.auth import TokenVerifier
from provisioning.errors import Unauthorized

ISSUER, AUDIENCE = "http://kc.test/realms/mon-compte-partenaire", "provisioning-api"


@pytest.fixture
def keys(monkeypatch):
    current = {"key": RSAKey.generate_key(2048, parameters={"kid": "k1"})}
    fetched = []

    class Response:
        def json(self):
            fetched.append(1)
            return KeySet([current["key"]]).as_dict(private=False)
    monkeypatch.setattr("provisioning.api.auth.requests.get", lambda url, timeout: Response())
    current["fetched"] = fetched
    return current


def token(key, **claims) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "iat": now, "sub": "u-1", "typ": "Bearer",
            "preferred_username": "lea.petit", "partner": "12345678900015", "sid": "s-1",
            "realm_access": {"roles": ["responsable-habilitations"]},
            "resource_access": {"afas": {"roles": ["AFAS-Habiliter"]}}, **claims}
    return jwt.encode({"alg": "RS256", "kid": key.kid}, body, key)


def test_a_good_token_becomes_the_actor(keys):
    actor = TokenVerifier(ISSUER, AUDIENCE).verify("Bearer " + token(keys["key"]))
    assert (actor.username, actor.partner, actor.sub, actor.session) == ("lea.petit", "12345678900015", "u-1", "s-1")
    assert actor.roles == {"responsable-habilitations", "afas:AFAS-Habiliter"}


@pytest.mark.parametrize("claims", [{"iss": "http://ailleurs/realms/x"}, {"aud": "autre-api"},
                                    {"exp": int(time.time()) - 60}, {"typ": "ID"}])
def test_wrong_issuer_audience_expiry_or_type_is_refused(keys, claims):
    with pytest.raises(Unauthorized):
        TokenVerifier(ISSUER, AUDIENCE).verify("Bearer " + token(keys["key"], **claims))


def test_a_foreign_signature_or_no_token_is_refused(keys):
    stranger = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    for header in ("Bearer " + token(stranger), None, "Basic abc", "Bearer pas.un.jeton"):
        with pytest.raises(Unauthorized):
            TokenVerifier(ISSUER, AUDIENCE).verify(header)


def test_a_rotated_key_is_fetched_once_then_cached(keys):
    verifier = TokenVerifier(ISSUER, AUDIENCE)
    verifier.verify("Bearer " + token(keys["key"]))
    verifier.verify("Bearer " + token(keys["key"]))
    assert len(keys["fetched"]) == 1  # cached
    keys["key"] = RSAKey.generate_key(2048, parameters={"kid": "k2"})  # Keycloak rotated its key
    assert verifier.verify("Bearer " + token(keys["key"])).username == "lea.petit"
    assert len(keys["fetched"]) == 2



def test_forged_tokens_never_make_us_fetch_the_keys_again(keys):
    """A known key id with a wrong signature (forged), or an unknown one, asked again and again: Keycloak's keys are
    fetched at most once every few seconds, never once a token (each refusal used to refetch the JWKS)."""
    verifier = TokenVerifier(ISSUER, AUDIENCE)
    verifier.verify("Bearer " + token(keys["key"]))
    forged = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    unknown = RSAKey.generate_key(2048, parameters={"kid": "k-inconnue"})
    for _ in range(50):
        for key in (forged, unknown):
            with pytest.raises(Unauthorized):
                verifier.verify("Bearer " + token(key))
    assert len(keys["fetched"]) <= 2  # the first read, then at most one for the unknown key id
    verifier.REFRESH_AT_MOST_EVERY = 0.0  # a rotation after the quiet time is still found at once
    keys["key"] = RSAKey.generate_key(2048, parameters={"kid": "k3"})
    assert verifier.verify("Bearer " + token(keys["key"])).username == "lea.petit"
