"""The SCIM application mounted at /scim/v2 beside the API: scim2-server serves the protocol; here, who calls.
A bearer token from Keycloak (client credentials) with audience `scim` and the role scim:lecture — whose `partner`
or `caf` claim is its scope — or scim:lecture-nationale (every partner). Writes are refused before reading a
body: they go through the API, where the caps, the ownership marker and the R12 hierarchy apply."""

from __future__ import annotations

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    ETag,
    External,
    Filter,
    ForbiddenException,
    Pagination,
    Patch,
    Reference,
    ServiceProviderConfig,
    Sort,
    UnauthorizedException,
)
from scim2_server.applications.wsgi import WSGIApplication
from scim2_server.routing import Operation
from scim2_server.service import ScimService

from provisioning.errors import ProvisioningError
from provisioning.scim import resources
from provisioning.scim.storage import CURRENT, RegistryStorage, Scope

READ_ROLE, NATIONAL_ROLE = "scim:lecture", "scim:lecture-nationale"
MAX_RESULTS = 200
READS = {Operation.query, Operation.search, Operation.search_with_body, Operation.service_provider_config,
         Operation.resource_types, Operation.resource_type, Operation.schemas, Operation.schema}

CONFIG = ServiceProviderConfig(
    documentation_uri=Reference[External]("https://github.com/mon-compte-partenaire#scim"),
    patch=Patch(supported=False), bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
    filter=Filter(supported=True, max_results=MAX_RESULTS), change_password=ChangePassword(supported=False),
    sort=Sort(supported=True), etag=ETag(supported=True),
    pagination=Pagination(cursor=False, index=True, default_pagination_method=Pagination.DefaultPaginationMethod.index,
                          default_page_size=MAX_RESULTS, max_page_size=MAX_RESULTS),
    authentication_schemes=[AuthenticationScheme(
        type=AuthenticationScheme.Type.oauthbearertoken, name="OAuth 2.0 Bearer Token (Keycloak)",
        description="Jeton d'accès client-credentials du royaume mon-compte-partenaire, audience « scim »",
        spec_uri=Reference[External]("https://www.rfc-editor.org/rfc/rfc6750"), primary=True)])


def scope_of(actor) -> Scope:
    """What a token may read; refused when it may read nothing."""
    if NATIONAL_ROLE in actor.roles:
        return Scope(national=True)
    if READ_ROLE in actor.roles and actor.partner:
        return Scope(partner=actor.partner)
    if READ_ROLE in actor.roles and actor.caf:
        return Scope(caf=actor.caf)
    raise ForbiddenException(detail="Ce jeton ne donne pas accès à l'annuaire SCIM (rôle scim:lecture avec une "
                                    "claim caf ou partner, ou scim:lecture-nationale).")


MAX_BODY = 16 * 1024  # a search body is a few hundred bytes: nothing larger is read into memory


class ReadOnlyService(ScimService):
    def max_body_size(self, request) -> int | None:
        """scim2-server reads any non-bulk body whole, and before authentication: bounded here."""
        limit = super().max_body_size(request)
        return MAX_BODY if limit is None else min(limit, MAX_BODY)

    def authorize(self, request, target, resource_type) -> None:
        if target.operation not in READS:
            raise ForbiddenException(detail="Annuaire en lecture seule : les créations et modifications passent par "
                                            "l'API de provisionnement (plafonds, propriété, hiérarchie).")


class ScimApplication(WSGIApplication):
    def __init__(self, engine, verifier, today=None):
        provider = resources.provider(CONFIG)
        storage = RegistryStorage(engine, **({"today": today} if today else {}))
        super().__init__(storage, provider, ReadOnlyService(provider))
        self.verifier = verifier

    def check_auth(self, request) -> None:
        try:
            actor = self.verifier.verify(request.header("Authorization"))
        except ProvisioningError as e:
            raise UnauthorizedException(detail=e.description) from None
        request.subject = actor
        scope_of(actor)  # a token without a SCIM role is refused before anything is read

    def get_subject(self, request):
        return getattr(request, "subject", None)

    def dispatch_request(self, request):
        if self.needs_auth(request):
            self.check_auth(request)
            token = CURRENT.set(scope_of(request.subject))
        else:
            token = CURRENT.set(Scope())  # the service provider configuration: public, reads nothing
        try:
            return self.handler.handle(request)
        finally:
            CURRENT.reset(token)
