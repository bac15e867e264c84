"""`Gatekeeper`: recognises requests the API Gatekeeper forwarded, and who they are for.

One object owns the gatekeeper path end to end: its credentials, the header prefix, the
networks it calls from, whether the API has the `userid` grant, the development switch
`allow_unverified`, the log of failed logins and the cache of callers seen before.
`GatekeeperMiddleware` asks it first, before any JWT.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any, TypedDict

from pydantic import SecretStr, ValidationError
from starlette.types import Scope

from gatekeeper_auth._caller import ANONYMOUS, Caller
from gatekeeper_auth.credentials import FailureLog, GatekeeperCredentials
from gatekeeper_auth.errors import ConfigurationError, Refusal
from gatekeeper_auth.headers import GatekeeperHeaders, Key
from gatekeeper_auth.settings import ExplicitSettings, GatekeeperSettings, explain

logger = logging.getLogger("gatekeeper_auth")

Secrets = str | SecretStr | Sequence[str | SecretStr]
Network = str | IPv4Network | IPv6Network

_REMEMBERED_CALLERS = 4096


class GatekeeperOptions(TypedDict, total=False):
    """`Gatekeeper`'s keyword options, which `GatekeeperMiddleware` takes directly too."""

    username: str
    password: Secrets
    previous_password: str | SecretStr
    bearer_token: Secrets
    previous_bearer_token: str | SecretStr
    header_prefix: str
    allowed_networks: Iterable[Network]
    userid_grant: bool
    allow_unverified: bool


