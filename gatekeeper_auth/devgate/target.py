"""Where a request goes upstream: always the configured upstream, its target as the caller sent.

As the platform's proxy does, the request target reaches the upstream exactly as sent, under the
upstream's base path: dot segments, `%2e%2e`, `%2F` and `//` are not resolved, so a backend meets
in development the paths production sends it (and its own path handling is what keeps a
request inside its routes). What the caller can never choose is the host: the target must be
origin-form (`/path?query`), and the upstream's scheme, host and port come from the
configuration alone (a target like `%2F@evil:80/x` once made the dev gatekeeper an open proxy).
"""

from __future__ import annotations

from urllib.parse import urlsplit


class BadTarget(ValueError):
    """The request target cannot be forwarded: answered 400."""


def upstream_target(base_path: str, raw_path: bytes, query: bytes) -> bytes:
    """The upstream's request target for a caller's origin-form target, byte for byte.

    `base_path` is the configured upstream's path (`/api` or ``), `raw_path` the target's path
    as sent (still percent-encoded), `query` the raw query string.
    """
    if not raw_path.startswith(b"/"):
        raise BadTarget("the request target must be a path starting with /")
    if any(byte <= 0x20 or byte >= 0x7F or byte == 0x23 for byte in raw_path + query):
        raise BadTarget("the request target holds a character that must be percent-encoded")
    target = base_path.rstrip("/").encode() + raw_path
    return target + (b"?" + query if query else b"")


def base_path(upstream: str) -> str:
    """The configured upstream's path, put before every request's path."""
    return urlsplit(upstream).path
