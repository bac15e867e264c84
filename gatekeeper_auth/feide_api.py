"""Feide's groups and extended userinfo, asked on the caller's behalf.

Feide answers with a token bound to the user: on the gatekeeper path the subtoken the gatekeeper
sends (`Identity.token`), on the JWT path a Feide API token for which the data source exchanges
the JWT it received (RFC 8693, as Sikt's example data source does). Answers are kept per caller
token for `cache_seconds`, and callers of one token share one fetch.

This module imports on a plain install: httpx2 (the `client` extra) is needed when `FeideAPI`
is built.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, NoReturn, TypeVar, cast

from gatekeeper_auth._http import TooLarge, bounded_get
from gatekeeper_auth._memo import Memo
from gatekeeper_auth._platform import (
    ACCESS_TOKEN_TYPE,
    FEIDE_API_AUDIENCE,
    GROUPS_URL,
    JWT_TOKEN_TYPE,
    TOKEN_EXCHANGE,
    TOKEN_URL,
    USERINFO_URL,
    client_basic,
)
from gatekeeper_auth.claims import _frozen
from gatekeeper_auth.errors import ConfigurationError, Refusal
from gatekeeper_auth.group_rule import refuse_system
from gatekeeper_auth.identity import Identity

logger = logging.getLogger("gatekeeper_auth")

#: The audience of a Feide API token asked for in an exchange: Feide itself.
#: An answer larger than this is not Feide's groups or userinfo: refused, not parsed.
MAX_BODY_BYTES: Final = 1024 * 1024
#: Answers are kept at most this long: a member taken out of a group keeps access as long.
MAX_CACHE_SECONDS: Final = 3600.0
CACHE_RULE: Final = (
    f"must be a finite number of seconds between 0 and {MAX_CACHE_SECONDS:g}: a member taken out "
    "of a group in Feide keeps access for as long as Feide's answer is kept"
)
#: An exchanged token is used until this many seconds before Feide says it expires.
_EXPIRY_MARGIN: Final = 10.0
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Group:
    """One of the user's groups, as Feide's groups API lists it.

    `id` is Feide's (`fc:org:<realm>`, `fc:adhoc:<uuid>`, ...); `membership` is Feide's
    membership object, read-only (`basic`: member, admin or owner; for an organisation
    `affiliation` and `primaryAffiliation`); `affiliations` is its `affiliation` list.
    """

    id: str
    type: str
    display_name: str = ""
    membership: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    affiliations: tuple[str, ...] = ()
    primary_affiliation: str | None = None


class FeideAPI:
    """Asks Feide's groups API and extended userinfo about the caller of a request.

    - `client_id`, `client_secret`: your data source's own client (customer portal), needed
      only for callers with a Feide JWT, whose token is exchanged for a Feide API token.
    - `token_url`, `groups_url`, `userinfo_url`: Feide's; change them only for a local Feide
      (`https`, or plain `http` on 127.0.0.1, ::1 or localhost).
    - `cache_seconds`: how long an answer is kept per caller token (0: not kept; at most 3600).
    - `timeout`: seconds for each whole call to Feide; `max_cached`: answers kept at most.
    - `transport`: an httpx2 transport instead of the network (tests: `FakeFeideAPI`).
    """

    def __init__(
        self,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        token_url: str = TOKEN_URL,
        groups_url: str = GROUPS_URL,
        userinfo_url: str = USERINFO_URL,
        transport: Any = None,
        cache_seconds: float = 300.0,
        timeout: float = 5.0,
        max_cached: int = 10_000,
    ) -> None:
        try:
            from gatekeeper_auth.client import checked_token_url
        except ImportError:
            raise ImportError(
                "FeideAPI needs httpx2, which is not installed: "
                "pip install 'gatekeeper-auth[client]'"
            ) from None
        if (client_id is None) != (client_secret is None) or client_id == "" or client_secret == "":
            raise ConfigurationError(
                "FeideAPI needs client_id= and client_secret= together (or "
                "GATEKEEPER_FEIDE_CLIENT_ID and GATEKEEPER_FEIDE_CLIENT_SECRET): your data "
                "source's client from the customer portal; leave both out for the gatekeeper path."
            )
        for name, url in (
            ("token_url", token_url),
            ("groups_url", groups_url),
            ("userinfo_url", userinfo_url),
        ):
            try:
                checked_token_url(url)
            except ValueError:
                raise ConfigurationError(
                    f"FeideAPI {name}= must be an https URL without user name or password (plain "
                    "http only on 127.0.0.1, ::1 or localhost): a token is sent there."
                ) from None
        if not 0 <= cache_seconds <= MAX_CACHE_SECONDS:  # NaN too
            raise ConfigurationError(f"FeideAPI cache_seconds= {CACHE_RULE}.")
        if not 0 < timeout < math.inf or max_cached < 0:
            raise ConfigurationError(
                "FeideAPI max_cached= cannot be negative, and timeout= must be a finite positive "
                "number of seconds."
            )
        self.client_id = client_id
        self._secret = client_secret
        self.token_url = token_url
        self.groups_url = groups_url
        self.userinfo_url = userinfo_url
        self.transport = transport
        self.cache_seconds = float(cache_seconds)
        self.timeout = float(timeout)
        self._answers: Memo[Any] = Memo(max_cached)
        self._exchanged: Memo[str] = Memo(max_cached)

    def __repr__(self) -> str:
        return (
            f"FeideAPI(client_id={self.client_id!r}, groups_url={self.groups_url!r}, "
            f"userinfo_url={self.userinfo_url!r}, cache_seconds={self.cache_seconds})"
        )

    async def groups(self, identity: Identity) -> tuple[Group, ...]:
        """The caller's groups. A system caller is refused 403 `system_token_not_allowed`,
        without asking Feide; see `FeideAPI` for Feide's own refusals."""
        return await self._ask(identity, self.groups_url, "groups API", _groups)

    async def userinfo(self, identity: Identity) -> Mapping[str, Any]:
        """The caller's extended userinfo, read-only; refused as `groups` is."""
        return await self._ask(identity, self.userinfo_url, "userinfo", _userinfo)

    async def _ask(self, identity: Identity, url: str, what: str, parse: Callable[[Any], T]) -> T:
        token = caller_token(identity)
        answer = await self._answers.get(
            _key(url, token), lambda: self._fetch(identity, token, url, what, parse)
        )
        return cast(T, answer)

    async def _fetch(
        self, identity: Identity, token: str, url: str, what: str, parse: Callable[[Any], Any]
    ) -> tuple[Any, float]:

        if identity.source == "jwt":
            token = await self._exchanged.get(
                _key(self.token_url, token), lambda: self._exchange(token)
            )
        try:
            answer = await bounded_get(
                url,
                limit=MAX_BODY_BYTES,
                seconds=self.timeout,
                transport=self.transport,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            )
            if answer.status in (401, 403):
                _denied(what, f"HTTP {answer.status}")
            if answer.status != 200:
                raise _Unexpected(f"HTTP {answer.status}")
            return parse(json.loads(answer.body)), self.cache_seconds
        except Refusal:
            raise
        except Exception as error:  # any other failure: Feide is not answering as it should
            _unavailable(what, _reason(error))

    async def _exchange(self, jwt: str) -> tuple[str, float]:
        """A Feide API token for the caller's JWT, and how long to use it."""
        import httpx2

        from gatekeeper_auth.client import TokenError, token_from

        if self.client_id is None or self._secret is None:
            raise ConfigurationError(
                "FeideAPI needs client_id= and client_secret= (or GATEKEEPER_FEIDE_CLIENT_ID and "
                "GATEKEEPER_FEIDE_CLIENT_SECRET) to ask Feide about a caller with a Feide JWT: "
                "your data source's own client id and secret from the customer portal."
            )
        form = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": jwt,
            "subject_token_type": JWT_TOKEN_TYPE,
            "requested_token_type": ACCESS_TOKEN_TYPE,
            "audience": FEIDE_API_AUDIENCE,
            "scope": "",  # empty: every Feide API scope the data source is allowed
        }
        try:
            async with (
                asyncio.timeout(self.timeout),
                httpx2.AsyncClient(
                    transport=self.transport, timeout=self.timeout, follow_redirects=False
                ) as http,
            ):
                response = await http.post(
                    self.token_url,
                    data=form,
                    headers={"Authorization": client_basic(self.client_id, self._secret)},
                )
            token, lifetime = token_from(response)
        except TokenError as error:  # its error code is Feide's, its description is not logged
            why = f"{error.error!r} (HTTP {error.status_code})"
            if error.error == "invalid_client":  # our own credentials, not the caller's token
                _unavailable(
                    "token endpoint",
                    f"{why}: it refused this data source's own client id and secret; check "
                    "client_id= and client_secret= (GATEKEEPER_FEIDE_CLIENT_ID and "
                    "GATEKEEPER_FEIDE_CLIENT_SECRET)",
                )
            if error.status_code in (400, 401, 403):
                _denied("token endpoint", why)
            _unavailable("token endpoint", why)
        except Exception as error:
            _unavailable("token endpoint", _reason(error))
        return token, max(0.0, lifetime - _EXPIRY_MARGIN)


