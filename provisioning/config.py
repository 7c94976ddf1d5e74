"""Configuration from the environment (secrets also from *_FILE paths outside git). Defaults = local demo."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from email.utils import formataddr
from pathlib import Path

from provisioning import settings
from provisioning.keycloak.gateway import KeycloakConfig
from provisioning.notify.notifier import SmtpConfig
from provisioning.production import is_demo_secret, require

log = logging.getLogger(__name__)
DEMO_PROVISIONING_SECRET = "demo-only-provisioning-secret"


def _default_db(state_dir: str) -> str:
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{state.resolve() / 'provisioning.sqlite'}"


@dataclass(frozen=True)
class Config:
    database_url: str = field(default_factory=lambda: _default_db(".run"))
    keycloak: KeycloakConfig = field(default_factory=lambda: KeycloakConfig("http://localhost:8080"))
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    portal_url: str = "http://localhost:8081"
    api_audience: str = "provisioning-api"
    scim_audience: str = "scim"
    public_keycloak_url: str = "http://localhost:8080"
    onboarding: str = "password"  # or "action-link": Keycloak mails a 24 h link, no password in mail
    # API mutations answer once stored and `mcp-provisioning worker` reconciles ("worker", the default), or the
    # API also reconciles within the request ("inline": no worker needed). CLI commands always act inline.
    reconcile_mode: str = "worker"
    metrics_token: str = ""  # /metrics answers this bearer token only (empty: no /metrics)

    @property
    def issuer(self) -> str:
        return f"{self.public_keycloak_url}/realms/{self.keycloak.realm}"

    @classmethod
    def from_env(cls, st: settings.Settings | None = None) -> Config:
        """From the declared settings (provisioning/settings.py), read and checked once: a typo is refused."""
        st = st or settings.at_start()
        client_secret = st.provisioning_client_secret
        if client_secret == DEMO_PROVISIONING_SECRET:
            log.warning("using the demo-only provisioning client secret; set MCP_PROVISIONING_CLIENT_SECRET")
        require("le service de provisionnement", [
            (is_demo_secret(client_secret), "MCP_PROVISIONING_CLIENT_SECRET (ou _FILE) : le secret de démonstration "
                                            "est connu de tous"),
            (st.keycloak_realm_admin_password == "admin",
             "MCP_KEYCLOAK_REALM_ADMIN_PASSWORD : « admin » n'est pas un mot de passe"),
            (not (st.smtp_starttls or st.smtp_ssl) and st.smtp_host not in ("localhost", "127.0.0.1"),
             "MCP_SMTP_STARTTLS ou MCP_SMTP_SSL : un serveur de messagerie distant se joint chiffré"),
            (not st.database_url, "MCP_DATABASE_URL : la base du registre (PostgreSQL), pas le SQLite de démonstration"),
        ])
        kc_url = st.keycloak_url.rstrip("/")
        return cls(
            database_url=st.database_url or _default_db(st.state_dir),
            keycloak=KeycloakConfig(kc_url, st.realm, st.provisioning_client_id, client_secret),
            smtp=SmtpConfig(st.smtp_host, st.smtp_port,
                            "ssl" if st.smtp_ssl else "starttls" if st.smtp_starttls else "none",
                            st.smtp_username if st.smtp_auth else "", st.smtp_password if st.smtp_auth else "",
                            formataddr((settings.SENDER_NAME, st.smtp_from)), portal_url=st.portail_url),
            portal_url=st.portail_url,
            api_audience=st.api_audience,
            scim_audience=st.scim_audience,
            public_keycloak_url=st.issuer_base,
            onboarding=st.onboarding,
            reconcile_mode=st.reconcile,
            metrics_token=st.metrics_token,
        )
