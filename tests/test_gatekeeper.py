"""Gatekeeper: the gatekeeper's credentials (both trust types), its header prefix, the
networks it calls from, its start-up line and its log of failed logins."""

import base64
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from gatekeeper_auth import (
    Gatekeeper,
    GatekeeperMiddleware,
)
from gatekeeper_auth.testing import TEST_PASSWORD, FakeGatekeeper
from tests.helpers import assert_refused, build_app
from tests.servers import serve


def _network_app(**options: object) -> Callable[[str], TestClient]:
    def client_from(address: str) -> TestClient:
        app = build_app(**FakeGatekeeper().middleware_options(), **options)
        return TestClient(app, client=(address, 50000))

    return client_from


def _behind_proxy_headers(trusted: str) -> TestClient:
    app = build_app(**FakeGatekeeper().middleware_options(), allowed_networks=["158.38.0.0/16"])
    return TestClient(ProxyHeadersMiddleware(app, trusted_hosts=trusted), client=("10.9.9.9", 1))


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


def test_header_prefix_setting_reads_feideconnect_headers() -> None:
    gatekeeper = FakeGatekeeper(username="feideconnect", header_prefix="X-FeideConnect-")
    client = TestClient(build_app(**gatekeeper.middleware_options()))
    assert client.get("/user", headers=gatekeeper.user()).json()["kind"] == "user"
    assert_refused(client.get("/system", headers=gatekeeper.user()), "user_token_not_allowed")
    # X-Dataporten-* headers mean nothing under another prefix: no client id, so 400.
    response = client.get(
        "/system",
        headers={**FakeGatekeeper().system(), "Authorization": gatekeeper.authorization()},
    )
    assert_refused(response, "gatekeeper_header_missing")


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


def _networked_app() -> Any:
    app = build_app(**FakeGatekeeper().middleware_options(), allowed_networks=["192.0.2.0/24"])

    @app.get("/address")
    async def address(request: Request) -> JSONResponse:
        return JSONResponse(request.client.host if request.client else None)

    return app


@pytest.mark.parametrize(("address", "allowed"), [("10.0.0.7", True), ("192.0.2.9", False)])
def test_allow_unverified_honours_allowed_networks(address: str, allowed: bool) -> None:
    app = build_app(allow_unverified=True, allowed_networks=["10.0.0.0/8"])
    client = TestClient(app, client=(address, 50000))
    headers = FakeGatekeeper().system()
    del headers["Authorization"]
    response = client.get("/system", headers=headers)
    if allowed:
        assert response.status_code == 200
    else:
        assert_refused(response, "gatekeeper_network_not_allowed")


@pytest.mark.parametrize(
    "proxy_headers", [True, False], ids=["uvicorn default", "no-proxy-headers"]
)
def test_allowed_networks_over_real_http_depends_on_proxy_headers(proxy_headers: bool) -> None:
    headers = {**FakeGatekeeper().system(), "X-Forwarded-For": "192.0.2.7"}
    with serve(_networked_app(), proxy_headers=proxy_headers) as url:
        seen = httpx.get(url + "/address", headers={"X-Forwarded-For": "192.0.2.7"}).json()
        response = httpx.get(url + "/system", headers=headers)
    if proxy_headers:
        # The risk the deployment guide warns of: a caller on the same host chose its address.
        assert seen == "192.0.2.7"
        assert response.status_code == 200
    else:
        assert seen == "127.0.0.1"
        assert_refused(response, "gatekeeper_network_not_allowed")


def test_the_gatekeeper_password_itself_never_reaches_the_log(
    caplog: pytest.LogCaptureFixture, client: TestClient
) -> None:
    wrong = "Basic " + base64.b64encode(f"dataporten:{TEST_PASSWORD}x".encode()).decode()
    with caplog.at_level(logging.DEBUG):
        client.get("/system", headers={"Authorization": wrong})
    assert TEST_PASSWORD not in caplog.text
    assert wrong not in caplog.text


def _wrong_basic() -> str:
    return "Basic " + base64.b64encode(b"dataporten:not-the-password").decode()


def test_a_network_refusal_logs_the_address_it_saw_and_where_to_read_on(
    gatekeeper: FakeGatekeeper, caplog: pytest.LogCaptureFixture
) -> None:
    app = build_app(password=TEST_PASSWORD, allowed_networks=["158.38.0.0/16"])
    client = TestClient(app, client=("10.1.2.3", 40000))
    with caplog.at_level(logging.WARNING, logger="gatekeeper_auth"):
        assert_refused(
            client.get("/system", headers=gatekeeper.system()), "gatekeeper_network_not_allowed"
        )
    (line,) = [r.getMessage() for r in caplog.records]
    assert "from '10.1.2.3', outside allowed_networks" in line
    assert "see 'Running uvicorn' in docs/deployment.md" in line


def test_a_caller_remembered_from_an_allowed_address_is_refused_from_another(
    gatekeeper: FakeGatekeeper,
) -> None:
    app = build_app(password=TEST_PASSWORD, allowed_networks=["158.38.0.0/16"])
    inside = TestClient(app, client=("158.38.0.10", 40000))
    outside = TestClient(app, client=("10.1.2.3", 40000))
    assert inside.get("/system", headers=gatekeeper.system()).status_code == 200
    refused = outside.get("/system", headers=gatekeeper.system())
    assert_refused(refused, "gatekeeper_network_not_allowed")


def test_a_guessed_password_on_a_preflight_is_counted_as_a_failed_login(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(password=TEST_PASSWORD)
    with caplog.at_level(logging.WARNING, logger="gatekeeper_auth"):
        anonymous = client.options("/optional", headers={"Authorization": _wrong_basic()})
    assert anonymous.status_code == 405  # anonymous, on to the app (no OPTIONS route here)
    assert "1 request(s) refused since the last such line" in caplog.text
    assert "the username matched, the password did not" in caplog.text


def test_a_callers_own_bearer_token_on_a_preflight_is_no_failed_login(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    for options in ({"password": TEST_PASSWORD}, {"bearer_token": "shared-token"}):
        client = make_client(**options)
        with caplog.at_level(logging.WARNING, logger="gatekeeper_auth"):
            client.options("/optional", headers={"Authorization": "Bearer a-users-token"})
    assert "refused since the last such line" not in caplog.text


class CountingCache(dict[Any, Any]):
    """The gatekeeper's cache of callers, counting the looks into it."""

    looks = 0

    def get(self, key: Any, default: Any = None) -> Any:
        self.looks += 1
        return super().get(key, default)


@pytest.mark.parametrize("networks", [None, ["127.0.0.0/8"]])
def test_a_request_looks_in_the_gatekeepers_cache_once(
    gatekeeper: FakeGatekeeper, networks: list[str] | None
) -> None:
    """The middleware looks first (without networks) or the gatekeeper does (with them, after
    the address): never both. A request without Authorization never looks."""
    gk = Gatekeeper(password=TEST_PASSWORD, allowed_networks=networks)
    gk._verified = cache = CountingCache()
    if gk.remembered is not None:
        gk.remembered = cache.get
    client = TestClient(build_app(gatekeeper=gk), client=("127.0.0.1", 40000))
    looks = []
    for headers in (gatekeeper.system(), gatekeeper.system(), {}):
        client.get("/optional", headers=headers)
        looks.append(cache.looks)
    assert looks == [1, 2, 2]
