"""What Feide's JWT claims mean: who the caller is, and whether the token is a user's.

A token is a user's when `sub` differs from `client_id` or it carries any claim about an end
user or a user's login. Feide's own reference example shows a user's token whose `sub` equals
its `client_id`: without a user claim such a token cannot be told from a system token (the JWT
form of the gatekeeper's `userid` trap), so every claim that can only describe a user counts,
and `userid_grant` says whether a token without one may be taken for a system token.
"""

from __future__ import annotations

import math
import time
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
_FEIDE_PREFIXES: Final = (FEIDE_CLAIM_PREFIX, "http://n.feide.no/claims/")
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
    claims: dict[str, Any],
    token: bytes,
    *,
    issuer: str,
    audience: str,
    leeway: float,
    userid_grant: bool = True,
) -> tuple[Identity, float]:
    """The `Identity` of a verified token's claims, and their `exp`, once the claims hold:
    `iss` exactly `issuer`, `audience` the `aud` (or one of them), `exp`, `iat` and `nbf` right
    now give or take `leeway`; `exp`, `iat`, `iss`, `aud`, `client_id` and `sub` present, and
    every claim we read of the type it must have (a string `exp` or a numeric `client_id` is
    refused).

    A token with no sign of a user is `"system"` with `userid_grant`, else `"unknown"`: without
    the user id, a user's token can look exactly like that. Every token seen for the first
    time comes through here, right after its signature check: one pass over the claims."""
    get = claims.get
    iss = _present(get("iss"), "iss")
    if iss != issuer:  # exactly: not a prefix, not in a list
        raise invalid("the token is from another issuer")
    aud = _present(get("aud"), "aud")
    if type(aud) is str:
        if aud != audience:
            raise invalid("the token is for another audience")
    elif type(aud) is list and all(type(one) is str for one in aud):
        if audience not in aud:
            raise invalid("the token is for another audience")
    else:
        raise invalid("the token's aud claim is not a string or a list of strings")
    now = time.time()
    # In whole seconds, as PyJWT reads it: a fraction never lengthens a token's life.
    exp = float(int(_number(_present(get("exp"), "exp"), "exp")))
    if exp <= now - leeway:
        raise invalid("the token has expired")
    if _number(_present(get("iat"), "iat"), "iat") > now + leeway or (
        "nbf" in claims and _number(claims["nbf"], "nbf") > now + leeway
    ):
        raise invalid("the token is not valid yet (nbf or iat is in the future)")
    if "jti" in claims and type(claims["jti"]) is not str:
        raise invalid("the token's jti claim is not a string")
    client_id = _text(_present(get("client_id"), "client_id"), "client_id")
    sub = _text(_present(get("sub"), "sub"), "sub")
    scope = "" if (given := get("scope")) is None else _text(given, "scope", empty=True)
    act = get("act")
    if act is not None and type(act) is not dict:
        raise invalid("the token's act claim is not an object")
    # The read-only copy and the look for a user claim share one pass over the claims.
    frozen = dict.__new__(FrozenDict)  # filled here, past FrozenDict's guards, once
    dict.update(frozen, claims)
    has_user_claim = False
    for name, value in claims.items():
        if type(value) in _NESTED:
            dict.__setitem__(frozen, name, _frozen(value, 1))
        if not has_user_claim and name not in TOKEN_CLAIMS:
            has_user_claim = (
                name in USER_CLAIMS or name in LOGIN_CLAIMS or name.startswith(_FEIDE_PREFIXES)
            )
    user_id = None if sub == client_id else sub
    secondary: tuple[SecondaryId, ...] = ()
    acr: str | None = None
    if has_user_claim:  # the eduPersonPrincipalName, the nin and `acr` come with a user
        secondary = tuple(
            SecondaryId(id_type, _text(value, name))
            for id_type, name in (("feide", EPPN), ("nin", NIN))
            if (value := get(name)) is not None
        )
        if type(acr := get("acr")) is not str or not acr.isprintable():
            acr = None
    # The actor is the client: an actor that is someone else is no plain system token.
    if user_id is not None or has_user_claim or (act and act.get("sub", client_id) != client_id):
        kind: Kind = "user"
    else:
        kind = "system" if userid_grant else "unknown"
    identity = Identity(  # positional, in field order: the cheapest call of a dataclass
        kind,
        client_id,
        frozenset(scope.split()),
        "",
        user_id,
        secondary,
        acr,
        SecretStr(token.decode("ascii")),
        "jwt",
        frozen,
    )
    return identity, exp


def _present(value: Any, name: str) -> Any:
    if value is None:
        raise invalid(f"the token lacks the {name} claim")
    return value


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
