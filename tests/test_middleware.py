"""GatekeeperMiddleware: who gets an identity, who gets refused, and what passes untouched."""

import base64
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from example_app.main import create_app
from gatekeeper_auth import (
    ConfigurationError,
    GatekeeperMiddleware,
    GatekeeperSettings,
    get_identity,
)
from gatekeeper_auth.testing import (
    TEST_PASSWORD,
    TEST_USER_ID,
    FakeGatekeeper,
)
from tests.helpers import assert_refused, build_app, http_scope, refusal_message
from tests.servers import free_port, serve


def basic(value: bytes) -> str:
    return "Basic " + base64.b64encode(value).decode()


FORGED_USER = {
    "X-Dataporten-Clientid": "42b0c02e-0dda-4882-9da0-882a4b1abad6",
    "X-Dataporten-Userid": TEST_USER_ID,
    "X-Dataporten-Scopes": "read,admin",
    "X-Dataporten-Gatekeeper": "testapi",
}

# Every way to present credentials that are not the gatekeeper's.
WRONG_CREDENTIALS = {
    "wrong password": basic(b"dataporten:not-the-password"),
    "wrong username": basic(f"feideconnect:{TEST_PASSWORD}".encode()),
    "rotated-out password": basic(b"dataporten:old-password"),
    "bad base64": "Basic !!!not-base64!!!",
    "no colon": basic(b"dataporten" + TEST_PASSWORD.encode()),
    "empty basic": "Basic ",
    "other scheme": f"Bearer {TEST_PASSWORD}",
    "digest scheme": f"Digest {basic(f'dataporten:{TEST_PASSWORD}'.encode())[6:]}",
    "password only": basic(f":{TEST_PASSWORD}".encode()),
    "password as prefix": basic(f"dataporten:{TEST_PASSWORD}x".encode()),
    "non-ascii": basic("dataporten:pässword".encode()),
}


@pytest.mark.parametrize("path", ["/optional", "/system", "/user", "/any"])
def test_forged_headers_without_credentials_give_no_identity(client: TestClient, path: str) -> None:
    response = client.get(path, headers=FORGED_USER)
    if path == "/optional":
        assert response.status_code == 200
        assert response.json() is None
    else:
        assert response.status_code == 401
        assert_refused(response, "authentication_required")
        assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("authorization", WRONG_CREDENTIALS.values(), ids=WRONG_CREDENTIALS.keys())
@pytest.mark.parametrize("path", ["/optional", "/system", "/user"])
def test_wrong_credentials_are_refused_with_401(
    make_client: Callable[..., TestClient], authorization: str, path: str
) -> None:
    # "rotated-out": the app accepts only the new password, the caller sends the old one.
    client = make_client(password=[TEST_PASSWORD, "new-password"])
    response = client.get(path, headers={**FORGED_USER, "Authorization": authorization})
    assert response.status_code == 401
    assert_refused(response, "gatekeeper_credentials_invalid")
    assert "basic" not in response.headers["www-authenticate"].lower()  # no login dialog


def test_app_is_not_called_on_wrong_credentials() -> None:
    called = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        called.append(scope)

    client = TestClient(GatekeeperMiddleware(app, password="secret"))
    response = client.get("/", headers={"Authorization": basic(b"dataporten:wrong")})
    assert response.status_code == 401
    assert called == []


def test_both_passwords_work_during_a_rotation(make_client: Callable[..., TestClient]) -> None:
    client = make_client(password=["old-password", "new-password"])
    for password in ("old-password", "new-password"):
        gatekeeper = FakeGatekeeper(password=password)
        response = client.get("/system", headers=gatekeeper.system())
        assert response.status_code == 200, password
    assert client.get("/system", headers=FakeGatekeeper().system()).status_code == 401


@pytest.mark.parametrize(
    "authorization",
    [
        basic(f"dataporten:{TEST_PASSWORD}".encode()).replace("Basic", "basic"),
        basic(f"dataporten:{TEST_PASSWORD}".encode()).replace("Basic ", "BASIC   "),
    ],
)
def test_other_spellings_of_the_right_credentials_are_accepted(
    client: TestClient, gatekeeper: FakeGatekeeper, authorization: str
) -> None:
    headers = {**gatekeeper.system(), "Authorization": authorization}
    assert client.get("/system", headers=headers).status_code == 200


