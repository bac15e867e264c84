"""A development API Gatekeeper: a token endpoint and a proxy that behave like Dataporten's.

`python -m gatekeeper_auth.devgate --config devgate.toml` serves it with uvicorn. For local
development and tests only: the `password` grant stands in for a browser login.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gatekeeper_auth.devgate.config import Client, DevGateConfig, UpstreamCredentials, User
from gatekeeper_auth.devgate.proxy import Proxy
from gatekeeper_auth.devgate.tokens import TokenIssuer

__all__ = ["Client", "DevGateConfig", "UpstreamCredentials", "User", "create_devgate"]

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_devgate(
    config: DevGateConfig, *, transport: httpx.AsyncBaseTransport | None = None
) -> Starlette:
    """The development gatekeeper as an ASGI app, forwarding to `config.upstream`.

    `transport` replaces the network toward the upstream (tests pass `httpx.ASGITransport`).
    """
    issuer = TokenIssuer(config)
    client = httpx.AsyncClient(
        timeout=config.upstream_timeout, follow_redirects=False, transport=transport
    )
    proxy = Proxy(config, issuer, client)

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
        ],
        lifespan=lifespan,
    )
    app.state.issuer = issuer
    return app
