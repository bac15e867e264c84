"""A university's API for its own employees: Feide's groups decide who may
call it."""

from typing import Annotated, Any

from fastapi import Depends, FastAPI

from gatekeeper_auth import (
    FeideAPI,
    GatekeeperMiddleware,
    GatekeeperSettings,
    Identity,
    require_group,
)

UIO = "fc:org:uio.no"


def create_app(settings: GatekeeperSettings, feide: FeideAPI) -> FastAPI:
    # One FeideAPI for the whole app: the guard and the routes share what it
    # keeps.
    employee = require_group(UIO, affiliation="employee", feide=feide)
    app = FastAPI()

    @app.get("/staff/reports", dependencies=[Depends(employee)])
    async def reports() -> list[str]:
        return ["2026-q3", "2026-q4"]

    @app.get("/staff/me")
    async def me(
        caller: Annotated[Identity, Depends(employee)],
    ) -> dict[str, Any]:
        # Kept: the guard asked a moment ago.
        groups = await feide.groups(caller)
        info = await feide.userinfo(caller)  # read-only
        return {
            "name": info.get("name"),
            "groups": sorted(g.display_name for g in groups),
        }

    app.add_middleware(GatekeeperMiddleware, settings=settings)
    return app


def app_from_environment() -> FastAPI:
    # GATEKEEPER_PASSWORD; GATEKEEPER_FEIDE_CLIENT_ID and _SECRET for
    # callers with a Feide JWT
    settings = GatekeeperSettings()
    return create_app(settings, settings.feide_api())
