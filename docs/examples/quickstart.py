"""A service behind the API Gatekeeper: a system route, a user route."""

from typing import Annotated

from fastapi import Depends, FastAPI

from gatekeeper_auth import (
    GatekeeperMiddleware,
    Identity,
    require_system,
    require_user,
)

REPORTS_CLIENT = "3e1b5a8c-7d2f-4c6a-9b1e-5f8d2c7a4e90"

app = FastAPI()
app.add_middleware(
    GatekeeperMiddleware, username="dataporten", password="change-me"
)


@app.get("/reports")
def reports(
    caller: Annotated[
        Identity,
        Depends(require_system(clients={REPORTS_CLIENT}, scopes={"read"})),
    ],
) -> dict[str, str]:
    return {"for": caller.client_id}


@app.get("/me")
def me(
    caller: Annotated[Identity, Depends(require_user())],
) -> dict[str, str | None]:
    return {"user": caller.user_id}
