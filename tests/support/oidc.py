"""Drive Keycloak's real login pages over HTTP (requests + HTML form parsing), as a browser would.

The relying party is simulated: we build the authorization request (PKCE S256, state, nonce), follow
Keycloak's redirects, fill its forms, stop at the redirect URI, exchange the code and verify the ID token.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urljoin, urlparse

import requests
from bs4 import BeautifulSoup
from joserfc import jwt
from joserfc.jwk import KeySet


@dataclass
class Page:
    url: str
    status: int
    html: str

    @property
    def soup(self) -> BeautifulSoup:
        return BeautifulSoup(self.html, "html.parser")

    def form(self) -> tuple[str, dict[str, str]]:
        """The page's main form: action URL and default values of its non-submit fields."""
        form = self.soup.find("form", attrs={"method": lambda m: m and m.lower() == "post"})
        if form is None:
            raise AssertionError(f"no POST form on page {self.url}:\n{self.text()[:800]}")
        fields = {i["name"]: i.get("value", "") for i in form.find_all("input")
                  if i.get("name") and i.get("type") not in ("submit", "button")}
        return urljoin(self.url, form["action"]), fields

    def has_input(self, name: str) -> bool:
        return self.soup.find("input", attrs={"name": name}) is not None

    def text(self) -> str:
        return self.soup.get_text(" ", strip=True)


@dataclass
class Redirect:
    """The browser was sent back to the client's redirect URI."""
    url: str

    @property
    def params(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlparse(self.url).query).items()}


@dataclass
class AuthRequest:
    state: str
    nonce: str
    verifier: str


@dataclass
class Rp:
    """A simulated confidential relying party plus the user's browser cookie jar."""
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def discovery(self) -> dict:
        return self.http.get(self.issuer + "/.well-known/openid-configuration", timeout=30).json()

    def authorize(self, *, pkce: bool = True, extra: dict | None = None) -> tuple[AuthRequest, Page | Redirect]:
        req = AuthRequest(secrets.token_urlsafe(16), secrets.token_urlsafe(16), secrets.token_urlsafe(48))
        params = {"client_id": self.client_id, "response_type": "code", "scope": "openid",
                  "redirect_uri": self.redirect_uri, "state": req.state, "nonce": req.nonce}
        if pkce:
            challenge = base64.urlsafe_b64encode(hashlib.sha256(req.verifier.encode()).digest()).rstrip(b"=")
            params.update(code_challenge=challenge.decode(), code_challenge_method="S256")
        params.update(extra or {})
        url = self.discovery["authorization_endpoint"] + "?" + urlencode(params)
        return req, self._follow(self.http.get(url, allow_redirects=False, timeout=30))

    def submit(self, page: Page, values: dict[str, str]) -> Page | Redirect:
        action, fields = page.form()
        fields.update(values)
        return self._follow(self.http.post(action, data=fields, allow_redirects=False, timeout=30))

    def _follow(self, resp: requests.Response) -> Page | Redirect:
        for _ in range(10):
            self._localhost_is_secure()
            if resp.status_code in (301, 302, 303, 307, 308):
                location = urljoin(resp.url, resp.headers["Location"])
                if location.startswith(self.redirect_uri):
                    return Redirect(location)
                resp = self.http.get(location, allow_redirects=False, timeout=30)
                continue
            return Page(resp.url, resp.status_code, resp.text)
        raise AssertionError("too many redirects")

    def _localhost_is_secure(self) -> None:
        # Browsers treat http://localhost as a secure context and send Secure cookies there;
        # requests does not, so Keycloak's (Secure, SameSite=None) cookies are unflagged here.
        for cookie in self.http.cookies:
            if cookie.domain.startswith(("localhost", "127.0.0.1")):
                cookie.secure = False

    @staticmethod
    def _abs(page: Page, href: str) -> str:
        return urljoin(page.url, href)

    def login(self, page: Page, username: str, password: str) -> Page | Redirect:
        return self.submit(page, {"username": username, "password": password})

    def exchange(self, code: str, req: AuthRequest) -> dict:
        r = self.http.post(self.discovery["token_endpoint"], timeout=30, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
            "client_id": self.client_id, "client_secret": self.client_secret,
            "code_verifier": req.verifier})
        assert r.status_code == 200, r.text
        return r.json()

    def verify_id_token(self, id_token: str, req: AuthRequest) -> dict:
        """Signature against the realm's JWKS, then issuer, audience, nonce and expiry."""
        jwks = KeySet.import_key_set(self.http.get(self.discovery["jwks_uri"], timeout=30).json())
        token = jwt.decode(id_token, jwks, algorithms=["RS256", "PS256", "ES256"])
        jwt.JWTClaimsRegistry(
            leeway=5,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.client_id},
            nonce={"essential": True, "value": req.nonce},
            exp={"essential": True},
        ).validate(token.claims)
        return dict(token.claims)


def login_token(keycloak, admin, username: str, password: str = "Jeton-De-Test-2026!") -> str:
    """An access token for a realm user through the real login form of the `portail` client (the user's
    password is set first and their required actions cleared)."""
    user = admin.user_by_username(username)
    admin.put(f"/users/{user['id']}/reset-password", json={"type": "password", "value": password, "temporary": False})
    admin.put(f"/users/{user['id']}", json={"requiredActions": []})
    rp = Rp(keycloak.issuer, "portail", "demo-only-portail-secret", keycloak.app_url("portail") + "/auth/callback")
    req, page = rp.authorize()
    result = rp.login(page, username, password)
    assert isinstance(result, Redirect), result.text()[:300]
    return rp.exchange(result.params["code"], req)["access_token"]
