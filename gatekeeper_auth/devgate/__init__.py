"""A development API Gatekeeper: a token endpoint and a proxy that behave like Dataporten's.

`python -m gatekeeper_auth.devgate --config devgate.toml` serves it (`--example-config` prints a
commented config to start from). For local development and tests only: the `password` grant
stands in for a browser login. It needs the `devgate` extra: `pip install
'gatekeeper-auth[devgate]'`; this module imports without it, and `create_devgate` names the extra
when it is missing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gatekeeper_auth.devgate.config import (
    Client,
    DataSource,
    DevGateConfig,
    Group,
    UpstreamCredentials,
    User,
)
from gatekeeper_auth.devgate.extras import MissingExtra, require_extras

if TYPE_CHECKING:
    import httpx2
    from starlette.types import ASGIApp

__all__ = [
    "Client",
    "DataSource",
    "DevGateConfig",
    "Group",
    "MissingExtra",
    "UpstreamCredentials",
    "User",
    "create_devgate",
]


def create_devgate(
    config: DevGateConfig, *, transport: httpx2.AsyncBaseTransport | None = None
) -> ASGIApp:
    """The development gatekeeper as an ASGI app, forwarding to `config.upstream`.

    `transport` replaces the network toward the upstream for HTTP (tests pass
    `httpx2.ASGITransport`; such a transport gets the request target with its dot segments
    resolved: only the network transport sends it byte for byte). Serve it with
    `gatekeeper_auth.devgate.server.uvicorn_config`, which keeps the server from adding a second
    Date and Server header to relayed answers.
    """
    require_extras()
    from gatekeeper_auth.devgate.app import build

    return build(config, transport)
