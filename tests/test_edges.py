"""What the real gatekeeper sends that a naive backend gets wrong, and what users ask for."""

import json
import logging
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from example_app.main import create_app
from gatekeeper_auth import GatekeeperMiddleware, GatekeeperSettings, Identity, get_identity
from gatekeeper_auth.testing import TEST_PASSWORD, FakeGatekeeper, user_identity
from tests.helpers import assert_refused, build_app

# Trust type bearer: the gatekeeper presents `Authorization: Bearer <shared token>`.


def test_bearer_trust_type_accepts_the_shared_token_and_refuses_others(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(bearer_token=["old-shared-token", "new-shared-token"])
    for token in ("old-shared-token", "new-shared-token"):
        headers = FakeGatekeeper(bearer_token=token).system()
        assert client.get("/system", headers=headers).status_code == 200
    for forged in (FakeGatekeeper(bearer_token="guess"), FakeGatekeeper()):
        response = client.get("/system", headers=forged.user())
        assert response.status_code == 401
        assert_refused(response, "gatekeeper_credentials_invalid")
        assert response.headers["www-authenticate"] == 'Bearer realm="gatekeeper"'


def test_bearer_token_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, make_client: Callable[..., TestClient]
) -> None:
    monkeypatch.setenv("GATEKEEPER_BEARER_TOKEN", "env-shared-token")
    monkeypatch.delenv("GATEKEEPER_PASSWORD", raising=False)
    client = make_client(settings=GatekeeperSettings())
    headers = FakeGatekeeper(bearer_token="env-shared-token").system()
    assert client.get("/system", headers=headers).status_code == 200


# Settings.


def test_the_middleware_reads_the_environment_when_given_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GATEKEEPER_PASSWORD", TEST_PASSWORD)
    app = build_app()  # no options: GatekeeperSettings() from the environment
    assert TestClient(app).get("/system", headers=FakeGatekeeper().system()).status_code == 200


def test_explicit_options_ignore_the_environment(
    monkeypatch: pytest.MonkeyPatch, make_client: Callable[..., TestClient]
) -> None:
    monkeypatch.setenv("GATEKEEPER_ALLOWED_NETWORKS", "10.0.0.0/8")
    client = make_client(password=TEST_PASSWORD)
    assert client.get("/system", headers=FakeGatekeeper().system()).status_code == 200


# The identity keeps its token secret.


def test_token_never_shows_in_repr_str_or_json() -> None:
    identity = user_identity(token="5b1f3a2e-secret-token")
    assert "5b1f3a2e" not in repr(identity)
    assert "5b1f3a2e" not in str(identity)
    from pydantic import TypeAdapter

    assert "5b1f3a2e" not in TypeAdapter(Identity).dump_json(identity).decode()
    assert isinstance(identity.token, SecretStr)
    assert identity.token.get_secret_value() == "5b1f3a2e-secret-token"


def test_a_system_identity_cannot_carry_a_user() -> None:
    with pytest.raises(ValueError, match="kind='user'"):
        Identity(kind="system", client_id="c", acr="urn:x")


def test_forwarded_token_reaches_the_app_as_a_secret(
    client: TestClient, gatekeeper: FakeGatekeeper
) -> None:
    async def endpoint(request: Request) -> JSONResponse:
        identity = get_identity(request)
        assert identity is not None
        assert identity.token is not None
        return JSONResponse({"token": identity.token.get_secret_value(), "repr": repr(identity)})

    app = Starlette(routes=[Route("/", endpoint)])
    app.add_middleware(GatekeeperMiddleware, **gatekeeper.middleware_options())
    body = TestClient(app).get("/", headers=gatekeeper.system(token="tok-123")).json()
    assert body["token"] == "tok-123"
    assert "tok-123" not in body["repr"]


# The header prefix of older deployments.


def test_header_prefix_setting_reads_feideconnect_headers() -> None:
    gatekeeper = FakeGatekeeper(username="feideconnect", header_prefix="X-FeideConnect-")
    client = TestClient(build_app(**gatekeeper.middleware_options()))
    assert client.get("/user", headers=gatekeeper.user()).json()["kind"] == "user"
    assert client.get("/system", headers=gatekeeper.user()).status_code == 403
    # X-Dataporten-* headers mean nothing under another prefix: no client id, so 400.
    response = client.get(
        "/system",
        headers={**FakeGatekeeper().system(), "Authorization": gatekeeper.authorization()},
    )
    assert_refused(response, "gatekeeper_header_missing")


# Defence in depth: the gatekeeper's networks.


def _network_app(**options: object) -> Callable[[str], TestClient]:
    def client_from(address: str) -> TestClient:
        app = build_app(**FakeGatekeeper().middleware_options(), **options)
        return TestClient(app, client=(address, 50000))

    return client_from


