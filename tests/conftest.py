"""Shared fixtures: a TestClient for the app of `tests.helpers.build_app`, behind the real
middleware. The `gatekeeper` and `override_caller` fixtures come from the package's pytest
plugin, registered by entry point."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gatekeeper_auth.testing import FakeGatekeeper
from tests.helpers import build_app


@pytest.fixture
def make_client(gatekeeper: FakeGatekeeper) -> Callable[..., TestClient]:
    """A TestClient for `build_app`, configured for the fake gatekeeper unless told otherwise."""

    def make(**options: Any) -> TestClient:
        return TestClient(build_app(**(options or gatekeeper.middleware_options())))

    return make


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()
