"""Starlette integration: `request.user`, `request.auth`, and endpoint guards.

The middleware sets `request.auth.scopes` to `authenticated`, the kind (`system` or `user`) and
one `scope:<name>` per sub-scope, so Starlette's own `@requires("system")` works. Sub-scopes
carry the `scope:` prefix so that a sub-scope named `user` can never pass `@requires("user")`.
The decorators below do the same checks as the FastAPI dependencies and answer a refusal
themselves (JSON for HTTP, close 1008 for websockets), so they work in a Starlette app mounted
under a FastAPI one, whose own error middleware would otherwise turn an exception into a 500.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.websockets import WebSocket

from gatekeeper_auth.errors import Refusal
from gatekeeper_auth.identity import get_identity
from gatekeeper_auth.rules import Rule

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def requires_identity(
    *, clients: Iterable[str] | None = None, scopes: Iterable[str] = ()
) -> Callable[[Endpoint], Endpoint]:
    """Guard a Starlette endpoint (HTTP or websocket) for any verified caller."""
    return _guard(Rule.build(None, clients=clients, scopes=scopes))


def requires_system(
    *, clients: Iterable[str] | None = None, scopes: Iterable[str] = ()
) -> Callable[[Endpoint], Endpoint]:
    """Guard a Starlette endpoint for system requests only: a user token gets 403."""
    return _guard(Rule.build("system", clients=clients, scopes=scopes))


def requires_user(
    *,
    clients: Iterable[str] | None = None,
    scopes: Iterable[str] = (),
    require_user_id: bool = False,
    allow_system_with_scopes: Iterable[str] | None = None,
) -> Callable[[Endpoint], Endpoint]:
    """Guard a Starlette endpoint for requests on behalf of an end user."""
    return _guard(
        Rule.build(
            "user",
            clients=clients,
            scopes=scopes,
            require_user_id=require_user_id,
            allow_system_with_scopes=allow_system_with_scopes,
        )
    )


def _guard(rule: Rule) -> Callable[[Endpoint], Endpoint]:
    def decorate(endpoint: Endpoint) -> Endpoint:
        if not callable(endpoint) or isinstance(endpoint, HTTPConnection):
            raise TypeError(
                "requires_system/requires_user/requires_identity decorate Starlette endpoints; "
                "in FastAPI use Depends(require_system(...)) and friends"
            )

        def refusal(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Refusal | None:
            for arg in (*args, *kwargs.values()):
                if isinstance(arg, HTTPConnection):
                    identity = get_identity(arg)
                    try:
                        rule.check(identity)
                    except Refusal as refused:
                        refused.log(arg.scope, identity.client_id if identity else None)
                        return refused
                    return None
            raise TypeError(f"{endpoint.__qualname__} got no request or websocket to guard")

        async def answer(refused: Refusal, args: tuple[Any, ...]) -> Response | None:
            websocket = next((a for a in args if isinstance(a, WebSocket)), None)
            if websocket is None:
                return refused.response()
            await websocket.close(1008, refused.code)
            return None

        if inspect.iscoroutinefunction(endpoint):

            @functools.wraps(endpoint)
            async def guarded(*args: Any, **kwargs: Any) -> Any:
                refused = refusal(args, kwargs)
                if refused is not None:
                    return await answer(refused, (*args, *kwargs.values()))
                return await endpoint(*args, **kwargs)

            return guarded  # type: ignore[return-value]

        @functools.wraps(endpoint)
        def guarded_sync(*args: Any, **kwargs: Any) -> Any:
            refused = refusal(args, kwargs)
            if refused is not None:
                return refused.response()  # websocket endpoints are never sync
            return endpoint(*args, **kwargs)

        return guarded_sync  # type: ignore[return-value]

    return decorate
