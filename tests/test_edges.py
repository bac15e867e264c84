"""What the real gatekeeper sends that a naive backend gets wrong, and what users ask for."""

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gatekeeper_auth import GatekeeperMiddleware, Identity, get_identity
from gatekeeper_auth.testing import FakeGatekeeper, user_identity

# Trust type bearer: the gatekeeper presents `Authorization: Bearer <shared token>`.


# Settings.


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


# Defence in depth: the gatekeeper's networks.


# Preflight and unauthenticated requests.
