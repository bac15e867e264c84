"""Calling protected APIs: client credentials for the gatekeeper, token exchange for Feide JWTs.

```python
auth = ClientCredentialsAuth(client_id, client_secret)
async with httpx2.AsyncClient(auth=auth) as http:          # behind the API Gatekeeper
    await http.get("https://myapi.dataporten-api.no/reports")

jwt_auth = TokenExchangeAuth(auth, audience="https://n.feide.no/datasources/<id>", scope=["read"])
async with httpx2.AsyncClient(auth=jwt_auth) as http:      # a data source taking Feide JWTs
    await http.get("https://api.example.org/reports")
```

Both are `httpx2.Auth` and `httpx.Auth` at once (one flow serves both libraries and both sync
and async clients). A token is cached until shortly before it expires, fetched once for any
number of concurrent requests (which share its outcome, token or error), and fetched again once
if the API answers 401. Token requests never follow redirects. Secrets and tokens never appear
in reprs, logs or error messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

try:
    import httpx2
except ImportError:  # pragma: no cover - exercised in a subprocess by the packaging test
    raise ImportError(
        "gatekeeper_auth.client needs httpx2, which is not installed: "
        "pip install 'gatekeeper-auth[client]'"
    ) from None

from gatekeeper_auth._platform import (
    ACCESS_TOKEN_TYPE,
    CLIENT_CREDENTIALS,
    TOKEN_EXCHANGE,
    TOKEN_URL,
    client_basic,
)
from gatekeeper_auth._token_response import (
    TokenError,
    checked_token_url,
    error_of,
    redirect_refused,
    token_from,
)

if TYPE_CHECKING:
    _HttpxAuth = object
    _HttpxStream = object
else:
    try:  # httpx is optional: with it installed, the same objects serve httpx clients too
        import httpx
    except ImportError:
        _HttpxAuth = _HttpxStream = object
    else:
        _HttpxAuth = httpx.Auth

        class _HttpxStream(httpx.SyncByteStream, httpx.AsyncByteStream):
            """httpx's request bodies, so that `_SentOnce` is one for httpx clients too."""


DATAPORTEN_TOKEN_URL = TOKEN_URL

Request = Any  # an httpx2.Request or an httpx.Request: the flow builds its own of the same kind
Response = Any


class _SentOnce(httpx2.SyncByteStream, httpx2.AsyncByteStream, _HttpxStream):
    """A token request's body, which goes out once.

    A client with `follow_redirects=True` follows redirects for the requests of an auth flow
    too, and sends the body again to the Location of a 307 or 308: it drops the Basic header
    when the origin changes, but the body holds an exchange's subject token. Asked for it a
    second time, this raises `TokenError` instead, before a byte of it goes.
    """

    def __init__(self, body: bytes) -> None:
        self._body: bytes | None = body

    def __iter__(self) -> Iterator[bytes]:
        yield self._take()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._take()

    def _take(self) -> bytes:
        body, self._body = self._body, None
        if body is None:
            raise redirect_refused("307 or 308")
        return body


class _Refresh:
    """One token fetch in flight, and its outcome for every request that waited for it.

    Requests that find no fresh token while a fetch runs wait for it, in threads or in event
    loops, and share what it gives: the token, or the `TokenError`. A failing endpoint thus sees
    `attempts` POSTs per refresh, not per waiter; the next request after it starts a new one.
    A fetch that ends with neither (cancelled, or a network error, which httpx raises outside
    the flow) leaves its waiters to try again, one refresh at a time.
    """

    def __init__(self) -> None:
        self.outcome: str | TokenError | None = None
        self._thread = threading.get_ident()
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._loops: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def finish(self, outcome: str | TokenError | None) -> None:
        with self._lock:
            self.outcome = outcome
            self._done.set()
            loops, self._loops = self._loops, []
        for loop, woken in loops:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits there
                loop.call_soon_threadsafe(_wake, woken)

    def wait(self) -> bool:
        """Block until it finishes; False at once in the thread that started it, where it runs
        as a task of this thread's event loop, which cannot go on while this thread blocks."""
        if self._thread == threading.get_ident() and not self._done.is_set():
            return False
        self._done.wait()
        return True

    async def wait_async(self) -> None:
        loop = asyncio.get_running_loop()
        woken = loop.create_future()
        with self._lock:
            if self._done.is_set():
                return
            self._loops.append((loop, woken))
        await woken

    def token(self) -> str | None:
        """The token it fetched, or None if it ended without one; its `TokenError` is raised
        anew in each waiter (one exception object is not raised in many threads)."""
        outcome = self.outcome
        if isinstance(outcome, TokenError):
            raise TokenError(
                outcome.error,
                outcome.description,
                outcome.status_code,
                from_endpoint=outcome.from_endpoint,
            )
        return outcome


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():  # a waiter that was cancelled no longer waits
        woken.set_result(None)


