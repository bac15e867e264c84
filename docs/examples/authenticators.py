"""Both ways in, stated choices: the gatekeeper from the environment, Feide
JWTs from code, the app's own API keys on some routes, and refusals in the
team's own error format."""

from fastapi import FastAPI, Request
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response

from gatekeeper_auth import (
    FeideJWT,
    GatekeeperMiddleware,
    GatekeeperSettings,
    Refusal,
)


def problem_details(conn: HTTPConnection, refusal: Refusal) -> Response:
    """Refusals as RFC 9457 problem details, keeping the status and the
    challenge."""
    return JSONResponse(
        {
            "type": f"https://errors.example.org/{refusal.code}",
            "title": refusal.message,
        },
        refusal.status_code,
        headers=refusal.headers,
        media_type="application/problem+json",
    )


async def guard_refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refusal)
    return problem_details(request, exc)


def create_app(jwt: FeideJWT | None = None) -> FastAPI:
    app = FastAPI()
    # The guards' refusals in the same format as the middleware's:
    app.add_exception_handler(Refusal, guard_refused)
    app.add_middleware(
        GatekeeperMiddleware,
        # GATEKEEPER_PASSWORD, GATEKEEPER_USERID_GRANT, ...
        settings=GatekeeperSettings(),
        jwt=jwt or FeideJWT(audience="https://n.feide.no/datasources/<id>"),
        # /legacy takes the app's own API keys:
        unrecognised_authorization="anonymous",
        on_error=problem_details,
    )

    @app.get("/legacy")
    async def legacy(request: Request) -> dict[str, str]:
        if request.headers.get("authorization") != "ApiKey s3cret-key":
            return {"hello": "stranger"}
        return {"hello": "api key holder"}

    return app
