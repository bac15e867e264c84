"""A plain Starlette app, mounted under the FastAPI example at /legacy.

It shows Starlette's own `@requires` working on the names the middleware sets, and the
package's endpoint guards for HTTP and websockets.
"""

from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from gatekeeper_auth import get_identity, system_endpoint, user_endpoint


@system_endpoint(scopes={"read"})
async def system_report(request: Request) -> JSONResponse:
    identity = get_identity(request)
    assert identity is not None
    return JSONResponse({"client": identity.client_id, "kind": identity.kind})


@requires("user")
async def profile(request: Request) -> JSONResponse:
    return JSONResponse({"user": request.user.display_name, "scopes": list(request.auth.scopes)})


@user_endpoint()
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    identity = get_identity(websocket)
    assert identity is not None
    await websocket.send_json({"user": identity.user_id})
    async for message in websocket.iter_text():
        await websocket.send_text(message)


app = Starlette(
    routes=[
        Route("/report", system_report),
        Route("/profile", profile),
        WebSocketRoute("/echo", echo),
    ]
)
