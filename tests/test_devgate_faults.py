"""The dev gatekeeper's faults: an upstream that is down, slow or breaks off.

Every fault ends in a clear answer within a bounded time, and no secret (the gatekeeper's
credentials, a token) shows in a response or a log line.
"""

import logging
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest
from starlette.responses import JSONResponse, Response

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


def good_token() -> Response:
    return JSONResponse({"access_token": "t-1", "token_type": "Bearer", "expires_in": 3600})


def slow() -> Response:
    """Answers a good token, 2 s late (see `TokenEndpoint.handle`)."""
    return good_token()
