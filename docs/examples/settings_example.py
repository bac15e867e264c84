"""Configuration from the environment, for a deployment."""

from fastapi import FastAPI

from gatekeeper_auth import GatekeeperMiddleware, GatekeeperSettings


def create_app() -> FastAPI:
    # During a rotation: GATEKEEPER_PASSWORD=new-password
    # GATEKEEPER_PREVIOUS_PASSWORD=old-password
    settings = GatekeeperSettings()
    app = FastAPI()
    app.add_middleware(GatekeeperMiddleware, settings=settings)
    return app
