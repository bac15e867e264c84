"""Who called: the typed, immutable result of a verified gatekeeper request.

The middleware puts it on the ASGI scope as Starlette's `scope["user"]` (a `GatekeeperUser`),
where `get_identity` finds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import SecretStr
from starlette.authentication import BaseUser
from starlette.requests import HTTPConnection

from gatekeeper_auth.errors import ConfigurationError

Kind = Literal["user", "system", "unknown"]
Source = Literal["gatekeeper", "jwt"]


@dataclass(frozen=True, slots=True)
class SecondaryId:
    """One of the user's secondary ids, such as `feide:user@org.no` or `nin:01019012345`."""

    type: str
    value: str

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"


@dataclass(frozen=True, slots=True)
class Identity:
    """A caller the gatekeeper vouched for.

    `kind` is `"user"` when the request shows any sign of an end user (a user id, secondary ids
    or a login's `acr`), else `"system"` (the client credentials flow). `user_id` can be None on
    a user request: the gatekeeper leaves it out when the API lacks the `userid` grant.
    `token` is the access token the gatekeeper issued to the API for this caller; it is a
    `SecretStr`, so it never shows in `repr`, `str`, logs or serialisation.
    """

    kind: Kind
    client_id: str
    scopes: frozenset[str] = frozenset()
    gatekeeper: str = ""
    user_id: str | None = None
    secondary_ids: tuple[SecondaryId, ...] = ()
    acr: str | None = None
    token: SecretStr | None = field(default=None, repr=False, compare=False)
    source: Source = "gatekeeper"
    claims: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind != "user" and (self.user_id or self.secondary_ids or self.acr):
            raise ValueError(
                f"a {self.kind} Identity cannot carry user_id, secondary_ids or acr: "
                "any sign of a user makes it kind='user'"
            )

    @property
    def is_user(self) -> bool:
        return self.kind == "user"

    @property
    def is_system(self) -> bool:
        return self.kind == "system"

    def secondary_id(self, type: str) -> str | None:
        """The value of the first secondary id of this type (`"feide"`, `"nin"`), or None."""
        for sid in self.secondary_ids:
            if sid.type == type:
                return sid.value
        return None


class GatekeeperUser(BaseUser):
    """`request.user` and `request.auth` in one immutable object.

    `.caller` is the `Identity` (None when anonymous); `.identity` is Starlette's string id (the
    user id, else the client id); `.scopes` holds the names Starlette's `@requires` checks:
    `authenticated`, the kind, and `scope:<name>` per sub-scope.
    """

    __slots__ = ("caller", "scopes")
    caller: Identity | None
    scopes: tuple[str, ...]

    def __init__(self, caller: Identity | None) -> None:
        scopes = () if caller is None else starlette_scopes(caller)
        object.__setattr__(self, "caller", caller)
        object.__setattr__(self, "scopes", scopes)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("GatekeeperUser is immutable: it may be shared between requests")

    @property
    def is_authenticated(self) -> bool:
        return self.caller is not None

    @property
    def display_name(self) -> str:
        return self.identity

    @property
    def identity(self) -> str:
        if self.caller is None:
            return ""
        return self.caller.user_id or self.caller.client_id


def starlette_scopes(identity: Identity) -> tuple[str, ...]:
    """The names Starlette's `@requires` sees for this identity."""
    return ("authenticated", identity.kind, *sorted("scope:" + s for s in identity.scopes))


def get_identity(conn: HTTPConnection) -> Identity | None:
    """The caller of this request or websocket, or None for an anonymous request.

    Raises `ConfigurationError` when `GatekeeperMiddleware` is not installed, so that a missing
    middleware never looks like an anonymous caller.
    """
    user = conn.scope.get("user")
    if type(user) is not GatekeeperUser:
        raise ConfigurationError(
            "No gatekeeper identity on this request: add the middleware with "
            "app.add_middleware(GatekeeperMiddleware, ...) before using gatekeeper_auth guards."
        )
    return user.caller