def caller_token(identity: Identity) -> str:
    """The caller's own token, to ask Feide with; a system caller is refused without asking."""
    refuse_system(identity)
    if identity.token is None:
        logger.warning("gatekeeper_auth: no token for this caller to ask Feide with")
        raise Refusal(
            "feide_access_denied",
            "The gatekeeper sent no token for this caller (X-Dataporten-Token), so Feide "
            "cannot be asked about the user.",
        )
    return identity.token.get_secret_value()


def _denied(what: str, why: str) -> NoReturn:
    logger.warning("gatekeeper_auth: Feide's %s refused the caller's token: %s", what, why)
    raise Refusal(
        "feide_access_denied",
        f"Feide's {what} refused to answer for this caller: the token may lack the needed "
        "scopes or not be bound to a user.",
    )


def _unavailable(what: str, why: str) -> NoReturn:
    logger.warning("gatekeeper_auth: Feide's %s failed: %s", what, why)
    raise Refusal("feide_unavailable", f"Feide's {what} could not be reached; try again shortly.")


class _Unexpected(ValueError):
    """Feide answered something it does not answer; the message is our own phrase."""


def _reason(error: Exception) -> str:
    """What went wrong, for the log: the type of error and only our own phrases, never the
    text of another library's error (which could quote what Feide sent)."""
    return str(error) if isinstance(error, _Unexpected | TooLarge) else type(error).__name__


