"""Every real header set (tests/platform_headers.py, written from domain.md) through the
middleware and every guard, under both `userid_grant` settings (issue 11).

The kind each situation gets is written out below, not computed; what each guard answers for a
kind is the guards' documented contract, written out too.
"""

import logging
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.testclient import TestClient
from starlette.authentication import requires
from starlette.responses import JSONResponse

from gatekeeper_auth import (
    GatekeeperMiddleware,
    Identity,
    optional_identity,
    require_identity,
    require_system,
    require_user,
)
from gatekeeper_auth.testing import TEST_PASSWORD
from tests.helpers import assert_refused
from tests.platform_headers import (
    BEARER_TRUST_TOKEN,
    BY_NAME,
    CALLER_TOKEN,
    SITUATIONS,
    Situation,
    with_empty_values,
)

#: The kind the middleware must give each situation: (with userid_grant=true, with false).
#: None is anonymous. "user token, no user-id grants" is the trap: with the grant claimed
#: (true) on an API that lacks it, it passes as a system request; that is why the setting
#: exists and why the API's owner must state it truthfully.
KINDS: dict[str, tuple[str | None, str | None]] = {
    "system token without sub-scopes": ("system", "unknown"),
    "system token with sub-scopes": ("system", "unknown"),
    "user token, all grants": ("user", "user"),
    "user token, only userid": ("user", "user"),
    "user token, no user-id grants": ("system", "unknown"),
    "user token, no user-id grants, acr requested": ("user", "user"),
    "user token, only userid-nin": ("user", "user"),
    "user token, only userid-feide, user without a feide id": ("system", "unknown"),
    "user token, two feide ids and a nin": ("user", "user"),
    "bearer trust, system token": ("system", "unknown"),
    "system client that sent its own userid": ("system", "unknown"),
    "OPTIONS without a token": (None, None),
    "OPTIONS with the caller's token": (None, None),
    "public API called without a token": (None, None),
}

ROUTES = {
    "/system": require_system(),
    "/system/scoped": require_system(scopes={"read"}),
    "/user": require_user(),
    "/user/id": require_user(require_user_id=True),
    "/user/or-service": require_user(allow_system_with_scopes={"reports"}),
    "/any": require_identity(),
}

#: What each guard answers a caller of each kind: a status, or a refusal code. Sub-scopes and
#: the user id refine it below.
CONTRACT: dict[str, dict[str | None, str]] = {
    "/system": {None: "authentication_required", "user": "user_token_not_allowed",
                "system": "200", "unknown": "userid_grant_missing"},
    "/system/scoped": {None: "authentication_required", "user": "user_token_not_allowed",
                       "system": "200 if read", "unknown": "userid_grant_missing"},
    "/user": {None: "authentication_required", "user": "200",
              "system": "system_token_not_allowed", "unknown": "userid_grant_missing"},
    "/user/id": {None: "authentication_required", "user": "200 if user id",
                 "system": "system_token_not_allowed", "unknown": "userid_grant_missing"},
    "/user/or-service": {None: "authentication_required", "user": "200",
                         "system": "200 if reports", "unknown": "userid_grant_missing"},
    "/any": {None: "authentication_required", "user": "200", "system": "200", "unknown": "200"},
    "/starlette-requires-system": {None: "403", "user": "403", "system": "200", "unknown": "403"},
    "/optional": {None: "200", "user": "200", "system": "200", "unknown": "200"},
}  # fmt: skip


def build(situation: Situation, userid_grant: bool) -> FastAPI:
    app = FastAPI()
    for path, guard in ROUTES.items():

        async def endpoint(caller: Annotated[Identity, Depends(guard)]) -> dict[str, Any]:
            return {"kind": caller.kind}

        app.api_route(path, methods=["GET", "OPTIONS"])(endpoint)

    @app.api_route("/optional", methods=["GET", "OPTIONS"])
    async def optional(caller: Annotated[Identity | None, Depends(optional_identity)]) -> Any:
        return {"kind": caller.kind if caller else None}

    @requires("system")
    async def starlette_system(request: Request) -> JSONResponse:
        return JSONResponse({"kind": "system"})

    app.add_route("/starlette-requires-system", starlette_system, methods=["GET", "OPTIONS"])
    bearer_trust = any(value.startswith("Bearer ") for _, value in situation.headers) and (
        situation.has_token
    )
    secret = {"bearer_token": BEARER_TRUST_TOKEN} if bearer_trust else {"password": TEST_PASSWORD}
    app.add_middleware(GatekeeperMiddleware, userid_grant=userid_grant, **secret)
    return app


