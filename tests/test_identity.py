"""`Identity` as a route's answer: it serialises alike from both paths, with the token masked,
through a real FastAPI app behind the real middleware."""

import asyncio
import json
from typing import Annotated, Any

import jwt as pyjwt
import pytest
from fastapi import Depends, FastAPI, Response
from fastapi.testclient import TestClient
from pydantic import SecretStr, TypeAdapter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gatekeeper_auth import FeideJWT, GatekeeperMiddleware, Identity, get_identity, require_identity
from gatekeeper_auth.claims import EPPN
from gatekeeper_auth.fake_feide import DEFAULT_CLIENT, DEFAULT_USER, FakeFeideIssuer
from gatekeeper_auth.testing import (
    TEST_CLIENT_ID,
    TEST_SUBTOKEN,
    TEST_USER_ID,
    FakeGatekeeper,
    user_identity,
)

ISSUER = FakeFeideIssuer()
GATEKEEPER = FakeGatekeeper()
Caller = Annotated[Identity, Depends(require_identity())]


def identity_app() -> FastAPI:
    """One route per way of answering with the caller's `Identity`."""
    app = FastAPI()

    @app.get("/plain")
    async def plain(identity: Caller):  # no return type: FastAPI's jsonable_encoder answers
        return identity

    @app.get("/annotated")
    async def annotated(identity: Caller) -> Identity:
        return identity

    @app.get("/response-model", response_model=Identity)
    async def response_model(identity: Caller) -> Any:
        return identity

    @app.get("/type-adapter")
    async def type_adapter(identity: Caller) -> Response:
        body = TypeAdapter(Identity).dump_json(identity)
        return Response(body, media_type="application/json")

    feide = FeideJWT(audience=ISSUER.audience, transport=ISSUER.transport())
    app.add_middleware(GatekeeperMiddleware, jwt=feide, **GATEKEEPER.middleware_options())
    return app


@pytest.fixture(scope="module")
def identity_client() -> TestClient:
    return TestClient(identity_app())


ROUTES = ["/plain", "/annotated", "/response-model", "/type-adapter"]
JWT_USER = ISSUER.mint(user_id=DEFAULT_USER, user_claims={"name": "Bekymret Sky", EPPN: "b@u.no"})


@pytest.mark.parametrize("route", ROUTES)
def test_a_jwt_callers_identity_serialises_with_its_claims_as_an_object(
    identity_client: TestClient, route: str
) -> None:
    response = identity_client.get(route, headers={"Authorization": f"Bearer {JWT_USER}"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "kind": "user",
        "client_id": DEFAULT_CLIENT,
        "scopes": ["read"],
        "gatekeeper": "",
        "user_id": DEFAULT_USER,
        "secondary_ids": [{"type": "feide", "value": "b@u.no"}],
        "acr": None,
        "token": "**********",
        "source": "jwt",
        "claims": pyjwt.decode(JWT_USER, options={"verify_signature": False}),
    }
    for segment in JWT_USER.split("."):
        assert segment[:16] not in response.text


@pytest.mark.parametrize("route", ROUTES)
def test_a_gatekeeper_callers_identity_serialises_alike(
    identity_client: TestClient, route: str
) -> None:
    headers = GATEKEEPER.user(scopes=["read"], secondary_ids=["feide:b@u.no"])
    response = identity_client.get(route, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "kind": "user",
        "client_id": TEST_CLIENT_ID,
        "scopes": ["read"],
        "gatekeeper": "testapi",
        "user_id": TEST_USER_ID,
        "secondary_ids": [{"type": "feide", "value": "b@u.no"}],
        "acr": None,
        "token": "**********",
        "source": "gatekeeper",
        "claims": None,
    }
    assert TEST_SUBTOKEN not in response.text


def test_the_identity_of_a_jwt_dumps_to_json_with_pydantic_and_the_standard_library() -> None:
    seen: list[Identity] = []
    app = identity_app()

    @app.get("/keep")
    async def keep(identity: Caller) -> None:
        seen.append(identity)

    TestClient(app).get("/keep", headers={"Authorization": f"Bearer {JWT_USER}"})
    identity = seen[0]
    assert identity.claims is not None
    claims = json.loads(json.dumps(identity.claims))  # a plain JSON object, nested ones too
    assert claims == pyjwt.decode(JWT_USER, options={"verify_signature": False})
    dumped = json.loads(TypeAdapter(Identity).dump_json(identity))
    assert (dumped["token"], dumped["claims"]) == ("**********", claims)
    assert JWT_USER not in repr(identity) + str(TypeAdapter(Identity).dump_python(identity))


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


def test_a_jwt_callers_claims_cannot_be_changed_by_calling_init_again() -> None:
    issuer = FakeFeideIssuer()
    feide = FeideJWT(audience=issuer.audience, transport=issuer.transport())
    token = issuer.mint().encode()

    async def scenario() -> Any:
        await feide.start()
        caller = await feide.authenticate(token)
        caller.identity.claims.__init__(sub="someone-else")
        caller.identity.claims["act"].__init__(sub="someone-else")
        seen = feide.seen(token)
        return seen.identity.claims if seen is not None else None

    claims = asyncio.run(scenario())
    assert claims["sub"] == claims["client_id"]
    assert claims["act"]["sub"] == claims["client_id"]
