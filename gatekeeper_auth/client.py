"""Calling a gatekeeper-protected API as a system: an `httpx.Auth` for client credentials.

```python
auth = ClientCredentialsAuth(client_id, client_secret)
async with httpx.AsyncClient(auth=auth) as http:
    await http.get("https://myapi.dataporten-api.no/reports")
```

The token is fetched from the token endpoint (Dataporten's unless `token_url=` says otherwise),
cached until shortly before it expires, fetched once for any number of concurrent requests, and
fetched again once if the API answers 401. The secret and tokens never appear in reprs or logs.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator, Generator, Iterable

import httpx

DATAPORTEN_TOKEN_URL = "https://auth.dataporten.no/oauth/token"  # noqa: S105 (a URL)


class TokenError(Exception):
    """The token endpoint refused, failed or answered something that is not a token."""

    def __init__(self, error: str, description: str, status_code: int | None = None) -> None:
        super().__init__(f"token endpoint: {error}: {description}")
        self.error = error
        self.description = description
        self.status_code = status_code


class ClientCredentialsAuth(httpx.Auth):
    """Adds `Authorization: Bearer <token>` from the client credentials flow to each request.

    - `scopes`: names to ask for (`gk_myapi`, `gk_myapi_read`); None asks for the client's own.
    - `refresh_margin`: seconds before `expires_in` runs out at which a token counts as stale.
    - `attempts`: tries at the token endpoint when it answers 5xx (a 4xx is final at once).
    Works with `httpx.Client` and `httpx.AsyncClient` alike; share one instance per client.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        token_url: str = DATAPORTEN_TOKEN_URL,
        scopes: Iterable[str] | None = None,
        refresh_margin: float = 60.0,
        attempts: int = 3,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.client_id = client_id
        self._secret = client_secret
        self.token_url = token_url
        self.scopes = None if scopes is None else " ".join(scopes)
        self.refresh_margin = refresh_margin
        self.attempts = attempts
        self._token: str | None = None
        self._stale_at = 0.0
        #: How many tokens this instance has fetched: for tests and metrics.
        self.fetches = 0
        self._thread_lock = threading.Lock()
        self._async_lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"ClientCredentialsAuth(client_id={self.client_id!r}, token_url={self.token_url!r})"

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        for last_try in (False, True):
            token = self._fresh_token()
            if token is None:
                with self._thread_lock:  # one fetch; the other threads wait, then reuse it
                    token = self._fresh_token() or (yield from self._fetch_sync(request))
            response = yield self._authorize(request, token)
            if response.status_code != 401 or last_try:
                return
            self._forget(token)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._async_lock is None:
            self._async_lock = asyncio.Lock()
        for last_try in (False, True):
            token = self._fresh_token()
            if token is None:
                async with self._async_lock:  # one fetch; the other tasks wait, then reuse it
                    token = self._fresh_token()
                    if token is None:
                        # An async generator cannot `yield from`: drive `_fetch` by hand.
                        fetch = self._fetch(request)
                        outgoing = next(fetch)
                        while token is None:
                            incoming = yield outgoing
                            await incoming.aread()
                            try:
                                outgoing = fetch.send(incoming)
                            except StopIteration as done:
                                token = done.value
            response = yield self._authorize(request, token)
            if response.status_code != 401 or last_try:
                return
            self._forget(token)

    def _forget(self, token: str) -> None:
        """The API refused `token`: drop it, unless another request already replaced it."""
        if self._token == token:
            self._token = None

    def _fetch_sync(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, str]:
        fetch = self._fetch(request)
        outgoing = next(fetch)
        while True:
            incoming = yield outgoing
            incoming.read()
            try:
                outgoing = fetch.send(incoming)
            except StopIteration as done:
                token: str = done.value
                return token

    def _fetch(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, str]:
        """Ask the token endpoint, retrying a 5xx up to `attempts` times in all.

        The caller reads each response's body before sending it in (sync or async).
        """
        for attempt in range(1, self.attempts + 1):
            response = yield self._token_request(request)
            if response.status_code < 500 or attempt == self.attempts:
                return self._store(response)
        raise AssertionError("unreachable")

    def _fresh_token(self) -> str | None:
        if self._token is not None and time.monotonic() < self._stale_at:
            return self._token
        return None

    def _authorize(self, request: httpx.Request, token: str) -> httpx.Request:
        request.headers["Authorization"] = f"Bearer {token}"
        return request

    def _token_request(self, request: httpx.Request) -> httpx.Request:
        """The token request, with the same timeouts as the API request it serves."""
        form = {"grant_type": "client_credentials"}
        if self.scopes is not None:
            form["scope"] = self.scopes
        basic = httpx.BasicAuth(self.client_id, self._secret)
        token_request = httpx.Request(
            "POST", self.token_url, data=form, extensions=dict(request.extensions)
        )
        return next(basic.auth_flow(token_request))

    def _store(self, response: httpx.Response) -> str:
        if response.status_code != 200:
            try:
                body = response.json()
                error = str(body["error"])
                description = str(body.get("error_description", ""))
            except (ValueError, KeyError, TypeError):
                error, description = "http_error", f"HTTP {response.status_code}"
            raise TokenError(error, description, response.status_code)
        try:
            body = response.json()
            token = body["access_token"]
            expires_in = float(body["expires_in"])
        except (ValueError, KeyError, TypeError):
            raise TokenError(
                "invalid_response", "the answer is not a token response", 200
            ) from None
        if (
            not isinstance(token, str)
            or not token
            or str(body.get("token_type")).lower() != "bearer"
        ):
            raise TokenError("invalid_response", "the answer holds no bearer token", 200)
        self._token = token
        self._stale_at = time.monotonic() + max(0.0, expires_in - self.refresh_margin)
        self.fetches += 1
        return token