def test_repeated_authorization_is_refused(client: TestClient, gatekeeper: FakeGatekeeper) -> None:
    headers = [*gatekeeper.system().items(), ("Authorization", gatekeeper.authorization())]
    response = client.get("/system", headers=headers)
    assert response.status_code == 401
    assert_refused(response, "gatekeeper_credentials_invalid")


def test_verified_system_request_gets_a_full_identity(
    client: TestClient, gatekeeper: FakeGatekeeper
) -> None:
    response = client.get("/system", headers=gatekeeper.system(scopes=["read", "admin"]))
    assert response.status_code == 200
    assert response.json() == {
        "kind": "system",
        "client_id": "42b0c02e-0dda-4882-9da0-882a4b1abad6",
        "user_id": None,
        "scopes": ["admin", "read"],
        "secondary_ids": [],
        "acr": None,
        "gatekeeper": "testapi",
    }


def test_verified_user_request_gets_a_full_identity(
    client: TestClient, gatekeeper: FakeGatekeeper
) -> None:
    headers = gatekeeper.user(
        secondary_ids=["feide:andreas@uninett.no", "nin:01019012345"], acr="urn:x:password"
    )
    body = client.get("/user", headers=headers).json()
    assert body["kind"] == "user"
    assert body["user_id"] == TEST_USER_ID
    assert body["secondary_ids"] == ["feide:andreas@uninett.no", "nin:01019012345"]
    assert body["acr"] == "urn:x:password"


MALFORMED = {
    "empty userid": ({"X-Dataporten-Userid": ""}, "gatekeeper_header_invalid"),
    "userid with control": ({"X-Dataporten-Userid": "abc\x01def"}, "gatekeeper_header_invalid"),
    "userid with space": ({"X-Dataporten-Userid": "abc def"}, "gatekeeper_header_invalid"),
    "clientid non-ascii": ({"X-Dataporten-Clientid": "kl\xe9nt"}, "gatekeeper_header_invalid"),
    "empty clientid": ({"X-Dataporten-Clientid": ""}, "gatekeeper_header_invalid"),
    "scope with tab": ({"X-Dataporten-Scopes": "read,ad\tmin"}, "gatekeeper_header_invalid"),
    "empty scope item": ({"X-Dataporten-Scopes": "read,,admin"}, "gatekeeper_header_invalid"),
    "secondary id without colon": (
        {"X-Dataporten-Userid-Sec": "feide-andreas"},
        "gatekeeper_header_invalid",
    ),
    "secondary id without value": (
        {"X-Dataporten-Userid-Sec": "feide:"},
        "gatekeeper_header_invalid",
    ),
    "acr with control": ({"X-Dataporten-Acr": "a\x7fb"}, "gatekeeper_header_invalid"),
    "token with space": ({"X-Dataporten-Token": "a b"}, "gatekeeper_header_invalid"),
}


