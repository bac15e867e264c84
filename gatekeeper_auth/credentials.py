"""The gatekeeper's own credentials: the one thing that makes its headers trustworthy.

The gatekeeper authenticates itself to the backend with `Authorization: Basic` (trust type
`basic`, the default) or `Authorization: Bearer <shared token>` (trust type `bearer`). Several
secrets may be configured at once so that one can be rotated without downtime.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Sequence
from hmac import compare_digest

from gatekeeper_auth._platform import CHALLENGE, basic, parse_basic

logger = logging.getLogger("gatekeeper_auth")

_FAILURE_LOG_INTERVAL = 60.0  # seconds between two lines about wrong gatekeeper credentials


class GatekeeperCredentials:
    """Checks an `Authorization` header value against the configured secrets in constant time.

    The header values the gatekeeper sends are computed once here, so the common case is one
    `compare_digest` per configured secret. Any other spelling (a lower-case scheme, extra
    spaces) is decoded and compared part by part, also in constant time.
    """

    __slots__ = ("_bearer_tokens", "_expected", "_passwords", "_username")

    #: The challenge of a 401. Never `Basic`: a browser that opens the backend directly would pop
    #: up a login dialog (and Swagger UI would stall on it); a Bearer challenge it ignores.
    challenge = CHALLENGE

    def __init__(
        self, *, username: str, passwords: Sequence[str], bearer_tokens: Sequence[str]
    ) -> None:
        if passwords and bearer_tokens:
            raise ValueError("configure Basic passwords or bearer tokens, not both")
        if not (passwords or bearer_tokens):
            raise ValueError("no gatekeeper secret configured")
        if any(not secret for secret in (*passwords, *bearer_tokens)):
            raise ValueError("a gatekeeper secret is empty")
        if ":" in username:
            raise ValueError("a Basic username cannot contain ':'")
        self._username = username.encode()
        self._passwords = tuple(p.encode() for p in passwords)
        self._bearer_tokens = tuple(t.encode() for t in bearer_tokens)
        self._expected = tuple(basic(username, p).encode() for p in passwords) + tuple(
            b"Bearer " + t for t in self._bearer_tokens
        )

    def __repr__(self) -> str:
        return f"GatekeeperCredentials(trust={self.trust!r}, secrets={len(self._expected)})"

    @property
    def trust(self) -> str:
        """The dashboard's trust type: `basic` or `bearer`."""
        return "basic" if self._passwords else "bearer"

    def mismatch(self, header: bytes) -> str:
        """Why `header` did not match, for the operator's log: never a secret, nor anything
        of what the caller sent but the scheme and whether the Basic username was right."""
        scheme, _, param = header.strip().partition(b" ")
        scheme = scheme.lower()
        if self._bearer_tokens:
            expected = "trust type bearer"
            if scheme == b"bearer":
                return f"{expected}: a Bearer token that is not the configured one"
        else:
            expected = f"trust type basic with username {self._username.decode()!r}"
            if scheme == b"basic":
                try:
                    username = base64.b64decode(param.strip(), validate=True).partition(b":")[0]
                except (binascii.Error, ValueError):
                    return f"{expected}: Basic credentials that are not valid base64"
                if compare_digest(username, self._username):
                    return f"{expected}: the username matched, the password did not"
                return f"{expected}: Basic credentials with another username"
        if scheme in (b"basic", b"bearer", b"digest"):
            return f"{expected}: {scheme.decode().capitalize()} credentials"
        return f"{expected}: credentials of another scheme"

    def same_scheme(self, header: bytes) -> bool:
        """Whether `header` uses the gatekeeper's scheme (Basic or Bearer, by trust type)."""
        scheme = header.strip().partition(b" ")[0].lower()
        return scheme == (b"bearer" if self._bearer_tokens else b"basic")

    def match(self, header: bytes) -> bool:
        """True when `header` (an Authorization value) carries one of the configured secrets."""
        matched = False
        for expected in self._expected:  # no early exit: every secret is compared every time
            matched |= compare_digest(header, expected)
        return matched or self._match_any_spelling(header)

    def _match_any_spelling(self, header: bytes) -> bool:
        scheme, _, param = header.strip().partition(b" ")
        param = param.strip()
        scheme = scheme.lower()
        if scheme == b"bearer" and self._bearer_tokens:
            return _any_equal(param, self._bearer_tokens)
        pair = parse_basic(header) if self._passwords else None
        if pair is None:
            return False
        username_ok = compare_digest(pair[0], self._username)
        return username_ok & _any_equal(pair[1], self._passwords)


def _any_equal(value: bytes, secrets: tuple[bytes, ...]) -> bool:
    matched = False
    for secret in secrets:
        matched |= compare_digest(value, secret)
    return matched


class FailureLog:
    """Wrong gatekeeper credentials, logged as one line a minute with a count, so that a typo
    in the password is found in minutes and a flood of guesses does not flood the log."""

    def __init__(self, credentials: GatekeeperCredentials | None) -> None:
        self._credentials = credentials
        self._count = 0
        self._next_line = 0.0

    def note(self, authorization: bytes) -> None:
        self._count += 1
        now = time.monotonic()
        if now < self._next_line or self._credentials is None:
            return
        logger.warning(
            "gatekeeper_auth: %d request(s) refused since the last such line because their "
            "Authorization did not match the gatekeeper's credentials; expected %s. Check the "
            "secret against the API's 'API Access' pane in the Dataporten dashboard.",
            self._count,
            self._credentials.mismatch(authorization),
        )
        self._count = 0
        self._next_line = now + _FAILURE_LOG_INTERVAL
