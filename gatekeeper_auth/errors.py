"""Refusals with stable codes, and the configuration error.

Every refusal this package makes is a `Refusal`: an HTTP status, a machine-readable `code`
that never changes, and a human `detail`. The middleware turns a `Refusal` raised by a FastAPI
guard below it into a JSON response, or into a websocket close with code 1008 and the refusal
code as the reason; the Starlette endpoint guards answer with the same themselves.
"""

from __future__ import annotations

import json
import logging
from typing import Final

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

logger = logging.getLogger("gatekeeper_auth")

#: Every refusal code, its HTTP status and what it means. The README's table is built from this.
CODES: Final[dict[str, tuple[int, str]]] = {
    "gatekeeper_credentials_invalid": (
        401,
        "The request carried an Authorization header that is not the gatekeeper's credentials.",
    ),
    "gatekeeper_network_not_allowed": (
        403,
        "Valid gatekeeper credentials arrived from an address outside allowed_networks.",
    ),
    "gatekeeper_header_repeated": (400, "A gatekeeper header appeared more than once."),
    "gatekeeper_header_missing": (
        400,
        "A verified request lacks a header the gatekeeper always sends (Clientid, Scopes, "
        "Gatekeeper).",
    ),
    "gatekeeper_header_invalid": (
        400,
        "A gatekeeper header is empty where it cannot be, or holds characters it cannot hold.",
    ),
    "authentication_required": (
        401,
        "The route needs a request forwarded by the gatekeeper with a token; this one had none.",
    ),
    "user_token_not_allowed": (403, "The route is for system requests; this token has a user."),
    "system_token_not_allowed": (403, "The route is for users; this token has no user."),
    "client_not_allowed": (403, "The OAuth client is not on the route's allow-list."),
    "scope_missing": (403, "The token lacks a sub-scope the route needs."),
    "userid_grant_missing": (
        403,
        "The API lacks the userid grant (userid_grant=false), so a request without a user id "
        "cannot be told from a system request: system routes are closed.",
    ),
    "token_invalid": (401, "The bearer JWT failed verification."),
    "keys_unavailable": (503, "No key to verify the JWT could be loaded from jwks_url."),
    "user_id_missing": (
        403,
        "The route needs X-Dataporten-Userid; grant the API the userid scope.",
    ),
}


class ConfigurationError(RuntimeError):
    """The package is set up wrongly; the message says how to set it up right."""


class Refusal(Exception):
    """A request refused with an HTTP status, a stable `code` and a human `detail`."""

    def __init__(self, code: str, detail: str, *, www_authenticate: str | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.status_code = CODES[code][0]
        self.code = code
        self.detail = detail
        self.www_authenticate = www_authenticate

    def log(self, scope: Scope, client_id: str | None = None) -> None:
        """Log the refusal: code, path (as `repr`, so it cannot forge log lines) and client id,
        never a secret. Gatekeeper-level refusals at WARNING, a guard's at INFO."""
        level = logging.WARNING if self.code.startswith("gatekeeper_") else logging.INFO
        logger.log(
            level,
            "gatekeeper_auth refused %s %r for client %s: %s",
            scope["type"],
            scope.get("path"),
            client_id,
            self.code,
        )

    def response(self) -> Response:
        """The JSON response every HTTP refusal answers with: `{"detail": ..., "code": ...}`."""
        body = json.dumps({"detail": self.detail, "code": self.code}).encode()
        headers = {"www-authenticate": self.www_authenticate} if self.www_authenticate else None
        return Response(body, self.status_code, headers, media_type="application/json")

    async def send(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the connection: the JSON response for HTTP, a 1008 close for websockets.

        A websocket closed before it was accepted is answered 403 by the server, as the ASGI
        specification says; after accept the client sees close code 1008 with the refusal code.
        """
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": self.code})
        else:
            await self.response()(scope, receive, send)


async def refusal_handler(request: Request, exc: Exception) -> Response:
    """An exception handler for `Refusal`, for a FastAPI app mounted under another one.

    `GatekeeperMiddleware` answers refusals itself; an app mounted below it has its own error
    middleware, which would turn them into 500s: `sub_app.add_exception_handler(Refusal,
    refusal_handler)` keeps them 401/403.
    """
    assert isinstance(exc, Refusal)
    conn: HTTPConnection = request  # Starlette passes the WebSocket for a websocket
    if isinstance(conn, WebSocket):
        await conn.close(1008, exc.code)  # the response below is not used for a websocket
    return exc.response()
