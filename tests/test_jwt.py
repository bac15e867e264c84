"""FeideJWT: the Identity it builds, and every strict check, each with a token that breaks it."""

import asyncio
import hashlib
import hmac
import json
import logging
import sys
import time
from types import SimpleNamespace
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256

import gatekeeper_auth.jwt as jwt_module
from gatekeeper_auth.claims import EPPN, NIN
from gatekeeper_auth.errors import ConfigurationError
from gatekeeper_auth.fake_feide import DEFAULT_CLIENT, DEFAULT_USER, FakeFeideIssuer
from gatekeeper_auth.identity import FrozenDict, SecondaryId
from gatekeeper_auth.jwt import FeideJWT, looks_like_jwt
from tests.helpers import python_without
from tests.jwt_support import INVALID, b64, refusal, verifier, verify


@pytest.fixture(scope="module")
def issuer() -> FakeFeideIssuer:
    return FakeFeideIssuer()


@pytest.fixture
def feide(issuer: FakeFeideIssuer) -> FeideJWT:
    return verifier(issuer)


# --- the Identity ---------------------------------------------------------------------------


def test_system_token_gives_a_system_identity(issuer: FakeFeideIssuer, feide: FeideJWT) -> None:
    token = issuer.mint(scope="read append")
    identity = verify(feide, token)
    assert identity.kind == "system"
    assert identity.client_id == DEFAULT_CLIENT
    assert identity.user_id is None
    assert identity.scopes == frozenset({"read", "append"})
    assert identity.secondary_ids == ()
    assert identity.gatekeeper == ""
    assert identity.acr is None
    assert identity.source == "jwt"
    assert identity.token is not None
    assert identity.token.get_secret_value() == token
    assert token not in repr(identity)
    assert identity.claims == pyjwt.decode(token, options={"verify_signature": False})


def test_user_token_gives_a_user_identity_with_secondary_ids(
    issuer: FakeFeideIssuer, feide: FeideJWT
) -> None:
    token = issuer.mint(
        user_id=DEFAULT_USER, user_claims={"name": "Bekymret Sky", EPPN: "bsk@uinn.no", NIN: "1"}
    )
    identity = verify(feide, token)
    assert identity.kind == "user"
    assert identity.user_id == DEFAULT_USER
    assert identity.client_id == DEFAULT_CLIENT
    assert identity.secondary_ids == (SecondaryId("feide", "bsk@uinn.no"), SecondaryId("nin", "1"))
    assert identity.source == "jwt"


def test_feides_reference_example_sub_equal_to_client_id_with_user_claims_is_a_user(
    issuer: FakeFeideIssuer, feide: FeideJWT
) -> None:
    token = issuer.mint(user_claims={"name": "Bekymret Sky", EPPN: "bsk@uinn.no"})
    identity = verify(feide, token)
    assert identity.kind == "user"
    assert identity.user_id is None  # sub is the client id: no user id to give
    assert identity.secondary_ids == (SecondaryId("feide", "bsk@uinn.no"),)


@pytest.mark.parametrize(
    "claim",
    ["name", EPPN, NIN, "email", "https://n.feide.no/claims/someFutureUserClaim"],
)
def test_any_user_claim_makes_a_token_a_users(
    issuer: FakeFeideIssuer, feide: FeideJWT, claim: str
) -> None:
    identity = verify(feide, issuer.mint(user_claims={claim: "x"}))
    assert identity.kind == "user"


def test_user_token_without_user_claims_is_a_user_by_its_sub(
    issuer: FakeFeideIssuer, feide: FeideJWT
) -> None:
    identity = verify(feide, issuer.mint(user_id=DEFAULT_USER, user_claims={}))
    assert (identity.kind, identity.user_id, identity.secondary_ids) == ("user", DEFAULT_USER, ())


