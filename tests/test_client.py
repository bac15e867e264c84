"""The token clients against hostile or failing token endpoints, over real HTTP on 127.0.0.1.

One uvicorn serves a token endpoint (whose answers each test sets) and an API that records the
`Authorization` it gets; a raw socket server stands for wherever a redirect points.
"""

import asyncio
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

import httpx
import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gatekeeper_auth import (
    client,
)
from gatekeeper_auth._platform import CLIENT_CREDENTIALS, LONGTERM_LIFETIME, TOKEN_EXCHANGE
from gatekeeper_auth.client import ClientCredentialsAuth, TokenError, TokenExchangeAuth
from tests.helpers import python_without
from tests.servers import free_port, read_head, serve

CLIENT_ID = "5b1f3a2e-9c1d-4f0a-8e7b-2d6c4a9f0e13"
SECRET = "client-secret-S3CR3T"
SUBJECT = "subject-token-SUBJ3CT"
AUDIENCE = "https://n.feide.no/datasources/8a5a4b1e-0d5c-4e58-9d0a-0c1d2e3f4a5b"
PIECE = "PIECE0F1T"  # in every hostile token: no message may contain it


def token_answer(access: str = "t-1") -> Response:
    return JSONResponse({"access_token": access, "token_type": "Bearer", "expires_in": 300})


def raw_json(text: str, status: int = 200) -> Response:
    """JSON as sent, NaN and Infinity included (JSONResponse refuses them)."""
    return Response(text, status, media_type="application/json")


class Endpoint:
    """A token endpoint and an API; `answer` makes each token answer from the posted form."""

    def __init__(self, url: str) -> None:
        self.token_url = f"{url}/oauth/token"
        self.api_url = f"{url}/api"
        self.reset()

    def reset(self) -> None:
        self.answer: Callable[[dict[str, str]], Response] = lambda form: token_answer()
        self.forms: list[dict[str, str]] = []
        self.api_calls: list[str | None] = []
        self.hold: threading.Event | None = None  # if set, the first token answer waits for it
        self.arrived = threading.Event()  # a token request came in

    async def token(self, request: Request) -> Response:
        self.forms.append(dict(parse_qsl((await request.body()).decode())))
        self.arrived.set()
        if self.hold is not None and len(self.forms) == 1:
            await asyncio.to_thread(self.hold.wait, 30)
        return self.answer(self.forms[-1])

    async def api(self, request: Request) -> JSONResponse:
        self.api_calls.append(request.headers.get("authorization"))
        return JSONResponse({"ok": True})

    @property
    def grants(self) -> list[str]:
        return [form.get("grant_type", "") for form in self.forms]


@pytest.fixture(scope="module")
def served() -> Iterator[Endpoint]:
    port = free_port()
    endpoint = Endpoint(f"http://127.0.0.1:{port}")
    routes = [Route("/oauth/token", endpoint.token, methods=["POST"]), Route("/api", endpoint.api)]
    with serve(Starlette(routes=routes), port=port):
        yield endpoint


@pytest.fixture
def endpoint(served: Endpoint) -> Iterator[Endpoint]:
    served.reset()
    yield served
    if served.hold is not None:
        served.hold.set()


def credentials(endpoint: Endpoint, **options: Any) -> ClientCredentialsAuth:
    return ClientCredentialsAuth(CLIENT_ID, SECRET, token_url=endpoint.token_url, **options)


def exchange(endpoint: Endpoint, **options: Any) -> TokenExchangeAuth:
    """A user's token exchanged: the subject token travels in the form."""
    return TokenExchangeAuth(
        SUBJECT,
        audience=AUDIENCE,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        token_url=endpoint.token_url,
        **options,
    )


def system_exchange(endpoint: Endpoint) -> TokenExchangeAuth:
    return TokenExchangeAuth(credentials(endpoint), audience=AUDIENCE)


AUTHS = {"client credentials": credentials, "token exchange": exchange}
CLIENTS = {
    "httpx": (httpx.Client, httpx.AsyncClient),
    "httpx2": (httpx2.Client, httpx2.AsyncClient),
}


