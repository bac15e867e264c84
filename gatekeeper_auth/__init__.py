"""Put FastAPI and Starlette services safely behind the Dataporten (Feide) API Gatekeeper."""

from gatekeeper_auth.errors import CODES, ConfigurationError, Refusal, refusal_handler
from gatekeeper_auth.fastapi import (
    GatekeeperGuard,
    describe_guards,
    optional_identity,
    require_identity,
    require_system,
    require_user,
)
from gatekeeper_auth.identity import GatekeeperUser, Identity, Kind, SecondaryId, get_identity
from gatekeeper_auth.middleware import GatekeeperMiddleware
from gatekeeper_auth.settings import GatekeeperSettings
from gatekeeper_auth.starlette import (
    requires_identity,
    requires_system,
    requires_user,
)

__all__ = [
    "CODES",
    "ConfigurationError",
    "GatekeeperGuard",
    "GatekeeperMiddleware",
    "GatekeeperSettings",
    "GatekeeperUser",
    "Identity",
    "Kind",
    "Refusal",
    "SecondaryId",
    "describe_guards",
    "get_identity",
    "optional_identity",
    "refusal_handler",
    "require_identity",
    "require_system",
    "require_user",
    "requires_identity",
    "requires_system",
    "requires_user",
]