def test_claims_are_read_only_all_the_way_down(issuer: FakeFeideIssuer, feide: FeideJWT) -> None:
    claims: Any = verify(feide, issuer.mint(claims={"groups": [{"id": "g"}]})).claims
    assert isinstance(claims, FrozenDict)
    with pytest.raises(TypeError, match="read-only"):
        claims["sub"] = "someone else"
    with pytest.raises(TypeError, match="read-only"):
        claims["act"]["sub"] = "someone else"
    with pytest.raises(TypeError, match="read-only"):
        claims.update(sub="someone else")
    with pytest.raises(TypeError, match="read-only"):
        claims["groups"][0]["id"] = "another"
    assert claims["groups"] == ({"id": "g"},)  # arrays are tuples


def test_scope_absent_gives_no_scopes(issuer: FakeFeideIssuer, feide: FeideJWT) -> None:
    assert verify(feide, issuer.mint(drop=["scope"])).scopes == frozenset()


# --- userid_grant: the JWT form of the gatekeeper's userid trap --------------------------


@pytest.mark.parametrize(
    ("userid_grant", "mint", "kind"),
    [
        (True, {}, "system"),
        (False, {}, "unknown"),
        (False, {"user_claims": {"name": "Bekymret Sky"}}, "user"),
        (False, {"claims": {"acr": "urn:x"}}, "user"),
        (False, {"user_id": DEFAULT_USER}, "user"),
    ],
    ids=["granted: system", "not granted: unknown", "user claim", "login claim", "user id"],
)
def test_userid_grant_decides_what_a_token_without_a_sign_of_a_user_is(
    issuer: FakeFeideIssuer, userid_grant: bool, mint: dict[str, Any], kind: str
) -> None:
    feide = verifier(issuer, userid_grant=userid_grant)
    identity = verify(feide, issuer.mint(**mint))
    assert identity.kind == kind
    assert identity.user_id == mint.get("user_id")