def get(library: str, mode: str, auth: Any, url: str, **options: Any) -> Any:
    """GET `url` with a client of `library`, sync or async."""
    sync_client, async_client = CLIENTS[library]
    if mode == "sync":
        with sync_client(auth=auth, timeout=10, **options) as http:
            return http.get(url)

    async def run() -> Any:
        async with async_client(auth=auth, timeout=10, **options) as http:
            return await http.get(url)

    return asyncio.run(run())


def formatted(error: BaseException) -> str:
    """All an exception can show: its type, message, chain and traceback."""
    return "".join(traceback.format_exception(error))


# Redirects: the form (client secret, subject token) never reaches the Location.


class Elsewhere:
    """Where a redirect points: a raw server on 127.0.0.1 that records every byte it gets, and
    answers a complete request with a token (which must never be used)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.received: list[bytes] = []
        self.settled = threading.Event()
        threading.Thread(target=self.run, daemon=True).start()

    def run(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                data = read_head(conn)
                if data == b"settle":
                    self.settled.set()
                    continue
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.lower().split(b"\r\n")
                        if line.startswith(b"content-length:")
                    ),
                    0,
                )
                try:
                    while len(body) < length:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        body += chunk
                except OSError:
                    pass
                self.received.append(data[: len(head) + 4] + body)
                if len(body) == length:
                    answer = b'{"access_token":"evil","token_type":"Bearer","expires_in":300}'
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                        b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(answer), answer)
                    )

    def settle(self) -> list[bytes]:
        """What it received, once every connection made before this call has been read."""
        self.settled.clear()
        with socket.create_connection(self.listener.getsockname()) as sentinel:
            sentinel.sendall(b"settle")
        assert self.settled.wait(10)
        return self.received

    def close(self) -> None:
        self.listener.close()


@pytest.fixture(scope="module")
def elsewhere() -> Iterator[Elsewhere]:
    server = Elsewhere()
    yield server
    server.close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("library", ["httpx", "httpx2"])
@pytest.mark.parametrize("kind", list(AUTHS))
def test_a_token_request_never_follows_a_redirect_even_when_the_client_does(
    endpoint: Endpoint, elsewhere: Elsewhere, kind: str, library: str, mode: str, status: int
) -> None:
    endpoint.answer = lambda form: Response(
        status_code=status, headers={"location": f"{elsewhere.url}/oauth/token"}
    )
    elsewhere.received.clear()
    auth = AUTHS[kind](endpoint)
    with pytest.raises(TokenError) as raised:
        get(library, mode, auth, endpoint.api_url, follow_redirects=True)
    error = raised.value
    # A 301, 302 or 303 turns into a GET without a body, whose answer the flow sees: it names the
    # status. A 307 or 308 would re-send the body: it is refused before a byte of it goes.
    named = status if status < 307 else None
    what = status if status < 307 else "307 or 308"
    assert (error.error, error.description, error.status_code) == (
        "redirect_refused",
        f"the token endpoint answered HTTP {what}: token requests never follow redirects",
        named,
    )
    received = b"".join(elsewhere.settle())
    for secret in (SECRET, SUBJECT, "subject_token", "grant_type", "authorization"):
        assert secret.lower().encode() not in received.lower()
    # What reaches the Location is one request head, without credentials and without a body.
    assert len(elsewhere.received) == 1
    assert elsewhere.received[0].endswith(b"\r\n\r\n")
    assert endpoint.grants == [
        CLIENT_CREDENTIALS if kind == "client credentials" else TOKEN_EXCHANGE
    ]
    assert endpoint.api_calls == []


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308, 300, 304])
@pytest.mark.parametrize("kind", list(AUTHS))
def test_a_redirect_from_the_token_endpoint_is_a_token_error_naming_its_status(
    endpoint: Endpoint, kind: str, status: int
) -> None:
    endpoint.answer = lambda form: Response(
        status_code=status, headers={"location": "http://127.0.0.1:9/oauth/token"}
    )
    with pytest.raises(TokenError) as raised:
        get("httpx2", "sync", AUTHS[kind](endpoint), endpoint.api_url)
    error = raised.value
    assert (error.error, error.description, error.status_code) == (
        "redirect_refused",
        f"the token endpoint answered HTTP {status}: token requests never follow redirects",
        status,
    )
    assert len(endpoint.forms) == 1  # not retried
    assert endpoint.api_calls == []


# What the endpoint answers ends up in headers and messages: only what is safe there.

HOSTILE_TOKENS = {
    "CR LF": f"tok-{PIECE}\r\nX-Injected: 1",
    "LF": f"tok-{PIECE}\nX-Injected: 1",
    "NUL": f"tok-{PIECE}\x00",
    "space": f"tok {PIECE}",
    "tab": f"tok\t{PIECE}",
    "DEL": f"tok-{PIECE}\x7f",
    "non-ASCII": f"tok-{PIECE}-\u00e9",
    "line separator": f"tok-{PIECE}\u2028",
}


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("library", ["httpx", "httpx2"])
@pytest.mark.parametrize("token", list(HOSTILE_TOKENS.values()), ids=list(HOSTILE_TOKENS))
def test_a_token_that_is_not_visible_ascii_is_refused_without_a_piece_of_it(
    endpoint: Endpoint, token: str, library: str, mode: str
) -> None:
    endpoint.answer = lambda form: token_answer(token)
    with pytest.raises(TokenError) as raised:
        get(library, mode, credentials(endpoint), endpoint.api_url)
    error = raised.value
    assert (error.error, error.description, error.status_code) == (
        "invalid_response",
        "the access token is not visible ASCII",
        200,
    )
    assert PIECE not in formatted(error)
    assert endpoint.api_calls == []


@pytest.mark.parametrize(
    ("body", "error", "description"),
    [
        (
            {"error": "invalid_grant", "error_description": "unknown subject"},
            "invalid_grant",
            "unknown subject",
        ),
        ({"error": f"invalid_grant\r\nX-{PIECE}: 1"}, "http_error", "HTTP 400"),
        ({"error": "invalid_grant", "error_description": f"bad\x00{PIECE}"}, "invalid_grant", ""),
        ({"error": "invalid_grant", "error_description": f"{PIECE}\u2028x"}, "invalid_grant", ""),
        ({"error": {"code": PIECE}}, "http_error", "HTTP 400"),
        ({"error": ["invalid_grant"]}, "http_error", "HTTP 400"),
        ([PIECE], "http_error", "HTTP 400"),
    ],
    ids=[
        "printable",
        "CR LF in error",
        "NUL in description",
        "U+2028 in description",
        "error an object",
        "error a list",
        "a list",
    ],
)
def test_an_error_answer_is_quoted_only_when_printable(
    endpoint: Endpoint, body: Any, error: str, description: str
) -> None:
    endpoint.answer = lambda form: JSONResponse(body, 400)
    with pytest.raises(TokenError) as raised:
        get("httpx2", "sync", exchange(endpoint), endpoint.api_url)
    assert (raised.value.error, raised.value.description, raised.value.status_code) == (
        error,
        description,
        400,
    )
    assert PIECE not in formatted(raised.value)


def test_the_endpoints_description_stays_out_of_the_message(endpoint: Endpoint) -> None:
    """A printable description can still quote what was sent, such as the subject token."""
    quoted = f"subject_token {PIECE} is not valid"
    endpoint.answer = lambda form: JSONResponse(
        {"error": "invalid_grant", "error_description": quoted}, 400
    )
    with pytest.raises(TokenError) as raised:
        get("httpx2", "sync", exchange(endpoint), endpoint.api_url)
    assert raised.value.description == quoted
    assert str(raised.value) == "token endpoint: invalid_grant (HTTP 400)"
    assert PIECE not in formatted(raised.value)


# expires_in: a finite number of seconds, 0 or more, at most the platform's longest token life.


@pytest.mark.parametrize(
    "expires_in",
    [
        "Infinity",
        "-Infinity",
        "NaN",
        "1e400",
        "1" + "0" * 400,
        '"inf"',
        '"nan"',
        '"1e400"',
        "-1",
        "-0.5",
        "true",
        "false",
        "null",
        '"soon"',
        "[]",
        "{}",
    ],
)
def test_expires_in_that_is_not_a_finite_number_of_seconds_is_refused(
    endpoint: Endpoint, expires_in: str
) -> None:
    endpoint.answer = lambda form: raw_json(
        f'{{"access_token": "t-1", "token_type": "Bearer", "expires_in": {expires_in}}}'
    )
    with pytest.raises(TokenError) as raised:
        get("httpx2", "sync", credentials(endpoint), endpoint.api_url)
    assert (raised.value.error, raised.value.description, raised.value.status_code) == (
        "invalid_response",
        "expires_in is not a finite number of seconds, 0 or more",
        200,
    )
    assert endpoint.api_calls == []


class Clock:
    """The client's view of time, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.mark.parametrize("expires_in", ["1e308", "1" + "0" * 30, str(LONGTERM_LIFETIME + 3600)])
