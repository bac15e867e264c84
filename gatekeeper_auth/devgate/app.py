"""The development gatekeeper as one Starlette app: the gatekeeper's token endpoint, the local
Feide's endpoints and APIs, and the HTTP and websocket proxy to the API for every other path."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from gatekeeper_auth._platform import DISCOVERY_PATH, GROUPS_URL, USERINFO_URL
from gatekeeper_auth.devgate.config import DevGateConfig
from gatekeeper_auth.devgate.exchange import local_feide
from gatekeeper_auth.devgate.feide import (
    AUTHORIZATION_PATH,
    JWKS_PATH,
    OPENID_USERINFO_PATH,
    TOKEN_PATH,
)
from gatekeeper_auth.devgate.feide_api import FeideAPIs
from gatekeeper_auth.devgate.gate import Gate
from gatekeeper_auth.devgate.proxy import Proxy
from gatekeeper_auth.devgate.tokens import TokenIssuer
from gatekeeper_auth.devgate.websocket import WebSocketProxy

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
#: Where Feide serves its groups API and extended userinfo; the dev gatekeeper, on its address.
GROUPS_PATH = urlsplit(GROUPS_URL).path
USERINFO_PATH = urlsplit(USERINFO_URL).path
Endpoint = Callable[[Request], Awaitable[Response]]


def build(config: DevGateConfig, transport: httpx2.AsyncBaseTransport | None) -> ASGIApp:
    """See `gatekeeper_auth.devgate.create_devgate`."""
    issuer = TokenIssuer(config)
    feide = local_feide(issuer)
    apis = FeideAPIs(config, issuer)
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
            own(TOKEN_PATH, issuer.endpoint, "POST"),
            # The local Feide's; Feide serves them on auth.dataporten.no, beside /oauth/token,
            # and its APIs on groups-api.dataporten.no and api.dataporten.no.
            own(DISCOVERY_PATH, feide.discovery, "GET"),
            own(JWKS_PATH, feide.jwks, "GET"),
            own(AUTHORIZATION_PATH, no_login, "GET", "POST"),
            own(OPENID_USERINFO_PATH, apis.openid_userinfo, "GET"),
            own(GROUPS_PATH, apis.groups, "GET"),
            own(USERINFO_PATH, apis.userinfo, "GET"),
            Route("/{path:path}", proxy.handle, methods=ALL_METHODS),
            WebSocketRoute("/{path:path}", WebSocketProxy(config, gate).handle),
        ],
        lifespan=lifespan,
    )
    app.state.issuer = issuer
    app.state.feide = feide
    return OriginFormOnly(app)


def own(path: str, endpoint: Endpoint, *methods: str) -> Route:
    """A path the dev gatekeeper answers itself, whatever the method, so that no request to it
    reaches the API: `methods` (and HEAD with GET) go to `endpoint`, OPTIONS gets a preflight
    answer, any other method 405 with `Allow`."""
    allowed = {*methods, "HEAD"} if "GET" in methods else set(methods)
    allow = ", ".join(sorted(allowed | {"OPTIONS"}))

    async def dispatch(request: Request) -> Response:
        if request.method in allowed:
            return await endpoint(request)
        if request.method == "OPTIONS":
            headers = {"Allow": allow}
            if "origin" in request.headers:  # a browser's CORS preflight
                headers |= {
                    "Access-Control-Allow-Origin": "*",
                    "Access-Control-Allow-Methods": allow,
                    "Access-Control-Allow-Headers": "Authorization, Content-Type",
                }
            return Response(status_code=204, headers=headers)
        body = {"detail": f"{path} answers {allow}", "code": "method_not_allowed"}
        return JSONResponse(body, 405, {"Allow": allow})

    return Route(path, dispatch, methods=ALL_METHODS)


async def no_login(request: Request) -> JSONResponse:
    """The authorization endpoint Feide's discovery document lists: no browser login here."""
    description = (
        "the development gatekeeper has no browser login: get a user's token with "
        "grant_type=password at the token endpoint"
    )
    return JSONResponse(
        {"error": "unsupported_response_type", "error_description": description}, 400
    )


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
