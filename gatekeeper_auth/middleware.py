"""`GatekeeperMiddleware`: verify the gatekeeper, read its headers once, mark the caller.

A pure ASGI middleware: it reads `scope["headers"]` and nothing else of the request, never
touches the body, and passes `lifespan` (and any other scope type) through untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any

from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from gatekeeper_auth.credentials import GatekeeperCredentials
from gatekeeper_auth.errors import ConfigurationError, Refusal
from gatekeeper_auth.headers import IdentityReader
from gatekeeper_auth.identity import GatekeeperUser
from gatekeeper_auth.settings import ExplicitSettings, GatekeeperSettings

logger = logging.getLogger("gatekeeper_auth")

# Slots 0-7 are Authorization and the gatekeeper headers; these mark every other name.
_OTHER = 8  # a header that is not ours
_SMUGGLED = 9  # a gatekeeper header spelled with "_"
_NEW = 10  # a name not seen before
_REMEMBERED_NAMES = 2048
_REMEMBERED_CALLERS = 4096
_SLOTS = 8  # Authorization and the seven gatekeeper headers

Secrets = str | SecretStr | Sequence[str | SecretStr]
Network = str | IPv4Network | IPv6Network


class GatekeeperMiddleware:
    """Marks each request as anonymous, or as a verified *user* or *system* request.

    Configure it with keyword arguments, or with `settings=GatekeeperSettings(...)`; with
    neither, it reads `GatekeeperSettings()` from the environment. A request:

    - without an `Authorization` header is *anonymous*: no identity, and every gatekeeper
      header on it is ignored (guards answer it 401);
    - with credentials that are not the gatekeeper's is answered 401 and never reaches the app;
    - with the gatekeeper's credentials gets an `Identity`, or 400 if its headers are malformed.

    The identity is on the scope: `get_identity(request)`, `request.state.identity`, and
    Starlette's `request.user` / `request.auth` (so `@requires("system")` works). Parsed
    identities are kept in a bounded cache keyed by the exact gatekeeper header values.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        username: str | None = None,
        password: Secrets | None = None,
        bearer_token: Secrets | None = None,
        header_prefix: str | None = None,
        allowed_networks: Iterable[Network] | None = None,
        allow_unverified: bool | None = None,
        settings: GatekeeperSettings | None = None,
    ) -> None:
        self.app = app
        explicit: dict[str, Any] = {
            name: value
            for name, value in (
                ("username", username),
                ("password", _as_list(password)),
                ("bearer_token", _as_list(bearer_token)),
                ("header_prefix", header_prefix),
                ("allowed_networks", None if allowed_networks is None else list(allowed_networks)),
                ("allow_unverified", allow_unverified),
            )
            if value is not None
        }
        if settings is not None and explicit:
            raise ConfigurationError(
                "GatekeeperMiddleware takes settings= or keyword options, not both: "
                f"move {', '.join(sorted(explicit))} into the GatekeeperSettings."
            )
        try:
            # Explicit arguments are the whole configuration; only without them is the
            # environment read, so that a stray variable cannot change what the code says.
            if settings is None:
                settings = ExplicitSettings(**explicit) if explicit else GatekeeperSettings()
            self._reader = IdentityReader(settings.header_prefix)
        except ValueError as error:  # pydantic's ValidationError is a ValueError too
            raise ConfigurationError(f"GatekeeperMiddleware: {error}") from None
        self._credentials = _credentials(settings)
        self._slots: dict[bytes, int] = dict(self._reader.slots)
        assert len(self._slots) == _SLOTS
        self._anonymous = GatekeeperUser(None)
        # Verified credentials and gatekeeper headers -> the caller. A caller's token lives for
        # hours, so this saves checking and parsing on almost every request; identities are
        # immutable, so sharing one between requests is safe.
        self._verified: dict[tuple[bytes | None, ...], GatekeeperUser] = {}
        networks = tuple(ip_network(n) for n in settings.allowed_networks or ())
        self._networks = networks
        self._address_allowed = lru_cache(maxsize=4096)(lambda host: _in_networks(host, networks))
        logger.info(
            "gatekeeper_auth: a request is a user request when %sUserid, a non-empty "
            "%sUserid-Sec or a non-empty %sAcr is present. Grant your API the userid scope "
            "in the Dataporten dashboard so that every user request carries a user id.",
            settings.header_prefix,
            settings.header_prefix,
            settings.header_prefix,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope_type = scope["type"]
        if scope_type != "http" and scope_type != "websocket":
            await self.app(scope, receive, send)
            return
        # The hot path: one pass over the headers, one dict lookup each (see `_slot_for`).
        found: list[bytes | None] = [None] * _SLOTS
        problem: tuple[bytes, int | None] | None = None
        slot_of = self._slots.get
        for name, value in scope["headers"]:
            slot = slot_of(name, _NEW)
            if slot >= _OTHER:  # one comparison for the headers that are not ours
                if slot == _OTHER:
                    continue
                if slot == _NEW:
                    slot = self._slot_for(name)
                    if slot == _OTHER:
                        continue
                if slot == _SMUGGLED:
                    problem = (name, None)
                    continue
            if found[slot] is None:
                found[slot] = value
            elif slot:
                problem = (name, slot)
            else:
                found[0] = b""  # Authorization twice: an empty credential never matches
        try:
            # A request whose exact credentials and gatekeeper headers were verified before is
            # found by one dict lookup. That lookup is as safe as `compare_digest`: it compares
            # SipHash values under a per-process random key, never the secret's bytes, so its
            # time says nothing about how much of a guess was right.
            user = None if problem or self._networks else self._verified.get(tuple(found))
            if user is None:
                user = self._identify(scope, found, problem)
        except Refusal as refusal:
            refusal.log(scope)
            await refusal.send(scope, receive, send)
            return
        scope["user"] = scope["auth"] = user
        identity = user.caller
        state = scope.get("state")
        if state is None:
            scope["state"] = {"identity": identity}
        else:
            state["identity"] = identity
        try:
            await self.app(scope, receive, send)
        except Refusal as refusal:
            refusal.log(scope, identity.client_id if identity else None)
            await refusal.send(scope, receive, send)

    def _identify(
        self,
        scope: Scope,
        found: list[bytes | None],
        problem: tuple[bytes, int | None] | None,
    ) -> GatekeeperUser:
        authorization = found[0]
        credentials = self._credentials
        if credentials is None:  # allow_unverified: the headers are taken on trust
            if found[1] is None:
                return self._anonymous
        elif authorization is None:
            return self._anonymous
        elif not credentials.match(authorization):
            raise Refusal(
                "gatekeeper_credentials_invalid",
                "The Authorization header does not carry the gatekeeper's credentials.",
                www_authenticate=credentials.challenge,
            )
        elif self._networks:
            client = scope.get("client")
            if not client or not self._address_allowed(client[0]):
                raise Refusal(
                    "gatekeeper_network_not_allowed",
                    "Gatekeeper credentials are accepted only from allowed_networks.",
                )
        if problem is not None:
            raise self._reader.problem(*problem)
        key = tuple(found)
        user = self._verified.get(key) or GatekeeperUser(self._reader.read(key[1:]))
        if credentials is not None:
            if len(self._verified) >= _REMEMBERED_CALLERS:
                self._verified.clear()  # a simple bound; callers come back within seconds
            self._verified[key] = user
        return user

    def _slot_for(self, name: bytes) -> int:
        """Where a header name goes: a slot, `_OTHER`, or `_SMUGGLED`; remembered per name.

        Names are matched case-insensitively. Remembering every name seen (up to a bound)
        means a request's headers cost one dict lookup each, with no lower-casing.
        """
        lower = name.lower()
        slot = self._reader.slots.get(lower)
        if slot is None:
            slot = _SMUGGLED if 95 in lower and self._reader.is_smuggled(lower) else _OTHER
        if len(self._slots) < _REMEMBERED_NAMES:
            self._slots[name] = slot
        return slot


def _as_list(secrets: Secrets | None) -> list[str | SecretStr] | None:
    if secrets is None:
        return None
    if isinstance(secrets, str | SecretStr):
        return [secrets]
    return list(secrets)


def _credentials(settings: GatekeeperSettings) -> GatekeeperCredentials | None:
    passwords = [p.get_secret_value() for p in settings.password]
    tokens = [t.get_secret_value() for t in settings.bearer_token]
    if passwords and tokens:
        raise ConfigurationError(
            "GatekeeperMiddleware got both password= and bearer_token=: the gatekeeper uses one "
            "trust type. Keep the one its 'API Access' pane shows."
        )
    if settings.allow_unverified:
        if passwords or tokens:
            raise ConfigurationError(
                "allow_unverified=True cannot go with a password or bearer token: drop it "
                "(it is for local development without a gatekeeper)."
            )
        logger.warning(
            "gatekeeper_auth: allow_unverified=True: gatekeeper headers are trusted WITHOUT "
            "credentials. Anyone who reaches this service can claim any identity. Never use "
            "this outside local development."
        )
        return None
    if not (passwords or tokens):
        raise ConfigurationError(
            "GatekeeperMiddleware needs password= (or GATEKEEPER_PASSWORD), or bearer_token= "
            "(GATEKEEPER_BEARER_TOKEN) for trust type bearer; pass allow_unverified=True only "
            "for local development."
        )
    try:
        return GatekeeperCredentials(
            username=settings.username, passwords=passwords, bearer_tokens=tokens
        )
    except ValueError as error:
        raise ConfigurationError(f"GatekeeperMiddleware: {error}.") from None


def _in_networks(host: str, networks: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    try:
        address = ip_address(host)
    except ValueError:
        return False
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)
