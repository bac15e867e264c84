"""The gatekeeper's own decision about a request, before anything reaches the upstream.

As the platform answers (domain.md, "What the gatekeeper itself answers"): no token, 401 with
`Bearer realm="dataporten"`; an unknown, expired or malformed token, 401 with
`error="invalid_token"`; a token without the API's basic scope `gk_<api>`, 403; an API with
`requireuser` and a token without a user, 403. OPTIONS passes without a token, with the caller's
own `Authorization` left on; an API with `allow_unauthenticated` passes token-less requests.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.responses import JSONResponse

from gatekeeper_auth._platform import GATEKEEPER_CHALLENGE, GATEKEEPER_INVALID_CHALLENGE
from gatekeeper_auth.devgate.config import DevGateConfig
from gatekeeper_auth.devgate.forwarding import Admission
from gatekeeper_auth.devgate.tokens import TokenIssuer

MISSING_CHALLENGE = GATEKEEPER_CHALLENGE
INVALID_CHALLENGE = GATEKEEPER_INVALID_CHALLENGE


class Refused(Exception):
    """The gatekeeper answers the request itself; it never reaches the upstream."""

    def __init__(self, status: int, error: str, description: str, challenge: str | None) -> None:
        super().__init__(description)
        self.status, self.error, self.description, self.challenge = (
            status,
            error,
            description,
            challenge,
        )

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": self.challenge} if self.challenge else None
        body = {"error": self.error, "error_description": self.description}
        return JSONResponse(body, self.status, headers)


class Gate:
    """Decides, per request, whether and as whom it passes."""

    def __init__(self, config: DevGateConfig, issuer: TokenIssuer) -> None:
        self.config = config
        self.issuer = issuer

    def admit(self, method: str, headers: Iterable[tuple[bytes, bytes]]) -> Admission:
        """An `Admission`, or `Refused` with the gatekeeper's own answer."""
        if method == "OPTIONS":  # no token checked, the caller's Authorization kept
            return Admission(None, keep_authorization=True)
        values = [value for name, value in headers if name.lower() == b"authorization"]
        scheme, _, token = (values[0] if values else b"").partition(b" ")
        if scheme.lower() != b"bearer":
            if self.config.allow_unauthenticated:
                return Admission(None)
            raise Refused(401, "invalid_request", "a bearer token is required", MISSING_CHALLENGE)
        grant = None
        if len(values) == 1 and token.strip():
            try:
                grant = self.issuer.lookup(token.strip().decode("ascii"))
            except UnicodeDecodeError:
                grant = None
        if grant is None:
            raise Refused(401, "invalid_token", "Token is invalid", INVALID_CHALLENGE)
        if not grant.basic_scope:
            raise Refused(
                403,
                "insufficient_scope",
                f"the token lacks the API's basic scope gk_{self.config.api}",
                None,
            )
        if self.config.requireuser and grant.user is None:
            raise Refused(403, "access_denied", "this API requires a token for a user", None)
        return Admission(grant)
