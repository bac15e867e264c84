"""What a hostile review found in the middleware and the server in front (issue 12, items 8-12).

Each test names the break it closes; docs/security.md lists them.
"""

import asyncio
import base64
import json
import logging
import socket
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Message

from gatekeeper_auth import (
    get_identity,
)
from gatekeeper_auth.testing import TEST_PASSWORD, FakeGatekeeper
from tests.helpers import assert_refused, build_app, http_scope
from tests.servers import free_port, serve

GENERATED = "[Zq8#uV1k!p0w"  # a plausible generated password that starts like a JSON list


# 8. allow_unverified ignored allowed_networks: the check now applies there too.


@pytest.mark.parametrize(("address", "allowed"), [("10.0.0.7", True), ("192.0.2.9", False)])
def test_allow_unverified_honours_allowed_networks(address: str, allowed: bool) -> None:
    app = build_app(allow_unverified=True, allowed_networks=["10.0.0.0/8"])
    client = TestClient(app, client=(address, 50000))
    headers = FakeGatekeeper().system()
    del headers["Authorization"]
    response = client.get("/system", headers=headers)
    if allowed:
        assert response.status_code == 200
    else:
        assert_refused(response, "gatekeeper_network_not_allowed")


# 9. uvicorn's proxy headers are on by default and trust X-Forwarded-For from 127.0.0.1.


def _networked_app() -> Any:
    app = build_app(**FakeGatekeeper().middleware_options(), allowed_networks=["192.0.2.0/24"])

    @app.get("/address")
    async def address(request: Request) -> JSONResponse:
        return JSONResponse(request.client.host if request.client else None)

    return app


@pytest.mark.parametrize(
    "proxy_headers", [True, False], ids=["uvicorn default", "no-proxy-headers"]
)
def test_allowed_networks_over_real_http_depends_on_proxy_headers(proxy_headers: bool) -> None:
    headers = {**FakeGatekeeper().system(), "X-Forwarded-For": "192.0.2.7"}
    with serve(_networked_app(), proxy_headers=proxy_headers) as url:
        seen = httpx.get(url + "/address", headers={"X-Forwarded-For": "192.0.2.7"}).json()
        response = httpx.get(url + "/system", headers=headers)
    if proxy_headers:
        # The risk the deployment guide warns of: a caller on the same host chose its address.
        assert seen == "192.0.2.7"
        assert response.status_code == 200
    else:
        assert seen == "127.0.0.1"
        assert_refused(response, "gatekeeper_network_not_allowed")


# 10. A server or outer middleware that puts str into scope["headers"].


@pytest.mark.parametrize(
    "headers",
    [
        [("authorization", "Basic x")],
        [(b"authorization", "Basic x")],
        [(b"x-other", b"1"), ("X-Dataporten-Clientid", "c")],
    ],
    ids=["str name", "str value", "str gatekeeper name"],
)
def test_str_headers_are_refused_with_a_clear_error(headers: list[tuple[Any, Any]]) -> None:
    app = build_app(**FakeGatekeeper().middleware_options())

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None: ...

    with pytest.raises(TypeError, match="the ASGI specification requires byte strings"):
        asyncio.run(app(http_scope(headers, path="/system"), receive, send))


# 12. Request trailers: httptools appends them to scope["headers"], h11 does not.


def _chunked_with_trailer(port: int, headers: dict[str, str]) -> bytes:
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = (
        "POST /kind HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Transfer-Encoding: chunked\r\n{head}\r\n"
        "2\r\nhi\r\n0\r\nX-Dataporten-Userid: 76a7a061-3c55-430d-8ee0-6f82ec42501f\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request.encode())
        answer = b""
        while chunk := sock.recv(4096):  # until the server closes: Connection: close
            answer += chunk
    return answer


def _kind_app() -> Any:
    app = build_app(**FakeGatekeeper().middleware_options())

    @app.post("/kind")
    async def kind(request: Request) -> JSONResponse:
        await request.body()  # the whole request, trailer included, has been parsed now
        identity = get_identity(request)
        names = [name for name, _ in request.scope["headers"]]
        return JSONResponse([identity.kind if identity else None, b"x-dataporten-userid" in names])

    return app


@pytest.mark.parametrize("http", ["h11", "httptools"])
def test_a_trailer_cannot_turn_a_system_request_into_a_user_under_h11(http: str) -> None:
    if http == "httptools":
        pytest.importorskip("httptools")
    port = free_port()
    with serve(_kind_app(), port=port, http=http):
        answer = _chunked_with_trailer(port, FakeGatekeeper().system())
    kind, trailer_became_a_header = json.loads(answer.rsplit(b"\r\n\r\n", 1)[-1])
    if http == "h11":  # what make run and the docs use
        assert (kind, trailer_became_a_header) == ("system", False)
    else:
        # The risk docs/security.md describes: the trailer is in scope["headers"]. Whether the
        # middleware saw it depends on whether the request was parsed before the app started
        # (it usually is, one packet): never serve a gatekeeper-auth app with httptools.
        assert trailer_became_a_header is True


def test_the_gatekeeper_password_itself_never_reaches_the_log(
    caplog: pytest.LogCaptureFixture, client: TestClient
) -> None:
    wrong = "Basic " + base64.b64encode(f"dataporten:{TEST_PASSWORD}x".encode()).decode()
    with caplog.at_level(logging.DEBUG):
        client.get("/system", headers={"Authorization": wrong})
    assert TEST_PASSWORD not in caplog.text
    assert wrong not in caplog.text
