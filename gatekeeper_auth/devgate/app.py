"""The development gatekeeper as one Starlette app: token endpoint, HTTP and websocket proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from gatekeeper_auth.devgate.config import DevGateConfig
from gatekeeper_auth.devgate.exchange import local_feide
from gatekeeper_auth.devgate.gate import Gate
from gatekeeper_auth.devgate.proxy import Proxy
from gatekeeper_auth.devgate.tokens import TokenIssuer
from gatekeeper_auth.devgate.websocket import WebSocketProxy

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def build(config: DevGateConfig, transport: httpx2.AsyncBaseTransport | None) -> ASGIApp:
    """See `gatekeeper_auth.devgate.create_devgate`."""
    issuer = TokenIssuer(config)
    feide = local_feide(issuer)
    gate = Gate(config, issuer)
    client = httpx2.AsyncClient(
        timeout=config.upstream_timeout,
        follow_redirects=False,
        transport=transport,
        trust_env=False,  # the upstream is the configured one, never via an environment proxy
    )
    client.headers.clear()  # no User-Agent, Accept, ... of the client's own: only the caller's
    proxy = Proxy(config, gate, client)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "gatekeeper": config.api})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    app = Starlette(
        routes=[
            Route("/", health, methods=["GET"]),
            Route("/oauth/token", issuer.endpoint, methods=["POST"]),
            # The local Feide's; Feide serves them on auth.dataporten.no, beside /oauth/token.
            Route("/.well-known/openid-configuration", feide.discovery, methods=["GET"]),
            Route("/openid/jwks", feide.jwks, methods=["GET"]),
            Route("/{path:path}", proxy.handle, methods=ALL_METHODS),
            WebSocketRoute("/{path:path}", WebSocketProxy(config, gate).handle),
        ],
        lifespan=lifespan,
    )
    app.state.issuer = issuer
    app.state.feide = feide
    return OriginFormOnly(app)


class OriginFormOnly:
    """Answers 400 to a request whose target is not a path (`http://host/x`, `%2F@host/x`,
    `*`) before routing, which would answer 404 or, worse, match it. The app's state (its token
    store, `.state.issuer`) stays reachable."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.state = app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            raw_path = scope.get("raw_path")
            path = raw_path if isinstance(raw_path, bytes) else str(scope["path"]).encode()
            if not path.startswith(b"/"):
                body = {"detail": "the request target must be a path", "code": "bad_request"}
                response = JSONResponse(body, 400)
                if scope["type"] == "websocket":
                    await WebSocket(scope, receive, send).send_denial_response(response)
                else:
                    await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
