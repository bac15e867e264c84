"""Starlette: standalone and mounted under FastAPI, `@requires`, endpoint guards, websockets."""

from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, BaseUser, requires
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

import gatekeeper_auth
from gatekeeper_auth import (
    GatekeeperMiddleware,
    Identity,
    get_identity,
    identity_endpoint,
    require_system,
    system_endpoint,
    user_endpoint,
)
from gatekeeper_auth.testing import TEST_CLIENT_ID, FakeGatekeeper
from tests.helpers import OTHER_CLIENT, assert_refused


def kind_of(request: Request) -> JSONResponse:
    identity = get_identity(request)
    return JSONResponse({"kind": identity.kind if identity else None})


@system_endpoint(scopes={"read"})
async def system_only(request: Request) -> JSONResponse:
    return kind_of(request)


@user_endpoint()
def user_only_sync(request: Request) -> JSONResponse:
    return kind_of(request)


@requires("system")
async def starlette_requires_system(request: Request) -> JSONResponse:
    return kind_of(request)


@requires(["user", "scope:read"])
async def starlette_requires_user_read(request: Request) -> JSONResponse:
    return kind_of(request)


class Reports(HTTPEndpoint):
    @identity_endpoint(clients={TEST_CLIENT_ID})
    async def get(self, request: Request) -> JSONResponse:
        return kind_of(request)


@system_endpoint(clients={TEST_CLIENT_ID})
async def system_socket(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"kind": "system"})
    await websocket.close()


async def late_check_socket(websocket: WebSocket) -> None:
    """A guard applied after accept: the refusal arrives as close 1008 with the code."""
    await websocket.accept()

    @user_endpoint()
    async def inner(ws: WebSocket) -> None:
        await ws.send_json({"kind": "user"})

    await inner(websocket)


def starlette_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/system", system_only),
            Route("/user-sync", user_only_sync),
            Route("/requires-system", starlette_requires_system),
            Route("/requires-user-read", starlette_requires_user_read),
            Route("/reports", Reports),
            WebSocketRoute("/ws", system_socket),
            WebSocketRoute("/ws-late", late_check_socket),
        ]
    )


def standalone(gatekeeper: FakeGatekeeper) -> tuple[TestClient, str]:
    app = starlette_app()
    app.add_middleware(GatekeeperMiddleware, **gatekeeper.middleware_options())
    return TestClient(app), ""


def mounted(gatekeeper: FakeGatekeeper) -> tuple[TestClient, str]:
    app = FastAPI()
    app.mount("/legacy", starlette_app())
    app.add_middleware(GatekeeperMiddleware, **gatekeeper.middleware_options())
    return TestClient(app), "/legacy"


SETUPS = {"standalone": standalone, "mounted": mounted}

CASES = [
    ("system", "system", {"scopes": ["read"]}, 200, None),
    ("system", "user", {"scopes": ["read"]}, 403, "user_token_not_allowed"),
    ("system", "user", {"user_id": None, "acr": "urn:x"}, 403, "user_token_not_allowed"),
    ("system", "system", {}, 403, "scope_missing"),
    ("system", None, {}, 401, "authentication_required"),
    ("user-sync", "user", {}, 200, None),
    ("user-sync", "system", {}, 403, "system_token_not_allowed"),
    ("reports", "system", {}, 200, None),
    ("reports", "user", {"client_id": OTHER_CLIENT}, 403, "client_not_allowed"),
    ("requires-system", "system", {}, 200, None),
    ("requires-system", "user", {}, 403, None),
    ("requires-system", "user", {"user_id": None, "secondary_ids": ["feide:a@b.no"]}, 403, None),
    ("requires-system", None, {}, 403, None),
    ("requires-user-read", "user", {"scopes": ["read"]}, 200, None),
    ("requires-user-read", "user", {}, 403, None),
    ("requires-user-read", "system", {"scopes": ["read", "user"]}, 403, None),
]