@pytest.mark.parametrize(("extra", "code"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_gatekeeper_input_is_refused_with_400(
    client: TestClient, gatekeeper: FakeGatekeeper, extra: dict[str, str], code: str
) -> None:
    headers = {**gatekeeper.user(), **extra}
    response = client.get("/any", headers={k: v.encode("latin-1") for k, v in headers.items()})
    assert response.status_code == 400
    assert_refused(response, code)


@pytest.mark.parametrize("name", ["Clientid", "Gatekeeper"])
def test_missing_header_on_a_verified_request_is_400(
    client: TestClient, gatekeeper: FakeGatekeeper, name: str
) -> None:
    headers = gatekeeper.system(scopes=["read"])
    del headers[f"X-Dataporten-{name}"]
    response = client.get("/any", headers=headers)
    assert_refused(response, "gatekeeper_header_missing")
    assert f"X-Dataporten-{name}" in refusal_message(response)


@pytest.mark.parametrize(
    "name",
    ["X-Dataporten-Userid", "x-dataporten-clientid", "X-DATAPORTEN-SCOPES", "X-Dataporten-Acr"],
)
def test_repeated_gatekeeper_header_is_400_in_any_case(
    client: TestClient, gatekeeper: FakeGatekeeper, name: str
) -> None:
    headers = [*gatekeeper.user(scopes=["read"], acr="x").items(), (name, "again")]
    response = client.get("/any", headers=headers)
    assert response.status_code == 400
    assert_refused(response, "gatekeeper_header_repeated")


@pytest.mark.parametrize("name", ["X_Dataporten_Userid", "x-dataporten_userid", "X_DATAPORTEN-ACR"])
def test_gatekeeper_header_spelled_with_underscores_is_400(
    client: TestClient, gatekeeper: FakeGatekeeper, name: str
) -> None:
    headers = {**gatekeeper.system(), name: "76a7a061"}
    response = client.get("/system", headers=headers)
    assert response.status_code == 400
    assert_refused(response, "gatekeeper_header_invalid")


async def _raw_asgi_call(app: Any, headers: list[tuple[bytes, bytes]]) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(http_scope(headers, path="/system"), receive, send)
    return sent


@pytest.mark.anyio
async def test_header_names_are_matched_case_insensitively_even_from_a_raw_asgi_server(
    gatekeeper: FakeGatekeeper,
) -> None:
    """A server that does not lower-case names must not hide X-Dataporten-Userid."""
    app = build_app(**gatekeeper.middleware_options())
    headers = [(k.encode(), v.encode()) for k, v in gatekeeper.system().items()]
    headers.append((b"X-DATAPORTEN-USERID", TEST_USER_ID.encode()))
    sent = await _raw_asgi_call(app, headers)
    assert sent[0]["status"] == 403
    assert b"user_token_not_allowed" in sent[1]["body"]


def test_identity_is_on_the_scope_three_ways(gatekeeper: FakeGatekeeper) -> None:
    async def endpoint(request: Request) -> JSONResponse:
        identity = get_identity(request)
        assert identity is request.state.identity
        assert identity is not None
        assert request.user.caller is identity
        return JSONResponse(
            {"auth": list(request.auth.scopes), "display": request.user.display_name}
        )

    app = Starlette(routes=[Route("/", endpoint)])
    app.add_middleware(GatekeeperMiddleware, **gatekeeper.middleware_options())
    body = TestClient(app).get("/", headers=gatekeeper.system(scopes=["read"])).json()
    assert body["auth"] == ["authenticated", "system", "scope:read"]


def test_a_sub_scope_named_user_does_not_pass_requires_user(gatekeeper: FakeGatekeeper) -> None:
    async def endpoint(request: Request) -> JSONResponse:
        return JSONResponse(list(request.auth.scopes))

    app = Starlette(routes=[Route("/", endpoint)])
    app.add_middleware(GatekeeperMiddleware, **gatekeeper.middleware_options())
    scopes = TestClient(app).get("/", headers=gatekeeper.system(scopes=["user"])).json()
    assert "user" not in scopes
    assert "scope:user" in scopes


def test_lifespan_passes_through_untouched(gatekeeper: FakeGatekeeper) -> None:
    seen: list[tuple[Scope, Receive, Send]] = []
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "lifespan"
        seen.append((scope, receive, send))
        events.append((await receive())["type"])
        await send({"type": "lifespan.startup.complete"})
        events.append((await receive())["type"])
        await send({"type": "lifespan.shutdown.complete"})

    middleware = GatekeeperMiddleware(app, **gatekeeper.middleware_options())
    outer: list[tuple[Scope, Receive, Send, list[str]]] = []

    async def recorder(scope: Scope, receive: Receive, send: Send) -> None:
        outer.append((scope, receive, send, sorted(scope)))
        await middleware(scope, receive, send)

    with TestClient(recorder):
        pass
    assert events == ["lifespan.startup", "lifespan.shutdown"]
    scope, receive, send, keys = outer[0]
    assert seen == [(scope, receive, send)]  # the very same objects, not wrapped
    assert sorted(scope) == keys  # nothing added to the scope


@pytest.mark.parametrize("kind", ["system", "anonymous"])
def test_request_body_streams_through_intact(gatekeeper: FakeGatekeeper, kind: str) -> None:
    received: list[bytes] = []

    async def endpoint(request: Request) -> JSONResponse:
        async for chunk in request.stream():
            received.append(chunk)
        return JSONResponse({"bytes": sum(map(len, received))})

    app = Starlette(routes=[Route("/", endpoint, methods=["POST"])])
    app.add_middleware(GatekeeperMiddleware, **gatekeeper.middleware_options())
    chunks = [bytes([i]) * 1000 for i in range(50)]
    headers = gatekeeper.system() if kind == "system" else {}
    response = TestClient(app).post("/", content=iter(chunks), headers=headers)
    assert response.json() == {"bytes": 50_000}
    assert b"".join(received) == b"".join(chunks)


def _websocket_app(gatekeeper: FakeGatekeeper) -> Starlette:
    async def endpoint(websocket: WebSocket) -> None:
        identity = get_identity(websocket)
        if identity is None:
            await websocket.close(1008)
            return
        await websocket.accept()
        await websocket.send_json({"kind": identity.kind})
        await websocket.close()

    app = Starlette(routes=[WebSocketRoute("/ws", endpoint)])
    app.add_middleware(GatekeeperMiddleware, **gatekeeper.middleware_options())
    return app


def test_websocket_gets_an_identity(gatekeeper: FakeGatekeeper) -> None:
    client = TestClient(_websocket_app(gatekeeper))
    with client.websocket_connect("/ws", headers=gatekeeper.user()) as websocket:
        assert websocket.receive_json() == {"kind": "user"}


def test_websocket_with_wrong_credentials_is_refused(gatekeeper: FakeGatekeeper) -> None:
    client = TestClient(_websocket_app(gatekeeper))
    forged = FakeGatekeeper(password="wrong").user()
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect("/ws", headers=forged),
    ):
        pass
    assert (refused.value.code, refused.value.reason) == (1008, "gatekeeper_credentials_invalid")


def test_missing_password_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEKEEPER_PASSWORD", raising=False)
    monkeypatch.delenv("GATEKEEPER_BEARER_TOKEN", raising=False)
    monkeypatch.chdir("/")  # no .env here

    async def app(scope: Scope, receive: Receive, send: Send) -> None: ...

    with pytest.raises(ConfigurationError, match="needs password="):
        GatekeeperMiddleware(app)
    with pytest.raises(ConfigurationError, match="needs password="):
        GatekeeperMiddleware(app, username="dataporten")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"password": "a", "bearer_token": "b"}, "both password= and bearer_token="),
        ({"password": "a", "allow_unverified": True}, "allow_unverified=True cannot go"),
        ({"password": ""}, "is empty"),
        ({"password": "a", "username": "a:b"}, "cannot contain ':'"),
        ({"password": "a", "allowed_networks": ["not-a-network"]}, "allowed_networks"),
        ({"password": "a", "header_prefix": "X Bad-"}, "not a valid header name prefix"),
    ],
)
def test_contradictory_configuration_is_refused(options: dict[str, Any], message: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None: ...

    with pytest.raises(ConfigurationError, match=message):
        GatekeeperMiddleware(app, **options)


def test_allow_unverified_trusts_headers_and_warns_once(
    caplog: pytest.LogCaptureFixture, make_client: Callable[..., TestClient]
) -> None:
    with caplog.at_level(logging.WARNING, logger="gatekeeper_auth"):
        client = make_client(allow_unverified=True)
        response = client.get("/system", headers=FORGED_USER)
        system = {k: v for k, v in FORGED_USER.items() if k != "X-Dataporten-Userid"}
        assert client.get("/system", headers=system).status_code == 200
    assert_refused(response, "user_token_not_allowed")
    assert client.get("/system").status_code == 401
    warnings = [r for r in caplog.records if "allow_unverified" in r.getMessage()]
    assert len(warnings) == 1


def test_refusals_are_logged_without_secrets(
    caplog: pytest.LogCaptureFixture, client: TestClient, gatekeeper: FakeGatekeeper
) -> None:
    with caplog.at_level(logging.INFO, logger="gatekeeper_auth"):
        client.get("/system", headers=gatekeeper.user(token="secret-token-value"))
        client.get("/system", headers={**FORGED_USER, "Authorization": basic(b"x:guess")})
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "user_token_not_allowed" in text
    assert "did not match the gatekeeper's credentials" in text
    assert "/system" in text
    for secret in ("secret-token-value", TEST_PASSWORD, "guess", gatekeeper.authorization()):
        assert secret not in text


@pytest.mark.anyio
async def test_a_path_with_a_newline_cannot_forge_a_log_line(
    caplog: pytest.LogCaptureFixture, gatekeeper: FakeGatekeeper
) -> None:
    app = build_app(**gatekeeper.middleware_options())
    forged = [  # verified, with a header twice: the middleware refuses it and logs the path
        (b"authorization", gatekeeper.authorization().encode()),
        (b"x-dataporten-clientid", b"a"),
        (b"x-dataporten-clientid", b"b"),
    ]
    with caplog.at_level(logging.INFO, logger="gatekeeper_auth"):
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            sent.append(message)

        path = "/system\nINFO gatekeeper_auth accepted everyone"
        await app(http_scope(forged, path=path), receive, send)
    assert sent[0]["status"] == 400
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert lines
    assert all("\n" not in line for line in lines)  # repr escaped it
    assert "\\n" in lines[0]


def test_bearer_token_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, make_client: Callable[..., TestClient]
) -> None:
    monkeypatch.setenv("GATEKEEPER_BEARER_TOKEN", "env-shared-token")
    monkeypatch.delenv("GATEKEEPER_PASSWORD", raising=False)
    client = make_client(settings=GatekeeperSettings())
    headers = FakeGatekeeper(bearer_token="env-shared-token").system()
    assert client.get("/system", headers=headers).status_code == 200


