"""One GET to Feide, bounded in every way the answer could hold a service up.

The key set and Feide's APIs are fetched the same way: never following a redirect (an answer
from elsewhere is no answer from Feide), within a number of seconds, all of it (connect, headers
and body: a server that trickles a byte at a time cannot hold a request), and never reading more
than `limit` bytes of body. httpx2 is imported when a fetch is made.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, NamedTuple


class TooLarge(ValueError):
    """A body over the limit; its message is ours alone, safe to log."""


class Answer(NamedTuple):
    status: int
    headers: Mapping[str, str]
    body: bytes  # read only for a 200; empty for any other status


async def bounded_get(
    url: str,
    *,
    limit: int,
    seconds: float,
    transport: Any = None,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """GET `url`. Raises `TimeoutError` after `seconds`, `TooLarge` for a body over
    `limit` bytes, and httpx2's errors for a failed connection."""
    import httpx2

    async with (
        asyncio.timeout(seconds),
        httpx2.AsyncClient(transport=transport, timeout=seconds, follow_redirects=False) as http,
        http.stream("GET", url, headers=headers) as response,
    ):
        body = bytearray()
        if response.status_code == 200:
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    raise TooLarge(f"an answer larger than {limit} bytes")
        return Answer(response.status_code, response.headers, bytes(body))
