"""How GatekeeperMiddleware is given its authenticators, and the choices it states:
`gatekeeper=`, `settings=` with `jwt=`, `unrecognised_authorization=` and `on_error=`."""

import base64
import logging
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from gatekeeper_auth import (
    ConfigurationError,
    FeideJWT,
    Gatekeeper,
    GatekeeperMiddleware,
    GatekeeperSettings,
    Refusal,
)
from gatekeeper_auth.fake_feide import FakeFeideIssuer
from gatekeeper_auth.testing import TEST_CLIENT_ID, TEST_PASSWORD, FakeGatekeeper
from tests.helpers import assert_refused, build_app, http_scope


async def _app(scope: Scope, receive: Receive, send: Send) -> None: ...


def _wrong_basic() -> str:
    return "Basic " + base64.b64encode(b"dataporten:not-the-password").decode()


@pytest.fixture
def issuer() -> FakeFeideIssuer:
    return FakeFeideIssuer()


def _jwt(issuer: FakeFeideIssuer) -> FeideJWT:
    return FeideJWT(audience=issuer.audience, transport=issuer.transport())


def test_a_gatekeeper_object_configures_the_gatekeeper_path(gatekeeper: FakeGatekeeper) -> None:
    client = TestClient(build_app(gatekeeper=Gatekeeper(password=TEST_PASSWORD)))
    assert client.get("/system", headers=gatekeeper.system()).json()["kind"] == "system"
    assert_refused(client.get("/user", headers=gatekeeper.system()), "system_token_not_allowed")


def test_settings_and_a_jwt_object_serve_both_paths(
    gatekeeper: FakeGatekeeper, issuer: FakeFeideIssuer
) -> None:
    settings = GatekeeperSettings(password=[TEST_PASSWORD], _env_file=None)  # type: ignore[call-arg]
    app = build_app(settings=settings, jwt=_jwt(issuer))
    with TestClient(app) as client:  # the lifespan loads the keys
        by_gatekeeper = client.get("/system", headers=gatekeeper.system())
        by_jwt = client.get("/system", headers={"Authorization": f"Bearer {issuer.mint()}"})
    assert by_gatekeeper.json()["client_id"] == TEST_CLIENT_ID
    assert by_jwt.status_code == 200, by_jwt.text
    assert by_jwt.json()["kind"] == "system"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"gatekeeper": "object", "password": "x"}, "takes gatekeeper= or Gatekeeper's keyword"),
        ({"settings": {"password": ["x"]}, "password": "x"}, "takes settings= or Gatekeeper's"),
        ({"settings": {"password": ["x"]}, "gatekeeper": "object"}, "got gatekeeper= and settings"),
        (
            {"settings": {"jwt_audience": "https://n.feide.no/datasources/x"}, "jwt": "object"},
            "got jwt= and settings",
        ),
        ({"unrecognised_authorization": "allow", "password": "x"}, "'refuse' (the default)"),
    ],
)
def test_a_path_configured_twice_is_refused(
    given: dict[str, Any], message: str, issuer: FakeFeideIssuer
) -> None:
    options = dict(given)
    if options.get("gatekeeper") == "object":
        options["gatekeeper"] = Gatekeeper(password="y")
    if options.get("jwt") == "object":
        options["jwt"] = _jwt(issuer)
    if "settings" in options:
        options["settings"] = GatekeeperSettings(**options["settings"], _env_file=None)
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        GatekeeperMiddleware(_app, **options)


def test_code_options_name_the_environment_variables_they_ignore(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("GATEKEEPER_PASSWORD", "the-secret-in-the-environment")
    monkeypatch.setenv("GATEKEEPER_USERID_GRANT", "false")
    with caplog.at_level(logging.WARNING, logger="gatekeeper_auth"):
        GatekeeperMiddleware(_app, password="in-code")
    (line,) = [r.getMessage() for r in caplog.records if "are ignored" in r.getMessage()]
    assert "GATEKEEPER_PASSWORD, GATEKEEPER_USERID_GRANT" in line
    assert "settings=GatekeeperSettings() and jwt=FeideJWT(...)" in line
    assert "the-secret-in-the-environment" not in caplog.text


def test_settings_from_the_environment_warn_of_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("GATEKEEPER_PASSWORD", "from-the-environment")
    with caplog.at_level(logging.WARNING, logger="gatekeeper_auth"):
        GatekeeperMiddleware(_app)
    assert "are ignored" not in caplog.text


# --- unrecognised_authorization ---------------------------------------------------------------

OWN_CREDENTIALS = {
    "an API key of the app's own": "ApiKey 3f2a9c",
    "another provider's bearer token": "Bearer opaque-token-of-another-provider",
    "a wrong gatekeeper password": _wrong_basic(),
}


@pytest.mark.parametrize("authorization", OWN_CREDENTIALS.values(), ids=list(OWN_CREDENTIALS))
def test_by_default_an_unrecognised_authorization_is_refused_before_the_app(
    make_client: Any, authorization: str
) -> None:
    client = make_client(password=TEST_PASSWORD)
    response = client.get("/optional", headers={"Authorization": authorization})
    assert_refused(response, "gatekeeper_credentials_invalid")


@pytest.mark.parametrize("authorization", OWN_CREDENTIALS.values(), ids=list(OWN_CREDENTIALS))
def test_anonymous_lets_an_unrecognised_authorization_reach_unguarded_routes(
    make_client: Any, authorization: str
) -> None:
    client = make_client(password=TEST_PASSWORD, unrecognised_authorization="anonymous")
    response = client.get("/optional", headers={"Authorization": authorization})
    assert response.status_code == 200
    assert response.json() is None


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (OWN_CREDENTIALS["an API key of the app's own"], "authentication_required"),
        (OWN_CREDENTIALS["another provider's bearer token"], "authentication_required"),
        (OWN_CREDENTIALS["a wrong gatekeeper password"], "gatekeeper_credentials_invalid"),
    ],
)
def test_anonymous_still_has_every_guard_answer_401(
    make_client: Any, authorization: str, code: str
) -> None:
    client = make_client(password=TEST_PASSWORD, unrecognised_authorization="anonymous")
    for path in ("/system", "/user", "/any"):
        assert_refused(client.get(path, headers={"Authorization": authorization}), code)


