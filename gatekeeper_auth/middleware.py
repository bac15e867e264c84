"""`GatekeeperMiddleware`: find out who calls, once per request, and write it on the scope.

Modelled on Starlette's `AuthenticationMiddleware`: the authenticators own how they recognise a
caller (`Gatekeeper` the gatekeeper's credentials and headers, `FeideJWT` a Feide JWT); this
middleware only collects the headers, asks them in order, and writes the result. A pure ASGI
middleware: it reads `scope["headers"]` and nothing else of the request, never touches the
body, and passes `lifespan` through, starting and stopping the authenticators in it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Literal, Unpack, cast

from pydantic import ValidationError
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gatekeeper_auth._caller import ANONYMOUS, Caller
from gatekeeper_auth._platform import HEADER_PREFIX, JWT_CHALLENGE
from gatekeeper_auth.errors import ConfigurationError, Refusal
from gatekeeper_auth.gatekeeper import Gatekeeper, GatekeeperOptions
from gatekeeper_auth.headers import GatekeeperHeaders, Key
from gatekeeper_auth.jwt import FeideJWT
from gatekeeper_auth.rules import REFUSAL_KEY, SCOPE_KEY
from gatekeeper_auth.settings import GatekeeperSettings, environment_names, explain

logger = logging.getLogger("gatekeeper_auth")

OnError = Callable[[HTTPConnection, Refusal], Response]
Unrecognised = Literal["refuse", "anonymous"]
# Refusals their authenticator has logged already, in its own words.
_LOGGED = frozenset({"gatekeeper_credentials_invalid", "gatekeeper_network_not_allowed"})


class GatekeeperMiddleware:
    """Marks each request as anonymous, or as a verified caller with an `Identity`.

    Configure it with `gatekeeper=Gatekeeper(...)` and/or `jwt=FeideJWT(...)`, with
    `settings=GatekeeperSettings(...)` (which may describe both), with `Gatekeeper`'s keyword
    options directly (`password=...`), or with nothing, to read `GatekeeperSettings()` from the
    environment. What is given in code is the whole configuration: the environment is then not
    read (a warning names any `GATEKEEPER_*` variable it ignores). A request:

    - with the gatekeeper's credentials gets an `Identity`, or 400 if its headers are malformed;
    - with `Authorization: Bearer <JWT>` and a `jwt` configured gets the token's `Identity`
      (`source="jwt"`), or 401 `token_invalid`;
    - without an `Authorization` header is *anonymous*: no identity (guards answer it 401);
    - with any other `Authorization` is answered 401, unless it is an `OPTIONS` request (the
      gatekeeper forwards the caller's own header on a preflight) or
      `unrecognised_authorization="anonymous"`: then it passes on anonymous, and a guard answers
      it with the refusal it would have had.

    The caller is on the scope: `get_identity(request)`, `request.state.identity`, and
    Starlette's `request.user` / `request.auth`. `on_error(connection, refusal)` renders the
    middleware's refusals of HTTP requests (the default is `{"detail": {"code", "message"}}`);
    give FastAPI the same function for `Refusal` to render the guards' refusals alike.

    A configuration error raises `ConfigurationError` at once; when the middleware is built
    while serving (Starlette builds `add_middleware` stacks on the first event, the lifespan),
    it fails the lifespan with the message, so that the server exits instead of starting.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        gatekeeper: Gatekeeper | None = None,
        jwt: FeideJWT | None = None,
        settings: GatekeeperSettings | None = None,
        unrecognised_authorization: Unrecognised = "refuse",
        on_error: OnError | None = None,
        **options: Unpack[GatekeeperOptions],
    ) -> None:
        self.app = app
        self._error: ConfigurationError | None = None
        try:
            if unrecognised_authorization not in ("refuse", "anonymous"):
                raise ConfigurationError(
                    "GatekeeperMiddleware unrecognised_authorization= is 'refuse' (the default) "
                    "or 'anonymous'."
                )
            self._gatekeeper, self._jwt = _authenticators(options, gatekeeper, jwt, settings)
        except ConfigurationError as error:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                raise error from None  # built at import or by hand: fail right here
            self._error = error  # built by a framework while serving: fail the lifespan
            return
        self._anonymous = unrecognised_authorization == "anonymous"
        self._stack_warned = False
        self._on_error = on_error
        gk = self._gatekeeper
        self._headers = gk.headers if gk is not None else GatekeeperHeaders(HEADER_PREFIX)
        self._remembered = None if gk is None else gk.remembered
        # After a miss in `remembered`, the gatekeeper need not look in its cache again.
        self._gatekeeper_caller = None if gk is None else gk.verify if gk.remembered else gk.caller
        if gk is not None:
            gk.start_up_log()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope_type = scope["type"]
        if scope_type != "http" and scope_type != "websocket":
            if scope_type == "lifespan":
                if self._error is not None:
                    await _fail_lifespan(self._error, receive, send)
                if self._jwt is not None:
                    receive = _keys_at_start_up(self._jwt, receive)
            await self.app(scope, receive, send)
            return
        if self._error is not None:
            raise self._error
        # The hot path: one pass over the headers, one dict lookup for a caller seen before
        # (the gatekeeper's cache, which it hands out only when no address must be checked).
        authorization, key, problem = self._headers.collect(scope["headers"])
        remembered = self._remembered
        caller = (
            remembered(key)
            if remembered is not None and problem is None and authorization is not None
            else None
        )
        if caller is None:
            try:
                caller = await self._identify(scope, authorization, key, problem)
            except Refusal as refusal:
                if refusal.code not in _LOGGED:
                    refusal.log(scope)
                await self._refuse(refusal, scope, receive, send)
                return
        if SCOPE_KEY in scope:
            self._stacked()
        scope["user"], scope["auth"], identity = caller
        scope[SCOPE_KEY] = identity
        state = scope.get("state")
        if state is None:
            scope["state"] = {"identity": identity}
        else:
            state["identity"] = identity
        await self.app(scope, receive, send)

    async def _identify(
        self, scope: Scope, authorization: bytes | None, key: Key, problem: Refusal | None
    ) -> Caller:
        """Ask the authenticators in order: the gatekeeper's credentials, a Feide JWT, then
        the rules for anonymous and unrecognised requests."""
        gatekeeper, jwt = self._gatekeeper, self._jwt
        if authorization is None:
            return ANONYMOUS if gatekeeper is None else gatekeeper.unverified(scope, key, problem)
        token = None if jwt is None else jwt.token_in(authorization)
        # A token FeideJWT verified is never the gatekeeper's credentials, so a cached one may
        # skip their check: it went through the whole order when first seen.
        caller = None if token is None or jwt is None else jwt.seen(token)
        if caller is None and self._gatekeeper_caller is not None:
            caller = self._gatekeeper_caller(scope, authorization, key, problem)
        if caller is None and token is not None and jwt is not None:
            caller = await self._from_jwt(scope, jwt, token)
        return caller or self._unrecognised(scope, authorization)

    def _stacked(self) -> None:
        """Another GatekeeperMiddleware ran before this one: say so once, since the two may
        disagree (an app factory that adds one from the environment, and a test that wraps
        the app in a second), and this one's answer is the one that counts."""
        if not self._stack_warned:
            self._stack_warned = True
            logger.warning(
                "gatekeeper_auth: two GatekeeperMiddleware are stacked on this app; the inner "
                "one decides. Add it once (in tests, configure the app factory's instead of "
                "wrapping the app in another: see 'Testing an app factory' in docs/testing.md)."
            )

    async def _from_jwt(self, scope: Scope, jwt: FeideJWT, token: bytes) -> Caller:
        try:
            return await jwt.authenticate(token)
        except Refusal as refusal:
            if scope.get("method") == "OPTIONS":
                return ANONYMOUS  # not ours to judge: the caller's own token on a preflight
            if self._anonymous:
                refusal.log(scope)
                scope[REFUSAL_KEY] = refusal
                return ANONYMOUS
            raise

    def _unrecognised(self, scope: Scope, authorization: bytes) -> Caller:
        """An Authorization no authenticator recognised: anonymous or refused."""
        self._headers.check_types((authorization,))
        gatekeeper = self._gatekeeper
        if scope.get("method") == "OPTIONS":
            if gatekeeper is not None:
                gatekeeper.preflight(authorization)
            return ANONYMOUS  # the caller's own token, which the gatekeeper leaves on OPTIONS
        refusal = None
        if gatekeeper is not None and (authorization or self._jwt is None):
            # An empty or repeated Authorization beside a JWT verifier is no failed login.
            refusal = gatekeeper.failed(authorization, any_scheme=not self._anonymous)
        if self._anonymous:
            if refusal is not None:
                scope[REFUSAL_KEY] = refusal
            return ANONYMOUS
        raise refusal or Refusal(
            "token_invalid",
            "The Authorization header carries no JWT.",
            www_authenticate=JWT_CHALLENGE,
        )

    async def _refuse(self, refusal: Refusal, scope: Scope, receive: Receive, send: Send) -> None:
        if self._on_error is not None and scope["type"] == "http":
            await self._on_error(HTTPConnection(scope, receive), refusal)(scope, receive, send)
        else:
            await refusal.send(scope, receive, send)


