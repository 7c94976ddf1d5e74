"""Usage-rules versions (R15): publication and who accepted which version."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from provisioning.domain import naming
from provisioning.errors import Forbidden
from provisioning.usecases.base import CAF_ADMIN, Actor

if TYPE_CHECKING:
    from provisioning.services import Provisioning as App

log = logging.getLogger(__name__)


class Publisher(Protocol):
    """Where the usage rules' version and date go for Keycloak (FirstLoginGuard reads them)."""
    def publish(self, version: str, at: int) -> None: ...


def publish_usage_rules(app: App, actor: Actor, version: str, publisher: Publisher) -> datetime:
    """Every user accepts again at their next login (FirstLoginGuard compares acceptance times)."""
    if not actor.system:
        raise Forbidden("La publication des règles d'usage est une opération nationale (ligne de commande).")
    at = app.now().replace(microsecond=0)
    with app.uow() as uow:
        uow.usage_rules.publish(version, at, actor.username)
        uow.audit.record(actor.username, "publish-usage-rules", f"usage-rules:{version}", None,
                         {"version": version, "published_at": at})
        publisher.publish(version, int(at.timestamp()))  # inside the transaction: both or neither
        uow.commit()
    return at

def usage_rules_acceptances(app: App, actor: Actor) -> list[dict[str, Any]]:
    """Who accepted which version and when (Keycloak's acceptance time mapped onto the published versions)."""
    if actor.system:
        people = {u.identifiant: p for p in app.registry().partners for u in p.users}
    elif CAF_ADMIN in actor.roles and actor.caf:
        with app.uow() as uow:  # the Caf's partners, not the whole registry (issue 27)
            people = {u.identifiant: p for p in uow.registry.partners_of_caf(actor.caf) for u in p.users}
    else:
        raise Forbidden()
    with app.uow() as uow:
        versions = uow.usage_rules.versions()
    out = []
    for u in app.gateway().users_with_attributes():
        p = people.get(u["username"])
        if p is None:
            continue
        raw = (u["attributes"].get(naming.TERMS_ATTR) or [None])[0]
        at = datetime.fromtimestamp(int(raw), tz=UTC) if raw and raw.isdigit() else None
        version = version_accepted(versions, at)
        out.append({"identifiant": u["username"], "partner": p.siret, "accepted_at": at.isoformat() if at else None,
                    "version": version, "current": version == versions[-1][0]})
    return sorted(out, key=lambda r: (r["partner"], r["identifiant"]))


def version_accepted(versions: list[tuple[str, datetime]], at: datetime | None) -> str | None:
    """The usage-rules version in force when someone accepted at `at` (the first one if before them all)."""
    if at is None or not versions:
        return None
    eligible = [v for v, published in versions if published <= at]
    return eligible[-1] if eligible else versions[0][0]
