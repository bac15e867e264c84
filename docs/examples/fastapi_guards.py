"""Guards in every place FastAPI takes a dependency: routes, routers,
Annotated aliases."""

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI

from gatekeeper_auth import (
    GatekeeperMiddleware,
    Identity,
    describe_guards,
    optional_identity,
    require_identity,
    require_system,
    require_user,
)

# Declare each guard once; reuse it anywhere, and override it in tests.
SystemCaller = Annotated[Identity, Depends(require_system())]
UserCaller = Annotated[
    Identity, Depends(require_user(require_user_id=True))
]
Admin = Annotated[Identity, Depends(require_system(scopes={"admin"}))]
MaybeCaller = Annotated[Identity | None, Depends(optional_identity)]

# Every route of this router needs a caller with the sub-scope "read".
reports = APIRouter(
    prefix="/reports",
    dependencies=[Depends(require_identity(scopes={"read"}))],
)


@reports.get("/latest")
async def latest() -> dict[str, str]:
    return {"report": "2026-q4"}


app = FastAPI()


@app.get("/jobs")
async def jobs(caller: SystemCaller) -> dict[str, str]:
    return {"client": caller.client_id}


@app.delete("/jobs/{job_id}")
async def delete_job(job_id: int, caller: Admin) -> dict[str, int]:
    return {"deleted": job_id}


@app.get("/profile")
async def profile(caller: UserCaller) -> dict[str, str | None]:
    return {"user": caller.user_id, "feide": caller.secondary_id("feide")}


@app.get("/greeting")
async def greeting(caller: MaybeCaller) -> dict[str, str]:
    return {
        "hello": "stranger"
        if caller is None
        else caller.user_id or caller.client_id
    }


@app.get(
    "/act-for-users",
    dependencies=[Depends(require_user(allow_system_with_scopes={"act"}))],
)
async def act_for_users() -> dict[str, bool]:
    return {"ok": True}


app.include_router(reports)
# Each guarded operation's description says what it needs:
describe_guards(app)
app.add_middleware(GatekeeperMiddleware, password="change-me")
