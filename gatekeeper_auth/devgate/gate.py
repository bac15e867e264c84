"""The gatekeeper's own decision about a request, before anything reaches the upstream.

A token is what the platform's code recognises as one: an `Authorization` value that begins
with exactly `Bearer ` (that case, one space) and goes on; the rest, as it is, is the token. So
`bearer <token>`, `Bearer  <token>` (two spaces: the token begins with a space) and an empty
`Bearer` are no token, or not a valid one. As the platform answers: no token, 401 with
`Bearer realm="dataporten"`; an unknown, expired or malformed token, 401 with
`error="invalid_token"`, on OPTIONS too; a token without the API's basic scope `gk_<api>`, 403;
an API with `requireuser` and a token without a user, 403. OPTIONS with no token or a valid one,
and a request without a token to an API with `allow_unauthenticated`, pass on anonymous with the
caller's own `Authorization` (Basic, a lower-case `bearer`, ...) left as it is.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.responses import JSONResponse

from gatekeeper_auth._platform import (
    GATEKEEPER_CHALLENGE,
    GATEKEEPER_INVALID_CHALLENGE,
    gatekeeper_scope,
)
from gatekeeper_auth.devgate.config import DevGateConfig
from gatekeeper_auth.devgate.forwarding import Admission
from gatekeeper_auth.devgate.tokens import Grant, TokenIssuer

MISSING_CHALLENGE = GATEKEEPER_CHALLENGE
INVALID_CHALLENGE = GATEKEEPER_INVALID_CHALLENGE


class Refused(Exception):
    """The gatekeeper answers the request itself; it never reaches the upstream. The body is
    the platform's decision service's: `{"message": ...}`, with its challenge."""

    def __init__(self, status: int, message: str, challenge: str | None) -> None:
        super().__init__(message)
        self.status, self.message, self.challenge = status, message, challenge

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": self.challenge} if self.challenge else None
        return JSONResponse({"message": self.message}, self.status, headers)


class Gate:
    """Decides, per request, whether and as whom it passes."""

    def __init__(self, config: DevGateConfig, issuer: TokenIssuer) -> None:
        self.config = config
        self.issuer = issuer

    def admit(self, method: str, headers: Iterable[tuple[bytes, bytes]]) -> Admission:
        """An `Admission`, or `Refused` with the gatekeeper's own answer."""
        values = [value for name, value in headers if name.lower() == b"authorization"]
        bearer = [value for value in values if value.startswith(b"Bearer ") and value[7:]]
        if not bearer:  # no token at all, as the platform reads the header
            if method == "OPTIONS" or self.config.allow_unauthenticated:
                return Admission(None, keep_authorization=True)
            raise Refused(401, "a bearer token is required", MISSING_CHALLENGE)
        grant = self._lookup(bearer[0][7:]) if len(values) == 1 else None
        if grant is None:
            raise Refused(401, "Token is invalid", INVALID_CHALLENGE)
        if method == "OPTIONS":  # a valid token's preflight: forwarded, the token left on
            return Admission(None, keep_authorization=True)
        if not grant.basic_scope:
            raise Refused(
                403,
                f"the token lacks the API's basic scope {gatekeeper_scope(self.config.api)}",
                None,
            )
        if self.config.requireuser and grant.user is None:
            raise Refused(403, "this API requires a token for a user", None)
        return Admission(grant)

    def _lookup(self, token: bytes) -> Grant | None:
        try:
            return self.issuer.lookup(token.decode("ascii"))
        except UnicodeDecodeError:
            return None