def _key(url: str, token: str) -> bytes:
    """A cache key that holds no token."""
    return hashlib.sha256(f"{url} {token}".encode()).digest()


def _groups(document: Any) -> tuple[Group, ...]:
    if not isinstance(document, list):
        raise _Unexpected("the groups answer is not a list")
    return tuple(_group(entry) for entry in document)


def _group(entry: Any) -> Group:
    if not isinstance(entry, dict):
        raise _Unexpected("a group is not an object")
    gid, gtype, name = entry.get("id"), entry.get("type"), entry.get("displayName", "")
    membership = entry.get("membership", {})
    if not (isinstance(gid, str) and gid and isinstance(gtype, str) and isinstance(name, str)):
        raise _Unexpected("a group's id, type or displayName is not a string")
    if not isinstance(membership, dict):
        raise _Unexpected("a group's membership is not an object")
    affiliations = membership.get("affiliation", [])
    affiliations = [affiliations] if isinstance(affiliations, str) else affiliations
    primary = membership.get("primaryAffiliation")
    if not isinstance(affiliations, list) or not all(isinstance(a, str) for a in affiliations):
        raise _Unexpected("a group's affiliation is not a list of strings")
    if primary is not None and not isinstance(primary, str):
        raise _Unexpected("a group's primaryAffiliation is not a string")
    return Group(gid, gtype, name, _frozen(membership), tuple(affiliations), primary)


def _userinfo(document: Any) -> Mapping[str, Any]:
    if not isinstance(document, dict):
        raise _Unexpected("the userinfo answer is not an object")
    frozen: Mapping[str, Any] = _frozen(document)
    return frozen
