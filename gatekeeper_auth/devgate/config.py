"""The development gatekeeper's configuration: one TOML file, validated by pydantic.

Every key is documented in docs/devgate.md; `example.toml` beside this module is the commented
example that `python -m gatekeeper_auth.devgate --example-config` prints.
"""

from __future__ import annotations

import tomllib
import warnings
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from gatekeeper_auth._platform import (
    DATASOURCE_PREFIX,
    GATEKEEPER_USERNAME,
    HEADER_PREFIX,
    LEGACY_HEADER_PREFIX,
    LONGTERM_LIFETIME,
    TOKEN_LIFETIME,
)

__all__ = ["LONGTERM_LIFETIME", "Client", "DataSource", "DevGateConfig", "Group", "User"]

Grant = Literal["userid", "userid-feide", "userid-nin"]
#: The user claims a data source can be authorised for (Feide's "Tokens" reference).
UserClaim = Literal["name", "eduPersonPrincipalName", "nin"]
#: eduPerson affiliations, the values of an organisation group's `affiliation`.
Affiliation = Literal[
    "employee", "faculty", "staff", "student", "member", "affiliate", "alum", "library-walk-in"
]
_VISIBLE = r"^[\x21-\x7e]+$"  # what goes into a header value as an id or scope


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Client(_Strict):
    """An OAuth client registered with the gatekeeper, and the sub-scopes it was granted."""

    id: str = Field(min_length=1, pattern=_VISIBLE)
    secret: SecretStr
    scopes: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]] = []
    name: str = ""
    longterm: bool = False  # may ask for the `longterm` scope (680-day tokens)


class Membership(_Strict):
    """The user's membership of a group, as Feide's groups API writes it: `basic` for every
    group; for an organisation (`fc:org`) the eduPerson `affiliation`s and the primary one.
    `active = false` lists the group only with `?showAll=true` (an ended membership)."""

    basic: Literal["member", "admin", "owner"] = "member"
    affiliation: list[Affiliation] | None = None
    primaryAffiliation: Affiliation | None = None  # Feide's spelling
    active: bool | None = None

    @model_validator(mode="after")
    def _primary_is_one_of_them(self) -> Membership:
        if self.primaryAffiliation is not None and self.primaryAffiliation not in (
            self.affiliation or []
        ):
            raise ValueError("primaryAffiliation must be one of the group's affiliation list")
        return self


class Group(_Strict):
    """A group the user is a member of, served by the local groups API as written here."""

    id: str = Field(pattern=r"^fc:[\x21-\x7e]+$")
    type: str = Field(pattern=r"^fc:[\x21-\x7e]+$")
    displayName: str = Field(min_length=1)  # Feide's spelling
    membership: Membership = Membership()

    @model_validator(mode="after")
    def _affiliations_for_organisations(self) -> Group:
        membership = self.membership
        has_affiliation = membership.affiliation is not None or membership.primaryAffiliation
        if has_affiliation and self.type != "fc:org":
            raise ValueError(
                f"group {self.id}: affiliation and primaryAffiliation are for organisation "
                'groups (type = "fc:org")'
            )
        return self

    def as_feide(self) -> dict[str, Any]:
        """The group as Feide's groups API answers it."""
        return self.model_dump(exclude_none=True)


class User(_Strict):
    """A demo end user, standing in for a real login (the `password` grant)."""

    username: str = Field(min_length=1)
    password: SecretStr
    user_id: str = Field(min_length=1, pattern=_VISIBLE)
    name: str = ""  # the `name` claim of the user's JWTs; the username when empty
    secondary_ids: list[Annotated[str, Field(pattern=r"^[\x21-\x2b\x2d-\x7e]+$")]] = []
    # Sent as X-Dataporten-acr only when the login asks for it (`acr_values` in the form).
    acr: str = Field(
        default="urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
        pattern=r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$",
    )

    # Her groups, served by the local groups API (`GET /groups/me/groups`).
    groups: list[Group] = []

    @model_validator(mode="after")
    def _check_secondary_ids(self) -> User:
        for sid in self.secondary_ids:
            type_, colon, value = sid.partition(":")
            if not (type_ and colon and value):
                raise ValueError(f"secondary id {sid!r} is not type:value (feide:user@org.no)")
        ids = [group.id for group in self.groups]
        if len(set(ids)) != len(ids):
            raise ValueError(f"user {self.username}: group ids must be unique")
        return self

    def secondary_id(self, kind: str) -> str | None:
        """Her first secondary id of `kind` (`feide`, `nin`), without the `kind:`."""
        for sid in self.secondary_ids:
            type_, _, value = sid.partition(":")
            if type_ == kind:
                return value
        return None


class UpstreamCredentials(_Strict):
    """What the gatekeeper presents to the backend: Basic (the default) or a bearer token."""

    username: str = GATEKEEPER_USERNAME
    password: SecretStr | None = None
    bearer_token: SecretStr | None = None

    @model_validator(mode="after")
    def _one_trust_type(self) -> UpstreamCredentials:
        if (self.password is None) == (self.bearer_token is None):
            raise ValueError("set exactly one of password (trust type basic) or bearer_token")
        return self


