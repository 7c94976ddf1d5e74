"""Where the SCIM resources come from: the registry, seen through the caller's scope (a partner, a Caf, or the
whole branch). Anything outside the scope does not exist for the caller (404, never 403: a partner cannot tell
another partner's people from nobody). Read-only."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from datetime import date
from typing import Any, Union

import sqlalchemy as sa
from scim2_models import (
    NotFoundException,
    NotImplementedException,
    Resource,
    ResourceType,
    ScimFilter,
    SearchRequest,
)
from scim2_models.path import CompareOperator, Comparison, LogicalExpr, LogicalOperator, Present
from scim2_server.storage import ScimStorage, SearchPage
from scim2_server.utils import parametrize

from provisioning.domain import catalogue
from provisioning.domain import naming as n
from provisioning.domain.model import Partner, Registry
from provisioning.reconcile.desired import desired_state, offered_keys
from provisioning.scim import resources as r
from provisioning.store import tables as t
from provisioning.store.uow import UnitOfWork

USER_NAME = {"username", "id", "urn:ietf:params:scim:schemas:core:2.0:user:username"}
EMAIL = {"emails", "emails.value", "urn:ietf:params:scim:schemas:core:2.0:user:emails",
         "urn:ietf:params:scim:schemas:core:2.0:user:emails.value"}


SIRET = f"{r.PartnerUser.__schema__}:siret".lower()


def _candidates(node) -> sa.ColumnElement[bool] | None:
    """A condition on the identifiant index that every user the filter matches meets (a superset: the whole
    filter is still applied to what it selects), or None when the filter says nothing the index holds. The
    index keeps identifiants and addresses lower-case, as userName and emails compare (RFC 7643: not
    case-exact): `userName`/`id` and `emails`/`emails.value` with eq, co, sw, ew, pr, and our extension's
    `siret eq`; `and` keeps what it can, `or` only when both sides can, `not` nothing (issue 27 §2: a national
    `emails co` read every partner)."""
    ix = t.user_index.c
    if isinstance(node, LogicalExpr):
        parts = [_candidates(term) for term in node.terms]
        if node.op == LogicalOperator.and_:
            known = [c for c in parts if c is not None]
            return sa.and_(*known) if known else None
        return sa.or_(*parts) if all(c is not None for c in parts) else None  # type: ignore[arg-type]
    if isinstance(node, Present):
        return sa.true() if _column(node.attr_path) is not None else None
    if not (isinstance(node, Comparison) and isinstance(node.value, str)):
        return None
    column = _column(node.attr_path)
    if column is None:
        return None
    if column is ix.partner_siret:
        return column == node.value if node.op == CompareOperator.eq else None
    value = node.value.lower()
    return {CompareOperator.eq: lambda: column == value,
            CompareOperator.co: lambda: column.contains(value, autoescape=True),
            CompareOperator.sw: lambda: column.startswith(value, autoescape=True),
            CompareOperator.ew: lambda: column.endswith(value, autoescape=True)}.get(node.op, lambda: None)()


def _exact(node) -> bool:
    """Whether `_candidates` selects exactly the users the filter matches (every term on what the index holds),
    so that the count, the order and the page can be the database's."""
    if isinstance(node, LogicalExpr):
        return all(_exact(term) for term in node.terms)
    if isinstance(node, Present):
        return _column(node.attr_path) is not None
    return isinstance(node, Comparison) and _candidates(node) is not None


def _column(path) -> sa.Column | None:
    ix, attr = t.user_index.c, str(path).lower()
    if attr in USER_NAME:
        return ix.identifiant
    if attr in EMAIL:
        return ix.email
    if attr == SIRET:
        return ix.partner_siret
    return None


def _by_id(sort_by) -> bool:
    return sort_by is None or str(sort_by).lower() in {"id", "urn:ietf:params:scim:schemas:core:2.0:group:id"}


