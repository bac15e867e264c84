"""An app factory that adds the middleware itself, configured from the
environment."""

from typing import Annotated

from fastapi import Depends, FastAPI

from gatekeeper_auth import GatekeeperMiddleware, Identity, require_system


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/jobs")
    async def jobs(
        caller: Annotated[
            Identity, Depends(require_system(scopes={"jobs"}))
        ],
    ) -> dict[str, str]:
        return {"client": caller.client_id}

    # GATEKEEPER_PASSWORD, ... from the environment
    app.add_middleware(GatekeeperMiddleware)
    return app
