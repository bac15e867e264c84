"""The gatekeeper's own credentials: the one thing that makes its headers trustworthy.

The gatekeeper authenticates itself to the backend with `Authorization: Basic` (trust type
`basic`, the default) or `Authorization: Bearer <shared token>` (trust type `bearer`). Several
secrets may be configured at once so that one can be rotated without downtime.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from hmac import compare_digest


class GatekeeperCredentials:
    """Checks an `Authorization` header value against the configured secrets in constant time.

    The header values the gatekeeper sends are computed once here, so the common case is one
    `compare_digest` per configured secret. Any other spelling (a lower-case scheme, extra
    spaces) is decoded and compared part by part, also in constant time.
    """

    __slots__ = ("_bearer_tokens", "_expected", "_passwords", "_username", "challenge")

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
        self._expected = tuple(
            b"Basic " + base64.b64encode(self._username + b":" + p) for p in self._passwords
        ) + tuple(b"Bearer " + t for t in self._bearer_tokens)
        self.challenge = 'Basic realm="gatekeeper"' if passwords else 'Bearer realm="gatekeeper"'

    def __repr__(self) -> str:
        kind = "basic" if self._passwords else "bearer"
        return f"GatekeeperCredentials(trust={kind!r}, secrets={len(self._expected)})"

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
        if scheme != b"basic" or not self._passwords:
            return False
        try:
            decoded = base64.b64decode(param, validate=True)
        except (binascii.Error, ValueError):
            return False
        username, colon, password = decoded.partition(b":")
        username_ok = compare_digest(username, self._username)
        return bool(colon) & username_ok & _any_equal(password, self._passwords)


def _any_equal(value: bytes, secrets: tuple[bytes, ...]) -> bool:
    matched = False
    for secret in secrets:
        matched |= compare_digest(value, secret)
    return matched
