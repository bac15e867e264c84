"""Testing an app whose factory adds the middleware: configure that one, add
no second."""

import pytest
from fastapi.testclient import TestClient

from factory_app import create_app
from gatekeeper_auth.testing import FakeGatekeeper


@pytest.fixture
def client(
    gatekeeper: FakeGatekeeper, monkeypatch: pytest.MonkeyPatch
) -> TestClient:
    for name, value in gatekeeper.middleware_options().items():
        monkeypatch.setenv(f"GATEKEEPER_{name.upper()}", value)
    return TestClient(create_app())


def test_the_factorys_middleware_takes_the_fake_gatekeeper(
    client: TestClient, gatekeeper: FakeGatekeeper
) -> None:
    assert (
        client.get(
            "/jobs", headers=gatekeeper.system(scopes=["jobs"])
        ).status_code
        == 200
    )
    refused = client.get("/jobs", headers=gatekeeper.user(scopes=["jobs"]))
    assert refused.json()["detail"]["code"] == "user_token_not_allowed"
