"""TokenExchangeAuth end to end: a token endpoint and a data source under uvicorn on 127.0.0.1.

The endpoint checks the RFC 8693 form Feide expects and mints with FakeFeideIssuer; the data
source verifies with FeideJWT, so a JWT that got through is a JWT that verifies.
"""

import asyncio
import base64
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import httpx
import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gatekeeper_auth.client import ClientCredentialsAuth, TokenError, TokenExchangeAuth
from gatekeeper_auth.fake_feide import DEFAULT_CLIENT, DEFAULT_USER, FakeFeideIssuer
from tests.jwt_support import verifier
from tests.servers import serve
from tests.test_jwt_keys import protected

SECRET = "client-secret"
ACCESS = "opaque-access-token-1"
USER_ACCESS = "opaque-user-token-1"


class Feide:
    """A token endpoint: client credentials and token exchange, counting both."""

    def __init__(self, issuer: FakeFeideIssuer) -> None:
        self.issuer = issuer
        self.grants: list[str] = []
        self.forms: list[dict[str, str]] = []
        self.expires_in = 300
        self.refuse: dict[str, str] | None = None
        self.revoked: set[str] = set()  # subject tokens it forgot (a restart, a revocation)
        self.issued = 0

    async def token(self, request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode(), strict_parsing=True))
        self.grants.append(form["grant_type"])
        self.forms.append(form)
        basic = base64.b64encode(f"{DEFAULT_CLIENT}:{SECRET}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {basic}":
            return JSONResponse({"error": "invalid_client"}, 401)
        if form["grant_type"] == "client_credentials":
            access = ACCESS if not self.issued else f"{ACCESS}-{self.issued}"
            self.issued += 1
            return JSONResponse(
                {"access_token": access, "token_type": "Bearer", "expires_in": 28799}
            )
        if self.refuse is not None:
            return JSONResponse(self.refuse, 400)
        subject = form["subject_token"]
        if subject in self.revoked or not subject.startswith((ACCESS, USER_ACCESS)):
            return JSONResponse({"error": "invalid_grant"}, 400)
        jwt = self.issuer.mint(
            user_id=DEFAULT_USER if subject == USER_ACCESS else None,
            audience=form["audience"],
            scope=form.get("scope", ""),
        )
        return JSONResponse(
            {
                "access_token": jwt,
                "token_type": "Bearer",
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "expires_in": self.expires_in,
            }
        )


@pytest.fixture(scope="module")
def issuer() -> FakeFeideIssuer:
    return FakeFeideIssuer()


@pytest.fixture
def servers(issuer: FakeFeideIssuer) -> Iterator[tuple[Feide, str, str]]:
    feide = Feide(issuer)
    app = Starlette(routes=[Route("/oauth/token", feide.token, methods=["POST"])])
    with serve(app) as token_url, serve(protected(verifier(issuer))) as source:
        yield feide, f"{token_url}/oauth/token", source


def system_auth(issuer: FakeFeideIssuer, token_url: str, **options: Any) -> TokenExchangeAuth:
    client = ClientCredentialsAuth(DEFAULT_CLIENT, SECRET, token_url=token_url)
    return TokenExchangeAuth(client, audience=issuer.audience, scope=["read", "write"], **options)


def test_a_system_exchanges_once_for_many_concurrent_requests(
    issuer: FakeFeideIssuer, servers: tuple[Feide, str, str]
) -> None:
    feide, token_url, source = servers
    auth = system_auth(issuer, token_url)

    async def calls() -> list[httpx2.Response]:
        async with httpx2.AsyncClient(auth=auth, base_url=source, timeout=10) as http:
            return await asyncio.gather(*(http.get("/") for _ in range(10)))

    responses = asyncio.run(calls())
    assert [r.json() for r in responses] == [{"kind": "system", "client_id": DEFAULT_CLIENT}] * 10
    assert feide.grants == ["client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"]
    assert feide.forms[1] == {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": ACCESS,
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "audience": issuer.audience,
        "scope": "read write",
    }
    assert auth.fetches == 1
    assert ACCESS not in repr(auth)
    assert SECRET not in repr(auth)


def test_the_jwt_is_exchanged_again_shortly_before_it_expires(
    issuer: FakeFeideIssuer, servers: tuple[Feide, str, str]
) -> None:
    feide, token_url, source = servers
    feide.expires_in = 20  # inside the 30 s refresh margin: stale at once
    auth = system_auth(issuer, token_url)
    with httpx2.Client(auth=auth, base_url=source) as http:
        assert [http.get("/").status_code for _ in range(3)] == [200] * 3
    assert feide.grants.count("urn:ietf:params:oauth:grant-type:token-exchange") == 3
    assert feide.grants.count("client_credentials") == 1  # the access token is still good


def test_a_users_token_works_with_an_httpx_client_too(
    issuer: FakeFeideIssuer, servers: tuple[Feide, str, str]
) -> None:
    feide, token_url, source = servers
    auth = TokenExchangeAuth(
        USER_ACCESS,
        audience=issuer.audience,
        client_id=DEFAULT_CLIENT,
        client_secret=SECRET,
        token_url=token_url,
    )
    with httpx.Client(auth=auth, base_url=source) as http:
        first, second = http.get("/"), http.get("/")
    assert first.json() == second.json() == {"kind": "user", "client_id": DEFAULT_CLIENT}
    assert feide.grants == ["urn:ietf:params:oauth:grant-type:token-exchange"]


@pytest.mark.parametrize(
    "refusal",
    [
        {"error": "invalid_target", "error_description": "unknown data source"},
        {"error": "invalid_scope", "error_description": "access level not granted"},
    ],
)
def test_an_exchange_refused_raises_token_error_and_sends_nothing(
    issuer: FakeFeideIssuer, servers: tuple[Feide, str, str], refusal: dict[str, str]
) -> None:
    feide, token_url, source = servers
    feide.refuse = refusal
    auth = system_auth(issuer, token_url)
    with httpx2.Client(auth=auth, base_url=source) as http, pytest.raises(TokenError) as raised:
        http.get("/")
    error = raised.value
    assert (error.error, error.description, error.status_code) == (
        refusal["error"],
        refusal["error_description"],
        400,
    )


def test_a_401_from_the_data_source_exchanges_once_more(
    issuer: FakeFeideIssuer, servers: tuple[Feide, str, str]
) -> None:
    feide, token_url, _ = servers
    other = FakeFeideIssuer(audience="https://n.feide.no/datasources/someone-else")
    auth = system_auth(issuer, token_url)
    # The data source of another issuer refuses every token of ours.
    with (
        serve(protected(verifier(other))) as wrong,
        httpx2.Client(auth=auth, base_url=wrong) as http,
    ):
        response = http.get("/")
    assert response.status_code == 401
    assert feide.grants.count("urn:ietf:params:oauth:grant-type:token-exchange") == 2


def test_audience_is_required() -> None:
    with pytest.raises(ValueError, match="audience"):
        TokenExchangeAuth("token", audience="")


@pytest.mark.parametrize(
    "credentials",
    [{}, {"client_id": "c"}, {"client_secret": "s"}, {"client_id": "", "client_secret": "s"}],
)
def test_a_token_subject_needs_client_credentials(credentials: dict[str, str]) -> None:
    """Sent without them, the exchange would go out unauthenticated."""
    with pytest.raises(ValueError, match="client_id= and client_secret="):
        TokenExchangeAuth("token", audience="a", **credentials)


def test_a_revoked_subject_token_is_fetched_anew_and_the_exchange_tried_once_more(
    issuer: FakeFeideIssuer, servers: tuple[Feide, str, str]
) -> None:
    feide, token_url, source = servers
    auth = system_auth(issuer, token_url)
    with httpx2.Client(auth=auth, base_url=source) as http:
        assert http.get("/").status_code == 200
        feide.revoked.add(ACCESS)  # the issuer restarted: the cached access token is unknown
        auth._token = None  # the JWT is due for renewal
        assert http.get("/").status_code == 200
    exchange = "urn:ietf:params:oauth:grant-type:token-exchange"
    assert feide.grants == [
        "client_credentials",
        exchange,
        exchange,
        "client_credentials",
        exchange,
    ]
    assert feide.forms[-1]["subject_token"] == f"{ACCESS}-1"


def test_client_credentials_are_form_encoded_before_basic_as_rfc_6749_says() -> None:
    seen: list[str] = []

    def token_endpoint(request: httpx2.Request) -> httpx2.Response:
        seen.append(base64.b64decode(request.headers["authorization"][6:]).decode())
        return httpx2.Response(
            200, json={"access_token": "t", "token_type": "Bearer", "expires_in": 60}
        )

    auth = ClientCredentialsAuth("id:1", "s+cr%t é", token_url="https://auth.example/oauth/token")
    transport = httpx2.MockTransport(
        lambda r: token_endpoint(r) if "oauth" in r.url.path else httpx2.Response(200)
    )
    with httpx2.Client(auth=auth, transport=transport) as http:
        http.get("https://api.example/x")
    assert seen == ["id%3A1:s%2Bcr%25t+%C3%A9"]


@pytest.mark.parametrize(
    "url", ["http://auth.example/oauth/token", "https://u:p@auth.example/t", "not a url"]
)
def test_the_secret_goes_only_to_an_https_token_url(url: str) -> None:
    with pytest.raises(ValueError, match="token_url="):
        ClientCredentialsAuth("id", "secret", token_url=url)
    assert ClientCredentialsAuth("id", "s", token_url="http://127.0.0.1:8000/oauth/token")
