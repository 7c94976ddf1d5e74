"""Demo data for README command 1 (demo-only credentials, never for production)."""

from __future__ import annotations

from dataclasses import dataclass

from devstack.admin import AdminSession
from devstack.keycloak import REALM, Instance


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    first: str
    last: str
    note: str


DEMO_ACCOUNTS = (
    DemoAccount("demo.utilisateur", "Provisoire-Demo-2026!", "Marguerite", "Duras",
                "mot de passe provisoire : règles d'usage puis mot de passe personnel"),
)


def seed_demo(inst: Instance) -> None:
    admin = AdminSession(inst.url, inst.admin_user, inst.admin_password, realm=REALM)
    for acc in DEMO_ACCOUNTS:
        if admin.user_by_username(acc.username) is None:
            admin.create_user(acc.username, acc.password, temporary=True, first=acc.first, last=acc.last)
            print(f"[seed] created demo user {acc.username}")