def test_anonymous_still_counts_and_logs_failed_gatekeeper_logins_only(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(password=TEST_PASSWORD, unrecognised_authorization="anonymous")
    with caplog.at_level(logging.WARNING, logger="gatekeeper_auth"):
        client.get("/optional", headers={"Authorization": "ApiKey 3f2a9c"})
        assert "did not match the gatekeeper's credentials" not in caplog.text
        client.get("/optional", headers={"Authorization": _wrong_basic()})
    assert "1 request(s) refused" in caplog.text
    assert "the username matched, the password did not" in caplog.text


def test_anonymous_lets_a_jwt_that_fails_pass_and_guards_answer_its_refusal(
    issuer: FakeFeideIssuer,
) -> None:
    app = build_app(jwt=_jwt(issuer), unrecognised_authorization="anonymous")
    expired = issuer.mint(lifetime=-120)
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {expired}"}
        assert client.get("/optional", headers=headers).json() is None
        refused = client.get("/system", headers=headers)
    assert_refused(refused, "token_invalid")
    assert refused.json()["detail"]["message"] == "the token has expired"


# --- on_error ----------------------------------------------------------------------------------


def problem_details(conn: HTTPConnection, refusal: Refusal) -> Response:
    """An RFC 9457 body, as a team with its own error envelope would write it."""
    return JSONResponse(
        {
            "type": f"https://errors.example.org/{refusal.code}",
            "status": refusal.status_code,
            "title": refusal.message,
            "instance": conn.url.path,
        },
        refusal.status_code,
        headers=refusal.headers,
        media_type="application/problem+json",
    )


def test_on_error_renders_the_middlewares_refusals(make_client: Any) -> None:
    client = make_client(password=TEST_PASSWORD, on_error=problem_details)
    response = client.get("/system", headers={"Authorization": _wrong_basic()})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == 'Bearer realm="gatekeeper"'
    assert response.json() == {
        "type": "https://errors.example.org/gatekeeper_credentials_invalid",
        "status": 401,
        "title": "The Authorization header does not carry the gatekeeper's credentials.",
        "instance": "/system",
    }


@pytest.mark.anyio
async def test_on_error_leaves_websocket_refusals_to_the_close_code() -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "websocket.connect"}

    middleware = GatekeeperMiddleware(_app, password=TEST_PASSWORD, on_error=problem_details)
    scope = http_scope([(b"authorization", _wrong_basic().encode())])
    scope["type"] = "websocket"
    await middleware(scope, receive, send)
    assert sent == [
        {"type": "websocket.close", "code": 1008, "reason": "gatekeeper_credentials_invalid"}
    ]


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


def test_two_stacked_middlewares_are_named_once_in_the_log(
    gatekeeper: FakeGatekeeper, caplog: pytest.LogCaptureFixture
) -> None:
    app = build_app(password=TEST_PASSWORD)
    app.add_middleware(GatekeeperMiddleware, password="another-password")
    client = TestClient(app)
    with caplog.at_level(logging.WARNING, logger="gatekeeper_auth"):
        client.get("/optional")
        client.get("/optional")
    (line,) = [r.getMessage() for r in caplog.records if "stacked" in r.getMessage()]
    assert "two GatekeeperMiddleware are stacked on this app; the inner one decides" in line


def test_one_middleware_warns_of_no_stacking(caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(build_app(password=TEST_PASSWORD))
    with caplog.at_level(logging.WARNING, logger="gatekeeper_auth"):
        client.get("/optional")
        client.get("/optional")
    assert "stacked" not in caplog.text


def test_the_ignored_names_include_the_env_files_and_leave_out_the_services_own(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("GATEKEEPER_ALLOWED_NETWORKS=10.0.0.0/8\n")
    monkeypatch.setenv("GATEKEEPER_URL", "https://myapi.dataporten-api.no")
    monkeypatch.setenv("GATEKEEPER_FOREIGN", "GATEKEEPER_URL")
    with caplog.at_level(logging.WARNING, logger="gatekeeper_auth"):
        GatekeeperMiddleware(_app, password="in-code")
    (line,) = [r.getMessage() for r in caplog.records if "are ignored" in r.getMessage()]
    assert "these variables are ignored: GATEKEEPER_ALLOWED_NETWORKS." in line


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
