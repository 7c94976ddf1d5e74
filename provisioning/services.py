"""Use cases shared by the CLI, the REST API and the consoles, one module a concern (provisioning/usecases/):
`Provisioning` composes them. A mutation loads one partner with its version, checks rights, validates that
partner's rules, stores it with its audit entry, its R9 report and its reconcile request in one transaction;
Keycloak follows through the reconcile worker (or inline, through the same request). A refused mutation
changes nothing anywhere."""

from __future__ import annotations

from provisioning.usecases.base import (  # noqa: F401 (the names callers import from here)
    CAF_ADMIN,
    DELEGATE,
    PARTNER_ADMIN,
    Actor,
    Core,
    MutationResult,
    generate_password,
)
from provisioning.usecases.imports import Imports
from provisioning.usecases.partners import Partners
from provisioning.usecases.reviews import Reviews
from provisioning.usecases.usage_rules import UsageRules


class Provisioning(Partners, Imports, Reviews, UsageRules):
    """The facade: every use case, one object (configuration and adapters in Core.__init__)."""
