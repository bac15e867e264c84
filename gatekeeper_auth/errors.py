"""Refusals with stable codes, and the configuration error.

A `Refusal` is Starlette's `HTTPException` (which FastAPI's derives from and renders) with a
stable machine-readable `code`, so FastAPI renders it wherever it is raised, in every install
shape, with no handler to register: `{"detail": {"code": ..., "message": ...}}`. `Refusal.send`
gives exactly that body where this package answers by itself (the middleware, Starlette
endpoints). Based on Starlette's class, not FastAPI's, so that Starlette services need no FastAPI.
"""

from __future__ import annotations

import logging
import warnings
from typing import Final, Literal

from starlette.exceptions import HTTPException, WebSocketException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

logger = logging.getLogger("gatekeeper_auth")

#: Every refusal code, as a type: `Refusal("scope_mising", ...)` is an error for mypy.
RefusalCode = Literal[
    "gatekeeper_credentials_invalid",
    "gatekeeper_network_not_allowed",
    "gatekeeper_header_repeated",
    "gatekeeper_header_missing",
    "gatekeeper_header_invalid",
    "authentication_required",
    "token_invalid",
    "keys_unavailable",
    "user_token_not_allowed",
    "system_token_not_allowed",
    "userid_grant_missing",
    "client_not_allowed",
    "scope_missing",
    "user_id_missing",
    "group_missing",
    "feide_access_denied",
    "feide_unavailable",
]

#: Every refusal code, its HTTP status and what it means (docs/fastapi.md's table is written
#: from this: `make docs-tables`).
CODES: Final[dict[RefusalCode, tuple[int, str]]] = {
    "gatekeeper_credentials_invalid": (
        401,
        "The Authorization header is not the gatekeeper's credentials (a wrong password or "
        "token, another scheme, or the header sent twice).",
    ),
    "gatekeeper_network_not_allowed": (
        403,
        "The gatekeeper's credentials (or, with allow_unverified, its headers) came from an "
        "address outside allowed_networks.",
    ),
    "gatekeeper_header_repeated": (400, "A gatekeeper header appeared more than once."),
    "gatekeeper_header_missing": (
        400,
        "A verified request lacks a header the gatekeeper always sends (Clientid, Gatekeeper).",
    ),
    "gatekeeper_header_invalid": (
        400,
        "A gatekeeper header cannot be read: an empty user id, bytes that are not visible "
        "ASCII, a malformed secondary id, or a name spelled with _ for -.",
    ),
    "authentication_required": (
        401,
        "The route needs a verified caller, and the request is anonymous (no gatekeeper "
        "credentials, no JWT).",
    ),
    "token_invalid": (
        401,
        "The bearer JWT failed verification, or (with the JWT path alone) the Authorization "
        "header carries no JWT.",
    ),
    "keys_unavailable": (503, "No key to verify the JWT could be loaded from jwks_url yet."),
    "user_token_not_allowed": (403, "The route is for system requests; this token has a user."),
    "system_token_not_allowed": (403, "The route is for users; this token has no user."),
    "userid_grant_missing": (
        403,
        "The API or data source lacks the userid grant (userid_grant=false), so a request "
        "without a sign of a user cannot be told from a system request: system routes are "
        "closed to it.",
    ),
    "client_not_allowed": (403, "The OAuth client is not on the route's allow-list."),
    "scope_missing": (403, "The token lacks a sub-scope the route needs."),
    "user_id_missing": (
        403,
        "The route needs the user id (require_user_id=True) and the request has none; grant "
        "the API the userid scope.",
    ),
    "group_missing": (
        403,
        "The user is in none of the route's Feide groups, or lacks the affiliation there.",
    ),
    "feide_access_denied": (
        403,
        "Feide's groups API, userinfo or token endpoint refused to answer for the caller.",
    ),
    "feide_unavailable": (
        503,
        "Feide's groups API, userinfo or token endpoint failed, timed out or answered "
        "something unexpected.",
    ),
}


class ConfigurationError(RuntimeError):
    """The package is set up wrongly; the message says how to set it up right."""


class Refusal(HTTPException):
    """A request refused with an HTTP status, a stable `code` and a human `message`.

    `detail` is `{"code": ..., "message": ...}`, which FastAPI renders as the JSON body
    `{"detail": {...}}`; `headers` carries `WWW-Authenticate` for a 401.
    """

    # Starlette types `detail` as text, FastAPI renders any JSON value: ours is an object.
    detail: dict[str, str]  # type: ignore[assignment]

    def __init__(
        self, code: RefusalCode, message: str, *, www_authenticate: str | None = None
    ) -> None:
        headers = {"WWW-Authenticate": www_authenticate} if www_authenticate else None
        super().__init__(CODES[code][0], headers=headers)
        self.detail = {"code": code, "message": message}
        self.code: RefusalCode = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def log(self, scope: Scope, client_id: str | None = None) -> None:
        """Log the refusal: code, message, path (both as `repr`, so they cannot forge log lines)
        and client id; never a secret (messages are our own phrases, never a token's bytes).
        Gatekeeper-level refusals at WARNING, the rest at INFO."""
        level = logging.WARNING if self.code.startswith("gatekeeper_") else logging.INFO
        logger.log(
            level,
            "gatekeeper_auth refused %s %r for client %s: %s %r",
            scope["type"],
            scope.get("path"),
            client_id,
            self.code,
            self.message,
        )

    def response(self) -> Response:
        """The JSON response, the same FastAPI's own handler renders for this exception."""
        return JSONResponse({"detail": self.detail}, self.status_code, self.headers)

    def for_websocket(self) -> WebSocketException:
        """The same refusal for a websocket: close code 1008 (policy violation), the code as
        the reason. Before accept the server answers that with 403."""
        return WebSocketException(1008, self.code)

    async def send(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the connection where no framework renders it (in front of the app)."""
        if scope["type"] == "websocket":
            reason = self.for_websocket()
            await send({"type": "websocket.close", "code": reason.code, "reason": reason.reason})
        else:
            await self.response()(scope, receive, send)


async def refusal_handler(request: Request, exc: Exception) -> Response:
    """Deprecated: `Refusal` is an `HTTPException`, which FastAPI renders by itself.

    Kept for one release so that `add_exception_handler(Refusal, refusal_handler)` lines keep
    working; remove them.
    """
    warnings.warn(
        "gatekeeper_auth.refusal_handler is no longer needed: Refusal is an HTTPException that "
        "FastAPI renders by itself. Remove the add_exception_handler(Refusal, ...) line.",
        DeprecationWarning,
        stacklevel=2,
    )
    assert isinstance(exc, Refusal)
    return exc.response()
