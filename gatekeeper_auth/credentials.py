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

    __slots__ = ("_bearer_tokens", "_expected", "_passwords", "_username")

    #: The challenge of a 401. Never `Basic`: a browser that opens the backend directly would pop
    #: up a login dialog (and Swagger UI would stall on it); a Bearer challenge it ignores.
    challenge = 'Bearer realm="gatekeeper"'

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
