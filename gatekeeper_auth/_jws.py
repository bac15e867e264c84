"""The form of a Feide JWT, checked before PyJWT sees it, and PyJWT's errors as fixed phrases.

A token is three segments of canonical unpadded base64url with a header we understand; anything
else is refused here with a fixed reason, never a piece of the token.
"""

from __future__ import annotations

import base64
import functools
import json
from typing import Final

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
    """The `kid` of a token's header segment, after the checks PyJWT leaves to us: a JSON
    object, `alg` RS256, `typ` JWT if present, no `crit` or `b64` (we understand no JOSE
    extension). Every token signed with one key has the same header segment, so the answer is
    remembered per segment (a pure function of the bytes; a refusal is never remembered)."""
    if not segment:
        raise invalid("the token's header is empty")
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4)))
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
    if kid is not None and not isinstance(kid, str):
        raise invalid("the token's kid is not a string")
    return kid


def check_canonical(token: bytes) -> None:
    """Refuse a token unless its three segments are canonical unpadded base64url, so that one
    token has one spelling: no `=`, `+`, `/` or other bytes, no impossible length, no set bits
    after the last encoded byte. Decoders (PyJWT's among them) accept some of those leniently,
    and each spelling would be one more entry in the cache of verified tokens."""
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


def reason(error: Exception) -> str:
    """A fixed phrase for each PyJWT error (their messages can quote bytes of the token)."""
    from jwt import exceptions as e

    if isinstance(error, e.ExpiredSignatureError):
        return "the token has expired"
    if isinstance(error, e.ImmatureSignatureError):
        return "the token is not valid yet (nbf or iat is in the future)"
    if isinstance(error, e.InvalidAudienceError):
        return "the token is for another audience"
    if isinstance(error, e.InvalidIssuerError):
        return "the token is from another issuer"
    if isinstance(error, e.MissingRequiredClaimError):
        return f"the token lacks the {error.claim} claim"
    if isinstance(error, e.InvalidSignatureError):
        return "the token's signature does not verify"
    if isinstance(error, e.InvalidAlgorithmError):
        return "the token's algorithm is not RS256"
    if isinstance(error, e.InvalidSubjectError):
        return "the token's sub claim is not a printable string"
    if isinstance(error, e.InvalidIssuedAtError):
        return "the token's iat is not a number"
    return "the token is malformed"
