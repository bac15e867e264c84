"""FastAPI dependencies: `require_system()`, `require_user()`, `require_identity()` and friends.

Each factory returns a configured dependency object, so it works in `Depends(...)`, in a route's
or router's `dependencies=[...]` and in `Annotated` aliases. The guards are FastAPI security
schemes: guarded routes show a lock in Swagger UI, and the gatekeeper's `X-Dataporten-*` headers
are never advertised as parameters a client could set.
"""

from collections.abc import Iterable, Iterator

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase
from starlette.requests import HTTPConnection

from gatekeeper_auth.identity import Identity, get_identity
from gatekeeper_auth.rules import Rule

SCHEME_NAME = "DataportenGatekeeper"
_SCHEME_DESCRIPTION = (
    "An access token from Dataporten, sent to the API Gatekeeper as "
    "'Authorization: Bearer <token>'. The gatekeeper checks it and forwards the request "
    "with the caller's client id, user and sub-scopes."
)


async def optional_identity(request: HTTPConnection) -> Identity | None:
    """The caller, or None for an anonymous request; never refuses.

    Wrong gatekeeper credentials are still refused by the middleware (401) before any route
    runs, so None always means "no credentials", never "bad credentials".
    """
    return get_identity(request)


class GatekeeperGuard(SecurityBase):
    """A dependency that returns the caller's `Identity` or refuses the request.

    Refusals are raised as `Refusal` and answered by `GatekeeperMiddleware` with a JSON body
    (`detail`, `code`): 401 for an anonymous request, 403 for the wrong kind, client or
    sub-scopes.
    """

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.model = HTTPBearerModel(description=_SCHEME_DESCRIPTION)
        self.scheme_name = SCHEME_NAME

    def __repr__(self) -> str:
        return f"GatekeeperGuard({self.rule.describe()})"

    async def __call__(self, request: HTTPConnection) -> Identity:
        return self.rule.check(get_identity(request))


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


def describe_guards(app: FastAPI) -> None:
    """Add what each guarded route needs (kind, sub-scopes, clients) to its OpenAPI description.

    Call it once after the routes are declared. The security requirement alone cannot say which
    sub-scopes a route needs; its description can, and Swagger UI shows it.
    """
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        rules = [
            dep.call.rule.describe()
            for dep in _walk(route.dependant)
            if isinstance(dep.call, GatekeeperGuard)
        ]
        line = "**Dataporten Gatekeeper:** " + " and ".join(dict.fromkeys(rules))
        if rules and line not in (route.description or ""):
            route.description = f"{route.description}\n\n{line}" if route.description else line
    app.openapi_schema = None


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _walk(sub)