class _CachedTokenAuth(httpx2.Auth, _HttpxAuth):
    """The shared flow: a cached bearer token, one refresh at a time, one retry after a 401.

    `_flow` is the one flow for sync and async clients. Besides requests it yields a `_Refresh`
    to wait for, which the two drivers below (httpx's pair, `sync_auth_flow` and
    `async_auth_flow`) wait for each in its own way. Subclasses say how to fetch (`_fetch`, a
    generator of token-endpoint requests that returns the token and its lifetime in seconds).
    """

    refresh_margin: float

    def __init__(self, *, refresh_margin: float, attempts: int) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        if not 0 <= refresh_margin < math.inf:  # NaN too: it would fetch on every call
            raise ValueError("refresh_margin must be a finite number of seconds, 0 or more")
        self.refresh_margin = refresh_margin
        self.attempts = attempts
        #: How many tokens this instance has fetched: for tests and metrics.
        self.fetches = 0
        # Guards the token, its staleness and the refresh in flight; never held across a yield.
        self._lock = threading.Lock()
        self._token: str | None = None
        self._stale_at = 0.0
        self._refresh: _Refresh | None = None

    def auth_flow(self, request: Request) -> Generator[Request, Response, None]:
        """Both libraries call the two drivers below; this one (their common base) is the sync."""
        return self.sync_auth_flow(request)

    def sync_auth_flow(self, request: Request) -> Generator[Request, Response, None]:
        flow = self._flow(request)
        try:
            step = next(flow)
            while True:
                if isinstance(step, _Refresh):
                    sent = step.wait()
                else:
                    sent = yield step
                    if step is not request:
                        sent.read()  # a token response: the flow reads its JSON
                step = flow.send(sent)
        except StopIteration:
            return
        finally:
            flow.close()

    async def async_auth_flow(self, request: Request) -> AsyncGenerator[Request, Response]:
        flow = self._flow(request)
        try:
            step = next(flow)
            while True:
                if isinstance(step, _Refresh):
                    await step.wait_async()
                    sent = True
                else:
                    sent = yield step
                    if step is not request:
                        await sent.aread()
                step = flow.send(sent)
        except StopIteration:
            return
        finally:
            flow.close()

    def _flow(self, request: Request) -> Generator[Request | _Refresh, Any, None]:
        for last_try in (False, True):
            token = yield from self._token_for(request)
            request.headers["Authorization"] = f"Bearer {token}"
            response = yield request
            if response.status_code != 401 or last_try:
                return
            self._forget(token)

    def _token_for(self, request: Request) -> Generator[Request | _Refresh, Any, str]:
        """The cached token if fresh, else what the refresh in flight gives, joined or started."""
        while True:
            with self._lock:
                if self._token is not None and time.monotonic() < self._stale_at:
                    return self._token
                refresh = self._refresh
                if refresh is None:
                    refresh = self._refresh = _Refresh()
                    break
            if not (yield refresh):  # it cannot be waited for here (see `_Refresh.wait`)
                return (yield from self._fetch_and_store(request))
            token = refresh.token()
            if token is not None:
                return token
        outcome: str | TokenError | None = None
        try:
            outcome = yield from self._fetch_and_store(request)
            return outcome
        except TokenError as error:
            outcome = error
            raise
        finally:
            with self._lock:
                self._refresh = None
            refresh.finish(outcome)

    def _fetch_and_store(self, request: Request) -> Generator[Request | _Refresh, Any, str]:
        token, lifetime = yield from self._fetch(request)
        with self._lock:
            self._token = token
            self._stale_at = time.monotonic() + max(0.0, lifetime - self.refresh_margin)
            self.fetches += 1
        return token

    def _fetch(self, request: Request) -> Generator[Request | _Refresh, Any, tuple[str, float]]:
        raise NotImplementedError

    def _post(
        self, request: Request, url: str, form: dict[str, str], basic: tuple[str, str] | None
    ) -> Generator[Request, Response, Response]:
        """POST `form` to a token endpoint, retrying a 5xx up to `attempts` times in all.

        The request is of the same library as `request`, with the same timeouts; the drivers
        read each response's body before sending it in. It never follows a redirect: its body
        goes out once (`_SentOnce`), and a 3xx, or an answer from wherever the client followed
        one to, is a `TokenError`.
        """
        headers = {} if basic is None else {"Authorization": client_basic(*basic)}
        for attempt in range(1, self.attempts + 1):
            token_request = _post_once(type(request), url, form, headers, request.extensions)
            response = yield token_request
            if response.request is not token_request:  # the client followed a redirect
                hops = (r.status_code for r in response.history if r.request is token_request)
                raise redirect_refused(next(hops, "3xx"))
            if 300 <= response.status_code < 400:
                raise redirect_refused(response.status_code)
            if response.status_code < 500 or attempt == self.attempts:
                return response
        raise AssertionError("unreachable")

    def _forget(self, token: str) -> None:
        """The API refused `token`: drop it, unless another request already replaced it."""
        with self._lock:
            if self._token == token:
                self._token = None


