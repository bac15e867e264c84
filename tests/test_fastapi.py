"""The FastAPI guards: the user/system split, clients, sub-scopes, OpenAPI, test overrides."""

import json
from collections.abc import Callable
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from example_app.main import create_app
from gatekeeper_auth import (
    ConfigurationError,
    GatekeeperGuard,
    GatekeeperMiddleware,
    GatekeeperSettings,
    Identity,
    Refusal,
    require_system,
    require_user,
)
from gatekeeper_auth.testing import (
    TEST_CLIENT_ID,
    TEST_PASSWORD,
    FakeGatekeeper,
    system_identity,
    user_identity,
)
from tests.helpers import OTHER_CLIENT, SYSTEM_ROUTES, USER_ROUTES, assert_refused, build_app

# Every shape of user token: with a user id, and the three ways a user shows up without one
# (an API without the userid grant gets no X-Dataporten-Userid).
USER_TOKENS: dict[str, dict[str, Any]] = {
    "user id": {},
    "secondary ids only": {"user_id": None, "secondary_ids": ["feide:ola@uninett.no"]},
    "nin only": {"user_id": None, "secondary_ids": ["nin:01019012345"]},
    "acr only": {"user_id": None, "acr": "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"},
}
CALLERS = [TEST_CLIENT_ID, OTHER_CLIENT]
ALL_SCOPES = ["read", "admin", "act-for-users"]


@pytest.mark.parametrize("path", SYSTEM_ROUTES)
@pytest.mark.parametrize("user", USER_TOKENS.values(), ids=USER_TOKENS.keys())
@pytest.mark.parametrize("client_id", CALLERS)
def test_user_token_is_refused_on_every_system_route(
    client: TestClient, gatekeeper: FakeGatekeeper, path: str, user: dict[str, Any], client_id: str
) -> None:
    headers = gatekeeper.user(client_id=client_id, scopes=ALL_SCOPES, **user)
    response = client.get(path, headers=headers)
    assert response.status_code == 403
    assert_refused(response, "user_token_not_allowed")


@pytest.mark.parametrize("path", ["/user", "/user/scoped", "/user/client", "/user/id"])
def test_system_token_is_refused_on_user_routes(
    client: TestClient, gatekeeper: FakeGatekeeper, path: str
) -> None:
    response = client.get(path, headers=gatekeeper.system(scopes=ALL_SCOPES))
    assert response.status_code == 403
    assert_refused(response, "system_token_not_allowed")


