"""The proxy half: admit the request as the gatekeeper would, forward it with its headers.

Bodies stream both ways. Whatever goes wrong is a clear answer, never a 500: a target or header
that cannot be forwarded is 400, an upstream that cannot be reached 502, one that is too slow 504.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx2
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Scope

from gatekeeper_auth.devgate.config import DevGateConfig
from gatekeeper_auth.devgate.forwarding import UpstreamHeaders, caller_headers, response_headers
from gatekeeper_auth.devgate.gate import Gate, Refused
from gatekeeper_auth.devgate.target import BadTarget, base_path, upstream_target

logger = logging.getLogger("gatekeeper_auth.devgate")


def raw_target(scope: Scope) -> tuple[bytes, bytes]:
    """The request's path as sent (still percent-encoded) and its query string."""
    raw = scope.get("raw_path")
    path = raw if isinstance(raw, bytes) else quote(str(scope["path"])).encode()
    query = scope.get("query_string")
    return path, query if isinstance(query, bytes) else b""


class Proxy:
    """Forwards admitted requests to the upstream API, as the real gatekeeper does."""

    def __init__(self, config: DevGateConfig, gate: Gate, client: httpx2.AsyncClient) -> None:
        self.config = config
        self.gate = gate
        self.client = client
        self.added = UpstreamHeaders(config)
        self.upstream = httpx2.URL(config.upstream)
        self.base_path = base_path(config.upstream)

    async def handle(self, request: Request) -> Response:
        """The endpoint for every path but the token endpoint and the health check."""
        raw_headers = request.scope["headers"]
        try:
            admission = self.gate.admit(request.method, raw_headers)
        except Refused as refused:
            return refused.response()
        try:
            path, query = raw_target(request.scope)
            target = upstream_target(self.base_path, path, query)
            # httpx would resolve dot segments in the URL's path: the `target` extension sends
            # the target byte for byte, to the host, port and scheme of the URL.
            url = self.upstream.copy_with(raw_path=target)
            headers = caller_headers(
                raw_headers,
                prefix=self.config.header_prefix,
                keep_authorization=admission.keep_authorization,
            )
            headers += self.added.for_admission(admission)
            length = _content_length(raw_headers)
            if length is not None:
                headers.append((b"Content-Length", length))
            has_body = length not in (None, b"0") or _chunked(raw_headers)
            upstream_request = self.client.build_request(
                request.method,
                url,
                headers=headers,
                content=request.stream() if has_body else None,
                extensions={"target": target},
            )
        except BadTarget as error:
            logger.info("devgate: refused a request target: %s", error)
            return _error(400, "bad_request", f"the request cannot be forwarded: {error}")
        except (ValueError, TypeError, httpx2.InvalidURL) as error:  # may quote a header: not shown
            logger.info("devgate: refused a request it cannot forward: %s", type(error).__name__)
            return _error(400, "bad_request", "the request's headers cannot be forwarded")
        return await self._send(request, upstream_request)

    async def _send(self, request: Request, upstream_request: httpx2.Request) -> Response:
        try:
            upstream = await self.client.send(upstream_request, stream=True)
        except httpx2.TimeoutException:
            logger.warning("devgate: upstream timed out: %s", request.method)
            return _error(504, "upstream_timeout", "the upstream API did not answer in time")
        except httpx2.TransportError as error:
            logger.warning("devgate: upstream unreachable: %s", type(error).__name__)
            return _error(502, "upstream_unreachable", "the upstream API could not be reached")
        except Exception as error:  # a 500 would hide where the fault is: say it is upstream-side
            logger.warning("devgate: forwarding failed: %s", type(error).__name__)
            return _error(502, "upstream_unreachable", "the request could not be forwarded")
        response = StreamingResponse(
            _relay(upstream),
            status_code=upstream.status_code,
            background=BackgroundTask(upstream.aclose),
        )
        response.raw_headers = response_headers(upstream.headers.raw)
        return response


def _content_length(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The caller's Content-Length when it is one plain number (else the body goes chunked)."""
    values = [value.strip() for name, value in headers if name.lower() == b"content-length"]
    if len(values) == 1 and values[0].isdigit() and len(values[0]) < 19:
        return values[0]
    if values:
        raise ValueError("Content-Length is not one plain number")
    return None


def _chunked(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(name.lower() == b"transfer-encoding" for name, _ in headers)


async def _relay(upstream: httpx2.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    except httpx2.HTTPError as error:
        # The upstream broke off mid-response: the status line is out, so all that is left is
        # to end the connection early; the client sees an incomplete body, never a fake one.
        logger.warning("devgate: upstream broke off mid-response: %s", type(error).__name__)
        raise


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status)
