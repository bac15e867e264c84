"""How the dev gatekeeper is served: uvicorn with the settings a faithful proxy needs."""

from __future__ import annotations

import uvicorn
from starlette.types import ASGIApp


def uvicorn_config(
    app: ASGIApp, *, host: str, port: int, log_level: str = "info"
) -> uvicorn.Config:
    """The uvicorn settings for the dev gatekeeper.

    - `http="h11"`: uvicorn's httptools parser turns a chunked request's trailer fields into
      headers (issue 12, item 12); h11 keeps them out.
    - no `server`/`date` header of its own: relayed answers carry the upstream's, once.
    - no proxy headers: nobody in front of the dev gatekeeper may choose its client address.
    - websockets through the `websockets` library's sans-I/O implementation.
    """
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http="h11",
        ws="websockets-sansio",
        server_header=False,
        date_header=False,
        proxy_headers=False,
        lifespan="on",
        log_level=log_level,
    )
