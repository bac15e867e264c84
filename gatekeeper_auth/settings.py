"""Configuration from the environment or a `.env` file, with secrets kept as `SecretStr`.

The one reader of the environment, and it fails closed: a `GATEKEEPER_*` name that is not a
setting or is given twice, a keyword that is not a setting, a `.env` line that cannot be parsed
(`_dotenv`), a value that is not text or holds a control character, a secret that would be
silently changed (surrounding white space) or that is written in the old list syntax, a number
that is not finite, are refused with a message that names the variable (or the file and line),
never the value.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from ipaddress import IPv4Network, IPv6Network
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources import ENV_FILE_SENTINEL

from gatekeeper_auth import _dotenv
from gatekeeper_auth._platform import (
    FEIDE_ISSUER,
    FEIDE_JWKS_URL,
    GROUPS_URL,
    TOKEN_URL,
    USERINFO_URL,
)
from gatekeeper_auth.errors import ConfigurationError
from gatekeeper_auth.feide_api import CACHE_RULE, MAX_CACHE_SECONDS, FeideAPI
from gatekeeper_auth.jwt import FeideJWT

Secrets = Annotated[list[SecretStr], NoDecode]
#: pydantic-settings' own keyword options (`_env_file=`, `_env_file_encoding=`, ...).
_OPTIONS = frozenset(
    name
    for name in inspect.signature(BaseSettings.__init__).parameters
    if name.startswith("_") and not name.startswith("__")
)
#: C0 and C1 control characters, DEL, and Unicode's line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class GatekeeperSettings(BaseSettings):
    """`GatekeeperMiddleware`'s options, read from `GATEKEEPER_*` variables or `.env`.

    Each field is the variable `GATEKEEPER_<FIELD>`; the settings table on the Deployment page
    lists them with their defaults and meanings, written from these fields' descriptions. Any
    other `GATEKEEPER_*` variable or `.env` key is refused (`ConfigurationError`), unless
    `GATEKEEPER_FOREIGN` lists it as the service's own; so are one name given twice in a source
    (in any case) and a keyword that is not a setting.
    """

    model_config = SettingsConfigDict(
        env_prefix="GATEKEEPER_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,  # a secret must never reach an error message
    )

    username: str = Field(
        default="dataporten", description="the Basic username the gatekeeper sends"
    )
    password: Secrets = Field(
        default_factory=list,
        description="the Basic password, exactly as the dashboard's API Access pane shows it: "
        "one password, never parsed",
    )
    previous_password: SecretStr | None = Field(
        default=None, description="the password being rotated out, accepted too meanwhile"
    )
    bearer_token: Secrets = Field(
        default_factory=list,
        description="trust type `bearer`: the shared token, instead of a password",
    )
    previous_bearer_token: SecretStr | None = Field(
        default=None, description="the bearer token being rotated out"
    )
    header_prefix: str = Field(
        default="X-Dataporten-", description="`X-FeideConnect-` for deployments from before 2016"
    )
    allowed_networks: Annotated[list[IPv4Network | IPv6Network] | None, NoDecode] = Field(
        default=None,
        description="comma-separated CIDRs the gatekeeper calls from; unset, any address (see "
        "Running uvicorn before relying on it behind a proxy)",
    )
    userid_grant: bool = Field(
        default=True,
        description="the API has the `userid` grant; `false` closes system routes to requests "
        "that show no user",
    )
    allow_unverified: bool = Field(
        default=False,
        description="trust the headers without credentials (still only from "
        "`allowed_networks`): local development only",
    )
    jwt_audience: str | None = Field(
        default=None,
        description="take Feide JWTs for this data source, "
        "`https://n.feide.no/datasources/<id>`; unset, no JWT path",
    )
    jwt_issuer: str = Field(default=FEIDE_ISSUER, description="the JWTs' issuer, compared exactly")
    jwt_jwks_url: str = Field(
        default=FEIDE_JWKS_URL,
        description="the key set: `https`, or `http` on 127.0.0.1, ::1 or localhost only",
    )
    jwt_leeway: float = Field(
        default=30.0,
        description="seconds of clock skew forgiven on `exp`, `nbf` and `iat` (0 to 300)",
    )
    jwt_key_max_age: float = Field(
        default=900, description="most seconds a fetched key set serves new tokens before a refetch"
    )
    jwt_userid_grant: bool = Field(
        default=True,
        description="the data source gets the user id; `false` closes system routes to JWTs "
        "that show no user",
    )
    # Feide's groups and userinfo (`feide_api()`): the client only for callers with a JWT.
    feide_client_id: str | None = Field(
        default=None, description="your data source's client id, to ask Feide about JWT callers"
    )
    feide_client_secret: SecretStr | None = Field(default=None, description="that client's secret")
    feide_token_url: str = Field(
        default=TOKEN_URL, description="where a JWT is exchanged for a Feide API token"
    )
    feide_groups_url: str = Field(default=GROUPS_URL, description="Feide's groups API")
    feide_userinfo_url: str = Field(default=USERINFO_URL, description="Feide's extended userinfo")
    feide_cache_seconds: float = Field(
        default=300.0, description="seconds Feide's answers are kept per caller token (0 to 3600)"
    )

    @field_validator("password", "bearer_token", mode="before")
    @classmethod
    def _one_secret(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value  # a list from Python code: one item per secret
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                old_syntax = isinstance(json.loads(text), list)
            except (ValueError, RecursionError):
                old_syntax = False
            if old_syntax:
                raise ValueError(
                    "is written as a JSON list, the syntax before 0.2 for a rotation; it is "
                    "no longer split. Set it to the current secret alone and put the one being "
                    "rotated out in GATEKEEPER_PREVIOUS_PASSWORD (or "
                    "GATEKEEPER_PREVIOUS_BEARER_TOKEN)"
                )
        return [value]

    @field_validator("feide_cache_seconds")  # before `_exact`, whose message says less
    @classmethod
    def _kept_briefly(cls, value: float) -> float:
        if not 0 <= value <= MAX_CACHE_SECONDS:
            raise ValueError(CACHE_RULE)
        return value

    @field_validator("*", mode="after")
    @classmethod
    def _exact(cls, value: Any) -> Any:
        """Text is used exactly as given (every `SecretStr` field), so refuse what would not
        work as given; never say which character is wrong, nor where. Numbers are finite."""
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError("must be a finite number")
            secret = isinstance(item, SecretStr)
            text = item.get_secret_value() if secret else item
            if not isinstance(text, str):
                continue
            if not _encodable(text):
                raise ValueError(
                    "is not UTF-8 text (the environment held a byte that UTF-8 cannot decode, "
                    "or the code a lone surrogate), so it could never be sent or matched; set "
                    "it again as text, copied exactly"
                )
            if secret and not text:
                raise ValueError("is empty")
            if secret and text != text.strip():
                raise ValueError(
                    "begins or ends with white space, which the environment and .env files "
                    "often add or drop by accident; copy the secret again exactly"
                )
            if _CONTROL.search(text):
                raise ValueError(
                    "holds a control character (such as a line break or a tab), which no "
                    "setting holds; set it again, copied exactly"
                )
        return value

    @field_validator("allowed_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            try:
                value = json.loads(text) if text.startswith("[") else text.split(",")
            except RecursionError:  # a ValueError (bad JSON) is pydantic's to report
                raise ValueError("is not a JSON list of CIDRs") from None
            value = [part.strip() if isinstance(part, str) else part for part in value]
            value = [part for part in value if part != ""]
        if value is not None and not list(value):
            raise ValueError(
                "names no network, which would let gatekeeper credentials in from nowhere; "
                "list the CIDRs the gatekeeper calls from, or unset it to accept any address"
            )
        return value

    if not TYPE_CHECKING:  # type checkers keep the typed __init__ pydantic makes from the fields

        def __init__(self, **values: Any) -> None:
            _dotenv.refuse_keywords(values, [*type(self).model_fields, *_OPTIONS])
            try:
                super().__init__(**values)
                return
            except UnicodeDecodeError:  # pydantic's own read of .env: its message quotes a byte
                pass
            env_file = values.get("_env_file", ENV_FILE_SENTINEL)
            if env_file == ENV_FILE_SENTINEL:
                env_file = self.model_config.get("env_file")
            encoding = values.get("_env_file_encoding") or self.model_config.get(
                "env_file_encoding"
            )
            _dotenv.refuse_undecodable(env_file, encoding or "utf-8")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        dotenv = _dotenv.ExactDotEnv(settings_cls, dotenv_settings)
        dotenv.refuse_unknown(settings_cls.model_fields)
        return (init_settings, env_settings, dotenv, file_secret_settings)

    def secrets(self) -> tuple[list[str], list[str]]:
        """The Basic passwords and the bearer tokens to accept, current ones first."""
        passwords = [*self.password, *filter(None, [self.previous_password])]
        tokens = [*self.bearer_token, *filter(None, [self.previous_bearer_token])]
        return [p.get_secret_value() for p in passwords], [t.get_secret_value() for t in tokens]

    def feide_jwt(self) -> FeideJWT | None:
        """The JWT verifier these settings ask for (`jwt_audience` set), or None."""
        if self.jwt_audience is None:
            return None
        return FeideJWT(
            audience=self.jwt_audience,
            issuer=self.jwt_issuer,
            jwks_url=self.jwt_jwks_url,
            leeway=self.jwt_leeway,
            key_max_age=self.jwt_key_max_age,
            userid_grant=self.jwt_userid_grant,
        )

    def feide_api(self, *, transport: Any = None) -> FeideAPI:
        """The client of Feide's groups API and userinfo these settings describe (`transport`:
        an httpx2 transport, for tests)."""
        secret = self.feide_client_secret
        if self.jwt_audience is not None and (self.feide_client_id is None or secret is None):
            raise ConfigurationError(
                "GATEKEEPER_JWT_AUDIENCE is set, so callers may come with Feide JWTs, and asking "
                "Feide about them needs your data source's own client: set "
                "GATEKEEPER_FEIDE_CLIENT_ID and GATEKEEPER_FEIDE_CLIENT_SECRET."
            )
        return FeideAPI(
            client_id=self.feide_client_id,
            client_secret=None if secret is None else secret.get_secret_value(),
            token_url=self.feide_token_url,
            groups_url=self.feide_groups_url,
            userinfo_url=self.feide_userinfo_url,
            cache_seconds=self.feide_cache_seconds,
            transport=transport,
        )


def environment_names() -> tuple[str, ...]:
    """The names (never the values) of the `GATEKEEPER_*` variables set in the environment or
    the default `.env` file, but those declared foreign: what settings given in code ignore.

    Never raises: a `.env` file that nobody reads is not refused, only looked at for names.
    """
    config = GatekeeperSettings.model_config
    prefix = str(config.get("env_prefix", "")).upper()
    return tuple(sorted(set(_dotenv.environment_names(prefix, config.get("env_file")))))


def _encodable(text: str) -> bool:
    """Whether `text` can be encoded as UTF-8 (on Linux, the environment holds a byte that is
    not UTF-8 as a lone surrogate, which cannot)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False  # its message quotes the character and its position: never raise it
    return True


class ExplicitSettings(GatekeeperSettings):
    """`GatekeeperSettings` from the given values only: no environment, no `.env` file.

    What `GatekeeperMiddleware(app, password=...)` uses, so that a stray variable cannot change
    what the code says. It checks no name in the environment either, and reads no file.
    """

    model_config = SettingsConfigDict(env_file=None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def explain(error: ValidationError, *, from_environment: bool) -> str:
    """A settings error as a message that names each option and what is wrong, never a value."""
    lines = []
    for problem in error.errors(include_url=False, include_input=False, include_context=False):
        name = ".".join(str(part) for part in problem["loc"][:1]) or "settings"
        where = f"GATEKEEPER_{name.upper()}" if from_environment else f"{name}="
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{where} {message}" if message[:1].islower() else f"{where}: {message}")
    return "; ".join(lines)