def test_an_absurd_expires_in_caches_the_token_no_longer_than_the_longest_token_life(
    endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch, expires_in: str
) -> None:
    clock = Clock()
    monkeypatch.setattr(client, "time", SimpleNamespace(monotonic=clock.monotonic, time=time.time))
    endpoint.answer = lambda form: raw_json(
        f'{{"access_token": "t-{len(endpoint.forms)}", "token_type": "Bearer", '
        f'"expires_in": {expires_in}}}'
    )
    auth = credentials(endpoint, refresh_margin=60)
    with httpx2.Client(auth=auth) as http:
        http.get(endpoint.api_url)
        clock.now += LONGTERM_LIFETIME - 61  # still fresh
        http.get(endpoint.api_url)
        clock.now += 2  # within the refresh margin of 680 days
        http.get(endpoint.api_url)
    assert endpoint.api_calls == ["Bearer t-1", "Bearer t-1", "Bearer t-2"]


# A herd on a failing endpoint: the waiters share the failure as they share a token.


def failing(form: dict[str, str]) -> Response:
    return JSONResponse({"detail": "down"}, 500)


def gather(library: str, auth: Any, url: str, n: int) -> list[Any]:
    async def run() -> list[Any]:
        async with CLIENTS[library][1](auth=auth, timeout=10) as http:
            return await asyncio.gather(*(http.get(url) for _ in range(n)), return_exceptions=True)

    return asyncio.run(run())


