"""`GatekeeperMiddleware`: verify the gatekeeper, read its headers once, mark the caller.

A pure ASGI middleware: it reads `scope["headers"]` and nothing else of the request, never
touches the body, and passes `lifespan` through, answering it only to report a configuration
error so that the server stops instead of serving 500s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any

from pydantic import SecretStr, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gatekeeper_auth._caller import ANONYMOUS, Caller
from gatekeeper_auth.claims import WWW_AUTHENTICATE as JWT_CHALLENGE
from gatekeeper_auth.credentials import FailureLog, credentials_from
from gatekeeper_auth.errors import ConfigurationError, Refusal
from gatekeeper_auth.headers import GatekeeperHeaders, Key
from gatekeeper_auth.jwt import FeideJWT, looks_like_jwt
from gatekeeper_auth.rules import SCOPE_KEY
from gatekeeper_auth.settings import ExplicitSettings, GatekeeperSettings, explain

logger = logging.getLogger("gatekeeper_auth")

_REMEMBERED_CALLERS = 4096

Secrets = str | SecretStr | Sequence[str | SecretStr]
Network = str | IPv4Network | IPv6Network
_caller = Caller.of
_ANONYMOUS = ANONYMOUS


class GatekeeperMiddleware:
    """Marks each request as anonymous, or as a verified caller with an `Identity`.

    Configure it with keyword arguments, or with `settings=GatekeeperSettings(...)`; with
    neither, it reads `GatekeeperSettings()` from the environment. A request:

    - with the gatekeeper's credentials gets an `Identity`, or 400 if its headers are malformed;
    - with `Authorization: Bearer <JWT>` and `jwt=FeideJWT(...)` configured gets the token's
      `Identity` (`source="jwt"`; gatekeeper headers beside it are ignored), or 401
      `token_invalid`;
    - with other credentials is answered 401 and never reaches the app, except an `OPTIONS`
      request, which the gatekeeper forwards with the caller's own `Authorization`: anonymous;
    - without an `Authorization` header is *anonymous*: no identity, and every gatekeeper
      header on it is ignored (guards answer it 401).

    The caller is on the scope: `get_identity(request)`, `request.state.identity`, and
    Starlette's `request.user` / `request.auth` (so `@requires("system")` works).

    A configuration error raises `ConfigurationError` at once; when the middleware is built
    while serving (Starlette builds `add_middleware` stacks on the first event, the lifespan),
    it answers the lifespan with `lifespan.startup.failed` and the message, so that the server
    exits instead of starting.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        username: str | None = None,
        password: Secrets | None = None,
        previous_password: str | SecretStr | None = None,
        bearer_token: Secrets | None = None,
        previous_bearer_token: str | SecretStr | None = None,
        header_prefix: str | None = None,
        allowed_networks: Iterable[Network] | None = None,
        userid_grant: bool | None = None,
        allow_unverified: bool | None = None,
        jwt: FeideJWT | None = None,
        settings: GatekeeperSettings | None = None,
    ) -> None:
        self.app = app
        self._error: ConfigurationError | None = None
        explicit: dict[str, Any] = {
            name: value
            for name, value in (
                ("username", username),
                ("password", _as_list(password)),
                ("previous_password", previous_password),
                ("bearer_token", _as_list(bearer_token)),
                ("previous_bearer_token", previous_bearer_token),
                ("header_prefix", header_prefix),
                ("allowed_networks", None if allowed_networks is None else list(allowed_networks)),
                ("userid_grant", userid_grant),
                ("allow_unverified", allow_unverified),
            )
            if value is not None
        }
        try:
            self._configure(explicit, settings, jwt)
        except ConfigurationError as error:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                raise error from None  # built at import or by hand: fail right here
            self._error = error  # built by a framework while serving: fail the lifespan

    def _configure(
        self,
        explicit: dict[str, Any],
        settings: GatekeeperSettings | None,
        jwt: FeideJWT | None,
    ) -> None:
        if settings is not None and explicit:
            raise ConfigurationError(
                "GatekeeperMiddleware takes settings= or keyword options, not both: "
                f"move {', '.join(sorted(explicit))} into the GatekeeperSettings."
            )
        try:
            # Explicit arguments are the whole configuration; only without them is the
            # environment read, so that a stray variable cannot change what the code says.
            if settings is None:
                given = explicit or jwt is not None  # jwt= is code too: no environment then
                settings = ExplicitSettings(**explicit) if given else GatekeeperSettings()
            self._headers = GatekeeperHeaders(settings.header_prefix)
        except ValidationError as error:
            message = explain(error, from_environment=not explicit)
            raise ConfigurationError(f"GatekeeperMiddleware: {message}") from None
        except UnicodeDecodeError:  # its message quotes a byte of the file: maybe of a secret
            raise ConfigurationError(
                "GatekeeperMiddleware: the .env file is not utf-8 text: save it so."
            ) from None
        except ValueError as error:
            raise ConfigurationError(f"GatekeeperMiddleware: {error}") from None
        self._jwt = jwt if jwt is not None else settings.feide_jwt()
        self._credentials = credentials_from(settings, jwt_only=self._jwt is not None)
        self._unverified = settings.allow_unverified
        self._userid_grant = settings.userid_grant
        self._grant_warning_due = settings.userid_grant
        self._failures = FailureLog(self._credentials)
        # Verified credentials and gatekeeper headers -> the caller. A caller's token lives for
        # hours, so this saves checking and parsing on almost every request; identities are
        # immutable, so sharing one between requests is safe.
        self._verified: dict[Key, Caller] = {}
        # Authorization values that carried a verified JWT -> (the token, its caller). Saves the
        # credential check, parsing and building the caller again (benchmarks: jwt_seen_before);
        # each use asks the verifier whether the token is still valid (its exp), and a value
        # that failed the credentials once fails them always.
        self._jwt_callers: dict[bytes, tuple[bytes, Caller]] = {}
        networks = tuple(ip_network(n) for n in settings.allowed_networks or ())
        self._networks = networks
        self._address_allowed = lru_cache(maxsize=4096)(lambda host: _in_networks(host, networks))
        if not self._userid_grant:
            logger.warning(
                "gatekeeper_auth: userid_grant=false: a request without %sUserid cannot be told "
                "from a system request, so system routes answer 403 userid_grant_missing until "
                "the API has the userid grant in the Dataporten dashboard.",
                settings.header_prefix,
            )

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
        # The hot path: one pass over the headers, one dict lookup for a caller seen before.
        # That lookup is as safe as `compare_digest`: it compares SipHash values under a
        # per-process random key, never the secret's bytes, so its time says nothing about how
        # much of a guess was right.
        authorization, key, problem = self._headers.collect(scope["headers"])
        caller = None if problem or self._networks else self._verified.get(key)
        if caller is None:
            try:
                found = self._identify(scope, authorization, key, problem)
                if isinstance(found, bytes):  # a JWT: the verifier may have to fetch keys
                    caller = await self._from_jwt(scope, authorization or b"", found)
                else:
                    caller = found
            except Refusal as refusal:
                if refusal.code != "gatekeeper_credentials_invalid":
                    refusal.log(scope)  # that one is counted and logged by `_failures`
                await refusal.send(scope, receive, send)
                return
        scope["user"], scope["auth"], identity = caller
        scope[SCOPE_KEY] = identity
        state = scope.get("state")
        if state is None:
            scope["state"] = {"identity": identity}
        else:
            state["identity"] = identity
        await self.app(scope, receive, send)

    def _identify(
        self, scope: Scope, authorization: bytes | None, key: Key, problem: Refusal | None
    ) -> Caller | bytes:
        """The caller by the gatekeeper's credentials, anonymous, or a JWT to verify."""
        self._headers.check_types(key)
        if authorization is None:
            if self._unverified and self._headers.has_client(key):
                return self._from_gatekeeper(scope, key, problem, remember=False)
            return _ANONYMOUS
        if self._jwt is not None:
            seen = self._jwt_callers.get(authorization)
            if seen is not None and self._jwt.cached(seen[0]) is seen[1][2]:
                return seen[1]
        credentials = self._credentials
        if credentials is not None and credentials.match(authorization):  # first, as always
            return self._from_gatekeeper(scope, key, problem, remember=True)
        if self._jwt is not None and looks_like_jwt(token := _bearer(authorization)):
            return token
        if scope.get("method") == "OPTIONS":
            return _ANONYMOUS  # the caller's own token, which the gatekeeper leaves on OPTIONS
        if credentials is None or (self._jwt is not None and not authorization):
            # JWT only, or an empty or repeated Authorization beside a JWT verifier: whatever
            # this is, it is no valid token (and no failed gatekeeper login to count).
            raise Refusal(
                "token_invalid",
                "The Authorization header carries no JWT.",
                www_authenticate=JWT_CHALLENGE,
            )
        self._failures.note(authorization)
        raise Refusal(
            "gatekeeper_credentials_invalid",
            "The Authorization header does not carry the gatekeeper's credentials.",
            www_authenticate=credentials.challenge,
        )

    async def _from_jwt(self, scope: Scope, authorization: bytes, token: bytes) -> Caller:
        assert self._jwt is not None  # only `_identify` finds a token, and only then
        identity = self._jwt.cached(token)
        if identity is None:
            try:
                identity = await self._jwt.verify(token)
            except Refusal:
                if scope.get("method") == "OPTIONS":
                    return _ANONYMOUS  # not ours to judge: the caller's own token on a preflight
                raise
        caller = _caller(identity)
        if len(self._jwt_callers) >= _REMEMBERED_CALLERS:
            self._jwt_callers.clear()
        self._jwt_callers[authorization] = (token, caller)
        return caller

    def _from_gatekeeper(
        self, scope: Scope, key: Key, problem: Refusal | None, *, remember: bool
    ) -> Caller:
        if self._networks:
            client = scope.get("client")
            if not client or not self._address_allowed(client[0]):
                raise Refusal(
                    "gatekeeper_network_not_allowed",
                    "Gatekeeper headers are accepted only from allowed_networks.",
                )
        if problem is not None:
            raise problem
        identity = self._headers.read(key, userid_grant=self._userid_grant)
        if self._grant_warning_due and identity.is_user and identity.user_id is None:
            self._grant_warning_due = False
            logger.error(
                "gatekeeper_auth: a user request arrived without a user id, so this API lacks "
                "the userid grant although userid_grant=true says it has it. A user token "
                "without other signs of a user would pass as a system request: set "
                "userid_grant=false (GATEKEEPER_USERID_GRANT=false) until the API has the grant "
                "in the Dataporten dashboard and every token issued before it has expired."
            )
        caller = _caller(identity)
        if remember:
            if len(self._verified) >= _REMEMBERED_CALLERS:
                self._verified.clear()  # a simple bound; callers come back within seconds
            self._verified[key] = caller
        return caller


def _bearer(authorization: bytes) -> bytes:
    """The credential of a `Bearer` Authorization value (any case of the scheme), else b""."""
    if authorization[:7].lower() != b"bearer ":
        return b""
    return authorization[7:].strip(b" \t")


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


def _as_list(secrets: Secrets | None) -> list[str | SecretStr] | None:
    if secrets is None:
        return None
    if isinstance(secrets, str | SecretStr):
        return [secrets]
    return list(secrets)


def _in_networks(host: str, networks: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    try:
        address = ip_address(host)
    except ValueError:
        return False
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)
