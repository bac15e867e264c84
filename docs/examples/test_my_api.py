"""How to test your own guarded app: the two ways, each with its fixture."""

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from gatekeeper_auth import GatekeeperMiddleware, Identity
from gatekeeper_auth.testing import (
    FakeGatekeeper,
    system_identity,
    user_identity,
)
from my_api import build_app


def test_real_headers_through_the_real_middleware(
    gatekeeper: FakeGatekeeper,
) -> None:
    app = build_app()
    app.add_middleware(
        GatekeeperMiddleware, **gatekeeper.middleware_options()
    )
    client = TestClient(app)

    allowed = client.get(
        "/jobs", headers=gatekeeper.system(scopes=["jobs"])
    )
    assert allowed.status_code == 200
    refused = client.get("/jobs", headers=gatekeeper.user(scopes=["jobs"]))
    assert refused.status_code == 403
    assert refused.json()["detail"]["code"] == "user_token_not_allowed"


def test_faked_caller_with_dependency_overrides(
    override_caller: Callable[[FastAPI, Identity | None], None],
) -> None:
    app = build_app()  # no middleware needed: every guard is overridden
    client = TestClient(app)

    override_caller(app, system_identity(scopes={"jobs"}))
    assert client.get("/jobs").status_code == 200
    override_caller(app, user_identity(scopes={"jobs"}))
    refused = client.get("/jobs")
    assert refused.status_code == 403
    assert refused.json()["detail"]["code"] == "user_token_not_allowed"
