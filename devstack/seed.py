"""Demo data for README command 1, seeded through the provisioning service itself (demo only).

Only into an empty registry (issue 25): a second `up.sh` keeps every partner, person and grant added since;
`./scripts/down.sh --reset` is the only way back to the example. Keycloak follows under the realm's reconcile
claim, so a worker already running (from a first `up`) and this seed never write at the same time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from devstack.paths import REPO_ROOT
from provisioning.desired_file import load_file
from provisioning.services import Actor, Provisioning

DEMO_FILE = REPO_ROOT / "examples" / "desired-state.yaml"


@dataclass(frozen=True)
class Seeded:
    stored: bool         # False: the registry held data already, left as it was
    partners: int        # partners in the registry afterwards
    applied: int | None  # Keycloak changes this seed applied (None: the running worker holds the claim)


def seed_demo(svc: Provisioning) -> Seeded:
    """Store the example registry if the registry is empty, then have Keycloak follow (one writer)."""
    actor = Actor("mcp-dev:seed", system=True)
    with svc.uow() as uow:
        empty = not uow.registry.versions() and not uow.registry.load().cafs
    if not empty:  # Keycloak may lag (its H2 reset alone): the worker, the one writer, checks everything
        with svc.uow() as uow:
            uow.reconcile.request("*")
            uow.commit()
            return Seeded(False, len(uow.registry.versions()), None)
    svc.import_registry(actor, load_file(str(DEMO_FILE), date.today()))
    report = svc.reconcile_request("*")  # under the realm's claim: a worker already running would hold it
    with svc.uow() as uow:
        partners = len(uow.registry.versions())
    return Seeded(True, partners, len(report.applied) if report else None)
