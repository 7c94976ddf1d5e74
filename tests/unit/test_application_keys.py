"""Issue 30 §5: an application fetches the realm's keys again when a token names a key it does not know (Keycloak
rotated its key), and at most every few seconds whatever the number of such tokens (a forged key id costs
Keycloak nothing more); a known key never makes it ask."""

from __future__ import annotations

import base64
import json

from flask import Flask

from sso_demo import auth


def _token(kid: str) -> str:
    header = base64.urlsafe_b64encode(json.dumps({"alg": "RS256", "kid": kid}).encode()).decode().rstrip("=")
    return f"{header}.e30.c2ln"


class Client:
    def __init__(self):
        self.forced = 0

    def fetch_jwk_set(self, force: bool = False):
        self.forced += force
        keys = [{"kty": "oct", "k": "c2VjcmV0LW9mLXNpeHRlZW4tYnl0ZXM", "kid": "old"}]
        if self.forced:
            keys.append({"kty": "oct", "k": "bmV3LXNlY3JldC1vZi1zaXh0ZWVu", "kid": "new"})
        return {"keys": keys}


def test_an_unknown_key_is_fetched_once_then_not_again_for_a_while(monkeypatch):
    client = Client()
    monkeypatch.setattr(auth, "_client", lambda: client)
    monkeypatch.setattr(auth, "_KEYS_ASKED", {})
    clock = [1000.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: clock[0])
    with Flask("portail").app_context():
        assert {k.kid for k in auth._keys_for(_token("old")).keys} == {"old"} and client.forced == 0
        assert "new" in {k.kid for k in auth._keys_for(_token("new")).keys} and client.forced == 1
        for _ in range(50):  # forged key ids: no more fetches within the interval
            auth._keys_for(_token("forged"))
        assert client.forced == 1
        clock[0] += auth.KEYS_AT_MOST_EVERY
        auth._keys_for(_token("forged"))
        assert client.forced == 2
        assert auth._keys_for("not a token") is not None and client.forced == 2
