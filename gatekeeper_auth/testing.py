"""Test helpers for apps guarded by gatekeeper_auth: real headers, or a faked caller.

Usable from any test harness: this module does not import pytest. Two ways to test a guarded
route, each also a pytest fixture (registered by the package's pytest plugin, no conftest line
needed):

- **No override** (`gatekeeper` fixture): `FakeGatekeeper` builds the exact headers the real
  gatekeeper sends, with the right credentials, so requests go through the real middleware and
  the real guards. Configure your app's middleware with `FakeGatekeeper.middleware_options()`.
- **Feide JWTs** (`feide_issuer` fixture): `FakeFeideIssuer` mints JWTs with a local key and
  serves its key set to `FeideJWT(..., transport=issuer.transport())` without a network.
- **Override** (`override_caller` fixture): replaces every gatekeeper guard of a FastAPI app
  with one that applies the guard's own rule to an `Identity` you choose, so a user identity on
  a `require_system` route still gets 403, as in production. `override_groups` does the same
  with the user's Feide groups, for `require_group` routes.
- **Feide's groups and userinfo** (`FakeFeideAPI`): answers `FeideAPI(transport=...)` as Feide
  does, for the users a test declares.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from gatekeeper_auth._fake_feide_api import (
    TEST_DATASOURCE_ID,
    TEST_DATASOURCE_SECRET,
    FakeFeideAPI,
)
from gatekeeper_auth._platform import basic
from gatekeeper_auth.fake_feide import FakeFeideIssuer
from gatekeeper_auth.feide_api import Group
from gatekeeper_auth.identity import Identity, SecondaryId

if TYPE_CHECKING:  # FastAPI is imported by `fake_caller` only: Starlette services lack it.
    from fastapi import FastAPI

    from gatekeeper_auth.fastapi import GatekeeperGuard, GroupGuard

__all__ = [
    "TEST_CLIENT_ID",
    "TEST_DATASOURCE_ID",
    "TEST_DATASOURCE_SECRET",
    "TEST_PASSWORD",
    "TEST_SUBTOKEN",
    "TEST_USER_ID",
    "FakeFeideAPI",
    "FakeFeideIssuer",
    "FakeGatekeeper",
    "fake_caller",
    "fake_groups",
    "feide_group",
    "system_identity",
    "user_identity",
]

#: The password `FakeGatekeeper` uses unless told otherwise. For tests only.
TEST_PASSWORD = "gatekeeper-auth-test-password"  # noqa: S105
#: A client id and a user id in the form Dataporten uses (UUIDs).
TEST_CLIENT_ID = "42b0c02e-0dda-4882-9da0-882a4b1abad6"
TEST_USER_ID = "76a7a061-3c55-430d-8ee0-6f82ec42501f"
#: The API's own access token (the "subtoken") the fake sends unless told otherwise.
TEST_SUBTOKEN = "5b1f3a2e-9c1d-4f0a-8e7b-2d6c4a9f0e13"


class FakeGatekeeper:
    """Builds the headers the API Gatekeeper sends to a backend, for tests and examples.

    As the real one does, a header whose value would be empty (no sub-scopes, no acr, no
    secondary id) is left out and the subtoken is always there. Names are spelled
    `X-Dataporten-Userid-Sec` so that `{**gatekeeper.user(), "X-Dataporten-Acr": ...}` replaces
    a header instead of adding a second one (the platform writes `X-Dataporten-userid-sec`;
    names are case-insensitive).
    """

    def __init__(
        self,
        *,
        username: str = "dataporten",
        password: str = TEST_PASSWORD,
        bearer_token: str | None = None,
        gatekeeper: str = "testapi",
        header_prefix: str = "X-Dataporten-",
    ) -> None:
        self.username = username
        self._password = password
        self._bearer_token = bearer_token
        self.gatekeeper = gatekeeper
        self.header_prefix = header_prefix

    def __repr__(self) -> str:
        return f"FakeGatekeeper(username={self.username!r}, gatekeeper={self.gatekeeper!r})"

    def middleware_options(self) -> dict[str, Any]:
        """Keyword options for `GatekeeperMiddleware` that accept this fake's headers."""
        secret = (
            {"bearer_token": self._bearer_token}
            if self._bearer_token
            else {"username": self.username, "password": self._password}
        )
        return {**secret, "header_prefix": self.header_prefix}

    def authorization(self, *, password: str | None = None) -> str:
        """The `Authorization` value the gatekeeper presents (another `password` forges one)."""
        if self._bearer_token and password is None:
            return f"Bearer {self._bearer_token}"
        return basic(self.username, password or self._password)

    def system(
        self,
        *,
        client_id: str = TEST_CLIENT_ID,
        scopes: Iterable[str] = (),
        token: str = TEST_SUBTOKEN,
    ) -> dict[str, str]:
        """Headers of a system request (client credentials: no user)."""
        return self._headers(client_id=client_id, scopes=scopes, token=token)

    def user(
        self,
        *,
        user_id: str | None = TEST_USER_ID,
        client_id: str = TEST_CLIENT_ID,
        scopes: Iterable[str] = (),
        secondary_ids: Iterable[str] = (),
        acr: str = "",
        token: str = TEST_SUBTOKEN,
    ) -> dict[str, str]:
        """Headers of a user request. `user_id=None` is what an API without the `userid`
        grant gets: then, unless `secondary_ids` or `acr` show a user, it looks exactly like a
        system request (the middleware's `userid_grant` setting decides what it is)."""
        return self._headers(
            client_id=client_id,
            scopes=scopes,
            token=token,
            user_id=user_id,
            secondary_ids=secondary_ids,
            acr=acr,
        )

    def _headers(
        self,
        *,
        client_id: str,
        scopes: Iterable[str],
        token: str,
        user_id: str | None = None,
        secondary_ids: Iterable[str] = (),
        acr: str = "",
    ) -> dict[str, str]:
        fields = {
            "Clientid": client_id,
            "Userid": user_id or "",
            "Userid-Sec": ",".join(secondary_ids),
            "Scopes": ",".join(scopes),
            "Gatekeeper": self.gatekeeper,
            "Acr": acr,
            "Token": token,
        }
        headers = {"Authorization": self.authorization()}
        for field, value in fields.items():
            if value:  # the gatekeeper's proxy never forwards an empty value
                headers[self.header_prefix + field] = value
        return headers


