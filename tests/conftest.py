"""Shared fixtures: a FastAPI app with one route per guard, behind the real middleware."""

from collections.abc import Callable
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from gatekeeper_auth import (
    GatekeeperMiddleware,
    Identity,
    optional_identity,
    require_identity,
    require_system,
    require_user,
)
from gatekeeper_auth.testing import TEST_CLIENT_ID, FakeGatekeeper

pytest_plugins = ["gatekeeper_auth.testing"]

OTHER_CLIENT = "0d6f0c5e-1111-4222-8333-944455556666"

# Every system-only route: a user token must get 403 on each, whatever client and scopes.
SYSTEM_ROUTES = {
    "/system": require_system(),
    "/system/scoped": require_system(scopes={"read"}),
    "/system/client": require_system(clients={TEST_CLIENT_ID}),
    "/system/both": require_system(clients={TEST_CLIENT_ID}, scopes={"read", "admin"}),
}
USER_ROUTES = {
    "/user": require_user(),
    "/user/scoped": require_user(scopes={"read"}),
    "/user/client": require_user(clients={TEST_CLIENT_ID}),
    "/user/id": require_user(require_user_id=True),
    "/user/or-service": require_user(allow_system_with_scopes={"act-for-users"}),
}
ANY_ROUTES = {"/any": require_identity(), "/any/scoped": require_identity(scopes={"read"})}


def identity_json(identity: Identity) -> dict[str, Any]:
    return {
        "kind": identity.kind,
        "client_id": identity.client_id,
        "user_id": identity.user_id,
        "scopes": sorted(identity.scopes),
        "secondary_ids": [str(s) for s in identity.secondary_ids],
        "acr": identity.acr,
        "gatekeeper": identity.gatekeeper,
    }


def build_app(**middleware_options: Any) -> FastAPI:
    app = FastAPI()
    for path, guard in {**SYSTEM_ROUTES, **USER_ROUTES, **ANY_ROUTES}.items():

        async def endpoint(caller: Annotated[Identity, Depends(guard)]) -> dict[str, Any]:
            return identity_json(caller)

        app.get(path)(endpoint)

    @app.get("/optional")
    async def optional(
        caller: Annotated[Identity | None, Depends(optional_identity)],
    ) -> dict[str, Any] | None:
        return None if caller is None else identity_json(caller)

    app.add_middleware(GatekeeperMiddleware, **middleware_options)
    return app


@pytest.fixture
def make_client(gatekeeper: FakeGatekeeper) -> Callable[..., TestClient]:
    """A TestClient for `build_app`, configured for the fake gatekeeper unless told otherwise."""

    def make(**options: Any) -> TestClient:
        return TestClient(build_app(**(options or gatekeeper.middleware_options())))

    return make


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()
