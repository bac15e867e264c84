"""Feide's signing keys: fetched without blocking the event loop, cached for a while, refetched
sparingly.

PyJWT's `PyJWKClient` fetches with `urllib` on the calling thread, which would stall every
request on the loop while Feide answers; so the fetching is ours, with httpx2. The rules:

- the first load (at start-up or on first use) may happen at once;
- a key set serves new tokens for `max_age` seconds after its fetch, or until the answer's
  `Cache-Control: max-age` runs out when that is sooner; the first token after that waits for a
  refetch, so a key Feide withdraws stops verifying new tokens within that time;
- a token with an unknown `kid` triggers a refetch too;
- a refetch, for either reason, starts at most once per `refetch_interval` and is shared by every
  request waiting for it, so tokens with random `kid`s cannot make us hammer the key endpoint,
  and a burst signed with a newly rotated key costs one fetch;
- a fetch ends within `timeout` seconds, all of it (connect, headers, body);
- a failed fetch keeps the keys we have (availability over a network blip) and logs one WARNING;
  a successful one replaces them.

A shared fetch is a task of the running event loop; a new loop (an app served by several over
its life, as in tests) gets its own task and its own HTTP client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import Any
from urllib.parse import urlsplit

from gatekeeper_auth._http import bounded_get

logger = logging.getLogger("gatekeeper_auth")

#: A JWKS larger than this is not Feide's: it is refused rather than parsed.
MAX_JWKS_BYTES = 256 * 1024
MIN_RSA_BITS = 2048
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,10})\"?\s*(?:,|$)", re.IGNORECASE)


class KeySet:
    """The RS256 public keys at `url`, by `kid`.

    `transport` replaces the network (an `httpx2` transport; tests and the fake issuer use it).
    `fetches` counts HTTP fetches attempted, for tests, benchmarks and metrics.
    """

    def __init__(
        self,
        url: str,
        *,
        refetch_interval: float = 5.0,
        timeout: float = 5.0,
        max_age: float = 900.0,
        transport: Any = None,
    ) -> None:
        self.url = url
        self.refetch_interval = refetch_interval
        self.timeout = timeout
        self.max_age = max_age
        self.transport = transport
        self.fetches = 0
        self._shown_url = shown_url(url)
        self._keys: dict[str | None, Any] = {}
        self._loaded = False  # a fetch has succeeded at least once
        self._stale_at = 0.0  # monotonic time from which the keys need a refetch first
        self._next_refetch = 0.0  # monotonic time before which no on-demand refetch starts
        self._pending: tuple[asyncio.AbstractEventLoop, asyncio.Task[bool]] | None = None

    @property
    def loaded(self) -> bool:
        """True once a fetch has succeeded: there are keys to verify with."""
        return self._loaded

    def key(self, kid: str | None) -> Any:
        """The key for `kid` from the cache, or None; costs a dict lookup."""
        if kid is None and len(self._keys) == 1:
            # A token without `kid` is tried against the only key there is, never guessed
            # among several.
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    async def get(self, kid: str | None) -> Any:
        """The key for `kid`, refetching the set first if it is unknown or the set is stale
        and the rules allow a fetch now; a stale set serves while a refetch is not allowed."""
        key = self.key(kid)
        now = time.monotonic()
        if key is not None and now < self._stale_at:
            return key
        pending = self._pending_here()
        if pending is None:
            if now < self._next_refetch:
                # Fetched (or tried) a moment ago: an unknown `kid` is not Feide's, or Feide
                # is down and the keys we have serve until the next try.
                return key
            pending = self._start_fetch()
        await asyncio.shield(pending)
        return self.key(kid)

    async def load(self) -> bool:
        """Fetch now (joining a fetch under way); True when keys were loaded."""
        pending = self._pending_here() or self._start_fetch()
        return await asyncio.shield(pending)

    def _pending_here(self) -> asyncio.Task[bool] | None:
        if self._pending is None:
            return None
        loop, task = self._pending
        if task.done() or loop is not asyncio.get_running_loop():
            return None
        return task

    def _start_fetch(self) -> asyncio.Task[bool]:
        loop = asyncio.get_running_loop()
        task = loop.create_task(self._fetch())
        self._pending = (loop, task)
        return task

    async def _fetch(self) -> bool:
        """One fetch, within `timeout` in all; never raises: a failure is logged and the
        cached keys stay."""
        first = not self._loaded
        self.fetches += 1
        try:
            answer = await bounded_get(
                self.url, limit=MAX_JWKS_BYTES, seconds=self.timeout, transport=self.transport
            )
            if answer.status != 200:
                raise ValueError(f"HTTP {answer.status}")
            keys = parse_jwks(answer.body)
        except Exception as error:  # any failure: keep what we have, say why
            self._next_refetch = time.monotonic() + self.refetch_interval
            logger.warning(
                "gatekeeper_auth could not load JWT keys from %s: %s (%s)",
                self._shown_url,
                self._why(error),
                "keeping the cached keys" if self._loaded else "no keys yet",
            )
            return False
        now = time.monotonic()
        self._keys = keys
        self._loaded = True
        # Fresh for key_max_age, or the key set's own max-age if sooner, but never less than
        # refetch_interval: a max-age of 0 must not make every token wait for a fetch. So a
        # stale set is always one the refetch limit allows fetching again.
        max_age = min(self.max_age, _max_age(answer.headers.get("cache-control", "")))
        self._stale_at = now + max(max_age, self.refetch_interval)
        # The first load does not count against the refetch limit.
        self._next_refetch = 0.0 if first else now + self.refetch_interval
        logger.info("gatekeeper_auth loaded %d JWT key(s) from %s", len(keys), self._shown_url)
        return True

    def _why(self, error: Exception) -> str:
        """What went wrong, without the URL's query (it may hold a key of some kind)."""
        if isinstance(error, TimeoutError):
            return f"no complete answer within fetch_timeout ({self.timeout:g} s)"
        text = f"{type(error).__name__}: {error}"
        parts = urlsplit(self.url)
        for secret in (self.url, parts.query, parts.fragment):
            if secret:
                text = text.replace(secret, "...")
        return text


def shown_url(url: str) -> str:
    """`url` as it may be logged: scheme, host, port and path; never its query or fragment."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


def _max_age(cache_control: str) -> float:
    """The seconds `Cache-Control: max-age` allows (infinity when it says nothing)."""
    found = _MAX_AGE.search(cache_control)
    return float(found.group(1)) if found else float("inf")


def parse_jwks(body: bytes) -> dict[str | None, Any]:
    """The usable RS256 signing keys of a JWKS document, by `kid`; raises ValueError if none.

    Keys of another type or use, another `alg`, or shorter than 2048 bits are skipped.
    """
    from jwt import PyJWK, PyJWKError
    from jwt.exceptions import InvalidKeyError

    document = json.loads(body)
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document (no 'keys' list)")
    keys: dict[str | None, Any] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA":
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", "RS256") != "RS256":
            continue
        kid = entry.get("kid")
        if kid is not None and not isinstance(kid, str):
            continue
        if kid in keys:  # which of the two would Feide sign with? Neither is trusted.
            raise ValueError("the JWKS holds two signing keys with the same kid")
        try:
            key = PyJWK(entry, algorithm="RS256").key
        except (PyJWKError, InvalidKeyError, ValueError, TypeError):
            continue
        if key.key_size < MIN_RSA_BITS:
            continue
        keys[kid] = key
    if not keys:
        raise ValueError("the JWKS holds no usable RS256 signing key")
    return keys