class DataSource(_Strict):
    """A data source the local Feide issues JWTs for (token exchange), and what it may get.

    `scopes` are its access levels, the `scope` a client may ask for. `grants` are its grants
    of the user's identity, as an API's on the gatekeeper: with `userid`, `sub` in a user's JWT
    is the user id; without it, the client id, as in Feide's own reference example.
    `user_claims` are the user claims it is authorised for: a user's JWT carries only those.
    Without `userid` and without user claims, a user's JWT looks exactly like a system one (the
    JWT form of the userid trap). The data source's own client, which exchanges the JWTs it
    receives for Feide API tokens, is the `[[clients]]` entry whose id is the data source's id
    (the audience after `https://n.feide.no/datasources/`), as on Feide."""

    audience: str = Field(min_length=1, pattern=_VISIBLE)
    name: str = ""
    scopes: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:/-]+$")]] = []
    grants: list[Literal["userid"]] = ["userid"]
    user_claims: list[UserClaim] = []

    @model_validator(mode="before")
    @classmethod
    def _user_sub_is_deprecated(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "user_sub" not in data:
            return data
        data = dict(data)
        user_sub = data.pop("user_sub")
        if user_sub not in ("user_id", "client_id"):
            raise ValueError('user_sub is "user_id" or "client_id" (deprecated: use grants)')
        if "grants" in data:
            raise ValueError("set grants alone: user_sub is its deprecated form")
        new = 'grants = ["userid"]' if user_sub == "user_id" else "grants = []"
        warnings.warn(
            f'[[datasources]] user_sub = "{user_sub}" is deprecated: write {new} instead',
            FutureWarning,
            stacklevel=2,
        )
        data["grants"] = ["userid"] if user_sub == "user_id" else []
        return data

    @property
    def id(self) -> str | None:
        """The data source's id (its own client's id), or None for another kind of audience."""
        if not self.audience.startswith(DATASOURCE_PREFIX):
            return None
        return self.audience[len(DATASOURCE_PREFIX) :] or None


class Feide(_Strict):
    """The local Feide: who signs the JWTs, and how long they live.

    `issuer` defaults to the address the dev gatekeeper is reached on (`http://127.0.0.1:8000`);
    `signing_key_file` to a key made at each start."""

    issuer: str | None = Field(default=None, pattern=r"^https?://[^/?#]+(/[^?#]*[^/?#])?$")
    signing_key_file: Path | None = None
    jwt_lifetime: int = Field(default=300, gt=0)


class DevGateConfig(_Strict):
    """The whole file. `api` is the gatekeeper id: tokens carry `gk_<api>` and
    `gk_<api>_<sub-scope>`. `grants` are the user-id grants the API has: drop `userid` to see
    what an API without it receives. `requireuser` and `allow_unauthenticated` are the API's
    settings of the same names on the platform."""

    api: str = Field(pattern=r"^[a-z][a-z0-9-]{2,14}$")
    upstream: str = Field(pattern=r"^https?://")
    upstream_credentials: UpstreamCredentials
    clients: list[Client] = Field(min_length=1)
    users: list[User] = []
    grants: list[Grant] = ["userid", "userid-feide", "userid-nin"]
    token_lifetime: int = Field(default=TOKEN_LIFETIME, gt=0)
    longterm_lifetime: int = Field(default=LONGTERM_LIFETIME, gt=0)
    forward_token: bool = True  # false: no X-Dataporten-token (a deviation from the platform)
    requireuser: bool = False
    allow_unauthenticated: bool = False
    header_prefix: str = HEADER_PREFIX  # or LEGACY_HEADER_PREFIX, the platform's before 2016
    upstream_timeout: float = Field(default=30.0, gt=0)
    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    feide: Feide = Feide()
    datasources: list[DataSource] = []

    @field_validator("header_prefix")
    @classmethod
    def _platform_prefix(cls, value: str) -> str:
        if value not in (HEADER_PREFIX, LEGACY_HEADER_PREFIX):
            raise ValueError(f"header_prefix is {HEADER_PREFIX!r} or {LEGACY_HEADER_PREFIX!r}")
        return value

    @field_validator("upstream")
    @classmethod
    def _plain_upstream(cls, value: str) -> str:
        parts = urlsplit(value)
        if not parts.hostname or parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("upstream must be scheme://host[:port][/base/path], nothing more")
        return value

    @model_validator(mode="after")
    def _unique_ids(self) -> DevGateConfig:
        ids = [c.id for c in self.clients]
        names = [u.username for u in self.users]
        if len(set(ids)) != len(ids) or len(set(names)) != len(names):
            raise ValueError("client ids and usernames must be unique")
        audiences = [d.audience for d in self.datasources]
        if len(set(audiences)) != len(audiences):
            raise ValueError("data source audiences must be unique")
        return self

    def datasource(self, audience: str) -> DataSource | None:
        """The data source with exactly this audience, or None."""
        return next((d for d in self.datasources if d.audience == audience), None)

    @classmethod
    def load(cls, path: str | Path) -> DevGateConfig:
        """Read and validate a TOML file; errors name the file and what is wrong."""
        try:
            with open(path, "rb") as file:
                data = tomllib.load(file)
            config = cls.model_validate(data)
        except OSError as error:
            raise ValueError(f"cannot read devgate config {path}: {error.strerror}") from None
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"devgate config {path} is not valid TOML: {error}") from None
        except ValidationError as error:
            raise ValueError(f"devgate config {path} is invalid:\n{error}") from None
        key_file = config.feide.signing_key_file
        if key_file is not None and not key_file.is_absolute():
            # Relative to the config file, so the pair can move together.
            resolved = Path(path).parent / key_file
            feide = config.feide.model_copy(update={"signing_key_file": resolved})
            config = config.model_copy(update={"feide": feide})
        return config