USERID_ERROR = (
    "gatekeeper_auth: a user's JWT arrived whose sub is its client_id, so this data source does "
    "not get the user id although userid_grant=true says it does. A user's JWT without user "
    "claims would pass as a system token: set userid_grant=false (FeideJWT(userid_grant=False), "
    "GATEKEEPER_JWT_USERID_GRANT=false) until the data source gets the user id in Feide's "
    "customer portal and every token issued before that has expired."
)


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_users_token_whose_sub_is_its_client_id_logs_one_error_per_verifier(
    issuer: FakeFeideIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    feide = verifier(issuer)
    assert verify(feide, issuer.mint(user_id=DEFAULT_USER)).kind == "user"  # has the user id
    assert verify(feide, issuer.mint()).kind == "system"
    assert errors(caplog) == []
    for name in ("Bekymret Sky", "Glad Sol"):
        identity = verify(feide, issuer.mint(user_claims={"name": name}))
        assert (identity.kind, identity.user_id) == ("user", None)
    assert errors(caplog) == [USERID_ERROR]
    verify(verifier(issuer), issuer.mint(claims={"acr": "urn:x"}))  # another verifier: its own
    assert errors(caplog) == [USERID_ERROR, USERID_ERROR]


def test_without_userid_grant_there_is_no_error_to_log(
    issuer: FakeFeideIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    feide = verifier(issuer, userid_grant=False)
    assert verify(feide, issuer.mint(user_claims={"name": "Bekymret Sky"})).kind == "user"
    assert errors(caplog) == []


@pytest.mark.parametrize(
    ("userid_grant", "level", "message"),
    [
        (
            True,
            logging.INFO,
            "gatekeeper_auth: JWT path: userid_grant=true: a JWT whose sub is its client_id and "
            "that carries no user claim is a system token.",
        ),
        (
            False,
            logging.WARNING,
            "gatekeeper_auth: JWT path: userid_grant=false: a JWT whose sub is its client_id and "
            "that carries no user claim cannot be told from a user's, so system routes answer "
            "403 userid_grant_missing until the data source gets the user id in Feide's "
            "customer portal.",
        ),
    ],
)
def test_start_says_which_userid_grant_the_jwt_path_assumes(
    issuer: FakeFeideIssuer,
    caplog: pytest.LogCaptureFixture,
    userid_grant: bool,
    level: int,
    message: str,
) -> None:
    caplog.set_level(logging.INFO, logger="gatekeeper_auth")
    asyncio.run(verifier(issuer, userid_grant=userid_grant).start())
    said = [(r.levelno, r.getMessage()) for r in caplog.records if "userid_grant" in r.getMessage()]
    assert said == [(level, message)]


# --- the authenticator's interface and its cache of verified tokens -----------------------


@pytest.mark.parametrize(
    ("authorization", "token"),
    [
        (b"Bearer a.b.c", b"a.b.c"),
        (b"bearer a.b.c", b"a.b.c"),
        (b"BEARER a.b.", b"a.b."),
        (b"Bearer  a.b.c \t", b"a.b.c"),
        (b"Bearer a.b", None),
        (b"Bearer a.b.c.d", None),
        (b"Bearer 5b1f3a2e-9c1d-4f0a-8e7b-2d6c4a9f0e13", None),
        (b"Basic a.b.c", None),
        (b"Bearera.b.c", None),
        (b"", None),
    ],
)
def test_token_in_finds_a_bearer_jwt_and_nothing_else(
    feide: FeideJWT, authorization: bytes, token: bytes | None
) -> None:
    assert feide.token_in(authorization) == token


def test_seen_knows_a_token_only_after_it_was_authenticated(
    issuer: FakeFeideIssuer, feide: FeideJWT
) -> None:
    token = issuer.mint().encode()
    assert feide.seen(token) is None
    assert feide.cached(token) is None
    caller = asyncio.run(feide.authenticate(token))
    assert feide.seen(token) is caller  # the same finished caller for every later request
    assert caller.identity is not None
    assert caller.identity.client_id == DEFAULT_CLIENT
    assert (caller.user.identity, caller.auth.scopes) == (
        DEFAULT_CLIENT,
        ("authenticated", "system", "scope:read"),
    )
    assert feide.cached(token) is caller.identity
    assert feide.seen(token + b"x") is None


def test_verify_remembers_the_token_too(issuer: FakeFeideIssuer, feide: FeideJWT) -> None:
    token = issuer.mint().encode()
    identity = verify(feide, token)
    assert feide.cached(token) is identity


def test_seen_forgets_a_token_at_its_exp(
    issuer: FakeFeideIssuer, feide: FeideJWT, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = issuer.mint(lifetime=60).encode()
    verify(feide, token)
    later = time.time() + 61
    monkeypatch.setattr(jwt_module, "time", SimpleNamespace(time=lambda: later))
    assert feide.seen(token) is None
    assert token not in feide._callers


def test_seen_forgets_a_long_lived_token_after_300_seconds(
    issuer: FakeFeideIssuer, feide: FeideJWT, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A key Feide withdraws stops vouching for tokens seen before within a JWT's 300 s life,
    # whatever exp a token (perhaps minted with a stolen key) claims.
    token = issuer.mint(lifetime=10 * 24 * 3600).encode()
    verify(feide, token)
    assert feide.seen(token) is not None
    later = time.time() + 301
    monkeypatch.setattr(jwt_module, "time", SimpleNamespace(time=lambda: later))
    assert feide.seen(token) is None


def test_cache_is_bounded_and_the_oldest_goes_first(issuer: FakeFeideIssuer) -> None:
    feide = verifier(issuer, max_cached=2)
    tokens = [issuer.mint(scope=f"s{i}").encode() for i in range(3)]
    for token in tokens:
        verify(feide, token)
    assert len(feide._callers) == 2
    assert feide.seen(tokens[0]) is None
    assert feide.seen(tokens[1]) is not None
    assert feide.seen(tokens[2]) is not None


def test_max_cached_0_remembers_nothing(issuer: FakeFeideIssuer) -> None:
    feide = verifier(issuer, max_cached=0)
    token = issuer.mint().encode()
    verify(feide, token)
    assert feide.seen(token) is None


class Deadline(float):
    """A cache entry's deadline that counts how often it is compared."""

    comparisons = 0

    def __lt__(self, other: object) -> bool:
        Deadline.comparisons += 1
        return float(self) < other  # type: ignore[operator]

    def __le__(self, other: object) -> bool:
        Deadline.comparisons += 1
        return float(self) <= other  # type: ignore[operator]

    def __gt__(self, other: object) -> bool:
        Deadline.comparisons += 1
        return float(self) > other  # type: ignore[operator]

    def __ge__(self, other: object) -> bool:
        Deadline.comparisons += 1
        return float(self) >= other  # type: ignore[operator]


def test_a_full_cache_drops_its_oldest_entry_without_looking_at_the_others(
    issuer: FakeFeideIssuer,
) -> None:
    # Inserting into a full cache once swept every entry for expired ones: O(n) per insert.
    feide = verifier(issuer, max_cached=500)
    caller = asyncio.run(feide.authenticate(issuer.mint().encode()))
    soon = Deadline(time.time() + 100)  # sooner than the 300 s cap: the cache keeps it
    for i in range(1000):
        feide._remember(b"t%d" % i, caller, soon)
    assert len(feide._callers) == 500
    Deadline.comparisons = 0
    for i in range(1000, 2000):
        feide._remember(b"t%d" % i, caller, soon)
    assert Deadline.comparisons <= 3 * 1000  # the new entry's own cap and date, nothing more
    assert list(feide._callers)[:2] == [b"t1500", b"t1501"]


def test_a_refused_token_is_not_cached(issuer: FakeFeideIssuer, feide: FeideJWT) -> None:
    token = issuer.mint(audience="https://n.feide.no/datasources/other")
    refusal(feide, token)
    assert feide.seen(token.encode()) is None


# --- strictness: each row is a token that one check alone refuses ---------------------------


def hs256_with_public_key(issuer: FakeFeideIssuer) -> str:
    """The algorithm-confusion attack: HS256 keyed with the issuer's public key (PEM)."""
    pem = issuer.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = (
        f"{b64({'alg': 'HS256', 'typ': 'JWT', 'kid': issuer.kid})}.{b64(issuer.claims())}"
    )
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def unsigned(issuer: FakeFeideIssuer) -> str:
    return f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': issuer.kid})}.{b64(issuer.claims())}."


def rs512(issuer: FakeFeideIssuer) -> str:
    return pyjwt.encode(
        issuer.claims(), issuer.private_key, algorithm="RS512", headers={"kid": issuer.kid}
    )


def signed_by_another_key_with_our_kid(issuer: FakeFeideIssuer) -> str:
    attacker = FakeFeideIssuer()
    return attacker.mint(header={"kid": issuer.kid})


def embedded_attacker_keys(issuer: FakeFeideIssuer) -> str:
    """An attacker's key offered in `jwk`, `jku` and `x5u`: never looked at."""
    attacker = FakeFeideIssuer()
    jwk = attacker.jwks()["keys"][0]
    return attacker.mint(
        header={
            "kid": issuer.kid,
            "jwk": jwk,
            "jku": "https://evil.example/jwks",
            "x5u": "https://evil.example/cert",
        }
    )


def swapped_payload(issuer: FakeFeideIssuer) -> str:
    header, _, signature = issuer.mint().split(".")
    return f"{header}.{b64(issuer.claims(user_id='someone-else'))}.{signature}"


HEADER = b'{"alg": "RS256", "typ": "JWT"}'


def with_header(issuer: FakeFeideIssuer, header: bytes) -> str:
    """A valid token of `issuer`'s with its header segment replaced by `header`."""
    return b64(header) + "." + issuer.mint().split(".", 1)[1]


def signed_payload(issuer: FakeFeideIssuer, payload: bytes) -> str:
    """A token whose payload segment is `payload` as it is (JSON or not), validly signed."""
    header = b64({"alg": "RS256", "typ": "JWT", "kid": issuer.kid})
    signing_input = f"{header}.{b64(payload)}"
    signature = issuer.private_key.sign(signing_input.encode(), PKCS1v15(), SHA256())
    return f"{signing_input}.{b64(signature)}"


def re_spelled(token: str, index: int, change: Any) -> str:
    """`token` with its segment `index` changed by `change`."""
    segments = token.split(".")
    segments[index] = change(segments[index])
    return ".".join(segments)


def standard_alphabet(segment: str) -> str:
    """The same bytes in base64's `+/` alphabet (an RS256 signature has some of those)."""
    changed = segment.replace("-", "+").replace("_", "/")
    assert changed != segment
    return changed


def loose_tail(segment: str) -> str:
    """The same bytes, but with a set bit in the last character's unused low bits."""
    assert len(segment) % 4 in (2, 3)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return segment[:-1] + alphabet[alphabet.index(segment[-1]) + 1]


CANONICAL = "the token is not canonical unpadded base64url"
AUD_FORM = "the token's aud claim is not a string or a list of strings"
NOW = time.time


STRICT: dict[str, Any] = {
    "alg none": unsigned,
    "HS256 keyed with the public key": hs256_with_public_key,
    "RS512, not the configured RS256": rs512,
    "another key under our kid": signed_by_another_key_with_our_kid,
    "jwk/jku/x5u in the header": embedded_attacker_keys,
    "payload swapped under a valid signature": swapped_payload,
    "empty signature": lambda i: i.mint().rsplit(".", 1)[0] + ".",
    "unknown kid": lambda i: i.mint(header={"kid": "no-such-kid"}),
    "kid not a string": lambda i: i.mint(header={"kid": 7}),
    "kid null": lambda i: i.sign({"alg": "RS256", "typ": "JWT", "kid": None}, i.claims()),
    "header longer than 4096 bytes": lambda i: i.mint(header={"x": "y" * 3100}),
    "header with a UTF-8 byte order mark": lambda i: with_header(i, b"\xef\xbb\xbf" + HEADER),
    "header with a number beyond a float": lambda i: with_header(i, HEADER[:-1] + b',"x":1e400}'),
    "typ at+jwt": lambda i: i.mint(header={"typ": "at+jwt"}),
    "crit extension": lambda i: i.mint(header={"crit": ["exp"]}),
    "iss with a suffix": lambda i: i.mint(claims={"iss": "https://auth.dataporten.no.evil"}),
    "iss a prefix": lambda i: i.mint(claims={"iss": "https://auth.dataporten.n"}),
    "iss in a list": lambda i: i.mint(claims={"iss": ["https://auth.dataporten.no"]}),
    "iss missing": lambda i: i.mint(drop=["iss"]),
    "aud another data source": lambda i: i.mint(audience="https://n.feide.no/datasources/x"),
    "aud a prefix of ours": lambda i: i.mint(audience=i.audience[:-1]),
    "aud a list without ours": lambda i: i.mint(claims={"aud": ["a", "b"]}),
    "aud missing": lambda i: i.mint(drop=["aud"]),
    "aud a number": lambda i: i.mint(claims={"aud": 7}),
    "aud a list with ours and a number": lambda i: i.mint(claims={"aud": [i.audience, 7]}),
    "aud null": lambda i: i.mint(claims={"aud": None}),
    "exp missing": lambda i: i.mint(drop=["exp"]),
    "iat missing": lambda i: i.mint(drop=["iat"]),
    "client_id missing": lambda i: i.mint(drop=["client_id"]),
    "sub missing": lambda i: i.mint(drop=["sub"]),
    "expired beyond the leeway": lambda i: i.mint(now=NOW() - 400),
    "nbf beyond the leeway": lambda i: i.mint(claims={"nbf": int(NOW()) + 60}),
    "iat beyond the leeway": lambda i: i.mint(claims={"iat": int(NOW()) + 60}),
    "exp a string": lambda i: i.mint(claims={"exp": str(int(NOW()) + 300)}),
    "exp a boolean": lambda i: i.mint(claims={"exp": True}),
    "exp null": lambda i: i.mint(claims={"exp": None}),
    "exp beyond a float": lambda i: i.mint(claims={"exp": 10**400}),
    "iat a string": lambda i: i.mint(claims={"iat": str(int(NOW()))}),
    "nbf a string": lambda i: i.mint(claims={"nbf": str(int(NOW()))}),
    "nbf null": lambda i: i.mint(claims={"nbf": None}),
    "jti a number": lambda i: i.mint(claims={"jti": 7}),
    "jti null": lambda i: i.mint(claims={"jti": None}),
    "NaN in a claim": lambda i: i.mint(claims={"x": float("nan")}),
    "exp 29.x s ago, 30 in whole seconds": lambda i: i.mint(claims={"exp": int(NOW()) - 29.001}),
    "a number beyond a float in a claim": lambda i: signed_payload(
        i, json.dumps(i.claims()).encode()[:-1] + b', "x": -1e400}'
    ),
    "a lone surrogate in a claim": lambda i: i.mint(claims={"name": "\ud800"}),
    "a lone surrogate in a claim name": lambda i: i.mint(claims={"\udfff": 1}),
    "Infinity in a claim": lambda i: i.mint(claims={"x": [float("inf")]}),
    "payload not JSON": lambda i: signed_payload(i, b'{"sub": '),
    "payload not UTF-8": lambda i: signed_payload(i, b'{"sub": "\xff"}'),
    "payload a JSON list": lambda i: signed_payload(i, b"[1]"),
    "client_id a number": lambda i: i.mint(claims={"client_id": 42}),
    "client_id empty": lambda i: i.mint(claims={"client_id": ""}),
    "sub a list": lambda i: i.mint(claims={"sub": ["x"]}),
    "sub with a newline": lambda i: i.mint(claims={"sub": "a\nb"}),
    "scope a list": lambda i: i.mint(claims={"scope": ["read"]}),
    "act a string": lambda i: i.mint(claims={"act": "x"}),
    "eppn a list": lambda i: i.mint(user_claims={EPPN: ["a@b.no"]}),
    "too long": lambda i: i.mint(claims={"pad": "x" * 20_000}),
    "two segments": lambda i: i.mint().rsplit(".", 1)[0],
    "header not base64url": lambda i: "!!!." + i.mint().split(".", 1)[1],
    "signature padded": lambda i: i.mint() + "==",
    "header padded": lambda i: re_spelled(i.mint(), 0, lambda s: s + "=" * (-len(s) % 4 or 4)),
    "signature in the +/ alphabet": lambda i: re_spelled(i.mint(), 2, standard_alphabet),
    "signature with set bits after its last byte": lambda i: re_spelled(i.mint(), 2, loose_tail),
    "payload with a \\xff byte": lambda i: i.mint().replace(".", ".\xff", 1).encode("latin-1"),
    "payload with a space": lambda i: re_spelled(i.mint(), 1, lambda s: s[:9] + " " + s[9:]),
    "signature of an impossible length": lambda i: i.mint() + "AAA",
    "header not JSON": lambda i: b64(b"{nope") + "." + i.mint().split(".", 1)[1],
    "header a JSON list": lambda i: b64(b"[1]") + "." + i.mint().split(".", 1)[1],
}


#: Why each row is refused: the detail proves the intended check refused it, no other.
REASONS = {
    "alg none": "the token's algorithm is not RS256",
    "HS256 keyed with the public key": "the token's algorithm is not RS256",
    "RS512, not the configured RS256": "the token's algorithm is not RS256",
    "another key under our kid": "the token's signature does not verify",
    "jwk/jku/x5u in the header": "the token's signature does not verify",
    "payload swapped under a valid signature": "the token's signature does not verify",
    "empty signature": "the token's signature does not verify",
    "unknown kid": "the token's key id (kid) is not in the issuer's key set",
    "kid not a string": "the token's kid is not a string",
    "kid null": "the token's kid is not a string",
    "header longer than 4096 bytes": "the token's header is longer than 4096 bytes",
    "header with a UTF-8 byte order mark": "the token's header is not JSON",
    "header with a number beyond a float": "the token's header is not JSON",
    "typ at+jwt": "the token's typ is not JWT",
    "crit extension": "the token's header asks for an extension (crit, b64)",
    "iss with a suffix": "the token is from another issuer",
    "iss a prefix": "the token is from another issuer",
    "iss in a list": "the token is from another issuer",
    "iss missing": "the token lacks the iss claim",
    "aud another data source": "the token is for another audience",
    "aud a prefix of ours": "the token is for another audience",
    "aud a list without ours": "the token is for another audience",
    "aud missing": "the token lacks the aud claim",
    "aud a number": AUD_FORM,
    "aud a list with ours and a number": AUD_FORM,
    "aud null": "the token lacks the aud claim",
    "exp missing": "the token lacks the exp claim",
    "iat missing": "the token lacks the iat claim",
    "client_id missing": "the token lacks the client_id claim",
    "sub missing": "the token lacks the sub claim",
    "expired beyond the leeway": "the token has expired",
    "nbf beyond the leeway": "the token is not valid yet (nbf or iat is in the future)",
    "iat beyond the leeway": "the token is not valid yet (nbf or iat is in the future)",
    "exp a string": "the token's exp claim is not a number",
    "exp a boolean": "the token's exp claim is not a number",
    "exp null": "the token lacks the exp claim",
    "exp beyond a float": "the token's claims are out of range or nested too deep",
    "iat a string": "the token's iat claim is not a number",
    "nbf a string": "the token's nbf claim is not a number",
    "nbf null": "the token's nbf claim is not a number",
    "jti a number": "the token's jti claim is not a string",
    "jti null": "the token's jti claim is not a string",
    "NaN in a claim": "the token's payload is not JSON",
    "exp 29.x s ago, 30 in whole seconds": "the token has expired",
    "a number beyond a float in a claim": "the token's payload is not JSON",
    "a lone surrogate in a claim": "the token's payload is not JSON",
    "a lone surrogate in a claim name": "the token's payload is not JSON",
    "Infinity in a claim": "the token's payload is not JSON",
    "payload not JSON": "the token's payload is not JSON",
    "payload not UTF-8": "the token's payload is not JSON",
    "payload a JSON list": "the token's payload is not a JSON object",
    "client_id a number": "the token's client_id claim is not a printable string",
    "client_id empty": "the token's client_id claim is not a printable string",
    "sub a list": "the token's sub claim is not a printable string",
    "sub with a newline": "the token's sub claim is not a printable string",
    "scope a list": "the token's scope claim is not a printable string",
    "act a string": "the token's act claim is not an object",
    "eppn a list": f"the token's {EPPN} claim is not a printable string",
    "too long": "the token is longer than 16384 bytes",
    "two segments": "the token is not three dot-separated segments",
    "header not base64url": CANONICAL,
    "signature padded": CANONICAL,
    "header padded": CANONICAL,
    "signature in the +/ alphabet": CANONICAL,
    "signature with set bits after its last byte": CANONICAL,
    "payload with a \\xff byte": CANONICAL,
    "payload with a space": CANONICAL,
    "signature of an impossible length": CANONICAL,
    "header not JSON": "the token's header is not JSON",
    "header a JSON list": "the token's header is not a JSON object",
}


@pytest.mark.parametrize("case", STRICT, ids=list(STRICT))
def test_strict_check_refuses(issuer: FakeFeideIssuer, feide: FeideJWT, case: str) -> None:
    refused = refusal(feide, STRICT[case](issuer))
    assert (refused.status_code, refused.code, refused.headers) == (
        401,
        "token_invalid",
        {"WWW-Authenticate": INVALID},
    )
    assert refused.message == REASONS[case]
    assert refused.response().status_code == 401


ACCEPTED: dict[str, Any] = {
    "typ JWT and no jti (Feide's shape)": lambda i: i.mint(),
    "no typ": lambda i: i.mint(header={"typ": None}),
    "aud a list with ours": lambda i: i.mint(claims={"aud": ["x", i.audience]}),
    "expired within the leeway": lambda i: i.mint(now=NOW() - 310),
    "nbf within the leeway": lambda i: i.mint(claims={"nbf": int(NOW()) + 20}),
    "no nbf": lambda i: i.mint(drop=["nbf"]),
    "unknown extra claims": lambda i: i.mint(claims={"acr": "x", "foo": {"bar": [1]}}),
}


@pytest.mark.parametrize("case", ACCEPTED, ids=list(ACCEPTED))
def test_feide_shaped_token_is_accepted(
    issuer: FakeFeideIssuer, feide: FeideJWT, case: str
) -> None:
    assert verify(feide, ACCEPTED[case](issuer)).source == "jwt"


def test_leeway_is_configurable(issuer: FakeFeideIssuer) -> None:
    token = issuer.mint(now=NOW() - 310)  # expired 10 s ago
    assert refusal(verifier(issuer, leeway=0), token).message == "the token has expired"


# --- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://auth.dataporten.no/openid/jwks",
        "http://127.0.0.1:8000/openid/jwks",
        "http://localhost/openid/jwks",
        "http://[::1]:9000/openid/jwks",
    ],
)
def test_jwks_url_https_or_loopback_is_accepted(url: str) -> None:
    assert FeideJWT(audience="a", jwks_url=url).jwks_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://auth.dataporten.no/openid/jwks",
        "http://127.0.0.2/jwks",
        "http://localhost.evil.example/jwks",
        "ftp://127.0.0.1/jwks",
        "not a url",
        "",
    ],
)
def test_jwks_url_plain_http_elsewhere_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="jwks_url"):
        FeideJWT(audience="a", jwks_url=url)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"audience": ""}, "audience"),
        ({"audience": " a"}, "audience"),
        ({"audience": "a", "leeway": -1}, "leeway"),
        ({"audience": "a", "leeway": 301}, "leeway"),
        ({"audience": "a", "issuer": ""}, "issuer"),
        ({"audience": "a", "max_cached": -1}, "max_cached"),
        ({"audience": "a", "key_max_age": 0}, "key_max_age"),
        ({"audience": "a", "fetch_timeout": 0}, "fetch_timeout"),
        ({"audience": "a", "fetch_timeout": float("nan")}, "fetch_timeout"),
        ({"audience": "a", "key_max_age": float("nan")}, "key_max_age"),
        ({"audience": "a", "refetch_interval": 0}, "refetch_interval= is at least 1 second"),
        ({"audience": "a", "refetch_interval": 0.5}, "refetch_interval= is at least 1 second"),
        ({"audience": "a", "refetch_interval": float("nan")}, "refetch_interval"),
        ({"audience": "a", "key_max_age": 10, "refetch_interval": 11}, "at most key_max_age="),
    ],
)
def test_bad_options_are_refused_at_construction(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        FeideJWT(**options)


def test_a_missing_jose_library_is_named_when_feidejwt_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "jwt", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'gatekeeper-auth\[jwt\]'"):
        FeideJWT(audience="a")


def test_the_modules_import_without_pyjwt_or_httpx2() -> None:
    result = python_without(
        {"jwt", "httpx2"},
        "import gatekeeper_auth.jwt, gatekeeper_auth.jwks, gatekeeper_auth.fake_feide\n"
        "print(gatekeeper_auth.jwt.looks_like_jwt(b'a.b.c'))",
    )
    assert (result.returncode, result.stdout.strip()) == (0, "True"), result.stderr


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"a.b.c", True),
        (b"a.b.", True),
        (b"..", True),
        (b"a.b", False),
        (b"a.b.c.d", False),
        (b"5b1f3a2e-9c1d-4f0a-8e7b-2d6c4a9f0e13", False),
    ],
)
def test_looks_like_jwt_counts_exactly_two_dots(value: bytes, expected: bool) -> None:
    assert looks_like_jwt(value) is expected


def test_a_token_let_in_within_the_leeway_after_its_exp_pushes_no_valid_one_out() -> None:
    issuer = FakeFeideIssuer()
    feide = FeideJWT(
        audience=issuer.audience, transport=issuer.transport(), leeway=30, max_cached=1
    )
    late = issuer.mint(now=time.time() - 300, lifetime=295).encode()  # exp 5 s ago
    fresh = issuer.mint().encode()

    async def scenario() -> tuple[bool, list[bytes]]:
        await feide.start()
        await feide.authenticate(fresh)
        let_in = (await feide.authenticate(late)).identity is not None
        return let_in, list(feide._callers)  # before any lookup could drop a stale entry

    assert asyncio.run(scenario()) == (True, [fresh])
