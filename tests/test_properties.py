"""Property-based tests: arbitrary headers, credentials and bodies against the invariants.

Requests are driven straight through ASGI, so header names and values can hold any bytes a
server might pass on (any case, repeated, control characters, non-ASCII, hundreds of headers).
The oracle below is written independently of the middleware's own parsing.
"""

import asyncio
import base64
import binascii
import hashlib
import json
import os
from typing import Annotated, Any

import httpx2
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.types import Message, Receive, Scope, Send

from gatekeeper_auth import (
    CODES,
    GatekeeperMiddleware,
    Identity,
    get_identity,
    optional_identity,
    require_identity,
    require_system,
)
from gatekeeper_auth.devgate import DevGateConfig, create_devgate
from tests.helpers import http_scope

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=150)
settings.register_profile("dev", deadline=None, max_examples=150)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

PASSWORD = "property-password"
GOOD = b"Basic " + base64.b64encode(f"dataporten:{PASSWORD}".encode())
CLIENT = b"42b0c02e-0dda-4882-9da0-882a4b1abad6"
FIELDS = [b"clientid", b"userid", b"userid-sec", b"scopes", b"gatekeeper", b"acr", b"token"]
VALID = {
    b"clientid": [CLIENT, b"other-client"],
    b"userid": [b"76a7a061-3c55-430d-8ee0-6f82ec42501f", b""],
    b"userid-sec": [b"feide:a@b.no", b"", b"nin:01019012345,feide:x@y.no"],
    b"scopes": [b"read", b"", b"read,admin"],
    b"gatekeeper": [b"myapi"],
    b"acr": [b"", b"urn:x:password"],
    b"token": [b"5b1f3a2e-9c1d-4f0a-8e7b-2d6c4a9f0e13"],
}

# --- strategies -----------------------------------------------------------------------------


def any_case(name: bytes) -> st.SearchStrategy[bytes]:
    return st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
        lambda flips: bytes(
            c ^ 0x20 if f and chr(c).isalpha() else c for c, f in zip(name, flips, strict=True)
        )
    )


def spellings(field: bytes) -> st.SearchStrategy[bytes]:
    name = b"x-dataporten-" + field
    return st.one_of(any_case(name), any_case(name.replace(b"-", b"_")), st.just(name))


gatekeeper_header = st.sampled_from(FIELDS).flatmap(
    lambda field: st.tuples(
        spellings(field), st.one_of(st.sampled_from(VALID[field]), st.binary(max_size=80))
    )
)
authorization = st.one_of(
    st.just(GOOD),
    st.just(GOOD.replace(b"Basic", b"basic")),
    st.just(b"Basic " + base64.b64encode(b"dataporten:wrong")),
    st.just(b"Bearer " + PASSWORD.encode()),
    st.binary(max_size=100),
).flatmap(lambda value: st.tuples(any_case(b"authorization"), st.just(value)))
other_header = st.tuples(
    st.binary(min_size=1, max_size=30).filter(lambda n: b"dataporten" not in n.lower()),
    st.binary(max_size=200),
)
header_lists = st.lists(
    st.one_of(gatekeeper_header, gatekeeper_header, authorization, other_header), max_size=40
)


def gatekeeper_request(user: bool) -> st.SearchStrategy[list[tuple[bytes, bytes]]]:
    """A well-formed verified request, with random extra headers mixed in."""
    base = [
        (b"authorization", GOOD),
        (b"x-dataporten-clientid", CLIENT),
        (b"x-dataporten-scopes", b"read"),
        (b"x-dataporten-gatekeeper", b"myapi"),
    ]
    if user:
        base.append((b"x-dataporten-userid", b"76a7a061-3c55-430d-8ee0-6f82ec42501f"))
    return st.lists(st.one_of(other_header, gatekeeper_header), max_size=10).flatmap(
        lambda extra: st.permutations(base + extra)
    )


# --- the independent oracle ------------------------------------------------------------------


