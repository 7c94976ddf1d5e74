"""Demo data for README command 1, seeded through the provisioning service itself (demo only)."""

from __future__ import annotations

from datetime import date

from devstack.paths import REPO_ROOT
from provisioning.desired_file import load_file
from provisioning.services import Actor, Provisioning

DEMO_FILE = REPO_ROOT / "examples" / "desired-state.yaml"


def seed_demo(svc: Provisioning) -> int:
    """Store the example registry and reconcile Keycloak; returns the number of changes applied."""
    reg = load_file(str(DEMO_FILE), date.today())
    actor = Actor("mcp-dev:seed", system=True)
    svc.import_registry(actor, reg)
    return len(svc.reconcile(actor).applied)
