"""The dev gatekeeper at the edges, as the platform's proxy behaves there (its public prototype,
run on nginx): what it passes on untouched, and which odd `Authorization` values it refuses.

Requests are written byte for byte on a raw socket (no client would send `Bearer  <token>` or a
header named with `_` as asked); an upstream records what reached it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send

from gatekeeper_auth.devgate import DevGateConfig
from tests.devgate_support import echo_upstream, raw_request, serve_devgate, status_of, token_for
from tests.helpers import build_app
from tests.servers import serve

CLIENT = ("c1", "client-secret-1")
NO_TOKEN = 'Bearer realm="dataporten"'
INVALID = 'Bearer realm="dataporten", error="invalid_token", error_description="Token is invalid"'


def config(upstream: str, **changes: Any) -> DevGateConfig:
    return DevGateConfig.model_validate(
        {
            "api": "edgeapi",
            "upstream": upstream,
            "upstream_credentials": {"password": "upstream-secret"},
            "clients": [{"id": "c1", "secret": "client-secret-1", "scopes": ["read"]}],
            **changes,
        }
    )


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, list[Any]]]:
    """An upstream that answers what it got, and keeps each request's headers."""
    seen: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            seen.append(scope["headers"])
        await echo_upstream(scope, receive, send)

    with serve(app) as url:
        yield url, seen


@pytest.fixture(scope="module")
def private(upstream: tuple[str, list[Any]]) -> Iterator[tuple[str, str]]:
    with serve_devgate(config(upstream[0])) as (url, _):
        yield url, token_for(url, CLIENT, grant_type="client_credentials")["access_token"]


@pytest.fixture(scope="module")
def public(upstream: tuple[str, list[Any]]) -> Iterator[tuple[str, str]]:
    with serve_devgate(config(upstream[0], allow_unauthenticated=True)) as (url, _):
        yield url, token_for(url, CLIENT, grant_type="client_credentials")["access_token"]


def send(url: str, *headers: bytes, method: bytes = b"GET") -> bytes:
    lines = [method + b" /x HTTP/1.1", b"Host: gk", b"Connection: close", *headers]
    return raw_request(url, b"\r\n".join(lines) + b"\r\n\r\n")


def arrived(answer: bytes) -> list[list[str]]:
    """The headers the upstream got, as it echoed them, less the upstream's Host."""
    assert status_of(answer) == 200, answer[:300]
    headers: list[list[str]] = json.loads(answer.split(b"\r\n\r\n", 1)[1])["headers"]
    return [header for header in headers if header[0] != "host"]


def refusal(answer: bytes) -> tuple[int, str, Any]:
    """Status, challenge and JSON body of the gatekeeper's own answer."""
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = [line.decode().split(": ", 1) for line in head.split(b"\r\n")[1:]]
    challenge = {name.lower(): value for name, value in lines}.get("www-authenticate", "")
    return status_of(answer), challenge, json.loads(body)


# The caller's forwarding headers pass through unchanged.


def test_the_callers_forwarding_headers_reach_the_upstream_unchanged(
    private: tuple[str, str],
) -> None:
    """A backend that trusts them (uvicorn does from 127.0.0.1 by default) sees in development
    the address a caller can claim in production."""
    url, token = private
    forwarding = [
        ("X-Forwarded-For", "203.0.113.9, 198.51.100.7"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Proto", "https"),
        ("Forwarded", "for=203.0.113.9;proto=https"),
    ]
    answer = send(
        url,
        f"Authorization: Bearer {token}".encode(),
        *(f"{n}: {v}".encode() for n, v in forwarding),
    )
    got = arrived(answer)
    assert [[n.lower(), v] for n, v in forwarding] == [h for h in got if "forward" in h[0]]


# A token-less request to an API that allows them keeps the caller's own Authorization.


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpwYXNz", "Bearer", "bearer {token}", "Digest username=x"],
    ids=["basic", "empty bearer", "lower-case bearer", "digest"],
)
def test_a_public_api_gets_an_unrecognised_authorization_untouched_and_anonymous(
    public: tuple[str, str], authorization: str
) -> None:
    url, token = public
    value = authorization.format(token=token)
    answer = send(url, f"Authorization: {value}".encode(), b"X-Kept: yes")
    assert arrived(answer) == [
        ["authorization", value],
        ["x-kept", "yes"],
        ["x-dataporten-gatekeeper", "edgeapi"],
    ]


# Odd bearer spellings on a private API.


