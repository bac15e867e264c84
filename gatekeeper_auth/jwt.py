"""Feide JWT access tokens, checked strictly and turned into the gatekeeper's `Identity`.

The rules are Feide's ("Using JWT tokens", the "Tokens" reference): RS256 against the key set at
`jwks_url`, `iss` exactly Feide's, `aud` the data source, `iat`/`nbf` <= now < `exp`. The
algorithm is fixed here, never read from the token; `jku`, `x5u` and embedded keys in the header
are never looked at; `typ: JWT` and a missing `jti` are what Feide sends, so both are accepted.
`_jws.py` checks the token's form and signature, `claims.py` its claims; this module holds the
keys and the cache of verified tokens.

This module imports on a plain install: PyJWT (which reads the key set), cryptography and httpx2
are imported when `FeideJWT` is built, and a missing one is named then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from typing import Any, Final
from urllib.parse import urlsplit

from gatekeeper_auth._caller import Caller
from gatekeeper_auth._jws import canonical_dots, header_kid, looks_like_jwt, rs256_verifier
from gatekeeper_auth._platform import FEIDE_ISSUER, FEIDE_JWKS_URL
from gatekeeper_auth.claims import identity_from_claims, invalid
from gatekeeper_auth.errors import ConfigurationError, Refusal
from gatekeeper_auth.identity import Identity
from gatekeeper_auth.jwks import KeySet, shown_url

logger = logging.getLogger("gatekeeper_auth")

#: The longest a verified token is remembered: Feide's JWTs live about 300 s.
MAX_CACHED_SECONDS: Final = 300.0
#: A Feide JWT is 1-2 KB; anything far larger is refused before it is parsed.
MAX_TOKEN_BYTES: Final = 16 * 1024
_LOOPBACK: Final = frozenset({"127.0.0.1", "::1", "localhost"})


class FeideJWT:
    """Verifies Feide JWT access tokens for one data source (`audience`).

    - `audience`: `https://n.feide.no/datasources/<id>`, the data source the tokens are for.
    - `issuer`, `jwks_url`: Feide's; change them only for a local Feide (`jwks_url` must be
      `https`, except on 127.0.0.1, ::1 or localhost).
    - `leeway`: seconds of clock skew forgiven on `exp`, `nbf` and `iat` (30; at most 300).
    - `key_max_age`: the most seconds a fetched key set serves new tokens before it is fetched
      again (900; sooner when the key set's `Cache-Control: max-age` says so).
    - `refetch_interval`: the least seconds between two key fetches (an unknown `kid`, a stale
      key set); 1 at least, so that tokens with made-up `kid`s cannot make it fetch at will.
    - `fetch_timeout`: the most seconds one key fetch may take, all of it.
    - `max_cached`: how many verified tokens are remembered, each until its `exp` (300 s at
      most).
    - `userid_grant`: whether your data source gets the user id (True, as
      `GatekeeperMiddleware(userid_grant=)` on the gatekeeper path). With False, a token whose
      `sub` is its `client_id` and that carries no user claim is `kind="unknown"`: system routes
      refuse it.
    - `transport`: an httpx2 transport for the key fetches (tests; `FakeFeideIssuer.transport()`).
    """

    def __init__(
        self,
        *,
        audience: str,
        issuer: str = FEIDE_ISSUER,
        jwks_url: str = FEIDE_JWKS_URL,
        leeway: float = 30.0,
        refetch_interval: float = 5.0,
        max_cached: int = 10_000,
        fetch_timeout: float = 5.0,
        key_max_age: float = 900.0,
        userid_grant: bool = True,
        transport: Any = None,
    ) -> None:
        try:
            import httpx2  # noqa: F401 (checked here so that a missing one is named at once)
            import jwt  # noqa: F401
            from jwt.algorithms import has_crypto
        except ImportError as error:
            raise ConfigurationError(
                f"FeideJWT needs PyJWT with cryptography and httpx2 ({error.name} is missing): "
                "pip install 'gatekeeper-auth[jwt]'"
            ) from None
        if not has_crypto:
            raise ConfigurationError(
                "FeideJWT needs cryptography for RS256: pip install 'gatekeeper-auth[jwt]'"
            )
        if not isinstance(audience, str) or not audience.strip() or audience != audience.strip():
            raise ConfigurationError(
                "FeideJWT needs audience= (or GATEKEEPER_JWT_AUDIENCE): your data source's "
                "https://n.feide.no/datasources/<id>, without spaces."
            )
        if not isinstance(issuer, str) or not issuer:
            raise ConfigurationError(f"FeideJWT issuer= must be a URL, such as {FEIDE_ISSUER}.")
        _check_jwks_url(jwks_url)
        if not 0 <= leeway <= 300:
            raise ConfigurationError("FeideJWT leeway= is seconds between 0 and 300 (30 is usual).")
        if not (max_cached >= 0 and fetch_timeout > 0 and key_max_age > 0):  # NaN too
            raise ConfigurationError(
                "FeideJWT max_cached= cannot be negative, and fetch_timeout= and key_max_age= "
                "must be positive numbers of seconds."
            )
        if not 1 <= refetch_interval <= key_max_age:
            raise ConfigurationError(
                "FeideJWT refetch_interval= is at least 1 second (5 is usual) and at most "
                "key_max_age=: it bounds how often tokens with unknown key ids, or a key set "
                "that says max-age=0, make this service fetch the key set again."
            )
        self.audience = audience
        self.issuer = issuer
        self.jwks_url = jwks_url
        self.leeway = float(leeway)
        self.max_cached = max_cached
        self.userid_grant = bool(userid_grant)
        self.keys = KeySet(
            jwks_url,
            refetch_interval=refetch_interval,
            timeout=fetch_timeout,
            max_age=key_max_age,
            transport=transport,
        )
        self._verified = rs256_verifier()
        # Verified tokens -> (their caller, when to forget it). The one cache of the JWT path:
        # safe because an entry is the result of a full verification of these exact bytes and
        # goes at the token's `exp`, or 300 s after, whichever is sooner. Oldest out first when
        # full: `popitem(last=False)` costs O(1) (benchmarks: jwt_overhead, cache_insert_*).
        self._callers: OrderedDict[bytes, tuple[Caller, float]] = OrderedDict()
        self._grant_error_due = self.userid_grant
        self._retry: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return (
            f"FeideJWT(audience={self.audience!r}, issuer={self.issuer!r}, "
            f"jwks_url={shown_url(self.jwks_url)!r}, leeway={self.leeway})"
        )

    def token_in(self, authorization: bytes) -> bytes | None:
        """The token of a `Bearer` Authorization value (any case of the scheme) shaped like a
        JWT (exactly two dots), else None: not this authenticator's credentials."""
        if authorization[:7].lower() != b"bearer ":
            return None
        token = authorization[7:].strip(b" \t")
        return token if looks_like_jwt(token) else None

    def seen(self, token: bytes) -> Caller | None:
        """The caller of a token verified before and not yet expired, else None: the hot path,
        a dict lookup and a clock read. A key Feide withdraws is honoured for tokens seen
        before until they go (at most 300 s): the price of that lookup."""
        entry = self._callers.get(token)
        if entry is None:
            return None
        if entry[1] <= time.time():
            self._callers.pop(token, None)
            return None
        return entry[0]

    async def authenticate(self, token: bytes) -> Caller:
        """Verify `token` fully, remember its caller, and return it.

        Raises `Refusal("token_invalid")` (401) for any failed check and
        `Refusal("keys_unavailable")` (503) when no key could be loaded from `jwks_url`.
        """
        if len(token) > MAX_TOKEN_BYTES:
            raise invalid(f"the token is longer than {MAX_TOKEN_BYTES} bytes")
        if not looks_like_jwt(token):
            raise invalid("the token is not three dot-separated segments")
        first, second = canonical_dots(token)
        kid = header_kid(token[:first])
        key = await self.keys.get(kid)
        if key is None:
            if not self.keys.loaded:
                raise Refusal(
                    "keys_unavailable",
                    "the keys to verify the token could not be loaded; try again shortly",
                )
            raise invalid("the token's key id (kid) is not in the issuer's key set")
        claims = self._verified(token, first, second, key)
        try:
            identity, exp = identity_from_claims(
                claims,
                token,
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway,
                userid_grant=self.userid_grant,
            )
        except (OverflowError, RecursionError):  # a signed token with absurd numbers or nesting
            raise invalid("the token's claims are out of range or nested too deep") from None
        if self._grant_error_due and identity.is_user and identity.user_id is None:
            self._grant_error_due = False
            logger.error(
                "gatekeeper_auth: a user's JWT arrived whose sub is its client_id, so this data "
                "source does not get the user id although userid_grant=true says it does. A "
                "user's JWT without user claims would pass as a system token: set "
                "userid_grant=false (FeideJWT(userid_grant=False), "
                "GATEKEEPER_JWT_USERID_GRANT=false) until the data source gets the user id in "
                "Feide's customer portal and every token issued before that has expired."
            )
        caller = Caller.of(identity)
        self._remember(token, caller, exp)
        return caller

    def cached(self, token: bytes) -> Identity | None:
        """The identity of a token verified before and not yet expired, else None."""
        caller = self.seen(token)
        return None if caller is None else caller.identity

    async def verify(self, token: bytes) -> Identity:
        """Verify `token` fully and return its `Identity` (see `authenticate`)."""
        identity = (await self.authenticate(token)).identity
        assert identity is not None  # a verified token always has one
        return identity

    async def start(self) -> None:
        """Say which `userid_grant` is in force and load the keys (at lifespan start-up). If
        `jwks_url` cannot be reached within `fetch_timeout`, log it and keep retrying in the
        background; requests meanwhile get 503 `keys_unavailable`."""
        self._start_up_log()
        if await self.keys.load():
            return
        logger.warning(
            "gatekeeper_auth starts without JWT keys: retrying %s in the background",
            shown_url(self.jwks_url),
        )
        self._retry = asyncio.get_running_loop().create_task(self._keep_loading())

    async def stop(self) -> None:
        """Stop a background key retry (at lifespan shutdown)."""
        retry, self._retry = self._retry, None
        if retry is not None and not retry.done():
            retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retry

    async def _keep_loading(self) -> None:
        delay = 1.0
        while not self.keys.loaded:
            await asyncio.sleep(delay)
            if await self.keys.load():
                return
            delay = min(delay * 2, 60.0)

    def _start_up_log(self) -> None:
        if self.userid_grant:
            logger.info(
                "gatekeeper_auth: JWT path: userid_grant=true: a JWT whose sub is its client_id "
                "and that carries no user claim is a system token."
            )
            return
        logger.warning(
            "gatekeeper_auth: JWT path: userid_grant=false: a JWT whose sub is its client_id "
            "and that carries no user claim cannot be told from a user's, so system routes "
            "answer 403 userid_grant_missing until the data source gets the user id in Feide's "
            "customer portal."
        )

    def _remember(self, token: bytes, caller: Caller, exp: float) -> None:
        # Until exp, and never longer than a Feide JWT lives (300 s): a key Feide withdraws
        # stops vouching for tokens seen before within that time, whatever their exp says.
        # A token let in within the leeway after its exp is not remembered: it would be
        # stored expired, and could push out a valid one.
        now = time.time()
        until = min(exp, now + MAX_CACHED_SECONDS)
        if self.max_cached == 0 or until <= now:
            return
        callers = self._callers
        if token not in callers:
            while len(callers) >= self.max_cached:
                callers.popitem(last=False)  # the oldest; expired ones go at their next lookup
        callers[token] = (caller, until)


def _check_jwks_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or not host:
        raise ConfigurationError(f"FeideJWT jwks_url= is not a URL (such as {FEIDE_JWKS_URL}).")
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(
            "FeideJWT jwks_url= holds a user name or password; a key set is public: drop them."
        )
    if parts.scheme == "https" or (parts.scheme == "http" and host in _LOOPBACK):
        return
    raise ConfigurationError(
        f"FeideJWT jwks_url= must be https ({FEIDE_JWKS_URL}); plain http is allowed only on "
        "127.0.0.1, ::1 or localhost, for development."
    )
