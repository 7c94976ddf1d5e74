"""Where the SCIM resources come from: the registry, seen through the caller's scope (a partner, a Caf, or the
whole branch). Anything outside the scope does not exist for the caller (404, never 403: a partner cannot tell
another partner's people from nobody). Read-only."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from datetime import date
from typing import Any, Union

from scim2_models import (
    NotFoundException,
    NotImplementedException,
    Resource,
    ResourceType,
    ScimFilter,
    SearchRequest,
)
from scim2_models.path import CompareOperator, Comparison, LogicalExpr, LogicalOperator
from scim2_server.storage import ScimStorage, SearchPage
from scim2_server.utils import parametrize

from provisioning.domain import naming as n
from provisioning.domain.model import Partner, Registry
from provisioning.reconcile.desired import desired_state
from provisioning.scim import resources as r
from provisioning.store.uow import UnitOfWork

USER_NAME = {"username", "id", "urn:ietf:params:scim:schemas:core:2.0:user:username"}


SIRET = f"{r.PartnerUser.__schema__}:siret".lower()


def _narrowing(scim_filter) -> tuple[str, str] | None:
    """What a User filter pins down, alone or in an `and`: ("person", identifiant) for `userName eq` / `id eq`,
    ("partner", SIRET) for our extension's `siret eq`; else None. Only a shortcut to the candidates: the whole
    filter is still applied to them. Identifiants are stored lower-case and userName compares without case
    (RFC 7643 §4.1.1)."""
    node = getattr(scim_filter, "ast", None) if scim_filter is not None else None
    terms = node.terms if isinstance(node, LogicalExpr) and node.op == LogicalOperator.and_ else (node,)
    found: dict[str, str] = {}
    for t in terms:
        if isinstance(t, Comparison) and t.op == CompareOperator.eq and isinstance(t.value, str):
            attr = str(t.attr_path).lower()
            if attr in USER_NAME:
                found.setdefault("person", t.value.lower())
            elif attr == SIRET:
                found.setdefault("partner", t.value)
    for kind in ("person", "partner"):
        if kind in found:
            return kind, found[kind]
    return None


def _by_identifiant(sort_by) -> bool:
    return sort_by is None or str(sort_by).lower() in USER_NAME


@dataclass(frozen=True)
class Scope:
    partner: str | None = None   # one partner
    caf: str | None = None       # every partner of one Caf
    national: bool = False       # every partner

    def covers(self, p: Partner) -> bool:
        return self.national or p.siret == self.partner or (self.caf is not None and p.caf == self.caf)


CURRENT: contextvars.ContextVar[Scope] = contextvars.ContextVar("scim_scope")


def _holders(p: Partner, settings, today: date) -> dict[str, set[str]]:
    """Group key → members, exactly as the reconciler puts them in Keycloak (the same function decides)."""
    state = desired_state(Registry([], [p], settings), today)
    out = {}
    for path, spec in state.groups.items():
        key = dict(spec.attributes).get(n.KIND_ATTR)
        if spec.roles and key in n.PARTNER_GROUPS:
            out[key] = state.members.get(path, set())
    return out


class RegistryStorage(ScimStorage):
    def __init__(self, engine, today=date.today):
        self.engine = engine
        self.today = today

    # --- reads ------------------------------------------------------------------------------------------
    def _partners(self, scope: Scope, only: str | None = None) -> tuple[list[Partner], Any]:
        with UnitOfWork(self.engine) as uow:
            one = only if only is not None else scope.partner
            if one:
                p = uow.registry.partner(one)
                partners = [p] if p else []
            elif scope.caf:
                partners = uow.registry.partners_of_caf(scope.caf)
            else:
                partners = uow.registry.load().partners
            partners = [p for p in partners if scope.covers(p)]
            people, whole = ({}, {}) if not partners else uow.audit.dates(
                partner=one or None, caf=None if one else scope.caf, everything=not (one or scope.caf))
            settings = uow.registry.settings()
        return partners, (people, whole, settings)

    def _resources(self, types: set[str], partners: list[Partner], extra) -> list[Resource[Any]]:
        people, whole, settings = extra
        out: list[Resource[Any]] = []
        for p in partners:
            if "User" in types:
                out += r.users_of(p, people, whole.get(p.siret))
            if "Group" in types:
                out += r.groups_of(p, _holders(p, settings, self.today()), whole.get(p.siret))
        return out

    def get(self, resource_type: ResourceType, resource_id: str, *, response_parameters=None) -> Resource[Any]:
        scope = CURRENT.get()
        if resource_type.name == "User":
            with UnitOfWork(self.engine) as uow:
                p = uow.registry.partner_of(resource_id)
            siret = p.siret if p else None
        else:
            siret = resource_id.split(".", 1)[0] if "." in resource_id else None
        if siret is None:
            raise NotFoundException(detail=f"{resource_type.name} inconnu dans votre périmètre.")
        partners, extra = self._partners(scope, only=siret)
        for res in self._resources({str(resource_type.name)}, partners, extra):
            if res.id == resource_id:
                return res
        raise NotFoundException(detail=f"{resource_type.name} inconnu dans votre périmètre.")

    def search(self, resource_types: list[ResourceType], search_request: SearchRequest[Any], *,
               position: Any = None) -> SearchPage:
        scope, types = CURRENT.get(), {rt.name for rt in resource_types if rt.name}
        narrow = _narrowing(search_request.filter) if types == {"User"} else None
        if narrow is not None:  # one person (the user index) or one partner: that partner built, not the scope
            siret: str | None = narrow[1]
            if narrow[0] == "person":
                with UnitOfWork(self.engine) as uow:
                    p = uow.registry.partner_of(narrow[1])
                siret = p.siret if p else None
            if siret is None:
                return SearchPage(0, [])
            partners, extra = self._partners(scope, only=siret)
        elif types == {"User"} and search_request.filter is None and _by_identifiant(search_request.sort_by):
            return self._page_of_users(scope, search_request)
        else:
            partners, extra = self._partners(scope)
        found = self._resources(types, partners, extra)
        scim_filter = search_request.filter
        if scim_filter is not None and not scim_filter.models and found:
            models = tuple(dict.fromkeys(type(x) for x in found))
            scim_filter = parametrize(ScimFilter, Union[models])(str(scim_filter))  # noqa: UP007
        if scim_filter is not None:
            found = [x for x in found if scim_filter.match(x)]
        descending = search_request.sort_by is not None and \
            search_request.sort_order == SearchRequest.SortOrder.descending
        keyed = [(search_request.sort_value(x), x) for x in found]
        keyed.sort(key=lambda kv: (kv[0] is None, kv[0] if kv[0] is not None else "", kv[1].id), reverse=descending)
        found = [x for _, x in keyed]
        start = search_request.start_index_0 or 0
        stop = None if search_request.count is None else start + search_request.count
        return SearchPage(len(found), found[start:stop])

    def _page_of_users(self, scope: Scope, search_request: SearchRequest[Any]) -> SearchPage:
        """A page of users in identifiant order: only the page's people are built (id = userName = identifiant)."""
        partners, extra = self._partners(scope)
        everyone = sorted(((u.identifiant, p) for p in partners for u in p.users), key=lambda x: x[0],
                          reverse=search_request.sort_order == SearchRequest.SortOrder.descending)
        start = search_request.start_index_0 or 0
        stop = None if search_request.count is None else start + search_request.count
        page = everyone[start:stop]
        built = {res.id: res for p in {id(p): p for _, p in page}.values()
                 for res in self._resources({"User"}, [p], extra)}
        return SearchPage(len(everyone), [built[ident] for ident, _ in page])

    # --- writes: not offered (the service refuses them before they get here) -----------------------------
    def create(self, resource_type, resource):
        raise NotImplementedException(detail="Lecture seule")

    def update(self, resource_type, resource, *, expected_version=None):
        raise NotImplementedException(detail="Lecture seule")

    def delete(self, resource_type, resource_id, *, expected_version=None):
        raise NotImplementedException(detail="Lecture seule")
