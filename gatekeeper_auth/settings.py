"""Configuration from the environment or a `.env` file, with secrets kept as `SecretStr`.

Secrets are taken exactly as given: never parsed, split or stripped. A value that would be
silently changed (surrounding white space) or that is written in the old list syntax is refused
with a message that names the variable, never the value.
"""

from __future__ import annotations

import io
import json
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Any

from dotenv.parser import parse_stream
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from gatekeeper_auth._platform import FEIDE_ISSUER, FEIDE_JWKS_URL
from gatekeeper_auth.jwt import FeideJWT

Secrets = Annotated[list[SecretStr], NoDecode]


class GatekeeperSettings(BaseSettings):
    """`GatekeeperMiddleware`'s options, read from `GATEKEEPER_*` variables or `.env`.

    | variable | meaning |
    | --- | --- |
    | `GATEKEEPER_USERNAME` | Basic username the gatekeeper sends (default `dataporten`) |
    | `GATEKEEPER_PASSWORD` | Basic password, exactly as the dashboard shows it |
    | `GATEKEEPER_PREVIOUS_PASSWORD` | the password being rotated out, accepted too meanwhile |
    | `GATEKEEPER_BEARER_TOKEN` | shared token for trust type `bearer`, instead of a password |
    | `GATEKEEPER_PREVIOUS_BEARER_TOKEN` | the bearer token being rotated out |
    | `GATEKEEPER_HEADER_PREFIX` | header prefix (default `X-Dataporten-`) |
    | `GATEKEEPER_ALLOWED_NETWORKS` | comma-separated CIDRs the gatekeeper calls from |
    | `GATEKEEPER_USERID_GRANT` | `true` (default): the API has the `userid` grant |
    | `GATEKEEPER_ALLOW_UNVERIFIED` | `true` trusts headers without credentials: development only |
    | `GATEKEEPER_JWT_AUDIENCE` | accept Feide JWTs for this data source (`FeideJWT(audience=)`) |
    | `GATEKEEPER_JWT_ISSUER` | the JWT issuer (default Feide's, `https://auth.dataporten.no`) |
    | `GATEKEEPER_JWT_JWKS_URL` | the key set (default Feide's, `.../openid/jwks`) |
    | `GATEKEEPER_JWT_LEEWAY` | seconds of clock skew forgiven (default 30) |
    | `GATEKEEPER_JWT_KEY_MAX_AGE` | seconds a key set serves before it is fetched again (900) |
    | `GATEKEEPER_JWT_USERID_GRANT` | `true` (default): the data source gets the user id |
    """

    model_config = SettingsConfigDict(
        env_prefix="GATEKEEPER_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,  # a secret must never reach an error message
    )

    username: str = "dataporten"
    password: Secrets = Field(default_factory=list)
    previous_password: SecretStr | None = None
    bearer_token: Secrets = Field(default_factory=list)
    previous_bearer_token: SecretStr | None = None
    header_prefix: str = "X-Dataporten-"
    allowed_networks: Annotated[list[IPv4Network | IPv6Network] | None, NoDecode] = None
    userid_grant: bool = True
    allow_unverified: bool = False
    jwt_audience: str | None = None
    jwt_issuer: str = FEIDE_ISSUER
    jwt_jwks_url: str = FEIDE_JWKS_URL
    jwt_leeway: float = 30.0
    jwt_key_max_age: float = 900
    jwt_userid_grant: bool = True

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

    @field_validator(
        "password", "previous_password", "bearer_token", "previous_bearer_token", mode="after"
    )
    @classmethod
    def _exact(cls, value: Any) -> Any:
        for secret in value if isinstance(value, list) else [value]:
            if secret is None:
                continue
            text = secret.get_secret_value()
            if not text:
                raise ValueError("is empty")
            if text != text.strip():
                raise ValueError(
                    "begins or ends with white space, which the environment and .env files "
                    "often add or drop by accident; copy the secret again exactly"
                )
        return value

    @field_validator("allowed_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else text.split(",")
            value = [part.strip() if isinstance(part, str) else part for part in value]
            value = [part for part in value if part != ""]
        if value is not None and not list(value):
            raise ValueError(
                "names no network, which would let gatekeeper credentials in from nowhere; "
                "list the CIDRs the gatekeeper calls from, or unset it to accept any address"
            )
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        dotenv = ExactDotEnv(settings_cls, dotenv_settings)
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


_SECRETS = ("password", "previous_password", "bearer_token", "previous_bearer_token")


class ExactDotEnv(PydanticBaseSettingsSource):
    """The `.env` file(s), read so that a secret is used exactly as written, or refused.

    python-dotenv's defaults change values silently: `${NAME}` is expanded, an unquoted value
    is cut at white space before `#` and trimmed, escapes in double quotes are decoded. Here
    nothing is expanded, and a secret must be written plainly: unquoted with no white space,
    `#`, quote or backslash, or in single quotes with no quote or backslash inside. Anything
    else is refused with a message that names the variable and the file, never the value.
    """

    def __init__(self, settings_cls: type[BaseSettings], dotenv: Any) -> None:
        super().__init__(settings_cls)
        files = dotenv.env_file  # what `env_file` or `_env_file=` says, as pydantic reads it
        self._files = [] if files is None else [files] if isinstance(files, str | Path) else files
        self._encoding = dotenv.env_file_encoding or "utf-8"

    def __call__(self) -> dict[str, Any]:
        prefix = str(self.config.get("env_prefix", "")).upper()
        found: dict[str, str] = {}
        for file in self._files:
            path = Path(file).expanduser()
            if not path.is_file():
                continue
            text = path.read_text(encoding=self._encoding)  # pydantic's own source read it first
            for binding in parse_stream(io.StringIO(text)):
                if binding.key is None or binding.value is None:
                    continue
                name = binding.key.upper()
                if name.removeprefix(prefix).lower() in _SECRETS and name.startswith(prefix):
                    raw = binding.original.string.split("=", 1)[1].rstrip("\r\n")
                    if not _plainly_written(raw.lstrip(" \t")):
                        raise ValueError(
                            f"{name} in {path} is not written plainly: a .env file would change "
                            "it. Write it unquoted (no white space, '#', quote or backslash) or "
                            "in single quotes (no quote or backslash inside), or set it in the "
                            "environment instead"
                        )
                found[name] = binding.value
        return {
            field: found[prefix + field.upper()]
            for field in self.settings_cls.model_fields
            if prefix + field.upper() in found
        }

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: `__call__` reads the whole file at once


def _plainly_written(raw: str) -> bool:
    """Whether python-dotenv reads `raw` (a value as written) as exactly its text."""
    if raw.startswith("'"):
        inner = raw[1:-1]
        return len(raw) >= 2 and raw.endswith("'") and "'" not in inner and "\\" not in inner
    return bool(raw) and not any(c.isspace() or c in "#'\"\\" for c in raw)


class ExplicitSettings(GatekeeperSettings):
    """`GatekeeperSettings` from the given values only: no environment, no `.env` file.

    What `GatekeeperMiddleware(app, password=...)` uses, so that a stray variable cannot change
    what the code says.
    """

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
