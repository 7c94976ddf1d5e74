"""Settings of one application, from the environment; defaults are the local demo."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from provisioning import settings
from provisioning.production import is_demo_secret, require

# the realm's acr.loa.map (realm-config): acr value -> level of authentication
LEVELS = {"niveau-1": 1, "niveau-2": 2}
LEVEL_2 = "niveau-2"


def acr_level(acr) -> int:
    """The level an acr claim stands for: our names, or Keycloak's bare numbers ("0": SSO cookie, "1")."""
    acr = str(acr or "")
    return LEVELS.get(acr, int(acr) if acr.isdigit() else 0)


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
    journal_url: str = ""  # the CDAP/AFAS journal's database ("": SQLite in data_dir)
    session_url: str = ""  # issue 14: a database shared by the app's instances ("" : process memory)
    metrics_token: str = ""  # issue 30: /metrics answers this bearer token only ("": no /metrics)
    client_secret_next: str = ""  # issue 30 §5: the secret after the client's rotation, tried when the current fails

    @property
    def client_secrets(self) -> tuple[str, ...]:
        """The secrets to present to Keycloak's token endpoint, in order (the next one only during a rotation)."""
        return tuple(s for s in (self.client_secret, self.client_secret_next) if s)

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
        """From the declared settings (provisioning/settings.py), read and checked once: a typo is refused."""
        st = settings.at_start()
        secret = st.app(client_id, "client_secret")
        values: dict[str, Any] = dict(
            client_id=client_id, client_secret=secret, base_url=st.app(client_id, "url"),
            issuer=f"{st.issuer_base}/realms/{st.realm}",
            idle_timeout=st.idle_timeout,
            secure_cookies=not st.insecure_cookies,
            secret_key=st.app(client_id, "session_key") or secrets.token_hex(32),
            portal_url=st.portail_url, cdap_url=st.cdap_url, afas_url=st.afas_url,
            api_url=st.api_url, data_dir=st.state_dir,
            session_url=st.app(client_id, "session_url") or st.session_url,
            journal_url=str(getattr(st, f"{client_id}_database_url", "")),
            second_factor_services=tuple(x.strip().upper() for x in st.second_factor_services.split(",") if x.strip()),
            metrics_token=st.metrics_token,
            client_secret_next=str(getattr(st, f"{client_id}_client_secret_next", "")),
        )
        values.update(overrides)
        key = st.app(client_id, "session_key")
        require(f"l'application {client_id}", [
            (is_demo_secret(secret), f"MCP_{client_id.upper()}_CLIENT_SECRET : le secret de démonstration est connu "
                                     "de tous ; mettez celui du client dans Keycloak"),
            (len(key) < 32, f"MCP_{client_id.upper()}_SESSION_KEY : une clé de signature d'au moins 32 caractères, "
                            "la même pour chaque instance (sinon les sessions changent à chaque démarrage)"),
            (not values["secure_cookies"], "MCP_INSECURE_COOKIES : les cookies doivent être « Secure » en production"),
            (not str(values["base_url"]).startswith("https://"), f"MCP_{client_id.upper()}_URL : une adresse https://"),
        ])
        return cls(**values)
