"""What a token endpoint may answer, read strictly: the token clients and `FeideAPI` share it.

A token goes into an `Authorization` header and errors go into messages and logs, so a token
must be visible ASCII, an error printable ASCII, and a lifetime a finite number of seconds no
longer than the platform's longest. Nothing of a token is ever quoted.
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
from typing import Any
from urllib.parse import urlsplit

from gatekeeper_auth._platform import LONGTERM_LIFETIME

_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_VISIBLE = re.compile(r"[\x21-\x7e]+")  # what a token may be: it goes into a header
_PRINTABLE = re.compile(r"[\x20-\x7e]*")  # what an error may be: it goes into messages and logs
Response = Any  # an httpx2.Response or an httpx.Response


class TokenError(Exception):
    """The token endpoint refused, failed or answered something that is not a token.

    A `description` the endpoint wrote (`from_endpoint`) is kept in `.description` but left
    out of the message: it can quote what was sent, such as the subject token."""

    def __init__(
        self,
        error: str,
        description: str,
        status_code: int | None = None,
        *,
        from_endpoint: bool = False,
    ) -> None:
        message = f"token endpoint: {error}"
        if status_code is not None:
            message += f" (HTTP {status_code})"
        if description and not from_endpoint:
            message += f": {description}"
        super().__init__(message)
        self.error = error
        self.description = description
        self.status_code = status_code
        self.from_endpoint = from_endpoint


def redirect_refused(status: str | int) -> TokenError:
    return TokenError(
        "redirect_refused",
        f"the token endpoint answered HTTP {status}: token requests never follow redirects",
        status if isinstance(status, int) else None,
    )


def checked_token_url(url: str) -> str:
    """`url` if a secret may be sent there: https, or plain http only on a loopback address."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or not host or parts.username is not None or parts.password is not None:
        raise ValueError("token_url= must be a URL without user name or password")
    if parts.scheme == "https" or (parts.scheme == "http" and host in _LOOPBACK):
        return url
    raise ValueError(
        "token_url= must be https: the client secret travels with every token request "
        "(plain http only on 127.0.0.1, ::1 or localhost, for development)"
    )


def token_from(response: Response, *, jwt: bool = False) -> tuple[str, float]:
    """The token and its lifetime from an RFC 6749 / RFC 8693 token response, or `TokenError`.

    Without `expires_in`, a JWT's own `exp` gives the lifetime (read, not verified: the data
    source verifies it); anything else is used once and not cached. Nothing of the token is
    ever quoted.
    """
    if response.status_code != 200:
        raise TokenError(*error_of(response), response.status_code, from_endpoint=True)
    try:
        body = response.json()
        token = body["access_token"]
    except (ValueError, KeyError, TypeError):
        raise TokenError("invalid_response", "the answer is not a token response", 200) from None
    if not isinstance(token, str) or not token or str(body.get("token_type")).lower() != "bearer":
        raise TokenError("invalid_response", "the answer holds no bearer token", 200)
    if not _VISIBLE.fullmatch(token):  # a CR or LF would split the header it goes into
        raise TokenError("invalid_response", "the access token is not visible ASCII", 200)
    if "expires_in" not in body:
        return token, _jwt_lifetime(token) if jwt else 0.0
    try:
        return token, _lifetime(body["expires_in"])
    except (ValueError, TypeError, OverflowError):
        raise TokenError(
            "invalid_response", "expires_in is not a finite number of seconds, 0 or more", 200
        ) from None


def _lifetime(expires_in: Any) -> float:
    """Seconds to cache a token for: finite, 0 or more, and at most the platform's longest
    token life (an absurd `expires_in` would keep a token cached long past its revocation)."""
    if isinstance(expires_in, bool):
        raise TypeError("expires_in is a bool")
    seconds = float(expires_in)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("expires_in is not finite and 0 or more")
    return min(seconds, LONGTERM_LIFETIME)


def error_of(response: Response) -> tuple[str, str]:
    """`error` and `error_description` of an error answer, if printable ASCII (they go into
    messages and logs, where a CR or LF would forge a line); else the status alone."""
    try:
        body = response.json()
        error, description = body["error"], body.get("error_description", "")
    except (ValueError, KeyError, TypeError, AttributeError):
        error = description = None
    if not isinstance(error, str) or not error or not _PRINTABLE.fullmatch(error):
        return "http_error", f"HTTP {response.status_code}"
    if not isinstance(description, str) or not _PRINTABLE.fullmatch(description):
        description = ""
    return error, description


def _jwt_lifetime(token: str) -> float:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return _lifetime(float(claims["exp"]) - time.time())
    except (IndexError, ValueError, KeyError, TypeError, OverflowError):
        return 0.0
