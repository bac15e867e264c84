"""Three deployments: trust type bearer, an older header prefix, the gatekeeper's networks."""

from fastapi import FastAPI

from gatekeeper_auth import GatekeeperMiddleware


def bearer_trust(app: FastAPI) -> None:
    # The API Access pane set to trust type "bearer": the gatekeeper sends this shared token.
    app.add_middleware(GatekeeperMiddleware, bearer_token=["new-shared-token", "old-shared-token"])


def feide_connect(app: FastAPI) -> None:
    # A deployment from the Feide Connect days: X-FeideConnect-* headers, user "feideconnect".
    app.add_middleware(
        GatekeeperMiddleware,
        username="feideconnect",
        password="change-me",
        header_prefix="X-FeideConnect-",
    )


def gatekeeper_networks(app: FastAPI) -> None:
    # Defence in depth: gatekeeper credentials count only from these networks. Behind a
    # proxy, run uvicorn with --forwarded-allow-ips=<your proxy>, never '*'.
    app.add_middleware(
        GatekeeperMiddleware, password="change-me", allowed_networks=["158.38.0.0/16"]
    )