@pytest.mark.parametrize("setup", SETUPS.values(), ids=SETUPS.keys())
@pytest.mark.parametrize(("path", "kind", "options", "status", "code"), CASES)
def test_starlette_guards(
    gatekeeper: FakeGatekeeper,
    setup: object,
    path: str,
    kind: str | None,
    options: dict[str, object],
    status: int,
    code: str | None,
) -> None:
    client, prefix = setup(gatekeeper)  # type: ignore[operator]
    headers = {} if kind is None else getattr(gatekeeper, kind)(**options)
    response = client.get(f"{prefix}/{path}", headers=headers)
    assert response.status_code == status
    if status == 200:
        assert response.json() == {"kind": kind}
    elif code is not None:
        assert_refused(response, code)


@pytest.mark.parametrize("setup", SETUPS.values(), ids=SETUPS.keys())
def test_websocket_guard_accepts_the_right_caller(
    gatekeeper: FakeGatekeeper, setup: object
) -> None:
    client, prefix = setup(gatekeeper)  # type: ignore[operator]
    with client.websocket_connect(f"{prefix}/ws", headers=gatekeeper.system()) as websocket:
        assert websocket.receive_json() == {"kind": "system"}


@pytest.mark.parametrize("setup", SETUPS.values(), ids=SETUPS.keys())
@pytest.mark.parametrize(
    ("kind", "options", "code"),
    [
        (None, {}, "authentication_required"),
        ("user", {}, "user_token_not_allowed"),
        ("system", {"client_id": OTHER_CLIENT}, "client_not_allowed"),
    ],
)
def test_websocket_refused_before_accept_closes_with_1008_and_the_code(
    gatekeeper: FakeGatekeeper,
    setup: object,
    kind: str | None,
    options: dict[str, object],
    code: str,
) -> None:
    client, prefix = setup(gatekeeper)  # type: ignore[operator]
    headers = {} if kind is None else getattr(gatekeeper, kind)(**options)
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect(f"{prefix}/ws", headers=headers),
    ):
        pass
    assert (refused.value.code, refused.value.reason) == (1008, code)


def test_websocket_refused_after_accept_closes_with_1008(gatekeeper: FakeGatekeeper) -> None:
    client, _ = standalone(gatekeeper)
    with (
        client.websocket_connect("/ws-late", headers=gatekeeper.system()) as websocket,
        pytest.raises(WebSocketDisconnect) as refused,
    ):
        websocket.receive_json()
    assert (refused.value.code, refused.value.reason) == (1008, "system_token_not_allowed")


def _fastapi_websocket_app(gatekeeper: FakeGatekeeper) -> FastAPI:
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(
        websocket: WebSocket,
        caller: Annotated[Identity, Depends(require_system(clients={TEST_CLIENT_ID}))],
    ) -> None:
        await websocket.accept()
        await websocket.send_json({"client": caller.client_id})
        await websocket.close()

    app.add_middleware(GatekeeperMiddleware, **gatekeeper.middleware_options())
    return app


@pytest.mark.parametrize(
    ("kind", "options", "code"),
    [
        (None, {}, "authentication_required"),
        ("user", {}, "user_token_not_allowed"),
        ("system", {"client_id": OTHER_CLIENT}, "client_not_allowed"),
    ],
)
def test_fastapi_websocket_guard_refuses_with_1008(
    gatekeeper: FakeGatekeeper, kind: str | None, options: dict[str, object], code: str
) -> None:
    client = TestClient(_fastapi_websocket_app(gatekeeper))
    headers = {} if kind is None else getattr(gatekeeper, kind)(**options)
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect("/ws", headers=headers),
    ):
        pass
    assert (refused.value.code, refused.value.reason) == (1008, code)
    with client.websocket_connect("/ws", headers=gatekeeper.system()) as websocket:
        assert websocket.receive_json() == {"client": TEST_CLIENT_ID}


def test_decorating_something_that_is_not_an_endpoint_fails_loudly() -> None:
    with pytest.raises(TypeError, match="Depends\\(require_system"):
        system_endpoint()(Request({"type": "http"}))  # type: ignore[type-var]