def assert_all_failed_with_500(outcomes: list[Any]) -> None:
    assert all(isinstance(outcome, TokenError) for outcome in outcomes), outcomes
    assert {(e.error, e.description, e.status_code) for e in outcomes} == {
        ("http_error", "HTTP 500", 500)
    }


@pytest.mark.parametrize("library", ["httpx", "httpx2"])
def test_50_concurrent_requests_on_a_failing_endpoint_cost_one_refresh(
    endpoint: Endpoint, library: str
) -> None:
    endpoint.answer = failing
    auth = credentials(endpoint)
    assert_all_failed_with_500(gather(library, auth, endpoint.api_url, 50))
    assert len(endpoint.forms) == 3  # attempts=3, for all 50
    assert_all_failed_with_500(gather(library, auth, endpoint.api_url, 1))
    assert len(endpoint.forms) == 6  # the next request after the failure starts a new refresh
    assert endpoint.api_calls == []


@pytest.mark.parametrize("failing_grant", [TOKEN_EXCHANGE, CLIENT_CREDENTIALS])
def test_50_concurrent_exchanges_on_a_failing_endpoint_cost_one_refresh(
    endpoint: Endpoint, failing_grant: str
) -> None:
    endpoint.answer = lambda form: (
        failing(form) if form["grant_type"] == failing_grant else token_answer()
    )
    outcomes = gather("httpx2", system_exchange(endpoint), endpoint.api_url, 50)
    assert_all_failed_with_500(outcomes)
    if failing_grant == TOKEN_EXCHANGE:
        assert endpoint.grants == [CLIENT_CREDENTIALS] + [TOKEN_EXCHANGE] * 3
    else:
        assert endpoint.grants == [CLIENT_CREDENTIALS] * 3