def expected(situation: Situation, kind: str | None, path: str) -> str:
    rule = CONTRACT[path][kind]
    fields = {name.lower(): value for name, value in situation.headers}
    scopes = fields.get("x-dataporten-scopes", "").split(",")
    if rule == "200 if read":
        return "200" if "read" in scopes else "scope_missing"
    if rule == "200 if reports":
        return "200" if "reports" in scopes else "system_token_not_allowed"
    if rule == "200 if user id":
        return "200" if "x-dataporten-userid" in fields else "user_id_missing"
    return rule


CASES = [
    pytest.param(situation, grant, id=f"{situation.name} / userid_grant={grant}")
    for situation in SITUATIONS
    for grant in (True, False)
]


def check(situation: Situation, userid_grant: bool) -> None:
    kind = KINDS[situation.name.removesuffix(" (empty values kept)")][0 if userid_grant else 1]
    client = TestClient(build(situation, userid_grant))
    for path in CONTRACT:
        response = client.request(situation.method, path, headers=list(situation.headers))
        want = expected(situation, kind, path)
        if want.isdigit():
            assert response.status_code == int(want), (path, response.text)
            if path != "/starlette-requires-system" and want == "200":
                assert response.json() == {"kind": kind}, path
        else:
            assert_refused(response, want)


@pytest.mark.parametrize(("situation", "userid_grant"), CASES)
def test_every_real_header_set_through_every_guard(
    situation: Situation, userid_grant: bool
) -> None:
    check(situation, userid_grant)


@pytest.mark.parametrize(("situation", "userid_grant"), CASES)
def test_the_same_answers_when_empty_values_are_kept(
    situation: Situation, userid_grant: bool
) -> None:
    check(with_empty_values(situation), userid_grant)


def test_no_user_passes_a_system_guard_when_the_setting_states_the_grant_truthfully() -> None:
    """The promise, as one statement: with userid_grant matching the API's grants, a request
    whose token represents a user never passes require_system()."""
    for situation in SITUATIONS:
        if not situation.is_user:
            continue
        client = TestClient(build(situation, userid_grant="userid" in situation.grants))
        response = client.get("/system", headers=list(situation.headers))
        assert response.status_code == 403, situation.name


def test_a_sign_of_a_user_without_a_user_id_logs_one_error_per_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    situation = BY_NAME["user token, no user-id grants, acr requested"]
    client = TestClient(build(situation, userid_grant=True))
    with caplog.at_level(logging.INFO, logger="gatekeeper_auth"):
        for acr in ("urn:one", "urn:two", "urn:three"):  # three distinct requests
            headers = [(n, acr if n.lower().endswith("acr") else v) for n, v in situation.headers]
            assert_refused(client.get("/system", headers=headers), "user_token_not_allowed")
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "lacks the userid grant" in errors[0].getMessage()
    assert "GATEKEEPER_USERID_GRANT=false" in errors[0].getMessage()


def test_a_preflight_with_the_callers_token_is_anonymous_and_reaches_cors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = FastAPI()
    app.add_middleware(CORSMiddleware, allow_origins=["https://app.example"], allow_methods=["GET"])
    app.add_middleware(GatekeeperMiddleware, password=TEST_PASSWORD)  # in front of CORS
    headers = {
        **dict(BY_NAME["OPTIONS with the caller's token"].headers),
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "GET",
    }
    with caplog.at_level(logging.DEBUG):
        response = TestClient(app).options("/anything", headers=headers)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert CALLER_TOKEN not in caplog.text
