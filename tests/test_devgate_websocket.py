"""A guarded websocket, end to end through the dev gatekeeper (issue 14, item 7).

The backend is a Starlette app behind `GatekeeperMiddleware` with a system-only websocket; the
dev gatekeeper forwards the upgrade with the gatekeeper's headers, as for HTTP.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from gatekeeper_auth import GatekeeperMiddleware
from gatekeeper_auth._platform import basic
from gatekeeper_auth.devgate import DevGateConfig
from gatekeeper_auth.starlette import system_endpoint
from tests.devgate_support import serve_devgate, token_for
from tests.servers import serve

PASSWORD = "websocket-gatekeeper-password"
CLIENT = ("c1", "client-secret-1")


@system_endpoint()
async def system_socket(websocket: WebSocket) -> None:
    await websocket.accept(subprotocol=(websocket.scope.get("subprotocols") or [None])[0])
    headers = {k.decode(): v.decode() for k, v in websocket.scope["headers"]}
    await websocket.send_text(
        json.dumps(
            {
                "client": headers.get("x-dataporten-clientid"),
                "gatekeeper": headers.get("x-dataporten-gatekeeper"),
            }
        )
    )
    message = await websocket.receive_text()
    await websocket.send_text("echo: " + message)
    await websocket.close(4000, "done")


@pytest.fixture(scope="module")
def gatekeeper() -> Iterator[str]:
    backend = GatekeeperMiddleware(
        Starlette(routes=[WebSocketRoute("/ws/system", system_socket)]), password=PASSWORD
    )
    with serve(backend) as upstream:
        config = DevGateConfig.model_validate(
            {
                "api": "wsapi",
                "upstream": upstream,
                "upstream_credentials": {"password": PASSWORD},
                "clients": [{"id": "c1", "secret": "client-secret-1", "scopes": ["read"]}],
                "users": [{"username": "u", "password": "p", "user_id": "uid-1"}],
            }
        )
        with serve_devgate(config) as (url, _):
            yield url


def ws(url: str) -> str:
    return url.replace("http://", "ws://") + "/ws/system"


def test_a_system_token_opens_the_guarded_websocket_with_the_gatekeepers_headers(
    gatekeeper: str,
) -> None:
    token = token_for(gatekeeper, CLIENT, grant_type="client_credentials")["access_token"]
    with connect(
        ws(gatekeeper),
        additional_headers={"Authorization": f"Bearer {token}", "X-Dataporten-Clientid": "forged"},
        subprotocols=["chat"],  # type: ignore[list-item]
        open_timeout=5,
    ) as socket:
        assert socket.subprotocol == "chat"
        first = json.loads(socket.recv(timeout=5))
        assert first["client"] == "c1"  # the caller's forged header was replaced
        assert first["gatekeeper"] == "wsapi"
        socket.send("hello")
        assert socket.recv(timeout=5) == "echo: hello"
        with pytest.raises(ConnectionClosed):
            socket.recv(timeout=5)
        assert socket.close_code == 4000  # the backend's close code, relayed


def test_a_user_token_is_refused_by_the_backends_guard(gatekeeper: str) -> None:
    token = token_for(gatekeeper, CLIENT, grant_type="password", username="u", password="p")[
        "access_token"
    ]
    with pytest.raises(InvalidStatus) as refused:
        connect(
            ws(gatekeeper), additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=5
        )
    assert refused.value.response.status_code == 403


def test_no_token_gets_the_gatekeepers_own_401(gatekeeper: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(ws(gatekeeper), open_timeout=5)
    answer = refused.value.response
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="dataporten"'
    assert json.loads(answer.body or b"") == {"message": "a bearer token is required"}


def test_http_still_works_beside_websockets(gatekeeper: str) -> None:
    assert httpx2.get(gatekeeper + "/").json() == {"status": "ok", "gatekeeper": "wsapi"}


def test_no_log_line_at_debug_holds_the_gatekeepers_credentials(
    gatekeeper: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The upstream handshake carries `Authorization: Basic <password>`; the websockets
    library writes every handshake header at DEBUG unless its logger says DEBUG is off."""
    token = token_for(gatekeeper, CLIENT, grant_type="client_credentials")["access_token"]
    caplog.set_level(logging.DEBUG)
    with connect(
        ws(gatekeeper), additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=5
    ) as socket:
        json.loads(socket.recv(timeout=5))
        socket.send("hello")
        assert socket.recv(timeout=5) == "echo: hello"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "> GET /ws/system HTTP/1.1" in logged  # the test's own client does log at DEBUG
    assert PASSWORD not in logged
    assert basic("dataporten", PASSWORD).split()[1] not in logged
