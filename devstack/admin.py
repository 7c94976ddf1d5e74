"""A thin Keycloak admin REST session for the dev stack and tests (the product code uses provisioning's gateway)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import requests


@dataclass
class AdminSession:
    base_url: str
    username: str
    password: str
    realm: str = "mon-compte-partenaire"
    _token: str = field(default="", repr=False)
    _expires: float = 0.0
    http: requests.Session = field(default_factory=requests.Session, repr=False)

    def token(self) -> str:
        if not self._token or time.monotonic() > self._expires - 10:
            r = self.http.post(f"{self.base_url}/realms/master/protocol/openid-connect/token",
                               data={"grant_type": "password", "client_id": "admin-cli",
                                     "username": self.username, "password": self.password}, timeout=30)
            r.raise_for_status()
            body = r.json()
            self._token, self._expires = body["access_token"], time.monotonic() + body["expires_in"]
        return self._token

    def request(self, method: str, path: str, **kw) -> requests.Response:
        """`path` is relative to /admin/realms/{realm} unless it starts with '/admin'."""
        url = self.base_url + (path if path.startswith("/admin") else f"/admin/realms/{self.realm}{path}")
        headers = {"Authorization": f"Bearer {self.token()}", **kw.pop("headers", {})}
        return self.http.request(method, url, headers=headers, **{"timeout": 30, **kw})

    def get(self, path: str, **kw):
        r = self.request("GET", path, **kw)
        r.raise_for_status()
        return r.json()

    def post(self, path: str, json=None, **kw) -> requests.Response:
        r = self.request("POST", path, json=json, **kw)
        r.raise_for_status()
        return r

    def put(self, path: str, json=None, **kw) -> requests.Response:
        r = self.request("PUT", path, json=json, **kw)
        r.raise_for_status()
        return r

    def delete(self, path: str, **kw) -> requests.Response:
        return self.request("DELETE", path, **kw)

    # --- small helpers used by seeds and tests -----------------------------------------------
    def client(self, client_id: str) -> dict:
        found = self.get("/clients", params={"clientId": client_id})
        if not found:
            raise LookupError(f"client {client_id} not found")
        return found[0]

    def user_by_username(self, username: str) -> dict | None:
        found = self.get("/users", params={"username": username, "exact": "true"})
        return found[0] if found else None

    def create_user(self, username: str, password: str, *, temporary: bool, first: str = "Test",
                    last: str = "Utilisateur", email: str | None = None,
                    required_actions: list[str] | None = None) -> str:
        body = {"username": username, "enabled": True, "firstName": first, "lastName": last,
                "email": email or f"{username}@example.test", "emailVerified": True,
                "credentials": [{"type": "password", "value": password, "temporary": temporary}]}
        r = self.post("/users", json=body)
        uid = r.headers["Location"].rsplit("/", 1)[1]
        if required_actions is not None:  # Keycloak adds the realm's default actions on creation
            self.put(f"/users/{uid}", json={"requiredActions": required_actions})
        return uid


def remove_managed(admin: AdminSession) -> None:
    """Delete what the reconciler created in a realm (its ownership marker says so), with the two roots:
    tests and benchmarks start from an empty realm. Never on a realm whose data matters."""
    for u in admin.get("/users", params={"q": "mcp.managed-by:mon-compte-partenaire", "max": 100000}):
        admin.delete(f"/users/{u['id']}")
    for o in admin.get("/organizations", params={"max": 100000}):
        admin.delete(f"/organizations/{o['id']}")
    for g in admin.get("/groups", params={"max": 1000}):
        if g["name"] in ("partenaires", "cafs"):
            admin.delete(f"/groups/{g['id']}")
