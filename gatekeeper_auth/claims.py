"""What Feide's JWT claims mean: who the caller is, and whether the token is a user's.

A token is a user's when `sub` differs from `client_id` or it carries any claim about an end
user or a user's login. Feide's own reference example shows a user's token whose `sub` equals
its `client_id`: without a user claim such a token cannot be told from a system token (the JWT
form of the gatekeeper's `userid` trap), so every claim that can only describe a user counts,
and `userid_grant` says whether a token without one may be taken for a system token.
"""

from __future__ import annotations

import math
from typing import Any, Final

from pydantic import SecretStr

from gatekeeper_auth._platform import JWT_CHALLENGE
from gatekeeper_auth.errors import Refusal
from gatekeeper_auth.identity import FrozenDict, Identity, Kind, SecondaryId

EPPN: Final = "https://n.feide.no/claims/eduPersonPrincipalName"
NIN: Final = "https://n.feide.no/claims/nin"
#: Claims about the end user: Feide's eduPersonPrincipalName and nin, and every standard claim
#: of OpenID Connect Core 1.0 §5.1 but `sub`. Any other claim in Feide's namespace counts too, so
#: a user claim Feide adds later makes a token a user's rather than a system's (fail closed).
#: Their presence alone marks a user, whatever their value: only the two that become
#: `secondary_ids` have their type checked.
USER_CLAIMS: Final = frozenset(
    {
        "name",
        "given_name",
        "family_name",
        "middle_name",
        "nickname",
        "preferred_username",
        "profile",
        "picture",
        "website",
        "email",
        "email_verified",
        "gender",
        "birthdate",
        "zoneinfo",
        "locale",
        "phone_number",
        "phone_number_verified",
        "address",
        "updated_at",
        EPPN,
        NIN,
    }
)
#: The context of an end user's login (OpenID Connect): present only when a user logged in, so
#: they too make a token a user's. Their types are not ours to check.
LOGIN_CLAIMS: Final = frozenset(
    {
        "acr",
        "amr",
        "auth_time",
        "sid",
        "nonce",  # an ID token's, from a login
        "at_hash",
        "c_hash",
        "dataporten-userid_sec",  # Dataporten's and Feide Connect's ID tokens carried these
        "connect-userid_sec",
    }
)
FEIDE_CLAIM_PREFIX: Final = "https://n.feide.no/claims/"
_FEIDE_CLAIM_PREFIXES: Final = (FEIDE_CLAIM_PREFIX, "http://n.feide.no/claims/")
#: The claims of every token, user or system (`jti` is not Feide's but is no user claim either).
TOKEN_CLAIMS: Final = frozenset(
    {"aud", "iss", "iat", "exp", "nbf", "client_id", "sub", "scope", "act", "jti"}
)
WWW_AUTHENTICATE: Final = JWT_CHALLENGE


def invalid(reason: str) -> Refusal:
    """The refusal for any failed check. `reason` is one of our fixed phrases, never a piece
    of the token, so it is safe in the log (where the middleware writes it) and the answer."""
    return Refusal("token_invalid", reason, www_authenticate=WWW_AUTHENTICATE)


def identity_from_claims(
    claims: dict[str, Any], token: bytes, *, issuer: str, userid_grant: bool = True
) -> tuple[Identity, float]:
    """The `Identity` of verified claims, and their `exp`. Checks the claims' types (PyJWT
    checked presence and values): a string `exp` or a numeric `client_id` is refused.

    A token with no sign of a user is `"system"` with `userid_grant`, else `"unknown"`: without
    the user id, a user's token can look exactly like that."""
    if claims.get("iss") != issuer:  # PyJWT compares exactly too; kept as a guard
        raise invalid("the token is from another issuer")
    exp = _number(claims.get("exp"), "exp")
    _number(claims.get("iat"), "iat")
    if (nbf := claims.get("nbf")) is not None:
        _number(nbf, "nbf")
    client_id = _text(claims.get("client_id"), "client_id")
    sub = _text(claims.get("sub"), "sub")
    scope = "" if (given := claims.get("scope")) is None else _text(given, "scope", empty=True)
    act = claims.get("act")
    if act is not None and type(act) is not dict:
        raise invalid("the token's act claim is not an object")
    # The actor is the client: an actor that is someone else is no plain system token.
    acted_for = act is not None and act.get("sub", client_id) != client_id
    # Most tokens carry only the claims every token has: look at the others, usually none.
    has_user_claim = False
    for name in claims:
        if name not in TOKEN_CLAIMS and (
            name in USER_CLAIMS or name in LOGIN_CLAIMS or name.startswith(_FEIDE_CLAIM_PREFIXES)
        ):
            has_user_claim = True
            break
    secondary: tuple[SecondaryId, ...] = ()
    if has_user_claim:  # the eduPersonPrincipalName and the nin are user claims
        secondary = tuple(
            SecondaryId(id_type, _text(value, name))
            for id_type, name in (("feide", EPPN), ("nin", NIN))
            if (value := claims.get(name)) is not None
        )
    if sub != client_id or has_user_claim or acted_for:
        kind: Kind = "user"
    else:
        kind = "system" if userid_grant else "unknown"
    identity = Identity(
        kind=kind,
        client_id=client_id,
        scopes=frozenset(scope.split()),
        gatekeeper="",
        user_id=sub if sub != client_id else None,
        secondary_ids=secondary,
        acr=acr if isinstance(acr := claims.get("acr"), str) and acr.isprintable() else None,
        token=SecretStr(token.decode("ascii")),
        source="jwt",
        claims=_frozen(claims),
    )
    return identity, exp


def _number(value: Any, name: str) -> float:
    if type(value) not in _NUMBERS or not math.isfinite(value):
        raise invalid(f"the token's {name} claim is not a number")
    return float(value)


def _text(value: Any, name: str, *, empty: bool = False) -> str:
    if type(value) is not str or (not value and not empty) or not value.isprintable():
        raise invalid(f"the token's {name} claim is not a printable string")
    return value


def _frozen(value: Any, depth: int = 0) -> Any:
    """A read-only copy: objects as `FrozenDict`, arrays as tuples, all the way down. JSON
    gives exact dicts and lists; every other value is immutable, and shared as it is. Deeper
    than `MAX_DEPTH` is refused with `RecursionError` on every Python, whatever its stack."""
    if depth > MAX_DEPTH:
        raise RecursionError(f"nested deeper than {MAX_DEPTH}")
    if type(value) is dict:
        frozen = dict.__new__(FrozenDict)  # filled here, past FrozenDict's guards, once
        dict.update(frozen, value)
        for name, item in value.items():
            if type(item) in _NESTED:
                dict.__setitem__(frozen, name, _frozen(item, depth + 1))
        return frozen
    if type(value) is list:
        return tuple(
            [_frozen(item, depth + 1) if type(item) in _NESTED else item for item in value]
        )
    return value


#: How deep a claim (or an answer of Feide's) may nest: far beyond any real one.
MAX_DEPTH: Final = 64
_NUMBERS: Final = frozenset({int, float})  # not bool, a subclass of int
_NESTED: Final = frozenset({dict, list})
