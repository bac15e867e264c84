"""A Starlette service on an install without FastAPI, as a script that prints what it saw.

Run by tests/test_install_shapes.py with FastAPI made impossible to import, and by
`make compat` in a venv where FastAPI is not installed (`pip install gatekeeper-auth`, plus
httpx for Starlette's TestClient and pytest for the plugin). Imports nothing from `tests`.
"""

import json
import sys

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

import gatekeeper_auth
import gatekeeper_auth.pytest_plugin  # loaded by entry point in every pytest run
from gatekeeper_auth import GatekeeperMiddleware, system_endpoint
from gatekeeper_auth.testing import FakeGatekeeper

gatekeeper = FakeGatekeeper()


@system_endpoint()
async def system(request: Request) -> JSONResponse:
    return JSONResponse({"client": request.user.identity})


@system_endpoint()
async def socket(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"client": websocket.user.identity})
    await websocket.close()


app = Starlette(routes=[Route("/system", system), WebSocketRoute("/ws", socket)])
app.add_middleware(GatekeeperMiddleware, **gatekeeper.middleware_options())
client = TestClient(app)


def answer(headers: dict[str, str]) -> dict[str, object]:
    response = client.get("/system", headers=headers)
    return {
        "status": response.status_code,
        "content-type": response.headers["content-type"],
        "www-authenticate": response.headers.get("www-authenticate"),
        "body": response.json(),
    }


def websocket_close(headers: dict[str, str]) -> list[object]:
    try:
        with client.websocket_connect("/ws", headers=headers) as ws:
            return ["accepted", ws.receive_json()]
    except WebSocketDisconnect as closed:
        return [closed.code, closed.reason]


try:
    gatekeeper_auth.require_system  # noqa: B018
    fastapi_name = "imported"
except ImportError as error:
    fastapi_name = str(error)

print(
    json.dumps(
        {
            "system": answer(gatekeeper.system()),
            "anonymous": answer({}),
            "user": answer(gatekeeper.user()),
            "websocket system": websocket_close(gatekeeper.system()),
            "websocket user": websocket_close(gatekeeper.user()),
            "fastapi name": fastapi_name,
            "fastapi imported": "fastapi" in sys.modules,
        }
    )
)
