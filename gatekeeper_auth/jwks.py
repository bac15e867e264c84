"""Feide's signing keys: fetched without blocking the event loop, cached, refetched sparingly.

PyJWT's `PyJWKClient` fetches with `urllib` on the calling thread, which would stall every
request on the loop while Feide answers; so the fetching is ours, with httpx2. The rules:

- the first load (at start-up or on first use) may happen at once;
- after it, a token with an unknown `kid` triggers at most one refetch per `refetch_interval`,
  shared by every request waiting for it, so tokens with random `kid`s cannot make us hammer
  the key endpoint, and a burst signed with a newly rotated key costs one fetch;
- a failed fetch keeps the keys we have; a successful one replaces them (a key Feide withdrew
  stops verifying).

A shared fetch is a task of the running event loop; a new loop (an app served by several over
its life, as in tests) gets its own task and its own HTTP client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

logger = logging.getLogger("gatekeeper_auth")

#: A JWKS larger than this is not Feide's: it is refused rather than parsed.
MAX_JWKS_BYTES = 256 * 1024
MIN_RSA_BITS = 2048


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
        transport: Any = None,
    ) -> None:
        self.url = url
        self.refetch_interval = refetch_interval
        self.timeout = timeout
        self.transport = transport
        self.fetches = 0
        self._keys: dict[str | None, Any] = {}
        self._loaded = False  # a fetch has succeeded at least once
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
        """The key for `kid`, refetching the set once if it is unknown and the rules allow."""
        key = self.key(kid)
        if key is not None:
            return key
        now = time.monotonic()
        pending = self._pending_here()
        if pending is None:
            if now < self._next_refetch:
                return None  # fetched a moment ago: this `kid` is not Feide's, or Feide is down
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
        """One fetch; never raises: a failure is logged and the cached keys stay."""
        import httpx2

        first = not self._loaded
        self.fetches += 1
        try:
            async with (
                httpx2.AsyncClient(
                    transport=self.transport, timeout=self.timeout, follow_redirects=False
                ) as http,
                http.stream("GET", self.url) as response,
            ):
                if response.status_code != 200:
                    raise ValueError(f"HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise ValueError(f"larger than {MAX_JWKS_BYTES} bytes")
            keys = parse_jwks(bytes(body))
        except Exception as error:  # any failure: keep what we have, say why
            logger.warning(
                "gatekeeper_auth could not load JWT keys from %s: %s: %s (%s)",
                self.url,
                type(error).__name__,
                error,
                "keeping the cached keys" if self._loaded else "no keys yet",
            )
            self._next_refetch = time.monotonic() + self.refetch_interval
            return False
        self._keys = keys
        self._loaded = True
        # The first load does not count against the refetch limit.
        self._next_refetch = 0.0 if first else time.monotonic() + self.refetch_interval
        logger.info("gatekeeper_auth loaded %d JWT key(s) from %s", len(keys), self.url)
        return True


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