@pytest.mark.parametrize("path", [*SYSTEM_ROUTES, *USER_ROUTES, "/any"])
def test_anonymous_request_is_401_on_every_guarded_route(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert_refused(response, "authentication_required")
    assert response.headers["www-authenticate"] == 'Bearer realm="gatekeeper"'


GUARD_CASES = [
    # (path, headers builder kwargs, kind, expected status, expected code)
    ("/system", {}, "system", 200, None),
    ("/system/scoped", {"scopes": ["read"]}, "system", 200, None),
    ("/system/scoped", {"scopes": ["admin"]}, "system", 403, "scope_missing"),
    ("/system/scoped", {}, "system", 403, "scope_missing"),
    ("/system/client", {}, "system", 200, None),
    ("/system/client", {"client_id": OTHER_CLIENT}, "system", 403, "client_not_allowed"),
    ("/system/both", {"scopes": ["read", "admin"]}, "system", 200, None),
    ("/system/both", {"scopes": ["read"]}, "system", 403, "scope_missing"),
    (
        "/system/both",
        {"client_id": OTHER_CLIENT, "scopes": ["read", "admin"]},
        "system",
        403,
        "client_not_allowed",
    ),
    ("/user", {}, "user", 200, None),
    ("/user/scoped", {"scopes": ["read"]}, "user", 200, None),
    ("/user/scoped", {}, "user", 403, "scope_missing"),
    ("/user/client", {"client_id": OTHER_CLIENT}, "user", 403, "client_not_allowed"),
    ("/any", {}, "system", 200, None),
    ("/any", {}, "user", 200, None),
    ("/any/scoped", {"scopes": ["read"]}, "user", 200, None),
    ("/any/scoped", {}, "system", 403, "scope_missing"),
]


@pytest.mark.parametrize(("path", "options", "kind", "status", "code"), GUARD_CASES)
def test_guard_matrix(
    client: TestClient,
    gatekeeper: FakeGatekeeper,
    path: str,
    options: dict[str, Any],
    kind: str,
    status: int,
    code: str | None,
) -> None:
    headers = gatekeeper.system(**options) if kind == "system" else gatekeeper.user(**options)
    response = client.get(path, headers=headers)
    if code is None:
        assert response.status_code == status
        assert response.json()["kind"] == kind
    else:
        assert_refused(response, code)


@pytest.mark.parametrize("user", USER_TOKENS.values(), ids=USER_TOKENS.keys())
def test_a_user_without_user_id_is_still_a_user(
    client: TestClient, gatekeeper: FakeGatekeeper, user: dict[str, Any]
) -> None:
    body = client.get("/user", headers=gatekeeper.user(**user)).json()
    assert body["kind"] == "user"
    assert body["user_id"] == user.get("user_id", "76a7a061-3c55-430d-8ee0-6f82ec42501f")


def test_require_user_id_refuses_a_user_without_user_id(
    client: TestClient, gatekeeper: FakeGatekeeper
) -> None:
    headers = gatekeeper.user(user_id=None, acr="urn:x")
    response = client.get("/user/id", headers=headers)
    assert response.status_code == 403
    assert_refused(response, "user_id_missing")
    assert client.get("/user/id", headers=gatekeeper.user()).status_code == 200


@pytest.mark.parametrize("scopes", [None, ""], ids=["absent", "empty"])
def test_absent_or_empty_scopes_header_means_no_sub_scopes(
    client: TestClient, gatekeeper: FakeGatekeeper, scopes: str | None
) -> None:
    # The gatekeeper's proxy never forwards an empty value: a client holding only the basic
    # scope gk_<api> arrives without the header at all (domain.md, "Empty values").
    headers = gatekeeper.system()
    assert "X-Dataporten-Scopes" not in headers
    if scopes is not None:
        headers["X-Dataporten-Scopes"] = scopes
    assert client.get("/system", headers=headers).json()["scopes"] == []
    assert_refused(client.get("/system/scoped", headers=headers), "scope_missing")


def test_empty_acr_is_none_and_keeps_a_system_request_a_system_request(
    client: TestClient, gatekeeper: FakeGatekeeper
) -> None:
    body = client.get("/system", headers={**gatekeeper.system(), "X-Dataporten-Acr": ""}).json()
    assert (body["kind"], body["acr"]) == ("system", None)


@pytest.mark.parametrize(
    ("kind", "scopes", "status", "code"),
    [
        ("user", [], 200, None),
        ("system", ["act-for-users"], 200, None),
        ("system", ["act-for-users", "read"], 200, None),
        ("system", ["read"], 403, "system_token_not_allowed"),
        ("system", [], 403, "system_token_not_allowed"),
    ],
)
def test_user_unless_system_client_holds_sub_scopes(
    client: TestClient,
    gatekeeper: FakeGatekeeper,
    kind: str,
    scopes: list[str],
    status: int,
    code: str | None,
) -> None:
    build = gatekeeper.system if kind == "system" else gatekeeper.user
    response = client.get("/user/or-service", headers=build(scopes=scopes))
    if code is None:
        assert response.status_code == status
    else:
        assert_refused(response, code)


def test_optional_identity_serves_both_and_still_refuses_wrong_credentials(
    client: TestClient, gatekeeper: FakeGatekeeper
) -> None:
    assert client.get("/optional").json() is None
    assert client.get("/optional", headers=gatekeeper.user()).json()["kind"] == "user"
    forged = FakeGatekeeper(password="guess").user()
    response = client.get("/optional", headers=forged)
    assert response.status_code == 401
    assert_refused(response, "gatekeeper_credentials_invalid")


def test_guards_work_in_router_dependencies_and_annotated_aliases(
    gatekeeper: FakeGatekeeper,
) -> None:
    system_only = require_system(scopes={"read"})
    SystemCaller = Annotated[Identity, Depends(system_only)]
    router = APIRouter(prefix="/r", dependencies=[Depends(system_only)])

    @router.get("/plain")
    async def plain() -> dict[str, bool]:
        return {"ok": True}

    app = FastAPI()

    @app.get("/alias")
    async def alias(caller: SystemCaller) -> dict[str, str]:
        return {"client": caller.client_id}

    @app.get("/route-deps", dependencies=[Depends(require_user())])
    async def route_deps() -> dict[str, bool]:
        return {"ok": True}

    app.include_router(router)
    app.add_middleware(GatekeeperMiddleware, **gatekeeper.middleware_options())
    client = TestClient(app)
    good = gatekeeper.system(scopes=["read"])
    assert client.get("/r/plain", headers=good).json() == {"ok": True}
    assert client.get("/alias", headers=good).json() == {"client": TEST_CLIENT_ID}
    for path in ("/r/plain", "/alias"):
        refused = client.get(path, headers=gatekeeper.user(scopes=["read"]))
        assert_refused(refused, "user_token_not_allowed")
    assert_refused(client.get("/route-deps", headers=good), "system_token_not_allowed")
    assert client.get("/route-deps", headers=gatekeeper.user()).status_code == 200


def test_guard_without_middleware_fails_loudly() -> None:
    app = FastAPI()

    @app.get("/")
    async def endpoint(caller: Annotated[Identity, Depends(require_system())]) -> str:
        return caller.client_id

    with pytest.raises(ConfigurationError, match="add_middleware\\(GatekeeperMiddleware"):
        TestClient(app).get("/")


@pytest.mark.parametrize(
    ("factory", "options", "message"),
    [
        (require_system, {"clients": set()}, "clients= is empty"),
        (require_system, {"scopes": "read"}, "collection of names"),
        (require_system, {"scopes": {"gk_myapi_read"}}, "without the gk_<api>_ prefix"),
        (require_user, {"allow_system_with_scopes": set()}, "would let every system token in"),
        (require_user, {"scopes": {" read"}}, "empty or padded"),
    ],
)
def test_guard_options_are_checked_when_the_route_is_declared(
    factory: Callable[..., Any], options: dict[str, Any], message: str
) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        factory(**options)


def test_openapi_shows_the_security_scheme_and_no_gatekeeper_headers(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    scheme = schema["components"]["securitySchemes"]["DataportenGatekeeper"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for path in ("/system", "/user", "/any"):
        operation = schema["paths"][path]["get"]
        assert operation["security"] == [{"DataportenGatekeeper": []}]
        names = [p["name"].lower() for p in operation.get("parameters", [])]
        assert not [n for n in names if "dataporten" in n or n == "authorization"]
    assert "security" not in schema["paths"]["/optional"]["get"]


# Faking the caller in tests: two documented ways.


def test_real_headers_through_the_real_middleware_need_no_override(
    client: TestClient, gatekeeper: FakeGatekeeper
) -> None:
    ok = client.get("/system/both", headers=gatekeeper.system(scopes=["read", "admin"]))
    assert ok.status_code == 200


def test_override_caller_keeps_the_guards_rules(
    override_caller: Callable[[FastAPI, Identity | None], None],
) -> None:
    app = build_app(password="irrelevant-here")
    client = TestClient(app)
    override_caller(app, system_identity(scopes={"read", "admin"}))
    assert client.get("/system/both").status_code == 200
    assert_refused(client.get("/user"), "system_token_not_allowed")
    override_caller(app, user_identity(scopes={"read", "admin"}))
    assert_refused(client.get("/system/both"), "user_token_not_allowed")
    assert client.get("/user").status_code == 200
    override_caller(app, None)
    assert_refused(client.get("/user"), "authentication_required")


def test_override_caller_is_undone_after_use() -> None:
    from gatekeeper_auth.testing import fake_caller

    app = build_app(password="irrelevant-here")
    undo = fake_caller(app, system_identity())
    assert app.dependency_overrides
    undo()
    assert not app.dependency_overrides


@pytest.mark.parametrize(
    ("guard", "identity", "message"),
    [
        (
            require_user(allow_system_with_scopes={"reports"}),
            system_identity(scopes={"read"}),
            "This route is for requests on behalf of a user; the token has no user. A user's "
            "token would be let in, or a system token with the sub-scope(s) reports; this one "
            "lacks reports.",
        ),
        (
            require_user(),
            system_identity(),
            "This route is for requests on behalf of a user; the token has no user. A token "
            "issued to a logged-in user would be let in.",
        ),
        (
            require_system(),
            user_identity(),
            "This route is for system requests (client credentials); the token represents a "
            "user. A token the client got for itself, with the client credentials flow, would "
            "be let in.",
        ),
        (
            require_system(scopes={"read", "write"}),
            system_identity(scopes={"read"}),
            "The token lacks the sub-scope(s): write.",
        ),
    ],
)
def test_each_refusal_says_what_would_have_been_let_in(
    guard: GatekeeperGuard, identity: Identity, message: str
) -> None:
    with pytest.raises(Refusal) as refused:
        guard.rule.check(identity)
    assert refused.value.message == message


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
