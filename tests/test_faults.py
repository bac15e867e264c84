"""Faults: an upstream that is down, slow or breaks off; a token endpoint that fails.

Every fault ends in a clear answer or exception within a bounded time, and no secret (the
gatekeeper's credentials, a token) shows in a response or a log line.
"""

import asyncio
import logging
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gatekeeper_auth.client import ClientCredentialsAuth, TokenError
from gatekeeper_auth.devgate import DevGateConfig, create_devgate
from tests.servers import free_port, raw_server, read_head, serve

UPSTREAM_PASSWORD = "upstream-secret-password"
CONFIG = {
    "api": "faultapi",
    "upstream_credentials": {"password": UPSTREAM_PASSWORD},
    "clients": [{"id": "c1", "secret": "client-secret-1", "scopes": ["read"]}],
    "upstream_timeout": 0.5,
}


@contextmanager
def devgate_before(upstream: str) -> Iterator[tuple[str, str]]:
    config = DevGateConfig.model_validate({**CONFIG, "upstream": upstream})
    with serve(create_devgate(config)) as url:
        token = httpx.post(
            f"{url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=("c1", "client-secret-1"),
        ).json()["access_token"]
        yield url, token


def assert_no_secrets(text: str, token: str) -> None:
    for secret in (UPSTREAM_PASSWORD, token, "client-secret-1"):
        assert secret not in text


def closes_at_once(conn: socket.socket) -> None:
    read_head(conn)
    conn.close()


def breaks_off_mid_body(conn: socket.socket) -> None:
    read_head(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n" + b"x" * 1000)
    conn.close()


def answers_slowly(conn: socket.socket) -> None:
    read_head(conn)
    time.sleep(3)
    conn.close()


@pytest.mark.parametrize(
    ("handler", "status", "code"),
    [
        (None, 502, "upstream_unreachable"),
        (closes_at_once, 502, "upstream_unreachable"),
        (answers_slowly, 504, "upstream_timeout"),
    ],
    ids=["down", "closes at once", "slow"],
)
def test_upstream_faults_give_a_clear_gateway_error(
    caplog: pytest.LogCaptureFixture,
    handler: Callable[[socket.socket], None] | None,
    status: int,
    code: str,
) -> None:
    with caplog.at_level(logging.DEBUG):
        if handler is None:
            upstream = f"http://127.0.0.1:{free_port()}"  # nothing listens there
            with devgate_before(upstream) as (gatekeeper, token):
                started = time.monotonic()
                response = httpx.get(
                    f"{gatekeeper}/x", headers={"Authorization": f"Bearer {token}"}
                )
        else:
            with raw_server(handler) as upstream, devgate_before(upstream) as (gatekeeper, token):
                started = time.monotonic()
                response = httpx.get(
                    f"{gatekeeper}/x", headers={"Authorization": f"Bearer {token}"}, timeout=5
                )
    assert time.monotonic() - started < 3  # upstream_timeout is 0.5 s: no hang
    assert response.status_code == status
    assert response.json()["code"] == code
    assert_no_secrets(response.text + str(response.headers), token)
    assert_no_secrets("\n".join(r.getMessage() for r in caplog.records), token)


def test_upstream_breaking_off_mid_body_ends_the_response_without_a_hang(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        caplog.at_level(logging.DEBUG),
        raw_server(breaks_off_mid_body) as upstream,
        devgate_before(upstream) as (gatekeeper, token),
    ):
        started = time.monotonic()
        with pytest.raises(httpx.HTTPError):  # an incomplete body, never a complete fake one
            httpx.get(f"{gatekeeper}/x", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert time.monotonic() - started < 3
    assert_no_secrets("\n".join(r.getMessage() for r in caplog.records), token)


# The client against a failing token endpoint.


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