@pytest.mark.parametrize(
    ("authorization", "challenge", "body"),
    [
        (
            "bearer {token}",
            NO_TOKEN,
            {"message": "a bearer token is required"},
        ),
        (
            "Bearer  {token}",
            INVALID,
            {"message": "Token is invalid"},
        ),
    ],
    ids=["lower-case bearer", "two spaces"],
)
def test_odd_bearer_spellings_of_a_valid_token_are_401_on_a_private_api(
    private: tuple[str, str],
    upstream: tuple[str, list[Any]],
    authorization: str,
    challenge: str,
    body: dict[str, str],
) -> None:
    url, token = private
    upstream[1].clear()
    answer = send(url, f"Authorization: {authorization.format(token=token)}".encode())
    assert refusal(answer) == (401, challenge, body)
    assert upstream[1] == []


# The preflight's token is checked too.


def test_options_with_an_unknown_token_is_401_and_never_forwarded(
    private: tuple[str, str], upstream: tuple[str, list[Any]]
) -> None:
    url, _ = private
    upstream[1].clear()
    answer = send(url, b"Authorization: Bearer not-a-token", method=b"OPTIONS")
    body = {"message": "Token is invalid"}
    assert refusal(answer) == (401, INVALID, body)
    assert upstream[1] == []


def test_options_with_an_expired_token_is_401(upstream: tuple[str, list[Any]]) -> None:
    with serve_devgate(config(upstream[0])) as (url, app):
        token = token_for(url, CLIENT, grant_type="client_credentials")["access_token"]
        before = send(url, f"Authorization: Bearer {token}".encode(), method=b"OPTIONS")
        app.state.issuer.clear()  # as when the token expires: the gatekeeper no longer knows it
        after = send(url, f"Authorization: Bearer {token}".encode(), method=b"OPTIONS")
    assert arrived(before) == [
        ["authorization", f"Bearer {token}"],
        ["x-dataporten-gatekeeper", "edgeapi"],
    ]
    body = {"message": "Token is invalid"}
    assert refusal(after) == (401, INVALID, body)


# Headers the platform's proxy passes, and the ones it drops.


def test_proxy_authorization_and_headers_named_in_connection_pass_names_with_underscores_do_not(
    private: tuple[str, str],
) -> None:
    url, token = private
    answer = send(
        url,
        f"Authorization: Bearer {token}".encode(),
        b"Proxy-Authorization: Basic cHJveHk6cGFzcw==",
        b"Connection: X-Hop, close",
        b"X-Hop: named-in-connection",
        b"X_Underscored: dropped",
        b"x_forwarded_for: 203.0.113.9",
    )
    callers = [h for h in arrived(answer) if not h[0].startswith(("x-dataporten-", "authoriz"))]
    assert callers == [
        ["proxy-authorization", "Basic cHJveHk6cGFzcw=="],
        ["x-hop", "named-in-connection"],
    ]


# The pair: an API that allows token-less calls, the dev gatekeeper in front, and a service
# behind it with unrecognised_authorization="anonymous".


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpwYXNz", "Bearer ", "bearer {token}"],
    ids=["basic", "empty bearer", "lower-case bearer"],
)
@pytest.mark.parametrize("choice", ["anonymous", "refuse"])
def test_a_public_api_and_its_service_serve_the_callers_own_authorization_anonymously(
    authorization: str, choice: str
) -> None:
    service = build_app(password="upstream-secret", unrecognised_authorization=choice)
    with (
        serve(service) as backend,
        serve_devgate(config(backend, allow_unauthenticated=True)) as (gatekeeper, _),
    ):
        token = token_for(gatekeeper, CLIENT, grant_type="client_credentials")["access_token"]
        value = authorization.format(token=token)
        unguarded = get(gatekeeper, "/optional", value)
        guarded = get(gatekeeper, "/system", value)
    if choice == "refuse":  # the default: the service refuses what it does not recognise
        assert unguarded == (401, {"code": "gatekeeper_credentials_invalid"})
        return
    assert unguarded == (200, None)  # no identity
    basic = value.startswith("Basic")
    assert guarded == (
        401,
        {"code": "gatekeeper_credentials_invalid" if basic else "authentication_required"},
    )


def get(url: str, path: str, authorization: str) -> tuple[int, Any]:
    """Status and body (the refusal's code alone) of a raw GET: an Authorization ending in a
    space is what a caller may send, and what an HTTP client library refuses to."""
    lines = [f"GET {path} HTTP/1.1", "Host: gk", "Connection: close"]
    answer = raw_request(
        url, ("\r\n".join([*lines, f"Authorization: {authorization}"]) + "\r\n\r\n").encode()
    )
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    return status_of(answer), {"code": body["detail"]["code"]} if isinstance(body, dict) else body