def test_the_middleware_reads_the_environment_when_given_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GATEKEEPER_PASSWORD", TEST_PASSWORD)
    app = build_app()  # no options: GatekeeperSettings() from the environment
    assert TestClient(app).get("/system", headers=FakeGatekeeper().system()).status_code == 200


def test_explicit_options_ignore_the_environment(
    monkeypatch: pytest.MonkeyPatch, make_client: Callable[..., TestClient]
) -> None:
    monkeypatch.setenv("GATEKEEPER_ALLOWED_NETWORKS", "10.0.0.0/8")
    client = make_client(password=TEST_PASSWORD)
    assert client.get("/system", headers=FakeGatekeeper().system()).status_code == 200


def test_cors_preflight_reaches_cors_middleware_as_anonymous() -> None:
    client = TestClient(create_app(GatekeeperSettings(password=[SecretStr(TEST_PASSWORD)])))
    response = client.options(
        "/system/ping",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    refused = client.options(
        "/system/ping",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert refused.status_code == 400


def test_unauthenticated_call_with_only_gatekeeper_and_acr_is_anonymous(
    client: TestClient,
) -> None:
    headers = {"X-Dataporten-Gatekeeper": "testapi", "X-Dataporten-Acr": ""}
    assert client.get("/optional", headers=headers).json() is None
    assert_refused(client.get("/system", headers=headers), "authentication_required")


ROOT = Path(__file__).parent.parent


NO_GATEKEEPER_ENV = {k: v for k, v in os.environ.items() if not k.startswith("GATEKEEPER_")}


BAD_APP = """
from fastapi import FastAPI
from gatekeeper_auth import GatekeeperMiddleware

app = FastAPI()
app.add_middleware(GatekeeperMiddleware)  # no password, no environment: misconfigured
"""


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic " + base64.b64encode(b"dataporten:guess").decode()}],
    ids=["no credentials", "wrong credentials"],
)
def test_no_401_ever_asks_the_browser_for_a_password(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.get("/system", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer ")


def uvicorn_on_bad_app(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """uvicorn serving an app whose middleware is misconfigured, until it exits by itself."""
    (tmp_path / "bad_app.py").write_text(BAD_APP)
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "uvicorn", "bad_app:app", "--port", "0", *options],
        cwd=tmp_path,
        env=NO_GATEKEEPER_ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_uvicorn_exits_with_the_message_when_the_middleware_is_misconfigured(
    tmp_path: Path,
) -> None:
    result = uvicorn_on_bad_app(tmp_path, "--lifespan", "auto")
    assert result.returncode == 3  # uvicorn's status for a failed start-up
    assert "GatekeeperMiddleware needs password=" in result.stderr
    assert "Application startup failed" in result.stderr
    assert "appears unsupported" not in result.stderr


def test_with_workers_uvicorn_exits_0_after_the_misconfigured_workers_fail(
    tmp_path: Path,
) -> None:
    """What docs/deployment.md warns of: with --workers, uvicorn's exit status hides the error
    (the parent stops once a worker fails to start, and exits 0); only the log shows it."""
    result = uvicorn_on_bad_app(tmp_path, "--workers", "2")
    assert result.returncode == 0
    assert "GatekeeperMiddleware needs password=" in result.stderr
    assert "failed to start, stopping the parent process" in result.stderr


def test_a_test_client_raises_the_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("GATEKEEPER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(ROOT / "docs")  # no .env here
    app = FastAPI()
    app.add_middleware(GatekeeperMiddleware)
    with pytest.raises(ConfigurationError, match="needs password="), TestClient(app):
        pass
    with pytest.raises(ConfigurationError, match="needs password="):
        TestClient(app).get("/")  # without the lifespan: the first request raises it


def test_built_by_hand_the_middleware_raises_at_once() -> None:
    with pytest.raises(ConfigurationError, match="got both password= and bearer_token="):
        GatekeeperMiddleware(FastAPI(), password="p", bearer_token="t")


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
