"""A Starlette service: the package's guards and Starlette's own
`@requires`."""

from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from gatekeeper_auth import (
    GatekeeperMiddleware,
    get_identity,
    system_endpoint,
    user_endpoint,
)


@system_endpoint(scopes={"read"})
async def export(request: Request) -> JSONResponse:
    caller = get_identity(request)
    assert caller is not None  # the guard let it in
    return JSONResponse({"client": caller.client_id})


# Starlette's own decorator: the kind, and "scope:<name>"
@requires(["user", "scope:read"])
async def inbox(request: Request) -> JSONResponse:
    return JSONResponse({"user": request.user.identity})


@user_endpoint()
async def chat(websocket: WebSocket) -> None:
    await websocket.accept()
    async for message in websocket.iter_text():
        await websocket.send_text(f"echo: {message}")


app = Starlette(
    routes=[
        Route("/export", export),
        Route("/inbox", inbox),
        WebSocketRoute("/chat", chat),
    ]
)
app.add_middleware(GatekeeperMiddleware, password="change-me")