def waiting_threads() -> int:
    """How many threads are blocked waiting for another thread's token fetch."""
    wait = client._Refresh.wait.__code__
    count = 0
    for frame in sys._current_frames().values():
        stack = frame
        while stack is not None and stack.f_code is not wait:
            stack = stack.f_back
        count += stack is not None
    return count


@pytest.mark.parametrize("library", ["httpx", "httpx2"])
@pytest.mark.parametrize("kind", ["client credentials", "system exchange"])
def test_50_threads_on_a_failing_endpoint_cost_one_refresh(
    endpoint: Endpoint, library: str, kind: str
) -> None:
    endpoint.answer = failing
    endpoint.hold = threading.Event()  # the first POST waits until every other thread waits
    auth = credentials(endpoint) if kind == "client credentials" else system_exchange(endpoint)

    def call(http: Any) -> Any:
        try:
            return http.get(endpoint.api_url)
        except TokenError as error:
            return error

    with CLIENTS[library][0](auth=auth, timeout=30) as http, ThreadPoolExecutor(50) as pool:
        futures = [pool.submit(call, http) for _ in range(50)]
        assert endpoint.arrived.wait(10)
        deadline = time.monotonic() + 10
        while waiting_threads() < 49:
            assert time.monotonic() < deadline, f"{waiting_threads()} threads wait"
            time.sleep(0.01)
        endpoint.hold.set()
        outcomes = [future.result(timeout=30) for future in futures]
    assert_all_failed_with_500(outcomes)
    assert len(endpoint.forms) == 3
    assert endpoint.api_calls == []


def test_threads_share_a_token_as_they_share_a_failure(endpoint: Endpoint) -> None:
    auth = credentials(endpoint)
    with httpx2.Client(auth=auth) as http, ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(lambda _: http.get(endpoint.api_url).status_code, range(40)))
    assert statuses == [200] * 40
    assert endpoint.grants == [CLIENT_CREDENTIALS]
    assert endpoint.api_calls == ["Bearer t-1"] * 40


def test_a_blocking_call_in_an_event_loops_thread_fetches_rather_than_wait_for_that_loop(
    endpoint: Endpoint,
) -> None:
    """A sync client called inside a running loop cannot wait for a fetch of that loop's: the
    loop cannot go on while its thread blocks. It fetches a token of its own instead."""
    endpoint.hold = threading.Event()
    auth = credentials(endpoint)

    async def run() -> tuple[int, int]:
        async with httpx2.AsyncClient(auth=auth, timeout=10) as http:
            pending = asyncio.ensure_future(http.get(endpoint.api_url))
            assert await asyncio.to_thread(endpoint.arrived.wait, 10)  # the loop's fetch is out
            with httpx2.Client(auth=auth, timeout=10) as blocking:
                status = blocking.get(endpoint.api_url).status_code  # blocks the loop
            assert endpoint.hold is not None
            endpoint.hold.set()
            return status, (await pending).status_code

    outcome: list[tuple[int, int]] = []
    loop_thread = threading.Thread(target=lambda: outcome.append(asyncio.run(run())), daemon=True)
    loop_thread.start()
    loop_thread.join(30)  # a deadlock fails the test instead of hanging it
    assert outcome == [(200, 200)]
    assert endpoint.grants == [CLIENT_CREDENTIALS] * 2


def test_the_client_names_its_extra_and_needs_no_httpx() -> None:
    missing = python_without(["httpx2"], "import gatekeeper_auth.client")
    assert missing.returncode != 0
    assert missing.stderr.strip().splitlines()[-1] == (
        "ImportError: gatekeeper_auth.client needs httpx2, which is not installed: "
        "pip install 'gatekeeper-auth[client]'"
    )
    without_httpx = python_without(
        ["httpx"],
        """
        import httpx2
        from gatekeeper_auth.client import ClientCredentialsAuth
        assert isinstance(ClientCredentialsAuth("id", "secret"), httpx2.Auth)
        """,
    )
    assert without_httpx.returncode == 0, without_httpx.stderr


