"""Bearer tokens from Keycloak: signature (realm JWKS), issuer, audience and expiry checked; then an Actor."""

from __future__ import annotations

import base64
import json
import threading
import time

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from provisioning.errors import Unauthorized
from provisioning.services import Actor


def key_id(raw: str) -> str | None:
    """The key id a token names in its header (None when it names none or is no JWT)."""
    try:
        header = json.loads(base64.urlsafe_b64decode(raw.split(".")[0] + "=="))
    except (ValueError, IndexError):
        return None
    return header.get("kid") if isinstance(header, dict) else None


class TokenVerifier:
    REFRESH_AT_MOST_EVERY = 10.0  # seconds between two fetches for an unknown key (a forged token costs nothing)

    def __init__(self, issuer: str, audience: str, jwks_url: str | None = None, cache_seconds: int = 300):
        self.issuer, self.audience = issuer, audience
        self.jwks_url = jwks_url or f"{issuer}/protocol/openid-connect/certs"
        self.cache_seconds = cache_seconds
        self._keys: KeySet | None = None
        self._fetched = 0.0
        self._asked = -self.REFRESH_AT_MOST_EVERY  # when an unknown key id last made us fetch the keys
        self._lock = threading.Lock()

    def _keyset(self, refresh: bool = False) -> KeySet:
        with self._lock:
            now = time.monotonic()
            stale = self._keys is None or now - self._fetched > self.cache_seconds
            asked = refresh and now - self._asked >= self.REFRESH_AT_MOST_EVERY
            if asked:
                self._asked = now
            if stale or asked:
                try:
                    self._keys = KeySet.import_key_set(requests.get(self.jwks_url, timeout=10).json())
                except (requests.RequestException, ValueError) as e:
                    raise Unauthorized("Impossible de vérifier le jeton (clés du royaume injoignables).") from e
                self._fetched = time.monotonic()
            assert self._keys is not None  # read above when there was none
            return self._keys

    def verify(self, header: str | None) -> Actor:
        if not header or not header.startswith("Bearer "):
            raise Unauthorized()
        raw = header[len("Bearer "):].strip()
        try:
            keys = self._keyset()
            if key_id(raw) not in {k.kid for k in keys.keys}:
                # Keycloak rotated its key: fetched again, at most every few seconds — a token whose key is known
                # but whose signature is wrong (forged) never makes us ask Keycloak, whatever their number
                keys = self._keyset(refresh=True)
            token = jwt.decode(raw, keys, algorithms=["RS256", "PS256", "ES256"])
            jwt.JWTClaimsRegistry(leeway=5, iss={"essential": True, "value": self.issuer},
                                  aud={"essential": True, "value": self.audience},
                                  exp={"essential": True}).validate(token.claims)
        except (JoseError, ValueError) as e:
            raise Unauthorized(f"Jeton refusé : {e.__class__.__name__}.") from e
        c = token.claims
        if c.get("typ", "Bearer") != "Bearer":
            raise Unauthorized("Un jeton d'accès est attendu.")
        held = set((c.get("realm_access") or {}).get("roles", []))
        for client, access in (c.get("resource_access") or {}).items():
            held |= {f"{client}:{r}" for r in access.get("roles", [])}  # e.g. afas:AFAS-Habiliter
        return Actor(c.get("preferred_username") or c["sub"], frozenset(held), c.get("partner"), c.get("caf"),
                     sub=c.get("sub"), session=c.get("sid"), acr=c.get("acr"))
