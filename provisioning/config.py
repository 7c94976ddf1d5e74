"""Configuration from the environment (secrets also from *_FILE paths outside git). Defaults = local demo."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from provisioning.keycloak.gateway import KeycloakConfig
from provisioning.notify.notifier import SmtpConfig
from provisioning.production import is_demo_secret, require

log = logging.getLogger(__name__)
DEMO_PROVISIONING_SECRET = "demo-only-provisioning-secret"


def secret(name: str, default: str = "") -> str:
    """NAME from the environment, or the content of the file named by NAME_FILE."""
    if os.environ.get(f"{name}_FILE"):
        return Path(os.environ[f"{name}_FILE"]).read_text().strip()
    return os.environ.get(name, default)


def _default_db() -> str:
    state = Path(os.environ.get("MCP_STATE_DIR", Path.cwd() / ".run"))
    state.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{state / 'provisioning.sqlite'}"


@dataclass(frozen=True)
class Config:
    database_url: str = field(default_factory=_default_db)
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

    @property
    def issuer(self) -> str:
        return f"{self.public_keycloak_url}/realms/{self.keycloak.realm}"

    @classmethod
    def from_env(cls) -> Config:
        e = os.environ.get
        kc_url = e("KEYCLOAK_URL", "http://localhost:8080").rstrip("/")
        client_secret = secret("MCP_PROVISIONING_CLIENT_SECRET", DEMO_PROVISIONING_SECRET)
        if client_secret == DEMO_PROVISIONING_SECRET:
            log.warning("using the demo-only provisioning client secret; set MCP_PROVISIONING_CLIENT_SECRET")
        require("le service de provisionnement", [
            (is_demo_secret(client_secret), "MCP_PROVISIONING_CLIENT_SECRET (ou _FILE) : le secret de démonstration "
                                            "est connu de tous"),
            (secret("MCP_KEYCLOAK_REALM_ADMIN_PASSWORD", "x") in ("admin", ""),
             "MCP_KEYCLOAK_REALM_ADMIN_PASSWORD : « admin » n'est pas un mot de passe"),
            (e("MCP_SMTP_SECURITY", "none") == "none" and e("MCP_SMTP_HOST", "localhost") not in ("localhost", "127.0.0.1"),
             "MCP_SMTP_SECURITY : starttls ou ssl vers un serveur de messagerie distant"),
            (not e("MCP_DATABASE_URL"), "MCP_DATABASE_URL : la base du registre (PostgreSQL), pas le SQLite de démonstration"),
        ])
        return cls(
            database_url=e("MCP_DATABASE_URL") or _default_db(),
            keycloak=KeycloakConfig(kc_url, e("MCP_REALM", "mon-compte-partenaire"),
                                    e("MCP_PROVISIONING_CLIENT_ID", "provisioning"), client_secret),
            smtp=SmtpConfig(e("MCP_SMTP_HOST", "localhost"), int(e("MCP_SMTP_PORT", "1025")),
                            e("MCP_SMTP_SECURITY", "none"), e("MCP_SMTP_USERNAME", ""),
                            secret("MCP_SMTP_PASSWORD"), e("MCP_SMTP_SENDER", SmtpConfig.sender),
                            portal_url=e("MCP_PORTAIL_URL", "http://localhost:8081")),
            portal_url=e("MCP_PORTAIL_URL", "http://localhost:8081"),
            api_audience=e("MCP_API_AUDIENCE", "provisioning-api"),
            scim_audience=e("MCP_SCIM_AUDIENCE", "scim"),
            public_keycloak_url=e("MCP_PUBLIC_KEYCLOAK_URL", kc_url).rstrip("/"),
            onboarding=e("MCP_ONBOARDING", "password"),
            reconcile_mode=e("MCP_RECONCILE", "worker"),
        )
