"""Guards by Feide group: `require_group` (FastAPI) and `group_endpoint` (Starlette) apply one
rule, behind the real middleware with `FakeFeideAPI` as Feide, and `override_groups` applies it
to groups a test gives, with no Feide at all."""

from collections.abc import Callable, Iterable
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from gatekeeper_auth import (
    FeideAPI,
    GatekeeperMiddleware,
    Group,
    Identity,
    describe_guards,
    get_identity,
    group_endpoint,
    require_group,
    require_user,
)
from gatekeeper_auth.fake_feide import FakeFeideIssuer
from gatekeeper_auth.testing import (
    TEST_DATASOURCE_ID,
    TEST_DATASOURCE_SECRET,
    TEST_USER_ID,
    FakeFeideAPI,
    FakeGatekeeper,
    fake_caller,
    feide_group,
    system_identity,
    user_identity,
)
from tests.helpers import assert_refused
from tests.jwt_support import verifier

UIO = "fc:org:uio.no"
NTNU = "fc:org:ntnu.no"
#: Who Feide knows, and their groups.
PEOPLE: dict[str, tuple[Group, ...]] = {
    "alice": (feide_group(UIO, "employee", "member"),),  # an employee at UiO
    "bob": (feide_group(UIO, "student", "member"),),  # a student at UiO
    "carol": (feide_group(NTNU, "employee"),),  # an employee elsewhere
    # employee at NTNU, student at UiO: the affiliation must be in the group itself
    "dave": (feide_group(UIO, "student"), feide_group(NTNU, "employee")),
    "erin": (),  # in no group
}


class World:
    """A fake Feide that knows `PEOPLE`, the gatekeeper, and a FeideAPI that asks that Feide."""

    def __init__(self) -> None:
        self.feide_api = FakeFeideAPI()
        self.subtokens = {
            name: self.feide_api.add_user(name, groups=groups) for name, groups in PEOPLE.items()
        }
        self.gatekeeper = FakeGatekeeper()
        self.feide = FeideAPI(
            client_id=TEST_DATASOURCE_ID,
            client_secret=TEST_DATASOURCE_SECRET,
            transport=self.feide_api.transport(),
        )

    def headers(self, who: str) -> dict[str, str]:
        if who == "anonymous":
            return {}
        if who == "system":
            return self.gatekeeper.system(token=self.feide_api.system_token())
        if who == "stranger":  # a subtoken Feide does not know (expired, revoked)
            return self.gatekeeper.user(token="not-a-token-feide-issued")
        return self.gatekeeper.user(user_id=who, token=self.subtokens[who])

    def asked(self) -> int:
        return sum(self.feide_api.requests.values())


@pytest.fixture
def world() -> World:
    return World()


def fastapi_app(world: World) -> FastAPI:
    app = FastAPI()
    staff = require_group(UIO, affiliation="employee", feide=world.feide)

    @app.get("/staff")
    async def staff_only(caller: Annotated[Identity, Depends(staff)]) -> dict[str, Any]:
        return {"user": caller.user_id}

    @app.get("/members", dependencies=[Depends(require_group(UIO, NTNU, feide=world.feide))])
    async def members() -> dict[str, str]:
        return {"ok": "members"}

    app.add_middleware(GatekeeperMiddleware, **world.gatekeeper.middleware_options())
    return app