def group_keys(p: Partner, settings, today: date) -> list[str]:
    """The keys of a partner's groups as `_holders` finds them (every partner group carries its role): its own
    two, and its services' (reconcile/desired.offered_keys) — from its header alone."""
    return sorted({*n.PARTNER_OWN_GROUPS, *offered_keys(catalogue.current(), p, settings, today)}
                  & set(n.partner_groups()))


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
    out, known = {}, n.partner_groups()
    for path, spec in state.groups.items():
        key = dict(spec.attributes).get(n.KIND_ATTR)
        if spec.roles and key in known:
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
        node = getattr(search_request.filter, "ast", None) if search_request.filter is not None else None
        narrow = _candidates(node) if types == {"User"} and node is not None else None
        if narrow is not None and _exact(node) and _by_identifiant(search_request.sort_by):
            return self._page_of_users(scope, search_request, narrow)  # one scan of the index, then the page
        if narrow is not None:  # the index selects the candidates: only their partners are read, only they built
            return self._finish(self._candidate_users(scope, narrow), search_request)
        if types == {"User"} and search_request.filter is None and _by_identifiant(search_request.sort_by):
            return self._page_of_users(scope, search_request)
        if types == {"Group"} and search_request.filter is None and _by_id(search_request.sort_by):
            return self._page_of_groups(scope, search_request)
        partners, extra = self._partners(scope)
        return self._finish(self._resources(types, partners, extra), search_request)

    def _in_scope(self, scope: Scope) -> sa.ColumnElement[bool]:
        """The caller's people, as a condition on the index: a Caf's through its partners, asked row by row
        (EXISTS), never a list of the Caf's 60,000 SIRETs built for each query."""
        ix, p = t.user_index.c, t.partners.c
        if scope.partner:
            return ix.partner_siret == scope.partner
        if scope.caf:
            return sa.exists().where(p.siret == ix.partner_siret, p.caf_code == scope.caf)
        return ix.partner_siret.is_not(None)  # a partner's user, not a Caf administrator

    def _build(self, scope: Scope, rows: list[tuple[str, str]]) -> dict[str, Resource[Any]]:
        """The users of these (identifiant, partner) rows, each built once: their partners read 500 at a time,
        their dates likewise (issue 27 §2: what a search costs is what it finds, not the branch)."""
        wanted, sirets = {ident for ident, _ in rows}, sorted({siret for _, siret in rows})
        with UnitOfWork(self.engine) as uow:
            partners = uow.registry.people_in(rows)  # those people's rows, not their partners' others
            people, whole = uow.audit.dates_of(sorted(wanted), sirets)
        return {res.id: res for p in partners if scope.covers(p) for res in r.users_of(p, people, whole.get(p.siret))}

    def _candidate_users(self, scope: Scope, narrow: sa.ColumnElement[bool]) -> list[Resource[Any]]:
        with UnitOfWork(self.engine) as uow:
            rows = uow.registry.index_rows(sa.and_(self._in_scope(scope), narrow))
        return list(self._build(scope, rows).values())

    @staticmethod
    def _finish(found: list[Resource[Any]], search_request: SearchRequest[Any]) -> SearchPage:
        """The whole filter, the order and the page, over the resources built."""
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

    def _page_of_users(self, scope: Scope, search_request: SearchRequest[Any],
                       narrow: sa.ColumnElement[bool] | None = None) -> SearchPage:
        """A page of users in identifiant order, from the index: the count and the page in SQL, then only the
        page's people read and built (id = userName = identifiant). `narrow`: a filter the index answers
        exactly (`_exact`: a national `emails co` finding 6,250 people built 6,250 resources for a page of 20)."""
        descending = search_request.sort_by is not None and \
            search_request.sort_order == SearchRequest.SortOrder.descending  # as _finish: no order without a key
        start, count = search_request.start_index_0 or 0, search_request.count
        with UnitOfWork(self.engine) as uow:
            if narrow is None:
                total, page = uow.registry.index_page(self._in_scope(scope), start, count, descending=descending)
            else:  # what a filter selects: read once (one scan of the index), sorted and cut here
                found = sorted(uow.registry.index_rows(sa.and_(self._in_scope(scope), narrow)), reverse=descending)
                total, page = len(found), found[start:None if count is None else start + count]
        built = self._build(scope, page)
        return SearchPage(total, [built[ident] for ident, _ in page if ident in built])

    def _page_of_groups(self, scope: Scope, search_request: SearchRequest[Any]) -> SearchPage:
        """A page of groups in id order (<SIRET>.<key>): which groups each partner has is decided by its header
        alone (its conventions' services, their opening days), so the count and the page come from the headers;
        only the page's partners are read whole and only their groups built (issue 27: /Groups built 300,000
        groups for a page of 50)."""
        descending = search_request.sort_by is not None and \
            search_request.sort_order == SearchRequest.SortOrder.descending  # as _finish: no order without a key
        start, count = search_request.start_index_0 or 0, search_request.count
        with UnitOfWork(self.engine) as uow:
            heads = uow.registry.headers(partner=scope.partner, caf=None if scope.partner else scope.caf)
            settings = uow.registry.settings()
        today = self.today()
        ids = [f"{p.siret}.{key}" for p in heads if scope.covers(p) for key in group_keys(p, settings, today)]
        ids.sort(reverse=descending)
        page = ids[start:None if count is None else start + count]
        sirets = sorted({i.split(".", 1)[0] for i in page})
        with UnitOfWork(self.engine) as uow:
            partners = uow.registry.partners_in(sirets)
            _, whole = uow.audit.dates_of([], sirets)
        built = {g.id: g for g in self._resources({"Group"}, partners, ({}, whole, settings))}
        return SearchPage(len(ids), [built[i] for i in page if i in built])

    # --- writes: not offered (the service refuses them before they get here) -----------------------------
    def create(self, resource_type, resource):
        raise NotImplementedException(detail="Lecture seule")

    def update(self, resource_type, resource, *, expected_version=None):
        raise NotImplementedException(detail="Lecture seule")

    def delete(self, resource_type, resource_id, *, expected_version=None):
        raise NotImplementedException(detail="Lecture seule")
