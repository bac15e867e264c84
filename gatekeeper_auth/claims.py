"""What Feide's JWT claims mean: who the caller is, and whether the token is a user's.

A token is a user's when `sub` differs from `client_id` or it carries any claim about an end
user or a user's login. Feide's own reference example shows a user's token whose `sub` equals
its `client_id`: without a user claim such a token cannot be told from a system token (the JWT
form of the gatekeeper's `userid` trap), so every claim that can only describe a user counts,
and `userid_grant` says whether a token without one may be taken for a system token.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
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
LOGIN_CLAIMS: Final = frozenset({"acr", "amr", "auth_time", "sid"})
FEIDE_CLAIM_PREFIX: Final = "https://n.feide.no/claims/"
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
    exp = _number(claims, "exp", required=True)
    _number(claims, "iat", required=True)
    _number(claims, "nbf", required=False)
    client_id = _text(claims, "client_id", required=True) or ""
    sub = _text(claims, "sub", required=True) or ""
    scope = _text(claims, "scope", required=False, empty=True) or ""
    if "act" in claims and not isinstance(claims["act"], dict):
        raise invalid("the token's act claim is not an object")
    # Most tokens carry only the claims every token has: look at the others, usually none.
    has_user_claim = any(
        name in USER_CLAIMS or name in LOGIN_CLAIMS or name.startswith(FEIDE_CLAIM_PREFIX)
        for name in claims.keys() - TOKEN_CLAIMS
    )
    secondary: tuple[SecondaryId, ...] = ()
    if has_user_claim:  # the eduPersonPrincipalName and the nin are user claims
        secondary = tuple(
            SecondaryId(id_type, value)
            for id_type, name in (("feide", EPPN), ("nin", NIN))
            if (value := _text(claims, name, required=False))
        )
    if sub != client_id or has_user_claim:
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


def _number(claims: Mapping[str, Any], name: str, *, required: bool) -> float:
    value = claims.get(name)
    if value is None and not required:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid(f"the token's {name} claim is not a number")
    return float(value)


def _text(
    claims: Mapping[str, Any], name: str, *, required: bool, empty: bool = False
) -> str | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (not value and not empty) or not value.isprintable():
        raise invalid(f"the token's {name} claim is not a printable string")
    return value


def _frozen(value: Any) -> Any:
    """A read-only copy: objects as `FrozenDict`, arrays as tuples, all the way down."""
    if isinstance(value, dict):
        return FrozenDict(
            {k: _frozen(v) if isinstance(v, _NESTED) else v for k, v in value.items()}
        )
    if isinstance(value, list):
        return tuple(_frozen(v) if isinstance(v, _NESTED) else v for v in value)
    return value


_NESTED: Final = (dict, list)