def starlette_app(world: World) -> Starlette:
    @group_endpoint(UIO, affiliation="employee", feide=world.feide)
    async def staff_only(request: Request) -> JSONResponse:
        identity = get_identity(request)
        return JSONResponse({"user": identity.user_id if identity else None})

    @group_endpoint(UIO, NTNU, feide=world.feide)
    def members(request: Request) -> JSONResponse:  # a sync endpoint: the thread pool runs it
        return JSONResponse({"ok": "members"})

    @group_endpoint(UIO, affiliation="employee", feide=world.feide)
    async def staff_socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"user": websocket.user.identity})
        await websocket.close()

    routes = [
        Route("/staff", staff_only),
        Route("/members", members),
        WebSocketRoute("/staff-socket", staff_socket),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(GatekeeperMiddleware, **world.gatekeeper.middleware_options())
    return app


#: (caller, route, what they get): a user id for 200, else the refusal code.
MATRIX = [
    ("alice", "/staff", "alice"),
    ("bob", "/staff", "group_missing"),
    ("carol", "/staff", "group_missing"),
    ("dave", "/staff", "group_missing"),
    ("erin", "/staff", "group_missing"),
    ("alice", "/members", "members"),
    ("bob", "/members", "members"),
    ("carol", "/members", "members"),
    ("erin", "/members", "group_missing"),
    ("system", "/staff", "system_token_not_allowed"),
    ("anonymous", "/staff", "authentication_required"),
    ("stranger", "/staff", "feide_access_denied"),
]


@pytest.mark.parametrize("make_app", [fastapi_app, starlette_app], ids=["fastapi", "starlette"])
@pytest.mark.parametrize(("who", "route", "expected"), MATRIX)
def test_one_rule_for_fastapi_and_starlette(
    world: World, make_app: Callable[[World], Any], who: str, route: str, expected: str
) -> None:
    response = TestClient(make_app(world)).get(route, headers=world.headers(who))
    if expected == "members":
        assert (response.status_code, response.json()) == (200, {"ok": "members"})
    elif expected in PEOPLE:
        assert (response.status_code, response.json()) == (200, {"user": expected})
    else:
        assert_refused(response, expected)
    if who in ("system", "anonymous"):
        assert world.asked() == 0  # refused without asking Feide


@pytest.mark.parametrize("make_app", [fastapi_app, starlette_app], ids=["fastapi", "starlette"])
def test_the_refusal_names_what_the_route_needs(
    world: World, make_app: Callable[[World], Any]
) -> None:
    response = TestClient(make_app(world)).get("/staff", headers=world.headers("bob"))
    assert response.json() == {
        "detail": {
            "code": "group_missing",
            "message": "This route is for members of fc:org:uio.no with the affiliation employee.",
        }
    }


@pytest.mark.parametrize("make_app", [fastapi_app, starlette_app], ids=["fastapi", "starlette"])
def test_feide_down_is_503_and_one_request_per_caller(
    world: World, make_app: Callable[[World], Any]
) -> None:
    client = TestClient(make_app(world))
    world.feide_api.status = 503
    assert_refused(client.get("/staff", headers=world.headers("alice")), "feide_unavailable")
    world.feide_api.status = None
    for _ in range(3):
        assert client.get("/staff", headers=world.headers("alice")).status_code == 200
    assert world.feide_api.requests["/groups/me/groups"] == 2  # the failure, then one answer


def test_the_websocket_guard_lets_the_member_in_and_closes_on_the_others(world: World) -> None:
    client = TestClient(starlette_app(world))
    with client.websocket_connect("/staff-socket", headers=world.headers("alice")) as websocket:
        assert websocket.receive_json() == {"user": "alice"}
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect("/staff-socket", headers=world.headers("bob")),
    ):
        pass
    assert (refused.value.code, refused.value.reason) == (1008, "group_missing")


