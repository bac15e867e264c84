"""A refusal is a 401/403 with its JSON body wherever the middleware sits (issue 13).

Every shape a user may install the middleware in: `add_middleware`, wrapped directly, an outer
app with mounted FastAPI or Starlette sub-apps, middleware in between, websockets, and a
Starlette service on an install without FastAPI. None of them may turn a refusal into a 500 or
show it to a middleware between ours and the route.
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, WebSocket
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from gatekeeper_auth import (
    GatekeeperMiddleware,
    Identity,
    require_system,
    system_endpoint,
)
from gatekeeper_auth.testing import TEST_CLIENT_ID, FakeGatekeeper
from tests.helpers import CHALLENGES, assert_refused, python_without

GATEKEEPER = FakeGatekeeper()
OPTIONS = GATEKEEPER.middleware_options()


def fastapi_app() -> FastAPI:
    app = FastAPI()

    @app.get("/system")
    async def system(caller: Annotated[Identity, Depends(require_system())]) -> dict[str, str]:
        return {"client": caller.client_id}

    @app.websocket("/ws")
    async def ws(
        websocket: WebSocket, caller: Annotated[Identity, Depends(require_system())]
    ) -> None:
        await websocket.accept()
        await websocket.send_json({"client": caller.client_id})
        await websocket.close()

    return app


def starlette_app() -> Starlette:
    @system_endpoint()
    async def system(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    @system_endpoint()
    async def ws(websocket: Any) -> None:
        await websocket.accept()
        await websocket.send_json({"ok": True})
        await websocket.close()

    return Starlette(routes=[Route("/system", system), WebSocketRoute("/ws", ws)])


class ErrorTracker:
    """What an error tracker or tracing middleware does: sees every exception on its way up."""

    def __init__(self, app: ASGIApp, seen: list[BaseException]) -> None:
        self.app, self.seen = app, seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except BaseException as error:
            self.seen.append(error)
            raise


class Passthrough(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        return await call_next(request)


def added(seen: list[BaseException]) -> tuple[ASGIApp, str]:
    app = fastapi_app()
    app.add_middleware(ErrorTracker, seen=seen)
    app.add_middleware(Passthrough)
    app.add_middleware(GatekeeperMiddleware, **OPTIONS)
    return app, ""


def wrapped(seen: list[BaseException]) -> tuple[ASGIApp, str]:
    inner = fastapi_app()
    inner.add_middleware(ErrorTracker, seen=seen)
    return GatekeeperMiddleware(inner, **OPTIONS), ""


def mounted(
    outer: Callable[[], Starlette], inner: Callable[[], ASGIApp]
) -> Callable[[list[BaseException]], tuple[ASGIApp, str]]:
    """The middleware on an outer app, the routes in an app mounted under it at /sub."""

    def shape(seen: list[BaseException]) -> tuple[ASGIApp, str]:
        app = outer()
        app.mount("/sub", inner())
        app.add_middleware(ErrorTracker, seen=seen)
        app.add_middleware(GatekeeperMiddleware, **OPTIONS)
        return app, "/sub"

    return shape


SHAPES: dict[str, Callable[[list[BaseException]], tuple[ASGIApp, str]]] = {
    "add_middleware with middleware in between": added,
    "wrapped directly": wrapped,
    "FastAPI mounted under Starlette": mounted(Starlette, fastapi_app),
    "FastAPI mounted under FastAPI": mounted(FastAPI, fastapi_app),
    "Starlette mounted under FastAPI": mounted(FastAPI, starlette_app),
}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_refusals_are_answered_in_every_install_shape(
    shape: Callable[[list[BaseException]], tuple[ASGIApp, str]],
) -> None:
    seen: list[BaseException] = []
    app, prefix = shape(seen)
    client = TestClient(app, raise_server_exceptions=True)
    assert client.get(prefix + "/system", headers=GATEKEEPER.system()).status_code == 200
    assert_refused(client.get(prefix + "/system"), "authentication_required")
    assert_refused(
        client.get(prefix + "/system", headers=GATEKEEPER.user()), "user_token_not_allowed"
    )
    assert seen == []  # nothing in between saw an exception


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_websocket_refusals_close_with_1008_in_every_install_shape(
    shape: Callable[[list[BaseException]], tuple[ASGIApp, str]],
) -> None:
    seen: list[BaseException] = []
    app, prefix = shape(seen)
    client = TestClient(app)
    with client.websocket_connect(prefix + "/ws", headers=GATEKEEPER.system()) as socket:
        assert socket.receive_json()
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect(prefix + "/ws", headers=GATEKEEPER.user()) as socket,
    ):
        socket.receive_json()
    assert (refused.value.code, refused.value.reason) == (1008, "user_token_not_allowed")
    assert seen == []


def refusal(status: int, code: str) -> dict[str, Any]:
    """What `tests/starlette_only.py` reports for a refused request, less the message."""
    return {
        "status": status,
        "content-type": "application/json",
        "www-authenticate": CHALLENGES.get(code),
        "body": {"detail": {"code": code}},
    }


def test_a_starlette_service_runs_without_fastapi() -> None:
    script = (Path(__file__).parent / "starlette_only.py").read_text()
    result = python_without({"fastapi"}, script)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    for name in ("anonymous", "user"):
        message = seen[name]["body"]["detail"].pop("message")
        assert isinstance(message, str), message
        assert message, seen[name]
    assert seen == {
        "system": {
            "status": 200,
            "content-type": "application/json",
            "www-authenticate": None,
            "body": {"client": TEST_CLIENT_ID},
        },
        "anonymous": refusal(401, "authentication_required"),
        "user": refusal(403, "user_token_not_allowed"),
        "websocket system": ["accepted", {"client": TEST_CLIENT_ID}],
        "websocket user": [1008, "user_token_not_allowed"],
        "fastapi name": "gatekeeper_auth.require_system is for FastAPI, which is not installed: "
        "pip install fastapi (a dependency of gatekeeper-auth that was removed)",
        "fastapi imported": False,
    }
