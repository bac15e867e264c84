"""Configuration from the environment or a `.env` file, with secrets kept as `SecretStr`."""

from __future__ import annotations

import json
from ipaddress import IPv4Network, IPv6Network
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)


def _listed(value: Any, separator: str | None) -> Any:
    """A JSON array as it is; else one item, or items split on `separator`."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        return json.loads(text)
    parts = [text] if separator is None else text.split(separator)
    return [part.strip() for part in parts if part.strip()]


class GatekeeperSettings(BaseSettings):
    """`GatekeeperMiddleware`'s options, read from `GATEKEEPER_*` variables or `.env`.

    | variable | meaning |
    | --- | --- |
    | `GATEKEEPER_USERNAME` | Basic username the gatekeeper sends (default `dataporten`) |
    | `GATEKEEPER_PASSWORD` | Basic password; a JSON array (`["new","old"]`) for a rotation |
    | `GATEKEEPER_BEARER_TOKEN` | shared token for trust type `bearer`, instead of a password |
    | `GATEKEEPER_HEADER_PREFIX` | header prefix (default `X-Dataporten-`) |
    | `GATEKEEPER_ALLOWED_NETWORKS` | comma-separated CIDRs the gatekeeper calls from |
    | `GATEKEEPER_ALLOW_UNVERIFIED` | `true` trusts headers without credentials: development only |
    """

    model_config = SettingsConfigDict(
        env_prefix="GATEKEEPER_", env_file=".env", extra="ignore", frozen=True
    )

    username: str = "dataporten"
    password: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    bearer_token: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    header_prefix: str = "X-Dataporten-"
    allowed_networks: Annotated[list[IPv4Network | IPv6Network] | None, NoDecode] = None
    allow_unverified: bool = False

    @field_validator("password", "bearer_token", mode="before")
    @classmethod
    def _split_secrets(cls, value: Any) -> Any:
        return _listed(value, None)  # a secret may hold a comma

    @field_validator("allowed_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: Any) -> Any:
        return _listed(value, ",")


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
