"""After: the same route with gatekeeper-auth."""

from typing import Annotated

from fastapi import Depends, FastAPI

from gatekeeper_auth import GatekeeperMiddleware, Identity, require_system

app = FastAPI()
app.add_middleware(GatekeeperMiddleware)  # password: GATEKEEPER_PASSWORD


@app.get("/reports")
async def reports(
    caller: Annotated[Identity, Depends(require_system())],
) -> dict[str, str]:
    return {"for": caller.client_id}
