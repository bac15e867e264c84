"""Websockets through the dev gatekeeper, with the gatekeeper's headers, as for HTTP.

The upgrade request is admitted like any GET (a refusal is the same HTTP answer, sent as the
websocket's denial response), and the upstream handshake carries the same headers an HTTP
request would. Whether the real gatekeeper proxies websockets at all is not documented (see
docs/devgate.md): this lets a guarded websocket be tried end to end, nothing more.
"""

from __future__ import annotations

import asyncio
import logging

import httpx2
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket, WebSocketState
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.http11 import Response as WebsocketsResponse
from websockets.typing import Subprotocol

from gatekeeper_auth.devgate.config import DevGateConfig
from gatekeeper_auth.devgate.forwarding import UpstreamHeaders, caller_headers, response_headers
from gatekeeper_auth.devgate.gate import Gate, Refused
from gatekeeper_auth.devgate.proxy import raw_target
from gatekeeper_auth.devgate.target import BadTarget, base_path, upstream_target

logger = logging.getLogger("gatekeeper_auth.devgate")


class _NoDebug(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The websockets library's logger for the upstream connection, with DEBUG off for good.

    At DEBUG the library writes every handshake header, the gatekeeper's `Authorization`
    (its password) and the subtoken among them; whatever the logging configuration, this
    logger never writes a DEBUG line, so never those. INFO and above go to
    `gatekeeper_auth.devgate.websocket`."""

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)


_UPSTREAM_LOGGER = _NoDebug(logging.getLogger("gatekeeper_auth.devgate.websocket"))


class WebSocketProxy:
    """Relays one websocket connection to the upstream and back."""

    def __init__(self, config: DevGateConfig, gate: Gate) -> None:
        self.config = config
        self.gate = gate
        self.added = UpstreamHeaders(config)
        url = httpx2.URL(config.upstream)
        scheme = "wss" if url.scheme == "https" else "ws"
        # scheme://host[:port] from the configuration; the caller's target is put after it.
        self.origin = str(url.copy_with(scheme=scheme, raw_path=b"/"))[:-1]
        self.base_path = base_path(config.upstream)

    async def handle(self, websocket: WebSocket) -> None:
        raw_headers = websocket.scope["headers"]
        try:
            admission = self.gate.admit("GET", raw_headers)
        except Refused as refused:
            return await _deny(websocket, refused.response())
        try:
            path, query = raw_target(websocket.scope)
            url = self.origin + upstream_target(self.base_path, path, query).decode("ascii")
            headers = caller_headers(
                raw_headers,
                prefix=self.config.header_prefix,
                keep_authorization=admission.keep_authorization,
                websocket=True,
            )
            headers += self.added.for_admission(admission)
            text_headers = [(n.decode("ascii"), v.decode("ascii")) for n, v in headers]
        except (BadTarget, UnicodeDecodeError):
            body = {"detail": "the upgrade request cannot be forwarded", "code": "bad_request"}
            return await _deny(websocket, JSONResponse(body, 400))
        offered = [Subprotocol(p) for p in websocket.scope.get("subprotocols", [])]
        try:
            async with connect(
                url,
                additional_headers=text_headers,
                subprotocols=offered or None,
                open_timeout=self.config.upstream_timeout,
                compression=None,
                user_agent_header=None,
                proxy=None,
                max_size=None,
                logger=_UPSTREAM_LOGGER,
            ) as upstream:
                await websocket.accept(subprotocol=upstream.subprotocol)
                await _pump(websocket, upstream)
        except InvalidStatus as refusal:  # the upstream answered the handshake with HTTP
            await _deny(websocket, _relayed(refusal.response))
        except (OSError, InvalidHandshake, TimeoutError) as error:
            logger.warning("devgate: websocket upstream unreachable: %s", type(error).__name__)
            if websocket.client_state == WebSocketState.CONNECTING:
                detail = "the upstream API could not be reached"
                body = {"detail": detail, "code": "upstream_unreachable"}
                await _deny(websocket, JSONResponse(body, 502))


def _relayed(answer: WebsocketsResponse) -> Response:
    """The upstream's HTTP answer to the handshake (a guard's 403, say), relayed as is."""
    body = answer.body or b""
    response = Response(body, answer.status_code)
    kept = response_headers(
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in answer.headers.raw_items()
    )
    response.raw_headers = [(n, v) for n, v in kept if n != b"content-length"]
    response.raw_headers.append((b"content-length", str(len(body)).encode()))
    return response


async def _deny(websocket: WebSocket, response: Response) -> None:
    """Answer the upgrade with plain HTTP where the server can, else close before accepting."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(response)
    else:
        await websocket.close(code=1008)


async def _pump(websocket: WebSocket, upstream: ClientConnection) -> None:
    """Relay messages both ways until either side closes, then close the other with its code."""

    async def from_client() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                await upstream.close(code=message.get("code", 1000))
                return
            if message.get("text") is not None:
                await upstream.send(message["text"])
            elif message.get("bytes") is not None:
                await upstream.send(message["bytes"])

    async def from_upstream() -> None:
        try:
            async for data in upstream:
                if isinstance(data, str):
                    await websocket.send_text(data)
                else:
                    await websocket.send_bytes(data)
        except ConnectionClosed:
            pass
        code = upstream.close_code or 1000
        await websocket.close(
            code=code if code != 1006 else 1011, reason=upstream.close_reason or ""
        )

    tasks = [asyncio.create_task(from_client()), asyncio.create_task(from_upstream())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            logger.info("devgate: websocket relay ended: %s", type(task.exception()).__name__)
