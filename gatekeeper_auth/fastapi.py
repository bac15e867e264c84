"""FastAPI dependencies: `require_system()`, `require_user()`, `require_group()` and friends.

Each factory returns a configured dependency object, so it works in `Depends(...)`, in a route's
or router's `dependencies=[...]` and in `Annotated` aliases. The guards are FastAPI security
schemes: guarded routes show a lock in Swagger UI, and the gatekeeper's `X-Dataporten-*` headers
are never advertised as parameters a client could set.
"""

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase
from starlette.requests import HTTPConnection

from gatekeeper_auth._platform import TOKEN_URL, gatekeeper_scope
from gatekeeper_auth.feide_api import FeideAPI
from gatekeeper_auth.group_rule import GroupRule
from gatekeeper_auth.identity import Identity
from gatekeeper_auth.rules import Rule, get_identity

SCHEME_NAME = "DataportenGatekeeper"
OAUTH2_SCHEME_NAME = "DataportenOAuth2"
DATAPORTEN_TOKEN_URL = TOKEN_URL
_SCHEME_DESCRIPTION = (
    "An access token from Dataporten, sent to the API Gatekeeper as "
    "`Authorization: Bearer <token>`. The gatekeeper checks it and forwards the request "
    "with the caller's client id, user and sub-scopes."
)


async def optional_identity(request: HTTPConnection) -> Identity | None:
    """The caller, or None for an anonymous request; never refuses.

    Wrong gatekeeper credentials are refused by the middleware (401) before any route runs, so
    None means "no credentials", never "bad credentials" — unless the middleware was given
    `unrecognised_authorization="anonymous"`: then None is also any `Authorization` it did not
    recognise, and the guards answer such a request with the refusal it would have had.
    """
    return get_identity(request)


class GatekeeperGuard(SecurityBase):
    """A dependency that returns the caller's `Identity` or refuses the request.

    A refusal is raised as `Refusal`, an `HTTPException`, which FastAPI renders as
    `{"detail": {"code": ..., "message": ...}}`: 401 for an anonymous request, 403 for the wrong
    kind, client or sub-scopes. For a websocket it is a close with code 1008.
    """

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.model = HTTPBearerModel(description=_SCHEME_DESCRIPTION)
        self.scheme_name = SCHEME_NAME

    def __repr__(self) -> str:
        return f"GatekeeperGuard({self.rule.describe(show_clients=True)})"

    async def __call__(self, request: HTTPConnection) -> Identity:
        return self.rule.admit(request)


def require_identity(
    *, clients: Iterable[str] | None = None, scopes: Iterable[str] = ()
) -> GatekeeperGuard:
    """Any verified caller, user or system, optionally from given clients with sub-scopes."""
    return GatekeeperGuard(Rule.build(None, clients=clients, scopes=scopes))


def require_system(
    *, clients: Iterable[str] | None = None, scopes: Iterable[str] = ()
) -> GatekeeperGuard:
    """A system request (client credentials, no user). A user token is refused with 403
    `user_token_not_allowed` even when its client and sub-scopes would match."""
    return GatekeeperGuard(Rule.build("system", clients=clients, scopes=scopes))


def require_user(
    *,
    clients: Iterable[str] | None = None,
    scopes: Iterable[str] = (),
    require_user_id: bool = False,
    allow_system_with_scopes: Iterable[str] | None = None,
) -> GatekeeperGuard:
    """A request on behalf of an end user; a system token gets 403 `system_token_not_allowed`.

    `require_user_id=True` also insists on `X-Dataporten-Userid` (403 `user_id_missing`), which
    the gatekeeper sends only when the API has the `userid` grant.
    `allow_system_with_scopes={"act-as-service"}` lets in a system token that carries all of
    those sub-scopes: a user, unless a trusted system client.
    """
    return GatekeeperGuard(
        Rule.build(
            "user",
            clients=clients,
            scopes=scopes,
            require_user_id=require_user_id,
            allow_system_with_scopes=allow_system_with_scopes,
        )
    )


class GroupGuard(SecurityBase):
    """`require_group`'s dependency: the caller's `Identity` if Feide lists the user in one of
    the groups, else a `Refusal` (FastAPI renders it as `GatekeeperGuard`'s are)."""

    def __init__(self, rule: GroupRule) -> None:
        self.rule = rule
        self.model = HTTPBearerModel(description=_SCHEME_DESCRIPTION)
        self.scheme_name = SCHEME_NAME

    def __repr__(self) -> str:
        return f"GroupGuard({self.rule.describe()})"

    async def __call__(self, request: HTTPConnection) -> Identity:
        return await self.rule.admit(request)


