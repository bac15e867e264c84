"""The development gatekeeper's configuration: one TOML file, validated by pydantic.

Every key is documented in docs/devgate.md; `example.toml` beside this module is the commented
example that `python -m gatekeeper_auth.devgate --example-config` prints.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal
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

from gatekeeper_auth._platform import LONGTERM_LIFETIME

Grant = Literal["userid", "userid-feide", "userid-nin"]
#: The user claims a data source can be authorised for (Feide's "Tokens" reference).
UserClaim = Literal["name", "eduPersonPrincipalName", "nin"]
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

    @model_validator(mode="after")
    def _check_secondary_ids(self) -> User:
        for sid in self.secondary_ids:
            type_, colon, value = sid.partition(":")
            if not (type_ and colon and value):
                raise ValueError(f"secondary id {sid!r} is not type:value (feide:user@org.no)")
        return self


class UpstreamCredentials(_Strict):
    """What the gatekeeper presents to the backend: Basic (the default) or a bearer token."""

    username: str = "dataporten"
    password: SecretStr | None = None
    bearer_token: SecretStr | None = None

    @model_validator(mode="after")
    def _one_trust_type(self) -> UpstreamCredentials:
        if (self.password is None) == (self.bearer_token is None):
            raise ValueError("set exactly one of password (trust type basic) or bearer_token")
        return self


class DataSource(_Strict):
    """A data source the local Feide issues JWTs for (token exchange), and what it may get.

    `scopes` are its access levels, the `scope` a client may ask for. `user_claims` are the
    user claims it is authorised for: a user's JWT carries only those. `user_sub` is what `sub`
    holds in a user's JWT: the user id, or the client id as in Feide's own reference example;
    with `client_id` and no user claims, a user's JWT looks exactly like a system one (the JWT
    form of the userid trap)."""

    audience: str = Field(min_length=1, pattern=_VISIBLE)
    name: str = ""
    scopes: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:/-]+$")]] = []
    user_claims: list[UserClaim] = []
    user_sub: Literal["user_id", "client_id"] = "user_id"


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
    token_lifetime: int = Field(default=28800, gt=0)
    longterm_lifetime: int = Field(default=LONGTERM_LIFETIME, gt=0)
    forward_token: bool = True  # false: no X-Dataporten-token (a deviation from the platform)
    requireuser: bool = False
    allow_unauthenticated: bool = False
    header_prefix: Literal["X-Dataporten-", "X-FeideConnect-"] = "X-Dataporten-"
    upstream_timeout: float = Field(default=30.0, gt=0)
    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    feide: Feide = Feide()
    datasources: list[DataSource] = []

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
