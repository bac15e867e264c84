"""Testing routes guarded by group: without Feide, or with a local Feide."""

from collections.abc import Callable, Iterable

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from feide_groups import create_app
from gatekeeper_auth import FeideAPI, GatekeeperSettings, Group, Identity
from gatekeeper_auth.testing import (
    FakeFeideAPI,
    FakeGatekeeper,
    feide_group,
    user_identity,
)

SETTINGS = GatekeeperSettings(password=[SecretStr("change-me")])
Override = Callable[[FastAPI, Identity | None, Iterable[Group]], None]


def test_without_feide(override_groups: Override) -> None:
    # Feide is never asked: the guard gets the groups below.
    app = create_app(SETTINGS, FeideAPI())
    client = TestClient(app)

    override_groups(
        app, user_identity(), [feide_group("fc:org:uio.no", "employee")]
    )
    assert client.get("/staff/reports").json() == ["2026-q3", "2026-q4"]
    override_groups(
        app, user_identity(), [feide_group("fc:org:uio.no", "student")]
    )
    assert (
        client.get("/staff/reports").json()["detail"]["code"]
        == "group_missing"
    )


def test_with_a_local_feide() -> None:
    feide = FakeFeideAPI()
    uio = feide_group("fc:org:uio.no", "employee", display_name="UiO")
    subtoken = feide.add_user(
        "alice", groups=[uio], userinfo={"name": "Alice"}
    )
    client = TestClient(
        create_app(SETTINGS, FeideAPI(transport=feide.transport()))
    )
    gatekeeper = FakeGatekeeper(password="change-me")

    answer = client.get(
        "/staff/me", headers=gatekeeper.user(token=subtoken)
    )
    assert answer.json() == {"name": "Alice", "groups": ["UiO"]}
    assert feide.requests == {
        "/groups/me/groups": 1,
        "/userinfo/v1/userinfo": 1,
    }