def system_identity(
    *, client_id: str = TEST_CLIENT_ID, scopes: Iterable[str] = (), gatekeeper: str = "testapi"
) -> Identity:
    """An `Identity` of a system request, for `override_caller`."""
    return Identity(
        kind="system", client_id=client_id, scopes=frozenset(scopes), gatekeeper=gatekeeper
    )


def user_identity(
    *,
    user_id: str | None = TEST_USER_ID,
    client_id: str = TEST_CLIENT_ID,
    scopes: Iterable[str] = (),
    secondary_ids: Iterable[str] = (),
    acr: str | None = None,
    token: str | None = None,
    gatekeeper: str = "testapi",
) -> Identity:
    """An `Identity` of a user request, for `override_caller`."""
    return Identity(
        kind="user",
        client_id=client_id,
        scopes=frozenset(scopes),
        gatekeeper=gatekeeper,
        user_id=user_id,
        secondary_ids=tuple(SecondaryId(*s.split(":", 1)) for s in secondary_ids),
        acr=acr,
        token=None if token is None else SecretStr(token),
    )


def fake_caller(app: FastAPI, identity: Identity | None) -> Callable[[], None]:
    """Make every gatekeeper guard of `app`'s own routes (and included routers; not apps
    mounted under it) see `identity` (None: anonymous).

    Each guard keeps its own rule, so the fake is refused where a real caller like it would
    be, with the same JSON refusal (the app needs no middleware for that). `optional_identity`
    gets `identity` too, and `require_group` guards a user in no group (see `fake_groups`).
    Returns a function that removes the overrides again.
    """
    return fake_groups(app, identity, ())


def fake_groups(
    app: FastAPI, identity: Identity | None, groups: Iterable[Group]
) -> Callable[[], None]:
    """`fake_caller`, with `groups` as the user's Feide groups: every `require_group` guard
    applies its own rule to them, with no call to Feide (a system identity is still refused).
    Build groups with `feide_group`. Returns a function that removes the overrides again."""
    from fastapi.routing import APIRoute

    from gatekeeper_auth.fastapi import GatekeeperGuard, GroupGuard, optional_identity, walk

    groups = tuple(groups)
    guards = [
        dep.call
        for route in app.routes
        if isinstance(route, APIRoute)
        for dep in walk(route.dependant)
        if isinstance(dep.call, GatekeeperGuard | GroupGuard)
    ]
    overrides: dict[Callable[..., Any], Callable[..., Any]] = {
        guard: _faked(guard, identity, groups) for guard in guards
    }
    overrides[optional_identity] = _optional(identity)
    app.dependency_overrides.update(overrides)

    def undo() -> None:
        for dependency in overrides:
            app.dependency_overrides.pop(dependency, None)

    return undo


def feide_group(
    id: str,
    *affiliations: str,
    primary_affiliation: str | None = None,
    basic: str = "member",
    display_name: str = "",
) -> Group:
    """A `Group` as Feide's groups API lists it: `feide_group("fc:org:uio.no", "employee")`.
    Its type is the id without its last part (`fc:org`); affiliations go into `membership`."""
    membership: dict[str, Any] = {"basic": basic}
    if affiliations:
        membership["affiliation"] = affiliations
    if primary_affiliation is not None:
        membership["primaryAffiliation"] = primary_affiliation
    return Group(
        id=id,
        type=id.rpartition(":")[0] or id,
        display_name=display_name,
        membership=MappingProxyType(membership),
        affiliations=affiliations,
        primary_affiliation=primary_affiliation,
    )


def _faked(
    guard: GatekeeperGuard | GroupGuard, identity: Identity | None, groups: tuple[Group, ...]
) -> Callable[[], Awaitable[Identity]]:
    from gatekeeper_auth.fastapi import GroupGuard

    async def faked() -> Identity:
        if isinstance(guard, GroupGuard):
            return guard.rule.decide(identity, groups)
        return guard.rule.check(identity)

    return faked


def _optional(identity: Identity | None) -> Callable[[], Awaitable[Identity | None]]:
    async def faked() -> Identity | None:
        return identity

    return faked