class TokenEndpoint:
    """A token endpoint that fails as told, counting the requests it gets."""

    def __init__(self, answers: list[Callable[[], Response]]) -> None:
        self.answers = answers
        self.hits = 0

    async def handle(self, request: Request) -> Response:
        self.hits += 1
        answer = self.answers[min(self.hits, len(self.answers)) - 1]
        if answer is slow:
            await asyncio.sleep(2)
            return good_token()
        return answer()


def garbage() -> Response:
    return Response(b"<html>not json</html>", 200)


def server_error() -> Response:
    return JSONResponse({"error": "server_error"}, 500)


def good_token() -> Response:
    return JSONResponse({"access_token": "t-1", "token_type": "Bearer", "expires_in": 3600})


def slow() -> Response:
    """Answers a good token, 2 s late (see `TokenEndpoint.handle`)."""
    return good_token()


@contextmanager
def token_endpoint(answers: list[Callable[[], Response]]) -> Iterator[tuple[str, TokenEndpoint]]:
    endpoint = TokenEndpoint(answers)
    api_calls: list[str] = []

    async def api(request: Request) -> JSONResponse:
        api_calls.append(request.headers.get("authorization", ""))
        return JSONResponse({"ok": True})

    app = Starlette(
        routes=[Route("/oauth/token", endpoint.handle, methods=["POST"]), Route("/api", api)]
    )
    app.state.api_calls = api_calls
    with serve(app) as url:
        yield url, endpoint
    endpoint.api_calls = api_calls  # type: ignore[attr-defined]


def auth_for(url: str, **options: Any) -> ClientCredentialsAuth:
    return ClientCredentialsAuth("c1", "client-secret-1", token_url=f"{url}/oauth/token", **options)


def test_client_retries_a_failing_token_endpoint_a_bounded_number_of_times() -> None:
    with token_endpoint([server_error]) as (url, endpoint):
        with (
            httpx.Client(auth=auth_for(url, attempts=3)) as http,
            pytest.raises(TokenError) as raised,
        ):
            http.get(f"{url}/api")
        assert endpoint.hits == 3
    assert raised.value.status_code == 500
    assert endpoint.api_calls == []  # type: ignore[attr-defined]  # the API call was not sent


def test_client_recovers_when_the_token_endpoint_recovers() -> None:
    with token_endpoint([server_error, good_token]) as (url, endpoint):
        with httpx.Client(auth=auth_for(url)) as http:
            assert http.get(f"{url}/api").json() == {"ok": True}
        assert endpoint.hits == 2
    assert endpoint.api_calls == ["Bearer t-1"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_client_refuses_garbage_from_the_token_endpoint(mode: str) -> None:
    with token_endpoint([garbage]) as (url, endpoint):
        auth = auth_for(url)

        def sync_call() -> None:
            with httpx.Client(auth=auth) as http:
                http.get(f"{url}/api")

        async def async_call() -> None:
            async with httpx.AsyncClient(auth=auth) as http:
                await http.get(f"{url}/api")

        with pytest.raises(TokenError) as raised:
            sync_call() if mode == "sync" else asyncio.run(async_call())
        assert endpoint.hits == 1
    assert raised.value.error == "invalid_response"
    assert endpoint.api_calls == []  # type: ignore[attr-defined]


def test_client_times_out_on_a_slow_token_endpoint() -> None:
    with token_endpoint([slow]) as (url, _):
        started = time.monotonic()
        with (
            httpx.Client(auth=auth_for(url), timeout=0.3) as http,
            pytest.raises(httpx.TimeoutException),
        ):
            http.get(f"{url}/api")
        assert time.monotonic() - started < 1.5


def test_client_raises_a_connect_error_when_the_token_endpoint_is_down() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    auth = auth_for(url)
    with httpx.Client(auth=auth, timeout=2) as http, pytest.raises(httpx.ConnectError):
        http.get(f"{url}/api")
    assert "client-secret-1" not in repr(auth)


@pytest.mark.parametrize("margin", [-1.0, float("nan"), float("inf")])
def test_a_refresh_margin_that_would_fetch_on_every_call_is_refused(margin: float) -> None:
    with pytest.raises(ValueError, match="refresh_margin must be a finite number"):
        ClientCredentialsAuth("c", "s", refresh_margin=margin)
