"""Before: the hand-written check many backends start with, and what is
wrong with it."""

from fastapi import FastAPI, HTTPException, Request

app = FastAPI()


@app.get("/reports")
async def reports(request: Request) -> dict[str, str]:
    # 1. Nothing checks that the gatekeeper sent this: anyone who reaches
    #    the backend can send X-Dataporten-* headers.
    # 2. A user token without the userid grant has no X-Dataporten-Userid,
    #    so it passes as a system token here.
    if request.headers.get("x-dataporten-userid"):
        raise HTTPException(403, "system only")
    client = request.headers.get("x-dataporten-clientid")
    if client is None:
        raise HTTPException(401)
    return {"for": client}