class Gatekeeper:
    """The API Gatekeeper as this backend knows it (the dashboard's "API Access" pane).

    - `password` (trust type `basic`, with `username`, `dataporten` by default) or
      `bearer_token` (trust type `bearer`); `previous_password` / `previous_bearer_token`
      are accepted too while a secret is rotated.
    - `allowed_networks`: the addresses the gatekeeper calls from; its credentials from any
      other address are refused with 403.
    - `userid_grant`: whether the API has the `userid` grant (default True). Without it a
      user's request can carry no sign of a user, so such a request is `kind="unknown"`.
    - `header_prefix`: `X-Dataporten-` (or `X-FeideConnect-`, the platform's before 2016).
    - `allow_unverified`: trust the headers without credentials; local development only.
    """

    def __init__(
        self,
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
    ) -> None:
        options: dict[str, Any] = {
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
            settings = ExplicitSettings(**options)
        except ValidationError as error:
            raise ConfigurationError(
                f"Gatekeeper: {explain(error, from_environment=False)}"
            ) from None
        self._configure(settings)

    @classmethod
    def from_settings(cls, settings: GatekeeperSettings) -> Gatekeeper | None:
        """The gatekeeper the settings describe, or None when they name no secret and do not
        `allow_unverified` (an API that takes only Feide JWTs)."""
        passwords, tokens = settings.secrets()
        if not (passwords or tokens or settings.allow_unverified):
            return None
        gatekeeper = cls.__new__(cls)
        gatekeeper._configure(settings)
        return gatekeeper

    def _configure(self, settings: GatekeeperSettings) -> None:
        try:
            self.headers = GatekeeperHeaders(settings.header_prefix)
        except ValueError as error:
            raise ConfigurationError(f"Gatekeeper: {error}") from None
        self.credentials = _credentials(settings)
        self.allow_unverified = settings.allow_unverified
        self.userid_grant = settings.userid_grant
        self._grant_warning_due = settings.userid_grant
        self._failures = FailureLog(self.credentials)
        self._networks = tuple(ip_network(n) for n in settings.allowed_networks or ())
        networks = self._networks
        self._address_allowed = lru_cache(maxsize=4096)(lambda host: _in_networks(host, networks))
        # Gatekeeper headers with verified credentials -> the caller. A caller's token lives
        # for hours, so this saves checking and parsing on almost every request; callers are
        # immutable, so one serves every request. The lookup is as safe as `compare_digest`:
        # it compares SipHash values under a per-process random key, never the secret's bytes.
        self._verified: dict[Key, Caller] = {}
        #: The cache's lookup, for the middleware's hot path: only when no address needs a
        #: check first (with `allowed_networks`, `caller` checks it before the cache).
        self.remembered: Callable[[Key], Caller | None] | None = (
            None if self._networks else self._verified.get
        )

    def __repr__(self) -> str:
        trust = self.credentials.trust if self.credentials else "unverified"
        return f"Gatekeeper(trust={trust!r}, userid_grant={self.userid_grant})"

    def start_up_log(self) -> None:
        """Say at start-up what the gatekeeper path assumes about the `userid` grant."""
        if self.userid_grant:
            logger.info(
                "gatekeeper_auth: gatekeeper path: userid_grant=true: a request without %sUserid "
                "and without other signs of a user is a system request.",
                self.headers.names[0].removesuffix("Clientid"),
            )
            return
        logger.warning(
            "gatekeeper_auth: gatekeeper path: userid_grant=false: a request without %sUserid "
            "cannot be told from a system request, so system routes answer 403 "
            "userid_grant_missing until the API has the userid grant in the Dataporten dashboard.",
            self.headers.names[0].removesuffix("Clientid"),
        )

    def caller(
        self, scope: Scope, authorization: bytes, key: Key, problem: Refusal | None
    ) -> Caller | None:
        """The caller when `authorization` carries the gatekeeper's credentials, else None.

        Raises the `Refusal` of a verified request whose headers are malformed or that came
        from outside `allowed_networks`.
        """
        caller = None if problem else self._verified.get(key)
        if caller is not None:
            if self._networks:
                self._check_address(scope)  # before trusting what the cache remembers
            return caller
        return self.verify(scope, authorization, key, problem)

    def verify(
        self, scope: Scope, authorization: bytes, key: Key, problem: Refusal | None
    ) -> Caller | None:
        """`caller` without the look in the cache, for one who has looked already (the
        middleware, through `remembered`); what it verifies, it remembers."""
        self.headers.check_types(key)
        credentials = self.credentials
        if credentials is None or not credentials.match(authorization):
            return None
        caller = self._read(scope, key, problem)
        if len(self._verified) >= _REMEMBERED_CALLERS:
            self._verified.clear()  # a simple bound; callers come back within seconds
        self._verified[key] = caller
        return caller

    def unverified(self, scope: Scope, key: Key, problem: Refusal | None) -> Caller:
        """A request without Authorization: anonymous, unless `allow_unverified` trusts its
        headers (development only; never remembered)."""
        if self.allow_unverified and self.headers.has_client(key):
            return self._read(scope, key, problem)
        return ANONYMOUS

    def failed(self, authorization: bytes, *, any_scheme: bool) -> Refusal | None:
        """The refusal of an Authorization no authenticator recognised, counted and logged once
        a minute as a failed gatekeeper login; None when there are no credentials to fail, or
        (unless `any_scheme`) when its scheme is not the gatekeeper's, so that an app taking
        other credentials of its own is not reported as under attack."""
        credentials = self.credentials
        if credentials is None or not (any_scheme or credentials.same_scheme(authorization)):
            return None
        self._failures.note(authorization)
        return Refusal(
            "gatekeeper_credentials_invalid",
            "The Authorization header does not carry the gatekeeper's credentials.",
            www_authenticate=credentials.challenge,
        )

    def preflight(self, authorization: bytes) -> None:
        """An `OPTIONS` request whose Authorization is not the gatekeeper's credentials stays
        anonymous (it carries the caller's own); but Basic credentials there are counted as a
        failed login when the trust type is basic, so that guessing the password on preflights
        is not a silent oracle. (With trust type bearer a caller's own Bearer token on a
        preflight is normal, and is not counted.)"""
        if self.credentials is not None and self.credentials.trust == "basic":
            self.failed(authorization, any_scheme=False)

    def _read(self, scope: Scope, key: Key, problem: Refusal | None) -> Caller:
        self.headers.check_types(key)
        if self._networks:
            self._check_address(scope)
        if problem is not None:
            raise problem
        identity = self.headers.read(key, userid_grant=self.userid_grant)
        if self._grant_warning_due and identity.is_user and identity.user_id is None:
            self._grant_warning_due = False
            logger.error(
                "gatekeeper_auth: a user request arrived without a user id, so this API lacks "
                "the userid grant although userid_grant=true says it has it. A user token "
                "without other signs of a user would pass as a system request: set "
                "userid_grant=false (GATEKEEPER_USERID_GRANT=false) until the API has the grant "
                "in the Dataporten dashboard and every token issued before it has expired."
            )
        return Caller.of(identity)

    def _check_address(self, scope: Scope) -> None:
        client = scope.get("client")
        host = client[0] if client else None
        if host is not None and self._address_allowed(host):
            return
        logger.warning(
            "gatekeeper_auth: gatekeeper credentials arrived from %r, outside allowed_networks; "
            "refused with 403. Behind a reverse proxy or load balancer this is the proxy's "
            "address: see 'Running uvicorn' in docs/deployment.md.",
            host,
        )
        raise Refusal(
            "gatekeeper_network_not_allowed",
            "Gatekeeper headers are accepted only from allowed_networks.",
        )


def _credentials(settings: GatekeeperSettings) -> GatekeeperCredentials | None:
    """The credentials the settings configure (None for `allow_unverified`), or a
    `ConfigurationError` that says what to set."""
    passwords, tokens = settings.secrets()
    if passwords and tokens:
        raise ConfigurationError(
            "Gatekeeper got both password= and bearer_token=: the gatekeeper uses one trust "
            "type. Keep the one its 'API Access' pane shows."
        )
    if settings.allow_unverified:
        if passwords or tokens:
            raise ConfigurationError(
                "allow_unverified=True cannot go with a password or bearer token: drop it "
                "(it is for local development without a gatekeeper)."
            )
        logger.warning(
            "gatekeeper_auth: allow_unverified=True: gatekeeper headers are trusted WITHOUT "
            "credentials%s. Anyone who reaches this service can claim any identity. Never use "
            "this outside local development.",
            " (from allowed_networks only)" if settings.allowed_networks else "",
        )
        return None
    if not (passwords or tokens):
        raise ConfigurationError(
            "Gatekeeper needs password= (or GATEKEEPER_PASSWORD), or bearer_token= "
            "(GATEKEEPER_BEARER_TOKEN) for trust type bearer; pass allow_unverified=True only "
            "for local development."
        )
    try:
        return GatekeeperCredentials(
            username=settings.username, passwords=passwords, bearer_tokens=tokens
        )
    except ValueError as error:
        raise ConfigurationError(f"Gatekeeper: {error}.") from None


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
