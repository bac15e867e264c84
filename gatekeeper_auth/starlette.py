"""Starlette integration: `request.user`, `request.auth`, and endpoint decorators.

The middleware sets `request.user` to a `GatekeeperUser` (a Starlette `BaseUser`) and
`request.auth` to Starlette's `AuthCredentials` with `authenticated`, the kind (`system`, `user`
or `unknown`) and one `scope:<name>` per sub-scope, so Starlette's own `@requires("system")`
works. Sub-scopes carry the `scope:` prefix so that a sub-scope named `user` can never pass
`@requires("user")`. The decorators below apply the same rules as the FastAPI dependencies.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ParamSpec, TypeVar, cast

from starlette.authentication import AuthCredentials, BaseUser
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from gatekeeper_auth.errors import Refusal
from gatekeeper_auth.feide_api import FeideAPI
from gatekeeper_auth.group_rule import GroupRule
from gatekeeper_auth.identity import Identity
from gatekeeper_auth.rules import Rule

P = ParamSpec("P")
R = TypeVar("R")


class GatekeeperUser(BaseUser):
    """Starlette's `request.user`: `.caller` is the `Identity` (None when anonymous).

    Immutable, so one instance can serve every request of the same caller. `.identity` is
    Starlette's string id: for a user, the user id, else the first secondary id
    (`feide:alice@org.no`), else `""` (never the client id, which two users of one client
    would share with each other and with the client's own system calls); for a system request,
    the client id; for an `unknown` one (no `userid` grant), `""`.
    """

    __slots__ = ("caller",)
    caller: Identity | None

    def __init__(self, caller: Identity | None) -> None:
        object.__setattr__(self, "caller", caller)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("GatekeeperUser is immutable: it may be shared between requests")

    @property
    def is_authenticated(self) -> bool:
        return self.caller is not None

    @property
    def display_name(self) -> str:
        return self.identity

    @property
    def identity(self) -> str:
        caller = self.caller
        if caller is None:
            return ""
        if caller.kind == "system":
            return caller.client_id
        if caller.user_id is not None:
            return caller.user_id
        return str(caller.secondary_ids[0]) if caller.secondary_ids else ""


class GatekeeperAuth(AuthCredentials):
    """Starlette's `request.auth`: `.scopes` are the names `@requires` checks, `authenticated`,
    the kind and `scope:<name>` per sub-scope. Immutable (a tuple), so one instance can serve
    every request of the same caller."""

    def __init__(self, identity: Identity | None) -> None:
        scopes = () if identity is None else _scope_names(identity)
        self.__dict__["scopes"] = scopes  # past our own __setattr__, which refuses

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("GatekeeperAuth is immutable: it may be shared between requests")


def _scope_names(identity: Identity) -> tuple[str, ...]:
    return ("authenticated", identity.kind, *sorted(["scope:" + s for s in identity.scopes]))


def identity_endpoint(
    *, clients: Iterable[str] | None = None, scopes: Iterable[str] = ()
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Guard a Starlette endpoint (HTTP or websocket) for any verified caller."""
    return _guard(Rule.build(None, clients=clients, scopes=scopes).admit)


def system_endpoint(
    *, clients: Iterable[str] | None = None, scopes: Iterable[str] = ()
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Guard a Starlette endpoint for system requests only: a user token gets 403."""
    return _guard(Rule.build("system", clients=clients, scopes=scopes).admit)


def user_endpoint(
    *,
    clients: Iterable[str] | None = None,
    scopes: Iterable[str] = (),
    require_user_id: bool = False,
    allow_system_with_scopes: Iterable[str] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Guard a Starlette endpoint for requests on behalf of an end user."""
    return _guard(
        Rule.build(
            "user",
            clients=clients,
            scopes=scopes,
            require_user_id=require_user_id,
            allow_system_with_scopes=allow_system_with_scopes,
        ).admit
    )


def group_endpoint(
    *group_ids: str, affiliation: str | None = None, feide: FeideAPI
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Guard a Starlette endpoint for users whom Feide lists in one of `group_ids`, with
    `affiliation` there when given: the rule of FastAPI's `require_group`. A sync endpoint
    runs in the thread pool, as Starlette runs it."""
    return _guard(GroupRule.build(group_ids, affiliation, feide).admit)


def _guard(
    admit: Callable[[HTTPConnection], Identity | Awaitable[Identity]],
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """The decorator of a rule's `admit`; a coroutine `admit` (one that asks Feide) makes
    every endpoint async, a sync one running in the thread pool as Starlette would run it."""
    asks = inspect.iscoroutinefunction(admit)

    def decorate(endpoint: Callable[P, R]) -> Callable[P, R]:
        connection = _connection_finder(endpoint)

        is_async = inspect.iscoroutinefunction(endpoint)  # once, not per request

        def refused(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            """None when the caller may in; else what the endpoint answers instead."""
            try:
                admit(connection(args, kwargs))  # websockets: Starlette closes them
            except Refusal as refusal:
                # Starlette's own handler would render the JSON detail as plain text.
                return refusal.response()
            return None

        async def refused_after_asking(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            try:
                await cast(Awaitable[Identity], admit(connection(args, kwargs)))
            except Refusal as refusal:
                return refusal.response()
            return None

        if asks or is_async:

            @functools.wraps(endpoint)
            async def guarded(*args: P.args, **kwargs: P.kwargs) -> Any:
                answer = await refused_after_asking(args, kwargs) if asks else refused(args, kwargs)
                if answer is not None:
                    return answer
                if is_async:
                    return await cast(Awaitable[Any], endpoint(*args, **kwargs))
                return await run_in_threadpool(endpoint, *args, **kwargs)

            return cast(Callable[P, R], guarded)

        @functools.wraps(endpoint)
        def guarded_sync(*args: P.args, **kwargs: P.kwargs) -> Any:
            answer = refused(args, kwargs)
            return answer if answer is not None else endpoint(*args, **kwargs)

        return cast(Callable[P, R], guarded_sync)

    return decorate


def _connection_finder(
    endpoint: Callable[..., Any],
) -> Callable[[tuple[Any, ...], dict[str, Any]], HTTPConnection]:
    """Find the request or websocket parameter once, at decoration, as Starlette's `requires`
    does: by name (`request`, `websocket`), else by a `Request`/`WebSocket` annotation."""
    if not callable(endpoint) or isinstance(endpoint, HTTPConnection):
        raise TypeError(
            "system_endpoint/user_endpoint/identity_endpoint decorate Starlette endpoints; "
            "in FastAPI use Depends(require_system(...)) and friends"
        )
    parameters = list(inspect.signature(endpoint).parameters.values())
    found = [
        (position, parameter.name)
        for position, parameter in enumerate(parameters)
        if parameter.name in ("request", "websocket")
        or (
            inspect.isclass(parameter.annotation)
            and issubclass(parameter.annotation, HTTPConnection)
        )
    ]
    if not found:
        raise TypeError(
            f"{getattr(endpoint, '__qualname__', endpoint)} has no 'request' or 'websocket' "
            "parameter to guard: name it so, as Starlette's own @requires expects."
        )
    position, name = found[0]

    def connection(args: tuple[Any, ...], kwargs: dict[str, Any]) -> HTTPConnection:
        conn = kwargs[name] if name in kwargs else args[position]
        if not isinstance(conn, HTTPConnection):
            raise TypeError(f"{endpoint.__qualname__} got no request or websocket")
        return conn

    return connection


_RENAMED = {
    "requires_identity": "identity_endpoint",
    "requires_system": "system_endpoint",
    "requires_user": "user_endpoint",
}


def __getattr__(name: str) -> Any:
    """The names before 0.2 (`requires_*`, one letter from FastAPI's `require_*`), deprecated."""
    new = _RENAMED.get(name)
    if new is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"gatekeeper_auth.{name} is renamed {new}; the old name goes away in the next release.",
        DeprecationWarning,
        stacklevel=2,
    )
    return globals()[new]
