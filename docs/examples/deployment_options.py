"""Four deployments: trust type bearer, an older header prefix, the
gatekeeper's networks, and an API without the userid grant."""

from fastapi import FastAPI

from gatekeeper_auth import GatekeeperMiddleware


def bearer_trust(app: FastAPI) -> None:
    # The API Access pane set to trust type "bearer": the gatekeeper sends
    # this shared token. During a rotation the one being replaced is
    # accepted too.
    app.add_middleware(
        GatekeeperMiddleware,
        bearer_token="new-shared-token",
        previous_bearer_token="old-shared-token",
    )


def feide_connect(app: FastAPI) -> None:
    # A deployment from the Feide Connect days: X-FeideConnect-* headers,
    # user "feideconnect".
    app.add_middleware(
        GatekeeperMiddleware,
        username="feideconnect",
        password="change-me",
        header_prefix="X-FeideConnect-",
    )


def gatekeeper_networks(app: FastAPI) -> None:
    # Defence in depth: gatekeeper credentials count only from these
    # networks. Run uvicorn with --no-proxy-headers, or behind your own
    # proxy with --forwarded-allow-ips=<that proxy>.
    app.add_middleware(
        GatekeeperMiddleware,
        password="change-me",
        allowed_networks=["158.38.0.0/16"],
    )


def no_userid_grant(app: FastAPI) -> None:
    # The API lacks the userid grant in the dashboard: a user's request may
    # look exactly like a system request, so system routes answer 403
    # userid_grant_missing.
    app.add_middleware(
        GatekeeperMiddleware, password="change-me", userid_grant=False
    )
