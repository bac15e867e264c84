"""The pytest fixtures of `gatekeeper_auth.testing`, registered by entry point (`pytest11`).

Installing gatekeeper-auth makes `gatekeeper`, `feide_issuer`, `override_caller` and
`override_groups` available in every test: no `pytest_plugins` line is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

import pytest

from gatekeeper_auth.feide_api import Group
from gatekeeper_auth.identity import Identity
from gatekeeper_auth.testing import FakeFeideIssuer, FakeGatekeeper, fake_caller, fake_groups

if TYPE_CHECKING:  # loaded in every pytest run by entry point, Starlette services' too
    from fastapi import FastAPI


@pytest.fixture
def gatekeeper() -> FakeGatekeeper:
    """A `FakeGatekeeper` with the test defaults (username `dataporten`, `TEST_PASSWORD`)."""
    return FakeGatekeeper()


@pytest.fixture
def feide_issuer() -> FakeFeideIssuer:
    """A `FakeFeideIssuer`: mint JWTs with `.mint(...)`; verify them with
    `FeideJWT(audience=feide_issuer.audience, transport=feide_issuer.transport())`."""
    return FakeFeideIssuer()


@pytest.fixture
def override_caller() -> Iterator[Callable[[FastAPI, Identity | None], None]]:
    """`override_caller(app, identity)` fakes the caller of every guard; undone after the test."""
    undo: list[Callable[[], None]] = []

    def override(app: FastAPI, identity: Identity | None) -> None:
        undo.append(fake_caller(app, identity))

    yield override
    for step in reversed(undo):
        step()


@pytest.fixture
def override_groups() -> Iterator[Callable[[FastAPI, Identity | None, Iterable[Group]], None]]:
    """`override_groups(app, identity, groups)` fakes the caller and the user's Feide groups of
    every guard (`require_group` included); undone after the test."""
    undo: list[Callable[[], None]] = []

    def override(app: FastAPI, identity: Identity | None, groups: Iterable[Group]) -> None:
        undo.append(fake_groups(app, identity, groups))

    yield override
    for step in reversed(undo):
        step()
