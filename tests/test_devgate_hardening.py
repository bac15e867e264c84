"""What a hostile review found in the dev gatekeeper (issue 12, items 1-4), over real sockets.

Request targets and headers are written byte for byte on a raw socket, since no HTTP client
sends `%2F@host:port/x` as a target.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from gatekeeper_auth.devgate import DevGateConfig
from tests.devgate_support import (
    echo_upstream,
    raw_request,
    serve_devgate,
    status_of,
    token_for,
)
from tests.servers import serve

CLIENT = ("c1", "client-secret-1")


def config(upstream: str) -> DevGateConfig:
    return DevGateConfig.model_validate(
        {
            "api": "hardapi",
            "upstream": upstream,
            "upstream_credentials": {"password": "upstream-secret"},
            "clients": [{"id": "c1", "secret": "client-secret-1", "scopes": ["read"]}],
        }
    )


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serve(echo_upstream) as url:
        yield url


@pytest.fixture(scope="module")
def other() -> Iterator[tuple[str, list[Any]]]:
    """Another server on the machine, which no request through the dev gatekeeper may reach."""
    hits: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            hits.append(scope["raw_path"])
        await echo_upstream(scope, receive, send)

    with serve(app) as url:
        yield url, hits


@pytest.fixture(scope="module")
def gatekeeper(upstream: str) -> Iterator[tuple[str, str]]:
    with serve_devgate(config(upstream + "/api")) as (url, _):
        token = token_for(url, CLIENT, grant_type="client_credentials")["access_token"]
        yield url, token


def send(url: str, target: str, *headers: bytes, method: str = "GET") -> bytes:
    lines = [f"{method} {target} HTTP/1.1".encode(), b"Host: gk", b"Connection: close", *headers]
    return raw_request(url, b"\r\n".join(lines) + b"\r\n\r\n")


def echoed(answer: bytes) -> dict[str, Any]:
    assert status_of(answer) == 200, answer[:300]
    body: dict[str, Any] = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    return body


# 1. No open proxy.


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("OPTIONS", "%2F@{other}/anything"),
        ("GET", "%2F@{other}/anything"),
        ("GET", "http://{other}/anything"),
        ("GET", "@{other}/anything"),
        ("OPTIONS", "*"),
    ],
)
def test_a_target_that_is_not_a_path_is_400_and_goes_nowhere(
    gatekeeper: tuple[str, str], other: tuple[str, list[Any]], method: str, target: str
) -> None:
    url, token = gatekeeper
    host = other[0].removeprefix("http://")
    other[1].clear()
    answer = send(
        url, target.format(other=host), f"Authorization: Bearer {token}".encode(), method=method
    )
    assert status_of(answer) == 400, answer[:300]
    assert b'"code":"bad_request"' in answer
    assert other[1] == []


def test_a_path_that_looks_like_an_authority_stays_on_the_upstream(
    gatekeeper: tuple[str, str], other: tuple[str, list[Any]]
) -> None:
    url, token = gatekeeper
    host = other[0].removeprefix("http://")
    other[1].clear()
    answer = send(url, f"//{host}/anything", f"Authorization: Bearer {token}".encode())
    assert echoed(answer)["raw_path"] == f"/api//{host}/anything"
    assert other[1] == []


@pytest.mark.parametrize(
    "target",
    [
        "/../secret",
        "/%2e%2e/secret",
        "/a/./b/../c/%2e%2e/d%2Fe//f?q=%41",
        "/..%2F..%2Fsecret",
        "/a/%2E%2E%5Csecret",
        "/a\\b",
        "/a/..",
    ],
)
def test_the_target_reaches_the_upstream_as_sent_under_its_base_path(
    gatekeeper: tuple[str, str], other: tuple[str, list[Any]], target: str
) -> None:
    """As the platform's proxy does: no dot segment resolved, no encoded slash refused. The
    host, port and scheme are the configured upstream's whatever the path says."""
    url, token = gatekeeper
    other[1].clear()
    body = echoed(send(url, target, f"Authorization: Bearer {token}".encode()))
    path, _, query = target.partition("?")
    assert (body["raw_path"], body["query"]) == ("/api" + path, query)
    assert other[1] == []


# 2. Never a 500.


def test_an_invalid_url_is_400(gatekeeper: tuple[str, str]) -> None:
    url, _ = gatekeeper
    answer = send(url, "%2Fx", method="OPTIONS")
    assert status_of(answer) == 400
    assert b"Traceback" not in answer


@pytest.mark.parametrize(
    "value", ["caf\u00e9".encode("latin-1"), "caf\u00e9 \u2603".encode()], ids=["latin-1", "utf-8"]
)
def test_non_ascii_header_values_are_forwarded_not_a_500(
    gatekeeper: tuple[str, str], value: bytes
) -> None:
    url, token = gatekeeper
    answer = send(url, "/x", f"Authorization: Bearer {token}".encode(), b"X-Note: " + value)
    headers = dict(echoed(answer)["headers"])
    assert headers["x-note"] == value.decode("latin-1")


