"""What every test of this suite shares: an app with one route per guard, how a refusal looks,
and raw ASGI scopes."""

import subprocess
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI

from gatekeeper_auth import (
    GatekeeperMiddleware,
    Identity,
    optional_identity,
    require_identity,
    require_system,
    require_user,
)
from gatekeeper_auth.testing import TEST_CLIENT_ID

OTHER_CLIENT = "0d6f0c5e-1111-4222-8333-944455556666"

# Every system-only route: a user token must get 403 on each, whatever client and scopes.
SYSTEM_ROUTES = {
    "/system": require_system(),
    "/system/scoped": require_system(scopes={"read"}),
    "/system/client": require_system(clients={TEST_CLIENT_ID}),
    "/system/both": require_system(clients={TEST_CLIENT_ID}, scopes={"read", "admin"}),
}
USER_ROUTES = {
    "/user": require_user(),
    "/user/scoped": require_user(scopes={"read"}),
    "/user/client": require_user(clients={TEST_CLIENT_ID}),
    "/user/id": require_user(require_user_id=True),
    "/user/or-service": require_user(allow_system_with_scopes={"act-for-users"}),
}
ANY_ROUTES = {"/any": require_identity(), "/any/scoped": require_identity(scopes={"read"})}


def identity_json(identity: Identity) -> dict[str, Any]:
    return {
        "kind": identity.kind,
        "client_id": identity.client_id,
        "user_id": identity.user_id,
        "scopes": sorted(identity.scopes),
        "secondary_ids": [str(s) for s in identity.secondary_ids],
        "acr": identity.acr,
        "gatekeeper": identity.gatekeeper,
    }


def build_app(**middleware_options: Any) -> FastAPI:
    app = FastAPI()
    for path, guard in {**SYSTEM_ROUTES, **USER_ROUTES, **ANY_ROUTES}.items():

        async def endpoint(caller: Annotated[Identity, Depends(guard)]) -> dict[str, Any]:
            return identity_json(caller)

        app.get(path)(endpoint)

    @app.get("/optional")
    async def optional(
        caller: Annotated[Identity | None, Depends(optional_identity)],
    ) -> dict[str, Any] | None:
        return None if caller is None else identity_json(caller)

    app.add_middleware(GatekeeperMiddleware, **middleware_options)
    return app


#: The status of each refusal code, written out (as the docs' tables give them), not read from
#: the code under test: a code whose status changed must fail here.
STATUS = {
    "gatekeeper_credentials_invalid": 401,
    "gatekeeper_network_not_allowed": 403,
    "gatekeeper_header_repeated": 400,
    "gatekeeper_header_missing": 400,
    "gatekeeper_header_invalid": 400,
    "authentication_required": 401,
    "token_invalid": 401,
    "keys_unavailable": 503,
    "user_token_not_allowed": 403,
    "system_token_not_allowed": 403,
    "userid_grant_missing": 403,
    "client_not_allowed": 403,
    "scope_missing": 403,
    "user_id_missing": 403,
    "group_missing": 403,
    "feide_access_denied": 403,
    "feide_unavailable": 503,
}
#: The challenge each 401 carries. Never Basic: browsers would pop up a login dialog.
CHALLENGES = {
    "authentication_required": 'Bearer realm="gatekeeper"',
    "gatekeeper_credentials_invalid": 'Bearer realm="gatekeeper"',
    "token_invalid": 'Bearer error="invalid_token"',
}


def assert_refused(response: httpx.Response, code: str) -> None:
    """The whole refusal: status, content type, the exact body shape, the challenge."""
    assert response.status_code == STATUS[code], response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["detail"], body
    assert sorted(body["detail"]) == ["code", "message"], body
    assert body["detail"]["code"] == code, body
    assert isinstance(body["detail"]["message"], str), body
    assert body["detail"]["message"], body
    assert response.headers.get("www-authenticate") == CHALLENGES.get(code)


def refusal_message(response: httpx.Response) -> str:
    message: str = response.json()["detail"]["message"]
    return message


def http_scope(
    headers: list[tuple[bytes, bytes]],
    *,
    method: str = "GET",
    path: str = "/",
    client: tuple[str, int] | None = ("127.0.0.1", 50000),
) -> dict[str, Any]:
    """A raw ASGI HTTP scope, for driving the middleware without a server."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": client,
        "server": ("127.0.0.1", 8000),
    }


ROOT = Path(__file__).parent.parent
# Makes the named top-level modules (and their submodules) impossible to import.
_BLOCK = """\
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Block())
"""


def python_without(blocked: Iterable[str], code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh Python, in the repository, as on an install without `blocked`."""
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", _BLOCK.format(blocked=set(blocked)) + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