def test_fastapi_app_mounted_under_another_keeps_4xx_without_a_handler(
    gatekeeper: FakeGatekeeper,
) -> None:
    sub = FastAPI()

    @sub.get("/ping")
    async def ping(caller: Annotated[Identity, Depends(require_system())]) -> dict[str, str]:
        return {"client": caller.client_id}

    outer = Starlette()
    outer.mount("/sub", sub)
    outer.add_middleware(GatekeeperMiddleware, **gatekeeper.middleware_options())
    client = TestClient(outer)
    assert client.get("/sub/ping", headers=gatekeeper.system()).status_code == 200
    refused = client.get("/sub/ping", headers=gatekeeper.user())
    assert refused.status_code == 403
    assert_refused(refused, "user_token_not_allowed")


def test_plain_starlette_response_without_guard_sees_anonymous(gatekeeper: FakeGatekeeper) -> None:
    async def endpoint(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(request.user.is_authenticated))

    app = Starlette(routes=[Route("/", endpoint)])
    app.add_middleware(GatekeeperMiddleware, **gatekeeper.middleware_options())
    client = TestClient(app)
    assert client.get("/").text == "False"
    assert client.get("/", headers=gatekeeper.system()).text == "True"


# The gatekeeper's edge facts, through a Starlette app mounted under FastAPI.


def mounted_with(options: dict[str, object]) -> TestClient:
    app = FastAPI()
    app.mount("/legacy", starlette_app())
    app.add_middleware(GatekeeperMiddleware, **options)
    return TestClient(app)


@pytest.mark.parametrize(
    ("gatekeeper", "headers_of", "path", "status"),
    [
        # trust type bearer
        (FakeGatekeeper(bearer_token="shared"), "system", "/legacy/requires-system", 200),
        (FakeGatekeeper(bearer_token="shared"), "user", "/legacy/requires-system", 403),
        # an empty X-Dataporten-Scopes is no sub-scopes: scope_missing, not malformed
        (FakeGatekeeper(), "system", "/legacy/system", 403),
        # X-Dataporten-Acr alone makes a user
        (FakeGatekeeper(), "acr only", "/legacy/system", 403),
        (FakeGatekeeper(), "acr only", "/legacy/user-sync", 200),
    ],
)
def test_edge_facts_through_a_mounted_starlette_app(
    gatekeeper: FakeGatekeeper, headers_of: str, path: str, status: int
) -> None:
    client = mounted_with(gatekeeper.middleware_options())
    headers = {
        "system": gatekeeper.system(),
        "user": gatekeeper.user(),
        "acr only": gatekeeper.user(user_id=None, acr="urn:x:password"),
    }[headers_of]
    response = client.get(path, headers=headers)
    assert response.status_code == status
    if path == "/legacy/system" and status == 403:
        code = "scope_missing" if headers_of == "system" else "user_token_not_allowed"
        assert_refused(response, code)


def test_preflight_without_credentials_reaches_the_mounted_app_as_anonymous() -> None:
    client = mounted_with(FakeGatekeeper().middleware_options())
    response = client.options("/legacy/requires-system")
    assert response.status_code == 405  # the route's own answer: the middleware let it through


def test_request_auth_and_user_follow_starlettes_types_and_cannot_be_changed(
    gatekeeper: FakeGatekeeper,
) -> None:
    seen: dict[str, object] = {}

    async def endpoint(request: Request) -> PlainTextResponse:
        seen["auth"], seen["user"] = request.auth, request.user
        with pytest.raises(AttributeError):
            request.auth.scopes.append("admin")  # shared between requests: a tuple
        with pytest.raises(AttributeError):
            request.user.caller = None
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/", endpoint)])
    app.add_middleware(GatekeeperMiddleware, **gatekeeper.middleware_options())
    assert TestClient(app).get("/", headers=gatekeeper.user(scopes=["read"])).text == "ok"
    assert isinstance(seen["auth"], AuthCredentials)
    assert isinstance(seen["user"], BaseUser)
    assert getattr(seen["auth"], "scopes", None) == ("authenticated", "user", "scope:read")
    assert seen["auth"] is not seen["user"]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("requires_system", "system_endpoint"),
        ("requires_user", "user_endpoint"),
        ("requires_identity", "identity_endpoint"),
    ],
)
def test_the_old_starlette_decorator_names_warn_and_work(old: str, new: str) -> None:
    with pytest.warns(DeprecationWarning, match=f"renamed {new}"):
        decorator = getattr(gatekeeper_auth, old)
    assert decorator is getattr(gatekeeper_auth, new)
