"""What a hostile review found in the settings and the middleware (issue 12, items 5-12).

Each test names the break it closes; docs/security.md lists them.
"""

import asyncio
import base64
import json
import logging
import socket
import traceback
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Message

from gatekeeper_auth import (
    ConfigurationError,
    GatekeeperMiddleware,
    GatekeeperSettings,
    get_identity,
)
from gatekeeper_auth.testing import TEST_PASSWORD, FakeGatekeeper
from tests.helpers import assert_refused, build_app, http_scope
from tests.servers import free_port, serve

GENERATED = "[Zq8#uV1k!p0w"  # a plausible generated password that starts like a JSON list


def configuration_error(**environment: str) -> ConfigurationError:
    """The error the middleware raises when configured from these variables."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("GATEKEEPER_PASSWORD", "GATEKEEPER_BEARER_TOKEN"):
            patch.delenv(name, raising=False)
        for name, value in environment.items():
            patch.setenv(name, value)
        with pytest.raises(ConfigurationError) as caught:
            build_app().build_middleware_stack()
    return caught.value


def everything_said(error: BaseException) -> str:
    """The message and the whole traceback, chained exceptions included, as a log shows them."""
    return "".join(traceback.format_exception(error))


# 5. A secret in an error message; any password string can be configured.


def test_a_password_that_begins_with_a_bracket_is_used_as_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GATEKEEPER_PASSWORD", GENERATED)
    client = TestClient(build_app())
    headers = FakeGatekeeper(password=GENERATED).system()
    assert client.get("/system", headers=headers).status_code == 200


def test_the_old_list_syntax_is_refused_without_echoing_it() -> None:
    error = configuration_error(GATEKEEPER_PASSWORD='["new-secret-1", "old-secret-2"]')
    said = everything_said(error)
    assert "GATEKEEPER_PASSWORD" in said
    assert "GATEKEEPER_PREVIOUS_PASSWORD" in said  # where the old password goes now
    for piece in ("new-secret", "old-secret", "secret-1", "secret-2"):
        assert piece not in said


@pytest.mark.parametrize(
    "environment",
    [
        {"GATEKEEPER_PASSWORD": '["new-secret-1", "old-secret-2"]'},
        {"GATEKEEPER_PASSWORD": " leading-secret-1"},
        {"GATEKEEPER_PASSWORD": "trailing-secret-1\t"},
        {"GATEKEEPER_PASSWORD": "ok-secret-1", "GATEKEEPER_PREVIOUS_PASSWORD": "padded-secret-2 "},
        {"GATEKEEPER_BEARER_TOKEN": '["token-secret-1"]'},
        {"GATEKEEPER_PASSWORD": "a-secret-1", "GATEKEEPER_BEARER_TOKEN": "b-secret-2"},
        {"GATEKEEPER_PASSWORD": "a-secret-1", "GATEKEEPER_USERID_GRANT": "secret-maybe"},
    ],
)
def test_no_configuration_error_contains_a_secret(
    environment: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        said = everything_said(configuration_error(**environment))
    logged = caplog.text
    for value in environment.values():
        for piece in (value, value.strip(), value.strip()[:8]):
            if "secret" in piece:
                assert piece not in said
                assert piece not in logged


# 6. Secrets silently changed: used exactly as given, or refused.


@pytest.mark.parametrize("value", [" secret", "secret ", "\tsecret\n"])
def test_a_secret_with_surrounding_white_space_is_refused(value: str) -> None:
    error = configuration_error(GATEKEEPER_PASSWORD=value)
    assert "white space" in str(error)
    assert "GATEKEEPER_PASSWORD" in str(error)


def test_a_quoted_dotenv_value_keeps_its_white_space_and_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text('GATEKEEPER_PASSWORD=" padded "\n')
    assert "white space" in str(configuration_error())


# 7. An empty network list meant "anyone".


@pytest.mark.parametrize("value", ["", " ", ",", "[]", " , "])
def test_an_empty_network_list_is_refused_at_start_up(value: str) -> None:
    error = configuration_error(GATEKEEPER_PASSWORD="pw", GATEKEEPER_ALLOWED_NETWORKS=value)
    assert "GATEKEEPER_ALLOWED_NETWORKS names no network" in str(error)


def test_an_empty_network_list_in_code_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="allowed_networks= names no network"):
        GatekeeperMiddleware(build_app(), password="pw", allowed_networks=[])


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


# Found by the review of this change: a .env file must not change a secret either.


@pytest.mark.parametrize(
    ("line", "password"),
    [
        ("GATEKEEPER_PASSWORD=k9${Qz7!mP2}x", "k9${Qz7!mP2}x"),  # dotenv would expand ${...}
        ("GATEKEEPER_PASSWORD='k9 #Qz7!mP2x'", "k9 #Qz7!mP2x"),
        ("  export GATEKEEPER_PASSWORD='k9\"Qz7'", 'k9"Qz7'),
    ],
)
def test_a_dotenv_secret_is_used_exactly_as_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, line: str, password: str
) -> None:
    monkeypatch.delenv("GATEKEEPER_PASSWORD", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(line + "\n")
    client = TestClient(build_app())
    assert client.get("/system", headers=FakeGatekeeper(password=password).system()).is_success


@pytest.mark.parametrize(
    "line",
    [
        "GATEKEEPER_PASSWORD=k9 #Qz7!mP2x",  # dotenv cuts at " #"
        "GATEKEEPER_PASSWORD=k9\t#Qz7!mP2x",
        "GATEKEEPER_PREVIOUS_PASSWORD=abc-Qz7   ",  # dotenv trims
        'GATEKEEPER_PASSWORD="Zq8\\tQz7"',  # double quotes decode escapes
        "GATEKEEPER_PASSWORD='ab\\\\Qz7'",  # so do single quotes, for \\ and \'
        "  export GATEKEEPER_PASSWORD=abc #Qz7",
        "export\tGATEKEEPER_PASSWORD=abc #Qz7",
        "'GATEKEEPER_PASSWORD'=abc #Qz7",
        "GATEKEEPER_PASSWORD=abc\x85Qz7",
    ],
)
def test_a_dotenv_secret_that_dotenv_would_change_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, line: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("GATEKEEPER_PASSWORD=ok\n" + line + "\n")
    said = everything_said(configuration_error())
    assert "is not written plainly" in said
    assert "Qz7" not in said


def test_a_dotenv_file_that_is_not_utf8_is_refused_without_a_byte_of_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_bytes(b"GATEKEEPER_PASSWORD=s\xe6cretpass\n")
    said = everything_said(configuration_error())
    assert "not utf-8 text" in said
    assert "0xe6" not in said
    assert "position" not in said


def test_the_env_file_named_in_code_is_the_one_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GATEKEEPER_PASSWORD", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("GATEKEEPER_PASSWORD=dev-password\n")
    (tmp_path / "prod.env").write_text("GATEKEEPER_PASSWORD=prod-password\n")
    chosen = GatekeeperSettings(_env_file="prod.env")  # type: ignore[call-arg]
    assert chosen.secrets() == (["prod-password"], [])
    assert GatekeeperSettings(_env_file=None).secrets() == ([], [])  # type: ignore[call-arg]
