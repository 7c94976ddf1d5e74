"""Wires the real adapters from Config: database, Keycloak gateway, SMTP notifier."""

from __future__ import annotations

from provisioning.config import Config
from provisioning.keycloak.gateway import KeycloakGateway
from provisioning.notify.notifier import SmtpNotifier
from provisioning.services import Provisioning
from provisioning.store.uow import make_engine, require_current_schema


def build(cfg: Config | None = None) -> Provisioning:
    cfg = cfg or Config.from_env()
    engine = make_engine(cfg.database_url)
    require_current_schema(engine)  # migrations are a deployment step: `mcp-provisioning migrate`
    gateway = KeycloakGateway(cfg.keycloak)  # one per process: its token and HTTP connections are reused
    return Provisioning(engine, lambda: gateway, SmtpNotifier(cfg.smtp),
                        portal_url=cfg.portal_url, onboarding=cfg.onboarding, reconcile_mode=cfg.reconcile_mode)