def test_the_jwt_path_end_to_end(world: World) -> None:
    issuer = FakeFeideIssuer()
    app = FastAPI()

    @app.get("/staff")
    async def staff_only(
        caller: Annotated[Identity, Depends(require_group(UIO, feide=world.feide))],
    ) -> dict[str, Any]:
        return {"user": caller.user_id, "source": caller.source}

    app.add_middleware(GatekeeperMiddleware, jwt=verifier(issuer))
    client = TestClient(app)

    def bearer(user_id: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {issuer.mint(user_id=user_id)}"}

    assert client.get("/staff", headers=bearer("alice")).json() == {
        "user": "alice",
        "source": "jwt",
    }
    assert_refused(client.get("/staff", headers=bearer("erin")), "group_missing")
    assert_refused(client.get("/staff", headers=bearer(None)), "system_token_not_allowed")
    assert len(world.feide_api.exchanges) == 2  # alice and erin; the system token asked nothing


def test_the_guard_is_described_in_the_openapi_document(world: World) -> None:
    app = fastapi_app(world)
    describe_guards(app)
    paths = app.openapi()["paths"]
    staff = paths["/staff"]["get"]
    assert staff["description"] == (
        "**Dataporten Gatekeeper:** members of fc:org:uio.no with the affiliation employee"
    )
    assert {"DataportenGatekeeper": []} in staff["security"]
    assert paths["/members"]["get"]["description"] == (
        "**Dataporten Gatekeeper:** members of fc:org:ntnu.no or fc:org:uio.no"
    )


@pytest.mark.parametrize(
    ("group_ids", "options", "error"),
    [
        ((), {}, ValueError),
        (([UIO],), {}, TypeError),
        ((" fc:org:uio.no",), {}, ValueError),
        (("",), {}, ValueError),
        ((UIO,), {"affiliation": ""}, ValueError),
        ((UIO,), {"affiliation": ["employee"]}, ValueError),
        ((UIO,), {"feide": "https://groups-api.dataporten.no"}, TypeError),
    ],
)
def test_wrong_options_fail_when_the_route_is_declared(
    world: World, group_ids: tuple[Any, ...], options: dict[str, Any], error: type[Exception]
) -> None:
    options = {"feide": world.feide, **options}
    with pytest.raises(error):
        require_group(*group_ids, **options)
    with pytest.raises(error):
        group_endpoint(*group_ids, **options)


# --- without Feide: override_groups ----------------------------------------------------------


def app_without_middleware(feide: FeideAPI) -> FastAPI:
    app = FastAPI()

    @app.get("/staff")
    async def staff_only(
        caller: Annotated[
            Identity, Depends(require_group(UIO, affiliation="employee", feide=feide))
        ],
    ) -> dict[str, Any]:
        return {"user": caller.user_id}

    @app.get("/me", dependencies=[Depends(require_user())])
    async def me() -> str:
        return "me"

    return app


Override = Callable[[FastAPI, Identity | None, Iterable[Group]], None]


@pytest.mark.parametrize(
    ("identity", "groups", "status", "code"),
    [
        (user_identity(), [feide_group(UIO, "employee")], 200, None),
        (user_identity(), [feide_group(UIO, "student")], 403, "group_missing"),
        (user_identity(), [], 403, "group_missing"),
        (system_identity(), [feide_group(UIO, "employee")], 403, "system_token_not_allowed"),
        (None, [feide_group(UIO, "employee")], 401, "authentication_required"),
    ],
)
def test_override_groups_applies_the_guards_rule_without_feide(
    override_groups: Override,
    identity: Identity | None,
    groups: list[Group],
    status: int,
    code: str | None,
) -> None:
    fake = FakeFeideAPI()
    app = app_without_middleware(FeideAPI(transport=fake.transport()))
    override_groups(app, identity, groups)
    response = TestClient(app).get("/staff")
    if code is None:
        assert (response.status_code, response.json()) == (status, {"user": TEST_USER_ID})
    else:
        assert_refused(response, code)
    assert sum(fake.requests.values()) == 0


def test_override_groups_fakes_the_other_guards_too(override_groups: Override) -> None:
    app = app_without_middleware(FeideAPI())
    override_groups(app, system_identity(), [])
    assert_refused(TestClient(app).get("/me"), "system_token_not_allowed")


def test_fake_caller_gives_a_user_no_groups_and_undoes(world: World) -> None:
    app = app_without_middleware(world.feide)
    undo = fake_caller(app, user_identity())
    client = TestClient(app)
    assert_refused(client.get("/staff"), "group_missing")
    assert client.get("/me").status_code == 200
    undo()
    assert app.dependency_overrides == {}


@pytest.mark.parametrize("make", [fastapi_app, starlette_app])
def test_with_anonymous_unrecognised_authorization_the_group_guard_answers_its_refusal(
    world: World, make: Any
) -> None:
    app = make(world)
    app.user_middleware.clear()  # the same app, with the stated choice
    app.add_middleware(
        GatekeeperMiddleware,
        **world.gatekeeper.middleware_options(),
        unrecognised_authorization="anonymous",
    )
    wrong = world.gatekeeper.authorization(password="a-guess")
    response = TestClient(app).get("/staff", headers={"Authorization": wrong})
    assert_refused(response, "gatekeeper_credentials_invalid")
    assert world.asked() == 0