def require_group(*group_ids: str, affiliation: str | None = None, feide: FeideAPI) -> GroupGuard:
    """A user whom Feide lists in one of `group_ids` (`"fc:org:uio.no"`), with `affiliation`
    (`"employee"`) in that group when given; otherwise 403 `group_missing`.

    A system token gets 403 `system_token_not_allowed` without a call to Feide; Feide's own
    refusal is 403 `feide_access_denied`, its failure 503 `feide_unavailable`.
    """
    return GroupGuard(GroupRule.build(group_ids, affiliation, feide))


def describe_guards(
    app: FastAPI,
    *,
    token_url: str = DATAPORTEN_TOKEN_URL,
    authorization_url: str | None = None,
    show_clients: bool = False,
    api: str | None = None,
) -> None:
    """Describe the guarded routes in the app's OpenAPI document, for Swagger UI and clients.

    Call it once after the routes are declared. It adds to each guarded operation:
    - what the route needs (kind, sub-scopes; the client allow-list only with
      `show_clients=True`, since `/openapi.json` is public);
    - an OAuth2 security scheme beside the bearer one, with the client-credentials flow at
      `token_url` (Dataporten's by default) and, given `authorization_url`, the
      authorization-code flow, so that Swagger UI's **Authorize** fetches a token itself.
      Point the app's `servers` at the gatekeeper so that "Try it out" goes through it.
    - given `api` (the gatekeeper's id, `myapi` for `gk_myapi`), the scopes to ask for: the
      basic scope `gk_<api>` and each sub-scope a guard names, per operation, so that Swagger
      UI's Authorize dialog lists them instead of an empty list.
    """
    guarded: dict[tuple[str, str], list[str]] = {}
    every_scope: dict[str, str] = {}
    if api is not None:
        every_scope[gatekeeper_scope(api)] = f"the basic scope of the API {api}"
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        guards = [
            dep.call.rule
            for dep in walk(route.dependant)
            if isinstance(dep.call, GatekeeperGuard | GroupGuard)
        ]
        if not guards:
            continue
        rules = [rule.describe(show_clients=show_clients) for rule in guards]
        needed = []
        if api is not None:
            needed = [gatekeeper_scope(api)]
            rules_ = [rule for rule in guards if isinstance(rule, Rule)]
            for name in sorted({s for rule in rules_ for s in rule.scopes}):
                every_scope[gatekeeper_scope(api, name)] = f"the sub-scope {name}"
                needed.append(gatekeeper_scope(api, name))
            for rule in rules_:
                for name in sorted(rule.allow_system_with_scopes or ()):
                    every_scope.setdefault(gatekeeper_scope(api, name), f"the sub-scope {name}")
        for method in route.methods or ():
            guarded[(route.path_format, method.lower())] = needed
        line = "**Dataporten Gatekeeper:** " + " and ".join(dict.fromkeys(rules))
        if line not in (route.description or ""):
            route.description = f"{route.description}\n\n{line}" if route.description else line
    flows: dict[str, Any] = {"clientCredentials": {"tokenUrl": token_url, "scopes": every_scope}}
    if authorization_url is not None:
        flows["authorizationCode"] = {
            "authorizationUrl": authorization_url,
            "tokenUrl": token_url,
            "scopes": every_scope,
        }
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes[OAUTH2_SCHEME_NAME] = {
            "type": "oauth2",
            "description": _SCHEME_DESCRIPTION,
            "flows": flows,
        }
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                security = operation.get("security")
                needed = guarded.get((path, method))
                alternative = {OAUTH2_SCHEME_NAME: needed}
                if needed is not None and security and alternative not in security:
                    security.append(alternative)  # either scheme will do
        return schema

    app.openapi_schema = None
    app.openapi = openapi  # type: ignore[method-assign]


def walk(dependant: Dependant) -> Iterator[Dependant]:
    """Every dependency of a route, depth first (what `describe_guards` and the test
    helpers search for guards)."""
    yield dependant
    for sub in dependant.dependencies:
        yield from walk(sub)
