"""The development gatekeeper as one Starlette app: token endpoint, HTTP and websocket proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from gatekeeper_auth.devgate.config import DevGateConfig
from gatekeeper_auth.devgate.gate import Gate
from gatekeeper_auth.devgate.proxy import Proxy
from gatekeeper_auth.devgate.tokens import TokenIssuer
from gatekeeper_auth.devgate.websocket import WebSocketProxy

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def build(config: DevGateConfig, transport: httpx2.AsyncBaseTransport | None) -> Starlette:
    """See `gatekeeper_auth.devgate.create_devgate`."""
    issuer = TokenIssuer(config)
    gate = Gate(config, issuer)
    client = httpx2.AsyncClient(
        timeout=config.upstream_timeout,
        follow_redirects=False,
        transport=transport,
        trust_env=False,  # the upstream is the configured one, never via an environment proxy
    )
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
            Route("/{path:path}", proxy.handle, methods=ALL_METHODS),
            WebSocketRoute("/{path:path}", WebSocketProxy(config, gate).handle),
        ],
        lifespan=lifespan,
    )
    app.state.issuer = issuer
    return app
