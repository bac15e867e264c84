"""Put FastAPI and Starlette services safely behind the Dataporten (Feide) API Gatekeeper."""

from typing import Any

from gatekeeper_auth import starlette as _starlette
from gatekeeper_auth.errors import CODES, ConfigurationError, Refusal
from gatekeeper_auth.fastapi import (
    GatekeeperGuard,
    GroupGuard,
    describe_guards,
    optional_identity,
    require_group,
    require_identity,
    require_system,
    require_user,
)
from gatekeeper_auth.feide_api import FeideAPI, Group
from gatekeeper_auth.gatekeeper import Gatekeeper
from gatekeeper_auth.identity import Identity, Kind, SecondaryId, Source
from gatekeeper_auth.jwt import FeideJWT
from gatekeeper_auth.middleware import GatekeeperMiddleware
from gatekeeper_auth.rules import get_identity
from gatekeeper_auth.settings import GatekeeperSettings
from gatekeeper_auth.starlette import (
    GatekeeperUser,
    group_endpoint,
    identity_endpoint,
    system_endpoint,
    user_endpoint,
)

__all__ = [
    "CODES",
    "ConfigurationError",
    "FeideAPI",
    "FeideJWT",
    "Gatekeeper",
    "GatekeeperGuard",
    "GatekeeperMiddleware",
    "GatekeeperSettings",
    "GatekeeperUser",
    "Group",
    "GroupGuard",
    "Identity",
    "Kind",
    "Refusal",
    "SecondaryId",
    "Source",
    "describe_guards",
    "get_identity",
    "group_endpoint",
    "identity_endpoint",
    "optional_identity",
    "require_group",
    "require_identity",
    "require_system",
    "require_user",
    "system_endpoint",
    "user_endpoint",
]


def __getattr__(name: str) -> Any:
    """Deprecated names, kept for one release with a warning that names the new one."""
    if name == "refusal_handler":
        from gatekeeper_auth.errors import refusal_handler

        return refusal_handler  # warns when called: it is no longer needed
    return getattr(_starlette, name)  # requires_* -> *_endpoint, or AttributeError