def named(headers: list[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    return [value for n, value in headers if n.lower() == name]


def credentials_match(headers: list[tuple[bytes, bytes]]) -> bool:
    values = named(headers, b"authorization")
    if len(values) != 1:
        return False
    scheme, _, param = values[0].strip().partition(b" ")
    try:
        decoded = base64.b64decode(param.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return scheme.lower() == b"basic" and decoded == f"dataporten:{PASSWORD}".encode()


def shows_a_user(headers: list[tuple[bytes, bytes]]) -> bool:
    return bool(
        named(headers, b"x-dataporten-userid")
        or any(named(headers, b"x-dataporten-userid-sec"))
        or any(named(headers, b"x-dataporten-acr"))
    )


# --- the apps under test -----------------------------------------------------------------------

seen: list[Identity | None] = []


async def recorder(scope: Scope, receive: Receive, send: Send) -> None:
    from starlette.requests import Request as StarletteRequest

    seen.append(get_identity(StarletteRequest(scope)))
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def build_api() -> FastAPI:
    app = FastAPI()

    @app.get("/system")
    async def system(
        caller: Annotated[Identity, Depends(require_system(clients={CLIENT.decode()}))],
    ) -> str:
        return caller.kind

    @app.get("/any")
    async def any_caller(caller: Annotated[Identity, Depends(require_identity())]) -> str:
        return caller.kind

    @app.post("/echo")
    async def echo(
        request: Request, caller: Annotated[Identity | None, Depends(optional_identity)]
    ) -> dict[str, Any]:
        body = b""
        async for chunk in request.stream():
            body += chunk
        return {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}

    app.add_middleware(GatekeeperMiddleware, password=PASSWORD)
    return app


API = build_api()
MIDDLEWARE = GatekeeperMiddleware(recorder, password=PASSWORD)


def call(
    app: Any,
    headers: list[tuple[bytes, bytes]],
    method: str = "GET",
    path: str = "/system",
    chunks: list[bytes] | None = None,
) -> tuple[int, bytes]:
    pending = list(chunks or [])
    sent: list[Message] = []

    async def receive() -> Message:
        if pending:
            return {"type": "http.request", "body": pending.pop(0), "more_body": bool(pending)}
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = http_scope(headers, method=method, path=path, client=("127.0.0.1", 40000))
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


def assert_documented_refusal(status: int, body: bytes) -> None:
    assert status < 500
    if status >= 400:
        detail = json.loads(body)["detail"]
        assert detail["code"] in CODES
        assert CODES[detail["code"]][0] == status
        assert detail["message"]


# --- the invariants ------------------------------------------------------------------------------

NASTY = [  # cases worth keeping: each once broke a naive reader, or could
    [(b"Authorization", GOOD), (b"X-DATAPORTEN-USERID", b"u"), (b"x-dataporten-clientid", CLIENT)],
    [(b"authorization", GOOD), (b"x_dataporten_userid", b"u"), (b"x-dataporten-clientid", CLIENT)],
    [(b"authorization", GOOD), (b"authorization", GOOD)],
    [(b"authorization", GOOD), (b"x-dataporten-clientid", CLIENT + b"\x00")],
    [(b"authorization", GOOD), (b"x-dataporten-userid", b"")],
    [(b"authorization", GOOD + b"\r\n"), (b"x-dataporten-clientid", CLIENT)],
    [
        (
            b"authorization",
            b"Basic " + base64.b64encode(b"dataporten:" + PASSWORD.encode() + b"\x00"),
        )
    ],
    [(b"authorization", GOOD), (b"x-dataporten-userid-sec", b":"), (b"x-dataporten-acr", b" ")],
    [(b"AUTHORIZATION", GOOD)] + [(b"x-%d" % i, b"v" * 100) for i in range(300)],
]


@given(headers=header_lists)
@example(headers=NASTY[0])
@example(headers=NASTY[1])
@example(headers=NASTY[2])
@example(headers=NASTY[3])
@example(headers=NASTY[5])
@example(headers=NASTY[6])
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_no_identity_without_the_configured_credentials(headers: list[tuple[bytes, bytes]]) -> None:
    seen.clear()
    status, body = call(MIDDLEWARE, headers)
    assert_documented_refusal(status, body)
    if seen and seen[0] is not None:
        assert credentials_match(headers)
        if seen[0].is_system:
            assert not shows_a_user(headers)


@given(headers=header_lists)
@example(headers=NASTY[0])
@example(headers=NASTY[4])
@example(headers=NASTY[7])
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_require_system_never_accepts_a_user_and_never_answers_5xx(
    headers: list[tuple[bytes, bytes]],
) -> None:
    status, body = call(API, headers)
    assert_documented_refusal(status, body)
    if status == 200:
        assert credentials_match(headers)
        assert not shows_a_user(headers)
        assert not named(headers, b"x-dataporten-userid")


@given(headers=st.one_of(gatekeeper_request(user=True), gatekeeper_request(user=False)))
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_classification_of_verified_requests(headers: list[tuple[bytes, bytes]]) -> None:
    status, body = call(API, headers, path="/any")
    assert_documented_refusal(status, body)
    names = [n.lower() for n, _ in headers if b"dataporten" in n.lower()]
    if len(set(names)) < len(names) or any(b"_" in n for n in names):
        # A repeated or underscored gatekeeper header is never guessed at.
        assert status == (400 if credentials_match(headers) else 401)
    if status == 200:
        kind = json.loads(body)
        assert kind == ("user" if shows_a_user(headers) else "system")
    if named(headers, b"x-dataporten-userid"):
        assert call(API, headers)[0] != 200


@given(
    headers=st.one_of(gatekeeper_request(user=False), header_lists),
    chunks=st.lists(st.binary(max_size=2000), max_size=12),
)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_the_app_sees_the_body_byte_for_byte(
    headers: list[tuple[bytes, bytes]], chunks: list[bytes]
) -> None:
    status, body = call(API, headers, method="POST", path="/echo", chunks=chunks)
    assert_documented_refusal(status, body)
    if status == 200:
        whole = b"".join(chunks)
        assert json.loads(body) == {
            "sha256": hashlib.sha256(whole).hexdigest(),
            "bytes": len(whole),
        }


def test_hundreds_of_headers_are_fine() -> None:
    status, _ = call(API, NASTY[8] + [(b"x-dataporten-clientid", CLIENT)], path="/any")
    assert status == 400  # verified, but Scopes and Gatekeeper are missing
    headers = [*NASTY[8], (b"x-dataporten-clientid", CLIENT), (b"x-dataporten-scopes", b"")]
    headers.append((b"x-dataporten-gatekeeper", b"myapi"))
    assert call(API, headers, path="/any") == (200, b'"system"')


# --- the development gatekeeper ----------------------------------------------------------------

DEVGATE_CONFIG = DevGateConfig.model_validate(
    {
        "api": "propapi",
        "upstream": "http://upstream.test",
        "upstream_credentials": {"password": "upstream-password"},
        "clients": [{"id": "c1", "secret": "s1", "scopes": ["read"]}],
        "users": [{"username": "u", "password": "p", "user_id": "uid-1"}],
    }
)
received: list[list[tuple[bytes, bytes]]] = []


async def echo_upstream(scope: Scope, receive: Receive, send: Send) -> None:
    received.append(list(scope["headers"]))
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


DEVGATE = TestClient(
    create_devgate(DEVGATE_CONFIG, transport=httpx2.ASGITransport(app=echo_upstream))
)
SYSTEM_TOKEN = DEVGATE.post(
    "/oauth/token", data={"grant_type": "client_credentials"}, auth=("c1", "s1")
).json()["access_token"]

form_value = st.one_of(st.text(max_size=30), st.sampled_from(["client_credentials", "password"]))


@given(
    fields=st.lists(
        st.tuples(
            st.sampled_from(
                ["grant_type", "client_id", "client_secret", "scope", "username", "password", "x"]
            ),
            form_value,
        ),
        max_size=8,
    ),
    raw=st.one_of(st.none(), st.binary(max_size=300)),
    content_type=st.sampled_from(
        ["application/x-www-form-urlencoded", "text/plain", "application/json", ""]
    ),
    basic=st.one_of(
        st.none(), st.sampled_from(["c1:s1", "c1:bad", ":", "x"]), st.text(max_size=20)
    ),
)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_token_endpoint_never_fails_and_answers_rfc6749(
    fields: list[tuple[str, str]], raw: bytes | None, content_type: str, basic: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    if basic is not None:
        headers["authorization"] = "Basic " + base64.b64encode(basic.encode()).decode()
    if raw is None:
        response = DEVGATE.post("/oauth/token", data=dict(fields), headers=headers)
    else:
        response = DEVGATE.post("/oauth/token", content=raw, headers=headers)
    assert response.status_code in (200, 400, 401, 413)
    body = response.json()
    if response.status_code == 200:
        assert body["token_type"] == "Bearer"
    else:
        assert body["error"] in {
            "invalid_request",
            "invalid_client",
            "invalid_grant",
            "unsupported_grant_type",
            "invalid_scope",
        }


def test_token_endpoint_refuses_a_huge_form() -> None:
    big = b"grant_type=client_credentials&pad=" + b"a" * (DEVGATE_CONFIG.max_body_bytes + 1)
    response = DEVGATE.post(
        "/oauth/token",
        content=big,
        auth=("c1", "s1"),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413


smuggled_name = st.sampled_from(FIELDS).flatmap(spellings).map(lambda b: b.decode())


@given(
    forged=st.lists(
        st.tuples(smuggled_name, st.text(alphabet="abcdef0123456789-:@.", min_size=1)),
        min_size=1,
        max_size=6,
    )
)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_the_proxy_strips_every_caller_sent_gatekeeper_header(
    forged: list[tuple[str, str]],
) -> None:
    received.clear()
    headers = [("authorization", f"Bearer {SYSTEM_TOKEN}"), *forged]
    response = DEVGATE.get("/anything", headers=headers)
    assert response.status_code == 200
    upstream = received[0]
    ours = {
        name.lower().replace(b"_", b"-"): value
        for name, value in upstream
        if name.lower().replace(b"_", b"-").startswith(b"x-dataporten-")
    }
    expected = {
        b"x-dataporten-clientid": b"c1",
        b"x-dataporten-scopes": b"read",
        b"x-dataporten-gatekeeper": b"propapi",
    }
    assert {k: v for k, v in ours.items() if k != b"x-dataporten-token"} == expected
    assert len([n for n, _ in upstream if b"dataporten" in n.lower()]) == len(ours)
