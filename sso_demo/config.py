"""Settings of one application, from the environment; defaults are the local demo."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Any

from provisioning.production import is_demo_secret, require

# the realm's acr.loa.map (realm-config): acr value -> level of authentication
LEVELS = {"niveau-1": 1, "niveau-2": 2}
LEVEL_2 = "niveau-2"


def acr_level(acr) -> int:
    """The level an acr claim stands for: our names, or Keycloak's bare numbers ("0": SSO cookie, "1")."""
    acr = str(acr or "")
    return LEVELS.get(acr, int(acr) if acr.isdigit() else 0)


DEFAULT_PORTS = {"portail": 8081, "cdap": 8082, "afas": 8083}


@dataclass(frozen=True)
class AppConfig:
    client_id: str
    client_secret: str
    base_url: str                      # where the browser reaches this app
    issuer: str                        # realm issuer as browsers see it
    internal_keycloak: str = ""        # how this server reaches Keycloak (defaults to the issuer's host)
    idle_timeout: int = 1800           # R17: 30 minutes without activity
    secure_cookies: bool = True        # relaxed only for plain-http local demos and tests
    secret_key: str = ""
    portal_url: str = "http://localhost:8081"
    cdap_url: str = "http://localhost:8082"
    afas_url: str = "http://localhost:8083"
    api_url: str = "http://localhost:8090"  # provisioning API
    data_dir: str = ".run"
    # issue 13: the services whose client requires level 2 (password + second factor), CDAP by default; the
    # realm enforces it too (client attribute minimum.acr.value), this app checks the acr of its tokens
    second_factor_services: tuple[str, ...] = ("CDAP",)
    session_url: str = ""  # issue 14: a database shared by the app's instances ("" : process memory)

    @property
    def required_acr(self) -> str:
        """The acr this app requires of its tokens ("" : level 1 is enough)."""
        return LEVEL_2 if self.client_id.upper() in self.second_factor_services else ""

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def cookie_name(self) -> str:
        return f"mcp_{self.client_id}"

    @classmethod
    def from_env(cls, client_id: str, **overrides) -> AppConfig:
        e = os.environ.get
        kc = e("MCP_PUBLIC_KEYCLOAK_URL", e("KEYCLOAK_URL", "http://localhost:8080")).rstrip("/")
        realm = e("MCP_REALM", "mon-compte-partenaire")
        urls = {name: e(f"MCP_{name.upper()}_URL", f"http://localhost:{port}") for name, port in DEFAULT_PORTS.items()}
        secret = e(f"MCP_{client_id.upper()}_CLIENT_SECRET", f"demo-only-{client_id}-secret")
        values: dict[str, Any] = dict(
            client_id=client_id, client_secret=secret, base_url=urls[client_id], issuer=f"{kc}/realms/{realm}",
            idle_timeout=int(e("MCP_IDLE_TIMEOUT", "1800")),
            secure_cookies=e("MCP_INSECURE_COOKIES", "") != "1",
            secret_key=e(f"MCP_{client_id.upper()}_SESSION_KEY", "") or secrets.token_hex(32),
            portal_url=urls["portail"], cdap_url=urls["cdap"], afas_url=urls["afas"],
            api_url=e("MCP_API_URL", "http://localhost:8090"), data_dir=e("MCP_STATE_DIR", ".run"),
            session_url=e(f"MCP_{client_id.upper()}_SESSION_URL", e("MCP_SESSION_URL", "")),
            second_factor_services=tuple(x.strip().upper() for x in e("MCP_SECOND_FACTOR_SERVICES", "CDAP").split(",")
                                         if x.strip()),
        )
        values.update(overrides)
        key = e(f"MCP_{client_id.upper()}_SESSION_KEY", "")
        require(f"l'application {client_id}", [
            (is_demo_secret(secret), f"MCP_{client_id.upper()}_CLIENT_SECRET : le secret de démonstration est connu "
                                     "de tous ; mettez celui du client dans Keycloak"),
            (len(key) < 32, f"MCP_{client_id.upper()}_SESSION_KEY : une clé de signature d'au moins 32 caractères, "
                            "la même pour chaque instance (sinon les sessions changent à chaque démarrage)"),
            (not values["secure_cookies"], "MCP_INSECURE_COOKIES : les cookies doivent être « Secure » en production"),
            (not str(values["base_url"]).startswith("https://"), f"MCP_{client_id.upper()}_URL : une adresse https://"),
        ])
        return cls(**values)