@pytest.mark.parametrize(
    ("address", "status", "code"),
    [
        ("158.38.0.10", 200, None),
        ("::ffff:158.38.0.10", 200, None),
        ("10.1.2.3", 403, "gatekeeper_network_not_allowed"),
        ("2001:db8::1", 403, "gatekeeper_network_not_allowed"),
        ("not-an-address", 403, "gatekeeper_network_not_allowed"),
    ],
)
def test_gatekeeper_credentials_only_count_from_allowed_networks(
    address: str, status: int, code: str | None
) -> None:
    client = _network_app(allowed_networks=["158.38.0.0/16"])(address)
    response = client.get("/system", headers=FakeGatekeeper().system())
    if code is None:
        assert response.status_code == status
    else:
        assert_refused(response, code)


def test_anonymous_requests_from_anywhere_stay_anonymous() -> None:
    client = _network_app(allowed_networks=["158.38.0.0/16"])("10.1.2.3")
    assert client.get("/optional").json() is None


def _behind_proxy_headers(trusted: str) -> TestClient:
    app = build_app(**FakeGatekeeper().middleware_options(), allowed_networks=["158.38.0.0/16"])
    return TestClient(ProxyHeadersMiddleware(app, trusted_hosts=trusted), client=("10.9.9.9", 1))


def test_trusting_forwarded_addresses_from_anywhere_makes_the_network_check_worthless() -> None:
    """uvicorn --forwarded-allow-ips='*': any caller can claim the gatekeeper's address."""
    client = _behind_proxy_headers("*")
    spoofed = {**FakeGatekeeper().system(), "X-Forwarded-For": "158.38.0.10"}
    assert client.get("/system", headers=spoofed).status_code == 200  # the check was fooled


def test_trusting_only_your_own_proxy_keeps_the_network_check() -> None:
    client = _behind_proxy_headers("127.0.0.1")
    spoofed = {**FakeGatekeeper().system(), "X-Forwarded-For": "158.38.0.10"}
    response = client.get("/system", headers=spoofed)
    assert_refused(response, "gatekeeper_network_not_allowed")


# Preflight and unauthenticated requests.


def test_cors_preflight_reaches_cors_middleware_as_anonymous() -> None:
    client = TestClient(create_app(GatekeeperSettings(password=[SecretStr(TEST_PASSWORD)])))
    response = client.options(
        "/system/ping",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    refused = client.options(
        "/system/ping",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert refused.status_code == 400


def test_unauthenticated_call_with_only_gatekeeper_and_acr_is_anonymous(
    client: TestClient,
) -> None:
    headers = {"X-Dataporten-Gatekeeper": "testapi", "X-Dataporten-Acr": ""}
    assert client.get("/optional", headers=headers).json() is None
    assert_refused(client.get("/system", headers=headers), "authentication_required")


def test_startup_log_says_which_userid_grant_the_gatekeeper_path_assumes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None: ...

    with caplog.at_level(logging.INFO, logger="gatekeeper_auth"):
        GatekeeperMiddleware(app, password="x")
        GatekeeperMiddleware(app, password="x", userid_grant=False)
    granted, closed = caplog.records
    assert granted.levelno == logging.INFO
    assert "gatekeeper path: userid_grant=true" in granted.getMessage()
    assert "is a system request" in granted.getMessage()
    assert closed.levelno == logging.WARNING
    assert "gatekeeper path: userid_grant=false" in closed.getMessage()
    assert "403 userid_grant_missing" in closed.getMessage()


def test_describe_guards_puts_sub_scopes_in_the_description_and_keeps_clients_private() -> None:
    app = create_app(GatekeeperSettings(password=[SecretStr(TEST_PASSWORD)]))
    paths = app.openapi()["paths"]
    assert "sub-scopes: reports" in paths["/reports"]["get"]["description"]
    # /openapi.json is public: the allow-list's client ids are listed only on request.
    assert "clients: an allow-list" in paths["/system/admin"]["get"]["description"]
    assert "3e1b5a8c" not in json.dumps(app.openapi())
    assert "system requests only" in paths["/system/ping"]["get"]["description"]
    assert "Gatekeeper" not in paths["/"]["get"]["description"]
    assert json.dumps(paths).lower().count("x-dataporten") == 0


def test_describe_guards_offers_oauth2_only_on_the_guarded_methods_of_a_path() -> None:
    from fastapi import Depends, FastAPI
    from fastapi.security import APIKeyHeader

    from gatekeeper_auth import describe_guards, require_system

    app = FastAPI()
    key = APIKeyHeader(name="x-api-key")

    @app.get("/r", dependencies=[Depends(require_system())])
    async def guarded() -> None: ...

    @app.post("/r", dependencies=[Depends(key)])
    async def other() -> None: ...

    describe_guards(app)
    operations = app.openapi()["paths"]["/r"]
    assert {"DataportenOAuth2": []} in operations["get"]["security"]
    assert operations["post"]["security"] == [{"APIKeyHeader": []}]
