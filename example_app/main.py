"""The example service: one route per guard, behind `GatekeeperMiddleware`.

Run it with `make run`, which puts the development gatekeeper in front of it.
"""

import hashlib
import os
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from example_app import legacy
from gatekeeper_auth import (
    GatekeeperMiddleware,
    GatekeeperSettings,
    Identity,
    describe_guards,
    optional_identity,
    require_group,
    require_identity,
    require_system,
    require_user,
)

#: The demo gatekeeper's password (example_app/devgate.toml). Set GATEKEEPER_PASSWORD in real life.
DEMO_PASSWORD = "demo-gatekeeper-password"
#: The client that example_app/devgate.toml registers first, allowed on /system/admin.
REPORTS_CLIENT = "3e1b5a8c-7d2f-4c6a-9b1e-5f8d2c7a4e90"
#: The organisation whose employees may read /staff/reports (example_app/devgate.toml's groups).
EXAMPLE_ORG = "fc:org:example.org"
#: Where `make run` serves the development gatekeeper (example_app/run.py).
GATEKEEPER_URL = "http://127.0.0.1:8000"

# Guards are objects: declare each once, use it anywhere (and override it in tests).
SystemCaller = Annotated[Identity, Depends(require_system())]
UserCaller = Annotated[Identity, Depends(require_user())]
AnyCaller = Annotated[Identity, Depends(require_identity())]
ReportReader = Annotated[Identity, Depends(require_system(scopes={"reports"}))]
ReportsClient = Annotated[Identity, Depends(require_system(clients={REPORTS_CLIENT}))]
UserWithId = Annotated[Identity, Depends(require_user(require_user_id=True))]
UserOrService = Annotated[
    Identity, Depends(require_user(allow_system_with_scopes={"act-for-users"}))
]


def create_app(settings: GatekeeperSettings | None = None) -> FastAPI:
    """Build the example service; `settings` default to the environment, then the demo."""
    if settings is None:
        settings = GatekeeperSettings()
        if not (settings.password or settings.bearer_token or settings.allow_unverified):
            settings = GatekeeperSettings(password=[DEMO_PASSWORD])  # type: ignore[list-item]

    app = FastAPI(title="gatekeeper-auth example", docs_url=None)
    # Swagger UI from the swagger-ui-bundle-v2 package, not a CDN: /docs works offline.
    app.mount("/static/swagger-ui", StaticFiles(directory=swagger_ui_path), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="gatekeeper-auth example",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui/favicon-32x32.png",
        )

    @app.get("/")
    async def health() -> dict[str, str]:
        """Health check: answers without credentials."""
        return {"status": "ok"}

    @app.get("/hello")
    async def hello(
        caller: Annotated[Identity | None, Depends(optional_identity)],
    ) -> dict[str, str]:
        """Anyone: anonymous callers get a different answer."""
        if caller is None:
            return {"hello": "stranger"}
        return {"hello": caller.user_id or caller.client_id}

    @app.get("/system/ping")
    async def system_ping(caller: SystemCaller) -> dict[str, str]:
        """System requests only: a user token gets 403 user_token_not_allowed."""
        return {"pong": caller.client_id}

    @app.get("/user/me")
    async def user_me(caller: UserCaller) -> dict[str, object]:
        """Requests on behalf of a user only."""
        return {
            "user_id": caller.user_id,
            "client_id": caller.client_id,
            "secondary_ids": [str(s) for s in caller.secondary_ids],
            "acr": caller.acr,
        }

    @app.get("/user/id")
    async def user_id(caller: UserWithId) -> dict[str, str | None]:
        """A user request that must carry the user id (the API has the userid grant)."""
        return {"user_id": caller.user_id}

    @app.get("/whoami")
    async def whoami(caller: AnyCaller) -> dict[str, object]:
        """Either kind of verified caller."""
        return {"kind": caller.kind, "client_id": caller.client_id, "scopes": sorted(caller.scopes)}

    @app.get("/reports")
    async def reports(caller: ReportReader) -> dict[str, object]:
        """System requests whose token carries the sub-scope `reports` (gk_<api>_reports)."""
        return {"reports": ["2026-q3", "2026-q4"], "for": caller.client_id}

    @app.get("/system/admin")
    async def admin(caller: ReportsClient) -> dict[str, str]:
        """System requests from one allowed client only."""
        return {"admin": caller.client_id}

    # Feide's groups API, asked with the caller's own token: the subtoken on the gatekeeper
    # path, a Feide API token exchanged for the JWT on the JWT path (GATEKEEPER_FEIDE_*).
    employees = require_group(EXAMPLE_ORG, affiliation="employee", feide=settings.feide_api())

    @app.get("/staff/reports")
    async def staff_reports(caller: Annotated[Identity, Depends(employees)]) -> dict[str, object]:
        """Employees of Example University only: a student there gets 403 group_missing."""
        return {"staff_reports": ["2026-q4"], "for": caller.user_id or caller.client_id}

    @app.get("/user/or-service")
    async def user_or_service(caller: UserOrService) -> dict[str, str]:
        """A user, unless a system client holding the sub-scope `act-for-users`."""
        return {"kind": caller.kind}

    @app.post("/upload")
    async def upload(caller: AnyCaller, request: Request) -> dict[str, object]:
        """Streams the body and answers its size and SHA-256."""
        digest, size = hashlib.sha256(), 0
        async for chunk in request.stream():
            digest.update(chunk)
            size += len(chunk)
        return {"bytes": size, "sha256": digest.hexdigest()}

    gatekeeper, token_url = swagger_urls()
    # "Try it out" must go through the gatekeeper: the backend refuses a bare token.
    app.servers = [{"url": gatekeeper, "description": "the API gatekeeper"}]
    describe_guards(app, token_url=token_url, api="exampleapi")
    app.mount("/legacy", legacy.app)
    app.add_middleware(GatekeeperMiddleware, settings=settings)
    # CORS outermost: the gatekeeper forwards preflight OPTIONS without credentials, so the
    # request reaches CORSMiddleware as anonymous and is answered there.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["http://localhost:3000"],
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type"],
    )
    return app


def swagger_urls() -> tuple[str, str]:
    """The gatekeeper Swagger UI sends "Try it out" through (the OpenAPI `servers`) and the
    token URL its Authorize posts to: `EXAMPLE_GATEKEEPER_URL` (default: `make run`'s
    development gatekeeper) and `EXAMPLE_TOKEN_URL` (default: that gatekeeper's /oauth/token,
    where the development gatekeeper issues tokens; Dataporten's is
    https://auth.dataporten.no/oauth/token)."""
    gatekeeper = _http_url("EXAMPLE_GATEKEEPER_URL", GATEKEEPER_URL)
    return gatekeeper, _http_url("EXAMPLE_TOKEN_URL", gatekeeper + "/oauth/token")


def _http_url(name: str, default: str) -> str:
    url = os.environ.get(name, "").strip() or default
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise ValueError(f"{name} must be an http(s) URL with a host, such as {default}")
    return url.rstrip("/")


app = create_app()