def _authenticators(
    options: GatekeeperOptions,
    gatekeeper: Gatekeeper | None,
    jwt: FeideJWT | None,
    settings: GatekeeperSettings | None,
) -> tuple[Gatekeeper | None, FeideJWT | None]:
    """Who recognises callers, from what the code gives; the environment only without it."""
    options = cast(GatekeeperOptions, {k: v for k, v in options.items() if v is not None})
    if options and (settings is not None or gatekeeper is not None):
        given = "settings=" if settings is not None else "gatekeeper="
        raise ConfigurationError(
            f"GatekeeperMiddleware takes {given} or Gatekeeper's keyword options, not both: "
            f"move {', '.join(sorted(options))} into the {given.rstrip('=')}."
        )
    if options:
        gatekeeper = Gatekeeper(**options)
    if settings is None and (gatekeeper is not None or jwt is not None):
        _warn_ignored_environment()
    elif settings is not None or gatekeeper is None:
        settings = settings if settings is not None else _from_environment()
        from_settings = Gatekeeper.from_settings(settings)
        jwt_from_settings = settings.feide_jwt()
        if (gatekeeper and from_settings) or (jwt and jwt_from_settings):
            twice = "gatekeeper=" if gatekeeper and from_settings else "jwt="
            raise ConfigurationError(
                f"GatekeeperMiddleware got {twice} and settings that configure the same path: "
                "keep one of them."
            )
        gatekeeper = gatekeeper or from_settings
        jwt = jwt or jwt_from_settings
    if gatekeeper is None and jwt is None:
        raise ConfigurationError(
            "GatekeeperMiddleware needs password= (or GATEKEEPER_PASSWORD), or bearer_token= "
            "(GATEKEEPER_BEARER_TOKEN) for trust type bearer, or jwt=FeideJWT(...) (or "
            "GATEKEEPER_JWT_AUDIENCE) to accept Feide JWTs; pass allow_unverified=True only "
            "for local development."
        )
    return gatekeeper, jwt


