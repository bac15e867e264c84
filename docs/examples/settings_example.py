"""Configuration from the environment, for a deployment."""

from fastapi import FastAPI

from gatekeeper_auth import GatekeeperMiddleware, GatekeeperSettings


def create_app() -> FastAPI:
    # GATEKEEPER_PASSWORD='["new-password", "old-password"]' during a rotation.
    settings = GatekeeperSettings()
    app = FastAPI()
    app.add_middleware(GatekeeperMiddleware, settings=settings)
    return app
