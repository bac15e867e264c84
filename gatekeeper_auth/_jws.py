"""A Feide JWT as a JWS: its form, its header, its RS256 signature, and then its payload.

A token is three segments of canonical unpadded base64url with a header we understand, signed
with RS256 by a key of the issuer's; anything else is refused here with a fixed reason, never a
piece of the token. The signature is checked with `cryptography` before the payload is parsed.
What the claims mean, and whether they hold now, is `claims.py`'s.

Why not PyJWT's `decode`: the one-spelling check below is ours whichever PyJWT is installed
(the lowest we allow reads other spellings leniently), the algorithm is fixed, and the newest
PyJWT repeats the alphabet check byte by byte in Python, two thirds of its `decode`
(`make bench`: `first_sight_vs_pyjwt_decode`). What is left is one RSA call.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Callable
from typing import Any, Final

from gatekeeper_auth.claims import invalid

_B64URL: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# The characters that may end a canonical segment, by its length modulo 4: the bits a last
# character carries beyond the encoded bytes must be zero (RFC 4648 §3.5); no length is 1.
_CANONICAL_ENDS: Final[tuple[frozenset[int], ...]] = (
    frozenset(_B64URL),
    frozenset(),
    frozenset(_B64URL[::16]),
    frozenset(_B64URL[::4]),
)
_B64URL_AND_DOT: Final = _B64URL + b"."


def looks_like_jwt(value: bytes) -> bool:
    """True for a Bearer value shaped like a JWT: exactly two dots (an empty signature too)."""
    return value.count(b".") == 2


@functools.lru_cache(maxsize=64)
def header_kid(segment: bytes) -> str | None:
    """The `kid` of a token's header segment: a UTF-8 JSON object of at most
    `MAX_HEADER_BYTES`, `alg` RS256, `typ` JWT if present, no `crit` or `b64` (we understand no
    JOSE extension), `kid` a string if present. Every token signed with one key has the same
    header segment, so the answer is remembered per segment (a pure function of the bytes; a
    refusal is never remembered). The header is read before any signature is checked: its size
    bounds what parsing it can cost."""
    if not segment:
        raise invalid("the token's header is empty")
    if len(segment) > MAX_HEADER_BYTES:
        raise invalid(f"the token's header is longer than {MAX_HEADER_BYTES} bytes")
    try:
        header = _JSON.decode(_decoded(segment).decode())
    except (ValueError, RecursionError):
        raise invalid("the token's header is not JSON") from None
    if not isinstance(header, dict):
        raise invalid("the token's header is not a JSON object")
    if header.get("alg") != "RS256":
        raise invalid("the token's algorithm is not RS256")
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
        raise invalid("the token's typ is not JWT")
    if "crit" in header or "b64" in header:
        raise invalid("the token's header asks for an extension (crit, b64)")
    kid = header.get("kid")
    if "kid" in header and type(kid) is not str:
        raise invalid("the token's kid is not a string")
    return kid


def canonical_dots(token: bytes) -> tuple[int, int]:
    """Refuse a token unless its three segments are canonical unpadded base64url, so that one
    token has one spelling: no `=`, `+`, `/` or other bytes, no impossible length, no set bits
    after the last encoded byte. Decoders (PyJWT's among them) accept some of those leniently,
    and each spelling would be one more entry in the cache of verified tokens. Returns where
    the two dots are."""
    first = token.index(b".")
    second = token.index(b".", first + 1)
    header, payload, signature = first, second - first - 1, len(token) - second - 1
    ends = _CANONICAL_ENDS
    if (
        token.translate(None, _B64URL_AND_DOT)
        or (header and token[first - 1] not in ends[header % 4])
        or (payload and token[second - 1] not in ends[payload % 4])
        or (signature and token[-1] not in ends[signature % 4])
    ):
        raise invalid("the token is not canonical unpadded base64url")
    return first, second


def rs256_verifier() -> Callable[[bytes, int, int, Any], dict[str, Any]]:
    """`verified(token, first_dot, second_dot, key)`: the payload of a canonical token (see
    `canonical_dots`) whose RS256 signature `key` verifies, as a JSON object; else
    `token_invalid`. Needs `cryptography`, imported here, when `FeideJWT` is built."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
    from cryptography.hazmat.primitives.hashes import SHA256

    padding, algorithm = PKCS1v15(), SHA256()

    def verified(token: bytes, first: int, second: int, key: Any) -> dict[str, Any]:
        try:
            key.verify(_decoded(token[second + 1 :]), token[:second], padding, algorithm)
        except InvalidSignature:
            raise invalid("the token's signature does not verify") from None
        try:  # signed by the issuer, and still parsed with care
            text = _decoded(token[first + 1 : second]).decode()
            payload = _JSON.decode(text)
            if _SURROGATE_ESCAPE.search(text):  # rare: only a lone one is refused
                _JSON_TEXT.encode(payload).encode()
        except (ValueError, RecursionError):  # UnicodeError is a ValueError
            raise invalid("the token's payload is not JSON") from None
        if type(payload) is not dict:
            raise invalid("the token's payload is not a JSON object")
        return payload

    return verified


def _decoded(segment: bytes) -> bytes:
    """The bytes of a canonical unpadded base64url segment."""
    return base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")  # NaN, Infinity: JSON has neither


def _finite(literal: str) -> float:
    value = float(literal)
    if value in _INFINITIES:  # 1e400: no number a claim can hold
        raise ValueError("a number out of range")
    return value


#: A JOSE header and a JWT's payload are UTF-8 JSON (RFC 7515 §4, RFC 7519 §7.2): no NaN or
#: Infinity, no number beyond a float, no lone surrogate (none of them survives a JSON answer).
_JSON: Final = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)
_JSON_TEXT: Final = json.JSONEncoder(ensure_ascii=False, allow_nan=False)
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89abcdefABCDEF]")
_INFINITIES: Final = frozenset({float("inf"), float("-inf")})
#: A Feide JWT's header is about 100 bytes; parsing one of this size costs little.
MAX_HEADER_BYTES: Final = 4096