def _post_once(
    kind: type,
    url: str,
    form: dict[str, str],
    headers: dict[str, str],
    extensions: Mapping[str, Any],
) -> Request:
    """A POST of `form` whose body goes out once (see `_SentOnce`)."""
    encoded = kind("POST", url, data=form, headers=headers)  # the library sets Host, length, type
    return kind(
        "POST",
        url,
        headers=encoded.headers,
        stream=_SentOnce(encoded.content),
        extensions=dict(extensions),
    )


class ClientCredentialsAuth(_CachedTokenAuth):
    """Adds `Authorization: Bearer <token>` from the client credentials flow to each request.

    - `scopes`: names to ask for (`gk_myapi`, `gk_myapi_read`); None asks for the client's own.
    - `refresh_margin`: seconds before `expires_in` runs out at which a token counts as stale.
    - `attempts`: tries at the token endpoint when it answers 5xx (a 4xx is final at once).
    Works with `httpx2` and `httpx` clients, sync and async alike; share one instance per client.
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
        super().__init__(refresh_margin=refresh_margin, attempts=attempts)
        self.client_id = client_id
        self._secret = client_secret
        self.token_url = checked_token_url(token_url)
        self.scopes = None if scopes is None else " ".join(scopes)

    def __repr__(self) -> str:
        return f"ClientCredentialsAuth(client_id={self.client_id!r}, token_url={self.token_url!r})"

    def _fetch(self, request: Request) -> Generator[Request | _Refresh, Any, tuple[str, float]]:
        form = {"grant_type": CLIENT_CREDENTIALS}
        if self.scopes is not None:
            form["scope"] = self.scopes
        basic = (self.client_id, self._secret)
        response = yield from self._post(request, self.token_url, form, basic)
        return token_from(response)


class TokenExchangeAuth(_CachedTokenAuth):
    """Exchanges the caller's access token for a Feide JWT for one data source (RFC 8693).

    - `subject`: a `ClientCredentialsAuth` (a system calling; its token is fetched as needed and
      its client id and secret authenticate the exchange), or a user's access token (a str).
    - `audience`: the data source, `https://n.feide.no/datasources/<id>`.
    - `scope`: the data source's access levels to ask for.
    - `client_id`/`client_secret`: to authenticate the exchange when `subject` is a str.
    One instance caches one JWT, so it caches per (audience, scope), until `refresh_margin`
    seconds before it expires (Feide's live about 300 s). Errors raise `TokenError`.
    """

    def __init__(
        self,
        subject: ClientCredentialsAuth | str,
        *,
        audience: str,
        scope: Iterable[str] | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        token_url: str | None = None,
        refresh_margin: float = 30.0,
        attempts: int = 3,
    ) -> None:
        super().__init__(refresh_margin=refresh_margin, attempts=attempts)
        if not audience:
            raise ValueError("TokenExchangeAuth needs audience=: the data source's URL")
        self.subject = subject
        self.audience = audience
        self.scope = None if scope is None else " ".join(scope)
        if isinstance(subject, ClientCredentialsAuth):
            client_id = client_id or subject.client_id
            client_secret = client_secret or subject._secret
            token_url = token_url or subject.token_url
        if not client_id or not client_secret:
            raise ValueError(
                "TokenExchangeAuth needs client_id= and client_secret= (your client's, from the "
                "customer portal) when subject is a token: the exchange must be authenticated"
            )
        self.client_id = client_id
        self._secret = client_secret
        self.token_url = checked_token_url(token_url or DATAPORTEN_TOKEN_URL)

    def __repr__(self) -> str:
        return (
            f"TokenExchangeAuth(audience={self.audience!r}, scope={self.scope!r}, "
            f"token_url={self.token_url!r})"
        )

    def _fetch(self, request: Request) -> Generator[Request | _Refresh, Any, tuple[str, float]]:
        subject = self.subject
        if isinstance(subject, ClientCredentialsAuth):
            subject_token = yield from subject._token_for(request)
        else:
            subject_token = subject
        form = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": subject_token,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "audience": self.audience,
        }
        if self.scope is not None:
            form["scope"] = self.scope
        basic = (self.client_id, self._secret)
        response = yield from self._post(request, self.token_url, form, basic)
        if isinstance(subject, ClientCredentialsAuth) and error_of(response)[0] == "invalid_grant":
            # The subject token was revoked or forgotten (a restart of the issuer): fetch a new
            # one and try once more, rather than fail until the cached one goes stale.
            subject._forget(subject_token)
            form["subject_token"] = yield from subject._token_for(request)
            response = yield from self._post(request, self.token_url, form, basic)
        return token_from(response, jwt=True)


__all__ = [
    "ClientCredentialsAuth",
    "TokenError",
    "TokenExchangeAuth",
    "checked_token_url",
    "token_from",
]
