"""Whatever arrives as a Bearer JWT, FeideJWT answers `token_invalid` (401) or an Identity: never
another exception, never a 500; and a valid token has exactly one spelling."""

import asyncio
import base64
import json
import time
from typing import Any

import jwt as pyjwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatekeeper_auth.errors import Refusal
from gatekeeper_auth.fake_feide import FakeFeideIssuer
from gatekeeper_auth.jwt import FeideJWT
from tests.jwt_support import b64

ISSUER = FakeFeideIssuer()
FEIDE = FeideJWT(audience=ISSUER.audience, transport=ISSUER.transport(), max_cached=0)
asyncio.run(FEIDE.keys.load())
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


def outcome(token: bytes) -> str:
    """'ok' or 'token_invalid' (checked whole); any other exception fails the property."""
    refused: Refusal | None = None
    try:
        asyncio.run(FEIDE.verify(token))
    except Refusal as error:
        refused = error
    if refused is None:
        return "ok"
    assert (refused.status_code, refused.code, refused.headers) == (
        401,
        "token_invalid",
        {"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )
    return refused.code


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_are_refused(raw: bytes) -> None:
    assert outcome(raw) == "token_invalid"


@SETTINGS
@given(st.lists(st.binary(max_size=60), min_size=3, max_size=3))
def test_random_segments_are_refused(parts: list[bytes]) -> None:
    token = b".".join(base64.urlsafe_b64encode(p).rstrip(b"=") for p in parts)
    assert outcome(token) == "token_invalid"


@SETTINGS
@given(json_values, json_values)
def test_any_json_header_and_payload_with_a_junk_signature_are_refused(
    header: Any, payload: Any
) -> None:
    token = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}.c2ln"
    assert outcome(token.encode()) == "token_invalid"


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(
            ["aud", "iss", "iat", "exp", "nbf", "client_id", "sub", "scope", "act", "name"]
        ),
        json_values,
        max_size=5,
    )
)
def test_validly_signed_tokens_with_claims_of_any_type_never_raise_anything_else(
    overrides: dict[str, Any],
) -> None:
    token = ISSUER.mint(claims=overrides)
    assert outcome(token.encode()) in ("ok", "token_invalid")


def pyjwt_accepts(token: bytes) -> bool:
    """PyJWT's own verdict on `token` with FeideJWT's rules: the oracle below."""
    try:
        pyjwt.decode(
            token,
            ISSUER.private_key.public_key(),
            algorithms=["RS256"],
            audience=ISSUER.audience,
            issuer=ISSUER.issuer,
            leeway=FEIDE.leeway,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "client_id"]},
        )
    except Exception:  # any refusal, and PyJWT's own crashes on odd claims
        return False
    return True


def edges() -> dict[str, dict[str, Any]]:
    """Claims a second either side of each time check (leeway 30 s), and `aud`/`iss` forms."""
    now = int(time.time())
    return {
        "exp 31 s ago": {"exp": now - 31},
        "exp 29 s ago": {"exp": now - 29},
        "iat in 29 s": {"iat": now + 29},
        "iat in 31 s": {"iat": now + 31},
        "nbf in 29 s": {"nbf": now + 29},
        "nbf in 31 s": {"nbf": now + 31},
        "aud a list of ours": {"aud": [ISSUER.audience]},
        "aud a list of another and ours": {"aud": ["x", ISSUER.audience]},
        "aud an empty list": {"aud": []},
        "aud another": {"aud": "x"},
        "iss with a slash": {"iss": ISSUER.issuer + "/"},
        "exp 29.x s ago": {"exp": now - 29.001},
    }


@pytest.mark.parametrize("case", list(edges()))
def test_feidejwt_and_pyjwt_agree_at_the_edges(case: str) -> None:
    token = ISSUER.mint(claims=edges()[case]).encode()
    assert (outcome(token) == "ok") == pyjwt_accepts(token)
    assert pyjwt_accepts(token) == case.endswith(("29 s ago", "in 29 s", "ours"))