@pytest.mark.parametrize(
    ("method", "target", "with_token", "upgrade"),
    [
        ("OPTIONS", "/x?#", False, False),
        ("GET", "/x?a#b", True, False),
        ("GET", "/ws?#", True, True),
    ],
    ids=["OPTIONS", "GET", "websocket"],
)
def test_a_fragment_in_the_query_is_400_not_500(
    gatekeeper: tuple[str, str], method: str, target: str, with_token: bool, upgrade: bool
) -> None:
    url, token = gatekeeper
    headers = [f"Authorization: Bearer {token}".encode()] if with_token else []
    if upgrade:
        headers += [
            b"Upgrade: websocket",
            b"Connection: Upgrade",
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            b"Sec-WebSocket-Version: 13",
        ]
    answer = send(url, target, *headers, method=method)
    assert status_of(answer) == 400, answer[:200]


@pytest.mark.parametrize("credentials", [b"\xff", "é".encode()], ids=["latin-1", "utf-8"])
def test_non_ascii_client_credentials_at_the_token_endpoint_are_401_not_500(
    gatekeeper: tuple[str, str], credentials: bytes
) -> None:
    url, _ = gatekeeper
    body = b"grant_type=client_credentials"
    answer = raw_request(
        url,
        b"POST /oauth/token HTTP/1.1\r\nHost: gk\r\nConnection: close\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Authorization: Basic " + credentials + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body,
    )
    assert status_of(answer) == 401
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"] == "invalid_client"


def test_non_ascii_bytes_in_the_token_are_401_not_500(gatekeeper: tuple[str, str]) -> None:
    url, _ = gatekeeper
    answer = send(url, "/x", b"Authorization: Bearer caf\xc3\xa9")
    assert status_of(answer) == 401


# 3. Caller headers.


def test_caller_gatekeeper_and_hop_by_hop_headers_are_dropped(
    gatekeeper: tuple[str, str],
) -> None:
    """domain.md: the gatekeeper clears caller-sent headers with its own prefix (only that one:
    a caller's X-FeideConnect-* passes), and nginx drops names with `_`; nginx's proxy clears
    Keep-Alive and TE itself."""
    url, token = gatekeeper
    answer = send(
        url,
        "/x",
        f"Authorization: Bearer {token}".encode(),
        b"X-FeideConnect-Userid: 76a7a061-3c55-430d-8ee0-6f82ec42501f",
        b"x_feideconnect_clientid: someone",
        b"X-DATAPORTEN-SCOPES: admin",
        b"X_Dataporten_Acr: urn:x",
        b"Keep-Alive: timeout=5",
        b"TE: trailers",
        b"X-Kept: yes",
    )
    names = sorted(name for name, _ in echoed(answer)["headers"])
    assert names == [
        "authorization",
        "host",
        "x-dataporten-clientid",
        "x-dataporten-gatekeeper",
        "x-dataporten-scopes",
        "x-dataporten-token",
        "x-feideconnect-userid",
        "x-kept",
    ]
    assert dict(echoed(answer)["headers"])["x-dataporten-scopes"] == "read"


# 4. Relayed answers carry the upstream's Date and Server, once.


def test_relayed_answers_have_one_date_and_one_server_header(gatekeeper: tuple[str, str]) -> None:
    url, token = gatekeeper
    answer = send(url, "/x", f"Authorization: Bearer {token}".encode())
    head = answer.split(b"\r\n\r\n", 1)[0].lower().split(b"\r\n")[1:]
    names = [line.split(b":", 1)[0] for line in head]
    assert names.count(b"date") == 1
    assert names.count(b"server") == 1
    assert b"server: uvicorn" in head  # the upstream's


# Issue 12 item 12: the dev gatekeeper's server keeps request trailers out of the headers.


def test_a_request_trailer_never_becomes_a_header(gatekeeper: tuple[str, str]) -> None:
    url, token = gatekeeper
    request = (
        b"POST /x HTTP/1.1\r\nHost: gk\r\nConnection: close\r\n"
        + f"Authorization: Bearer {token}\r\n".encode()
        + b"Transfer-Encoding: chunked\r\nTrailer: X-Dataporten-Userid\r\n\r\n"
        + b"5\r\nhello\r\n0\r\nX-Dataporten-Userid: 76a7a061-3c55-430d-8ee0-6f82ec42501f\r\n\r\n"
    )
    names = [name for name, _ in echoed(raw_request(url, request))["headers"]]
    assert "x-dataporten-userid" not in names