def _from_environment() -> GatekeeperSettings:
    try:
        return GatekeeperSettings()
    except ValidationError as error:
        message = explain(error, from_environment=True)
        raise ConfigurationError(f"GatekeeperMiddleware: {message}") from None
    except ValueError as error:
        raise ConfigurationError(f"GatekeeperMiddleware: {error}") from None


def _warn_ignored_environment() -> None:
    names = environment_names()
    if names:
        logger.warning(
            "gatekeeper_auth: GatekeeperMiddleware is configured in code, so these variables "
            "are ignored: %s. To use the environment and code together, pass "
            "settings=GatekeeperSettings() and jwt=FeideJWT(...) (or gatekeeper=Gatekeeper(...)).",
            ", ".join(names),
        )


def _keys_at_start_up(jwt: FeideJWT, receive: Receive) -> Receive:
    """`receive` for the lifespan, loading the JWT keys at start-up and stopping a background
    retry at shutdown; the messages themselves pass through unchanged."""

    async def receive_and_prepare() -> Message:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await jwt.start()
        elif message["type"] == "lifespan.shutdown":
            await jwt.stop()
        return message

    return receive_and_prepare


async def _fail_lifespan(error: ConfigurationError, receive: Receive, send: Send) -> None:
    """Tell the server that start-up failed, with the message, then raise (as Starlette's own
    router does), so that uvicorn exits non-zero and test clients raise too."""
    message: Message = await receive()
    if message["type"] == "lifespan.startup":
        await send({"type": "lifespan.startup.failed", "message": str(error)})
    raise error
