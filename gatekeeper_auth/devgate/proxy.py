"""The proxy half: check the caller's bearer token, forward with the gatekeeper's headers.

Bodies stream both ways. Every `X-Dataporten-*` header the caller sent, under any case and with
`_` for `-`, is dropped before the gatekeeper's own are added.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from gatekeeper_auth.devgate.config import DevGateConfig
from gatekeeper_auth.devgate.tokens import Grant, TokenIssuer

logger = logging.getLogger("gatekeeper_auth.devgate")

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
# On the way back the upstream's Content-Length stays: the body is relayed byte for byte.
_HOP_BY_HOP_BACK = frozenset(name.encode() for name in HOP_BY_HOP - {"content-length"})
PREFIX = "X-Dataporten-"


class Proxy:
    """Forwards authorised requests to the upstream API, as the real gatekeeper does."""

    def __init__(self, config: DevGateConfig, issuer: TokenIssuer, client: httpx.AsyncClient):
        self.config = config
        self.issuer = issuer
        self.client = client
        creds = config.upstream_credentials
        if creds.bearer_token is not None:
            self._authorization = f"Bearer {creds.bearer_token.get_secret_value()}"
        else:
            assert creds.password is not None
            raw = f"{creds.username}:{creds.password.get_secret_value()}".encode()
            self._authorization = "Basic " + base64.b64encode(raw).decode()

    async def handle(self, request: Request) -> Response:
        """The endpoint for every path but the token endpoint and the health check."""
        if request.method == "OPTIONS":  # forwarded without auth headers, on purpose
            return await self._forward(request, None)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _unauthorized('Bearer realm="devgate"', "a bearer token is required")
        grant = self.issuer.lookup(token.strip())
        if grant is None:
            return _unauthorized(
                'Bearer realm="devgate", error="invalid_token"', "the token is unknown or expired"
            )
        return await self._forward(request, grant)

    def gatekeeper_headers(self, grant: Grant | None) -> list[tuple[str, str]]:
        """The headers the real gatekeeper adds for this token (none but two for OPTIONS)."""
        if grant is None:
            return [(PREFIX + "Gatekeeper", self.config.api), (PREFIX + "Acr", "")]
        headers = [
            ("Authorization", self._authorization),
            (PREFIX + "Clientid", grant.client.id),
            (PREFIX + "Scopes", ",".join(sorted(grant.scopes))),
            (PREFIX + "Gatekeeper", self.config.api),
            (PREFIX + "Acr", grant.user.acr if grant.user else ""),
        ]
        user, grants = grant.user, self.config.grants
        if user is not None:
            if "userid" in grants:
                headers.append((PREFIX + "Userid", user.user_id))
            secondary = [
                sid for sid in user.secondary_ids if f"userid-{sid.partition(':')[0]}" in grants
            ]
            if secondary:
                headers.append((PREFIX + "Userid-Sec", ",".join(secondary)))
        if self.config.forward_token:
            headers.append((PREFIX + "Token", grant.api_token))
        return headers

    async def _forward(self, request: Request, grant: Grant | None) -> Response:
        headers = [(name, value) for name, value in request.headers.items() if not _dropped(name)]
        headers += self.gatekeeper_headers(grant)
        # The path and query as the caller sent them, still percent-encoded.
        target = request.scope.get("raw_path") or request.url.path.encode()
        if request.scope.get("query_string"):
            target += b"?" + request.scope["query_string"]
        url = self.config.upstream.rstrip("/") + target.decode("latin-1")
        body = request.stream() if request.method not in ("GET", "HEAD", "OPTIONS") else None
        upstream_request = self.client.build_request(
            request.method, url, headers=headers, content=body
        )
        try:
            upstream = await self.client.send(upstream_request, stream=True)
        except httpx.TimeoutException:
            logger.warning("devgate: upstream timed out: %s %s", request.method, request.url.path)
            return _error(504, "upstream_timeout", "the upstream API did not answer in time")
        except httpx.TransportError as error:
            logger.warning("devgate: upstream unreachable: %s", type(error).__name__)
            return _error(502, "upstream_unreachable", "the upstream API could not be reached")
        response = StreamingResponse(
            _relay(upstream),
            status_code=upstream.status_code,
            background=BackgroundTask(upstream.aclose),
        )
        response.raw_headers = [
            (name, value)
            for name, value in upstream.headers.raw
            if name.lower() not in _HOP_BY_HOP_BACK
        ]
        return response


async def _relay(upstream: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    except httpx.HTTPError as error:
        # The upstream broke off mid-response: the status line is out, so all that is left is
        # to end the connection early; the client sees an incomplete body, never a fake one.
        logger.warning("devgate: upstream broke off mid-response: %s", type(error).__name__)
        raise


def _dropped(name: str) -> bool:
    lower = name.lower()
    return (
        lower in HOP_BY_HOP
        or lower == "authorization"
        or lower.replace("_", "-").startswith(PREFIX.lower())
    )


def _unauthorized(challenge: str, description: str) -> JSONResponse:
    return JSONResponse(
        {"error": "invalid_token", "error_description": description},
        401,
        {"WWW-Authenticate": challenge},
    )


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status)
