"""Who called: the typed, immutable result of a verified request, plain data.

The same `Identity` comes from the gatekeeper's headers and from a Feide JWT, so one set of
guards serves both. It imports nothing of a web framework; the middleware puts it on the scope.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

from pydantic import SecretStr

Kind = Literal["user", "system", "unknown"]
Source = Literal["gatekeeper", "jwt"]


class FrozenDict(dict[str, Any]):
    """A JWT's claims, read-only: a `dict` that refuses changes, so that it serialises as a
    JSON object everywhere a `dict` does (`json.dumps`, pydantic, FastAPI's encoder). Being
    immutable, it is its own copy."""

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> FrozenDict:
        frozen = super().__new__(cls)
        dict.__init__(frozen, *args, **kwargs)  # filled once, here
        return frozen

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Filled by `__new__`: calling `__init__` again changes nothing."""

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("read-only: a JWT's claims and Feide's answers cannot be changed")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, memo: Any) -> FrozenDict:
        return self

    def __reduce__(self) -> tuple[type[FrozenDict], tuple[dict[str, Any]]]:
        return (type(self), (dict(self),))


@dataclass(frozen=True, slots=True)
class SecondaryId:
    """One of the user's secondary ids, such as `feide:user@org.no` or `nin:01019012345`."""

    type: str
    value: str

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"


@dataclass(frozen=True, slots=True)
class Identity:
    """A verified caller: a request the gatekeeper vouched for, or a verified Feide JWT.

    `kind` is `"user"` when the request shows any sign of an end user (a user id, secondary ids
    or a login's `acr`), `"system"` when it provably has none (the client credentials flow), and
    `"unknown"` when the API lacks the `userid` grant (`userid_grant=False`), so that a user's
    request could look exactly like a system one. `user_id` can be None on a user request.
    `token` is the access token for this caller (the gatekeeper's subtoken, or the JWT itself);
    it is a `SecretStr`, so it never shows in `repr`, `str`, logs or serialisation.
    `source` says which path verified the caller; `claims` are a JWT's verified claims
    (read-only; None on the gatekeeper path).

    An `Identity` serialises to JSON as it is (a route returning it, `response_model=Identity`,
    pydantic's `TypeAdapter`): `token` as `"**********"`, `claims` as a plain JSON object.
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
