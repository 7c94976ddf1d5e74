"""Bearer tokens from Keycloak: signature (realm JWKS), issuer, audience and expiry checked; then an Actor."""

from __future__ import annotations

import threading
import time

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from provisioning.errors import Unauthorized
from provisioning.services import Actor


class TokenVerifier:
    def __init__(self, issuer: str, audience: str, jwks_url: str | None = None, cache_seconds: int = 300):
        self.issuer, self.audience = issuer, audience
        self.jwks_url = jwks_url or f"{issuer}/protocol/openid-connect/certs"
        self.cache_seconds = cache_seconds
        self._keys: KeySet | None = None
        self._fetched = 0.0
        self._lock = threading.Lock()

    def _keyset(self, refresh: bool = False) -> KeySet:
        with self._lock:
            if refresh or self._keys is None or time.monotonic() - self._fetched > self.cache_seconds:
                try:
                    self._keys = KeySet.import_key_set(requests.get(self.jwks_url, timeout=10).json())
                except (requests.RequestException, ValueError) as e:
                    raise Unauthorized("Impossible de vérifier le jeton (clés du royaume injoignables).") from e
                self._fetched = time.monotonic()
            return self._keys

    def verify(self, header: str | None) -> Actor:
        if not header or not header.startswith("Bearer "):
            raise Unauthorized()
        raw = header[len("Bearer "):].strip()
        try:
            try:
                token = jwt.decode(raw, self._keyset(), algorithms=["RS256", "PS256", "ES256"])
            except JoseError:  # key rotation: refresh once
                token = jwt.decode(raw, self._keyset(refresh=True), algorithms=["RS256", "PS256", "ES256"])
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
                     sub=c.get("sub"), session=c.get("sid"))
