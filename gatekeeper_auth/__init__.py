"""Put FastAPI and Starlette services safely behind the Dataporten (Feide) API Gatekeeper."""

from typing import TYPE_CHECKING, Any

from gatekeeper_auth import starlette as _starlette
from gatekeeper_auth.errors import CODES, ConfigurationError, Refusal, RefusalCode
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

if TYPE_CHECKING:
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
    "RefusalCode",
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

# Imported when first asked for, so that Starlette services need no FastAPI.
_FASTAPI_NAMES = frozenset(
    {
        "GatekeeperGuard",
        "GroupGuard",
        "describe_guards",
        "optional_identity",
        "require_group",
        "require_identity",
        "require_system",
        "require_user",
    }
)
# Deprecated names, kept for one minor release with a warning that names the new one.
_RENAMED_ENDPOINTS = frozenset({"requires_identity", "requires_system", "requires_user"})


def __getattr__(name: str) -> Any:
    """The FastAPI names, imported on first use; the deprecated names, with their warning."""
    if name in _FASTAPI_NAMES:
        try:
            from gatekeeper_auth import fastapi
        except ModuleNotFoundError as error:
            if error.name != "fastapi":
                raise
            raise ImportError(
                f"gatekeeper_auth.{name} is for FastAPI, which is not installed: "
                "pip install fastapi (a dependency of gatekeeper-auth that was removed)"
            ) from None
        return getattr(fastapi, name)
    if name == "refusal_handler":
        from gatekeeper_auth.errors import refusal_handler

        return refusal_handler  # warns when called: it is no longer needed
    if name in _RENAMED_ENDPOINTS:
        return getattr(_starlette, name)  # warns: requires_* -> *_endpoint
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
