"""The app that test_my_api.py tests: one route, system requests with the
sub-scope "jobs"."""

from typing import Annotated

from fastapi import Depends, FastAPI

from gatekeeper_auth import Identity, require_system


def build_app() -> FastAPI:
    app = FastAPI()

    @app.get("/jobs")
    async def jobs(
        caller: Annotated[
            Identity, Depends(require_system(scopes={"jobs"}))
        ],
    ) -> dict[str, str]:
        return {"client": caller.client_id}

    return app
