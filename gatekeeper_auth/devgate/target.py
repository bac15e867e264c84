"""Where a request goes upstream: always the configured upstream, never above its base path.

The caller chooses only the path and query under the upstream's base path. The request target
must be origin-form (`/path?query`); the upstream URL is built from the configured scheme, host
and port and the target's path, never by gluing strings (a target like `%2F@evil:80/x` once made
the dev gatekeeper an open proxy). Dot segments, raw or percent-encoded, are resolved as RFC 3986
§5.2.4 does, and can climb no higher than the base path; a segment that hides a dot segment
behind an encoded slash or backslash (`..%2F`) is refused rather than guessed at, since servers
differ in how they decode it.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes, urlsplit


class BadTarget(ValueError):
    """The request target cannot be forwarded safely: answered 400."""


def upstream_path(base_path: str, raw_path: bytes, query: bytes) -> bytes:
    """The upstream's raw path and query for a caller's origin-form target.

    `base_path` is the configured upstream's path (`/api` or ``), `raw_path` the target's path
    as sent (still percent-encoded), `query` the raw query string.
    """
    if not raw_path.startswith(b"/"):
        raise BadTarget("the request target must be a path starting with /")
    if any(byte <= 0x20 or byte >= 0x7F or byte in b"#\\" for byte in raw_path):
        raise BadTarget("the request path holds a character that must be percent-encoded")
    if any(byte <= 0x20 or byte >= 0x7F or byte == 0x23 for byte in query):  # 0x23 is "#"
        raise BadTarget("the query holds a character that must be percent-encoded")
    segments: list[bytes] = []
    parts = raw_path[1:].split(b"/")
    for index, segment in enumerate(parts):
        decoded = unquote_to_bytes(segment)
        last = index == len(parts) - 1
        if decoded in (b".", b".."):
            if decoded == b".." and segments:
                segments.pop()
            if last:
                segments.append(b"")  # `/a/..` is `/`, `/a/b/.` is `/a/b/`
            continue
        hidden = decoded.replace(b"\\", b"/").split(b"/")
        if len(hidden) > 1 and any(piece in (b".", b"..") for piece in hidden):
            raise BadTarget("the request path hides a dot segment behind an encoded slash")
        segments.append(segment)
    path = base_path.rstrip("/").encode() + b"/" + b"/".join(segments)
    return path + (b"?" + query if query else b"")


def base_path(upstream: str) -> str:
    """The configured upstream's path, the floor no request may climb above."""
    return urlsplit(upstream).path