NEAR_NOW = st.integers(-400, 400).map(lambda delta: int(time.time()) + delta) | st.floats(
    -400, 400
).map(lambda delta: time.time() + delta)
#: For each claim, values near the edges of its checks, and any JSON value.
NEAR_EDGES: dict[str, st.SearchStrategy[Any]] = {
    "exp": NEAR_NOW | st.floats(),
    "iat": NEAR_NOW | st.floats(),
    "nbf": NEAR_NOW | st.floats(),
    "aud": st.sampled_from([ISSUER.audience, ISSUER.audience + "x", ""])
    | st.lists(st.sampled_from([ISSUER.audience, "x", 7]), max_size=3),
    "iss": st.sampled_from([ISSUER.issuer, ISSUER.issuer + "/", ""]),
    "client_id": st.text(max_size=8),
    "sub": st.text(max_size=8),
    "scope": st.text(max_size=8),
    "jti": st.text(max_size=8),
    "act": st.dictionaries(st.sampled_from(["sub", "x"]), json_values, max_size=2),
}


@settings(SETTINGS, max_examples=600)
@given(st.lists(st.sampled_from(sorted(NEAR_EDGES)), max_size=3, unique=True), st.data())
def test_a_token_feidejwt_accepts_pyjwt_accepts_too(names: list[str], data: st.DataObject) -> None:
    """FeideJWT checks the claims itself; PyJWT, given the same rules, is the oracle: whatever
    FeideJWT lets in, PyJWT lets in too (FeideJWT refuses more: types PyJWT does not check)."""
    changed = {name: data.draw(NEAR_EDGES[name] | json_values, label=name) for name in names}
    dropped = data.draw(st.lists(st.sampled_from(sorted(NEAR_EDGES)), max_size=1), label="drop")
    token = ISSUER.mint(claims=changed, drop=dropped).encode()
    if outcome(token) == "ok":
        assert pyjwt_accepts(token)


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(["alg", "typ", "kid", "crit", "b64", "jwk"]) | st.text(max_size=6),
        json_values | st.sampled_from(["RS256", "JWT", ISSUER.kid]),
        max_size=4,
    )
)
def test_validly_signed_tokens_with_any_header_fields_never_raise_anything_else(
    header: dict[str, Any],
) -> None:
    token = ISSUER.sign({"alg": "RS256", "kid": ISSUER.kid, **header}, ISSUER.claims()).encode()
    if outcome(token) == "ok":  # and a header FeideJWT accepts, PyJWT accepts too
        assert pyjwt_accepts(token)


def test_a_megabyte_token_is_refused_before_parsing() -> None:
    assert outcome(b"a." + b"b" * 1_000_000 + b".c") == "token_invalid"


ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
VALID = [ISSUER.mint(scope=f"s{i}", claims={"pad": "x" * i}).encode() for i in range(4)]


def respell(segment: bytes, data: st.DataObject) -> bytes:
    """Another spelling of `segment`: one that lenient decoders read as the same bytes (padding,
    the `+/` alphabet, set bits after the last byte), or with a byte that is no base64url."""
    ways = ["pad", "junk"]
    if b"-" in segment or b"_" in segment:
        ways.append("+/")
    if len(segment) % 4 in (2, 3):
        ways.append("tail bits")
    way = data.draw(st.sampled_from(ways), label="way")
    if way == "pad":
        return segment + b"=" * data.draw(st.integers(1, 3), label="padding")
    if way == "+/":
        spots = [i for i, c in enumerate(segment) if c in b"-_"]
        i = data.draw(st.sampled_from(spots), label="at")
        return segment[:i] + (b"+" if segment[i] == ord("-") else b"/") + segment[i + 1 :]
    if way == "tail bits":
        unused = 15 if len(segment) % 4 == 2 else 3  # the low bits the last character wastes
        value = ALPHABET.index(segment[-1:]) | data.draw(st.integers(1, unused), label="bits")
        return segment[:-1] + ALPHABET[value : value + 1]
    junk = data.draw(st.integers(0, 255).filter(lambda b: b not in ALPHABET), label="byte")
    i = data.draw(st.integers(0, len(segment)), label="at")
    return segment[:i] + bytes([junk]) + segment[i:]


def test_the_valid_tokens_of_the_property_below_are_accepted() -> None:
    assert [outcome(token) for token in VALID] == ["ok"] * len(VALID)


@SETTINGS
@given(st.sampled_from(VALID), st.integers(0, 2), st.data())
def test_any_other_spelling_of_a_valid_token_is_refused(
    token: bytes, index: int, data: st.DataObject
) -> None:
    segments = token.split(b".")
    segments[index] = respell(segments[index], data)
    assert outcome(b".".join(segments)) == "token_invalid"
