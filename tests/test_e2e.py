"""End to end over real sockets: example_app and the development gatekeeper under uvicorn."""

import asyncio
import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from pydantic import SecretStr

from example_app.main import DEMO_PASSWORD, create_app
from example_app.run import feide_environment
from gatekeeper_auth import GatekeeperSettings
from gatekeeper_auth.client import ClientCredentialsAuth, TokenError, TokenExchangeAuth
from gatekeeper_auth.devgate import DevGateConfig, create_devgate
from tests.helpers import assert_refused
from tests.servers import serve, wait_for

ROOT = Path(__file__).parent.parent
CONFIG = DevGateConfig.load(ROOT / "example_app" / "devgate.toml")
SYSTEM_ID, SYSTEM_SECRET = CONFIG.clients[0].id, CONFIG.clients[0].secret.get_secret_value()
WEB_ID, WEB_SECRET = CONFIG.clients[1].id, CONFIG.clients[1].secret.get_secret_value()


def devgate_config(upstream: str, **changes: Any) -> DevGateConfig:
    return DevGateConfig.model_validate(CONFIG.model_dump() | {"upstream": upstream, **changes})


@pytest.fixture(scope="module")
def backend() -> Iterator[str]:
    settings = GatekeeperSettings(password=[SecretStr(DEMO_PASSWORD)])
    with serve(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
def devgate_app(backend: str) -> Any:
    # The demo config opens unguarded routes (Swagger UI) with allow_unauthenticated; here the
    # gatekeeper's own answer to a token-less call is what is tested.
    return create_devgate(devgate_config(backend, allow_unauthenticated=False))


@pytest.fixture(scope="module")
def gatekeeper(devgate_app: Any) -> Iterator[str]:
    with serve(devgate_app) as url:
        yield url


def token(gatekeeper: str, **form: str) -> str:
    client_id, secret = (
        (WEB_ID, WEB_SECRET)
        if form.get("grant_type") == "password"
        else (
            SYSTEM_ID,
            SYSTEM_SECRET,
        )
    )
    response = httpx.post(f"{gatekeeper}/oauth/token", data=form, auth=(client_id, secret))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == CONFIG.token_lifetime - 1
    access_token: str = body["access_token"]
    return access_token


def system_token(gatekeeper: str) -> str:
    return token(gatekeeper, grant_type="client_credentials")


def user_token(gatekeeper: str) -> str:
    return token(gatekeeper, grant_type="password", username="alice", password="alice-password")


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def test_token_response_is_rfc6749_with_gk_scope_names(gatekeeper: str) -> None:
    response = httpx.post(
        f"{gatekeeper}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(SYSTEM_ID, SYSTEM_SECRET),
    )
    body = response.json()
    assert body["scope"] == "gk_exampleapi gk_exampleapi_read gk_exampleapi_reports"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("kind", "path", "status", "code"),
    [
        ("system", "/system/ping", 200, None),
        ("user", "/system/ping", 403, "user_token_not_allowed"),
        ("system", "/user/me", 403, "system_token_not_allowed"),
        ("user", "/user/me", 200, None),
        ("system", "/reports", 200, None),
        ("user", "/reports", 403, "user_token_not_allowed"),
        ("system", "/system/admin", 200, None),
        ("user", "/whoami", 200, None),
        ("user", "/legacy/report", 403, "user_token_not_allowed"),
        ("system", "/legacy/report", 200, None),
    ],
)
def test_full_matrix_through_the_gatekeeper(
    gatekeeper: str, kind: str, path: str, status: int, code: str | None
) -> None:
    value = system_token(gatekeeper) if kind == "system" else user_token(gatekeeper)
    response = httpx.get(gatekeeper + path, headers=bearer(value))
    assert response.status_code == status, response.text
    if code:
        assert_refused(response, code)


def test_user_request_carries_user_id_and_secondary_ids(gatekeeper: str) -> None:
    body = httpx.get(f"{gatekeeper}/user/me", headers=bearer(user_token(gatekeeper))).json()
    assert body["user_id"] == CONFIG.users[0].user_id
    assert body["secondary_ids"] == ["feide:alice@example.org", "nin:01019012345"]


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("not-a-token"), {"Authorization": "Basic eDp5"}],
    ids=["no token", "unknown token", "basic instead of bearer"],
)
def test_without_a_valid_token_the_gatekeeper_answers_401(
    gatekeeper: str, headers: dict[str, str]
) -> None:
    response = httpx.get(f"{gatekeeper}/system/ping", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer realm="dataporten"')


@pytest.mark.parametrize(
    "name",
    ["X-Dataporten-Userid", "x-dataporten-userid", "X_Dataporten_Userid", "X-DATAPORTEN-ACR"],
)
def test_forged_user_header_from_a_system_caller_is_stripped(gatekeeper: str, name: str) -> None:
    headers = {**bearer(system_token(gatekeeper)), name: "76a7a061-3c55-430d-8ee0-6f82ec42501f"}
    response = httpx.get(f"{gatekeeper}/system/ping", headers=headers)
    assert response.status_code == 200, response.text
    assert httpx.get(f"{gatekeeper}/whoami", headers=headers).json()["kind"] == "system"


def test_direct_backend_call_with_forged_headers_is_401(backend: str) -> None:
    forged = {
        "Authorization": "Basic " + base64.b64encode(b"dataporten:a-guess").decode(),
        "X-Dataporten-Clientid": SYSTEM_ID,
        "X-Dataporten-Scopes": "reports",
        "X-Dataporten-Gatekeeper": "exampleapi",
    }
    response = httpx.get(f"{backend}/system/ping", headers=forged)
    assert response.status_code == 401
    assert_refused(response, "gatekeeper_credentials_invalid")
    del forged["Authorization"]
    response = httpx.get(f"{backend}/system/ping", headers=forged)
    assert_refused(response, "authentication_required")


def test_expired_token_is_401(backend: str) -> None:
    with serve(create_devgate(devgate_config(backend, token_lifetime=1))) as gatekeeper:
        value = system_token_for(gatekeeper)
        assert httpx.get(f"{gatekeeper}/system/ping", headers=bearer(value)).status_code == 200
        time.sleep(1.1)
        response = httpx.get(f"{gatekeeper}/system/ping", headers=bearer(value))
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]


def system_token_for(gatekeeper: str) -> str:
    response = httpx.post(
        f"{gatekeeper}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(SYSTEM_ID, SYSTEM_SECRET),
    )
    value: str = response.json()["access_token"]
    return value


def test_streamed_upload_arrives_intact(gatekeeper: str) -> None:
    chunks = [bytes([i % 256]) * 65536 for i in range(64)]  # 4 MiB in 64 chunks
    response = httpx.post(
        f"{gatekeeper}/upload", content=iter(chunks), headers=bearer(system_token(gatekeeper))
    )
    assert response.status_code == 200, response.text
    whole = b"".join(chunks)
    assert response.json() == {"bytes": len(whole), "sha256": hashlib.sha256(whole).hexdigest()}


def test_cors_preflight_passes_the_gatekeeper_without_credentials(gatekeeper: str) -> None:
    response = httpx.options(
        f"{gatekeeper}/system/ping",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"


def test_an_api_without_the_userid_grant_still_keeps_users_off_system_routes(
    backend: str,
) -> None:
    config = devgate_config(backend, grants=["userid-feide"])
    with serve(create_devgate(config)) as gatekeeper:
        value = user_token(gatekeeper)
        me = httpx.get(f"{gatekeeper}/user/me", headers=bearer(value)).json()
        assert me["user_id"] is None
        refused = httpx.get(f"{gatekeeper}/system/ping", headers=bearer(value))
        assert_refused(refused, "user_token_not_allowed")
        insist = httpx.get(f"{gatekeeper}/user/id", headers=bearer(value))
        assert_refused(insist, "user_id_missing")


# The client-credentials client, against the real development gatekeeper.


def auth_for(gatekeeper: str, **options: Any) -> ClientCredentialsAuth:
    return ClientCredentialsAuth(
        SYSTEM_ID, SYSTEM_SECRET, token_url=f"{gatekeeper}/oauth/token", **options
    )


def test_client_caches_one_token_for_many_calls(gatekeeper: str) -> None:
    auth = auth_for(gatekeeper)
    with httpx.Client(auth=auth, base_url=gatekeeper) as http:
        for _ in range(10):
            assert http.get("/system/ping").status_code == 200
    assert auth.fetches == 1


def test_client_refreshes_an_expired_token(backend: str) -> None:
    with serve(create_devgate(devgate_config(backend, token_lifetime=2))) as gatekeeper:
        auth = auth_for(gatekeeper, refresh_margin=0.5)
        with httpx.Client(auth=auth, base_url=gatekeeper) as http:
            assert http.get("/system/ping").status_code == 200
            time.sleep(1.2)  # past expires_in (1 s) less the margin
            assert http.get("/system/ping").status_code == 200
        assert auth.fetches == 2


def test_client_fetches_once_for_50_concurrent_requests(gatekeeper: str) -> None:
    auth = auth_for(gatekeeper)

    async def run() -> list[int]:
        async with httpx.AsyncClient(auth=auth, base_url=gatekeeper) as http:
            responses = await asyncio.gather(*(http.get("/system/ping") for _ in range(50)))
        return [r.status_code for r in responses]

    assert asyncio.run(run()) == [200] * 50
    assert auth.fetches == 1


def test_client_fetches_once_for_threads_too(gatekeeper: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    auth = auth_for(gatekeeper)
    with httpx.Client(auth=auth, base_url=gatekeeper) as http, ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: http.get("/system/ping").status_code, range(24)))
    assert statuses == [200] * 24
    assert auth.fetches == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_client_retries_once_with_a_fresh_token_after_401(
    gatekeeper: str, devgate_app: Any, mode: str
) -> None:
    auth = auth_for(gatekeeper)
    if mode == "sync":
        with httpx.Client(auth=auth, base_url=gatekeeper) as http:
            assert http.get("/system/ping").status_code == 200
            devgate_app.state.issuer.clear()  # the gatekeeper forgets every token
            assert http.get("/system/ping").status_code == 200
    else:

        async def run() -> None:
            async with httpx.AsyncClient(auth=auth, base_url=gatekeeper) as http:
                assert (await http.get("/system/ping")).status_code == 200
                devgate_app.state.issuer.clear()
                assert (await http.get("/system/ping")).status_code == 200

        asyncio.run(run())
    assert auth.fetches == 2


def test_client_raises_a_clear_error_for_invalid_client(gatekeeper: str) -> None:
    auth = ClientCredentialsAuth(SYSTEM_ID, "wrong-secret", token_url=f"{gatekeeper}/oauth/token")
    with httpx.Client(auth=auth) as http, pytest.raises(TokenError) as raised:
        http.get(f"{gatekeeper}/system/ping")
    assert raised.value.error == "invalid_client"
    assert raised.value.status_code == 401
    assert "wrong-secret" not in str(raised.value)
    assert "wrong-secret" not in repr(auth)


# `make run`: the walk-through on the Getting started page, run as printed.


def run_walkthrough(*args: str) -> list[str]:
    """Start `python -m example_app.run *args`, run the walk-through it prints, stop it; the
    answers the walk-through's curl commands printed, one a line."""
    from example_app.run import port_in_use, walkthrough

    if port_in_use(8000) or port_in_use(8001):
        pytest.skip("127.0.0.1:8000 or :8001 is taken, so make run cannot start here")
    process = subprocess.Popen(  # noqa: S603 (our own module, fixed arguments)
        [sys.executable, "-m", "example_app.run", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for("http://127.0.0.1:8000/", 20)
        wait_for("http://127.0.0.1:8001/", 20)
        result = subprocess.run(  # noqa: S603
            ["bash", "-c", walkthrough(without_userid="--without-userid" in args)],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert not port_in_use(8000)  # both servers stopped with it
    assert not port_in_use(8001)
    return result.stdout.strip().splitlines()


@pytest.mark.skipif(shutil.which("curl") is None, reason="the walk-through uses curl")
def test_make_run_walkthrough_gives_the_promised_answers() -> None:
    answers = [json.loads(line) for line in run_walkthrough()]
    assert len(answers) == 10, answers
    assert answers[0] == {"pong": SYSTEM_ID}
    assert answers[1]["detail"]["code"] == "user_token_not_allowed"
    assert answers[2]["user_id"] == "76a7a061-3c55-430d-8ee0-6f82ec42501f"
    assert answers[3]["detail"]["code"] == "gatekeeper_credentials_invalid"
    # The local Feide's JWTs, straight to the service: the system's passes, alice's does not.
    assert answers[4] == {"pong": SYSTEM_ID}
    assert answers[5] == {
        "detail": {"code": "user_token_not_allowed", "message": answers[5]["detail"]["message"]}
    }
    # Feide's groups API, asked with each caller's own token, on both paths.
    alice = "76a7a061-3c55-430d-8ee0-6f82ec42501f"
    assert answers[6] == {"staff_reports": ["2026-q4"], "for": alice}
    assert answers[7]["detail"]["code"] == "group_missing"
    assert answers[8]["detail"]["code"] == "system_token_not_allowed"
    assert answers[9] == {"staff_reports": ["2026-q4"], "for": alice}


@pytest.mark.skipif(shutil.which("curl") is None, reason="the walk-through uses curl")
@pytest.mark.skipif(
    "userid_grant" not in GatekeeperSettings.model_fields,
    reason="needs the middleware's userid_grant setting (issue 11 §2)",
)
def test_walkthrough_without_the_userid_grant_closes_the_system_routes() -> None:
    answers = run_walkthrough("--without-userid")
    assert len(answers) == 5, answers
    assert '"userid_grant_missing"' in answers[0]
    assert '"user_id":null' in answers[1]
    assert '"secondary_ids":["feide:alice@example.org","nin:01019012345"]' in answers[1]
    # A user token on a system route: refused either as a user's or for the missing grant.
    assert "userid_grant_missing" in answers[2] or "user_token_not_allowed" in answers[2]
    # The JWT path is closed too: the verifier reads GATEKEEPER_JWT_USERID_GRANT.
    assert '"userid_grant_missing"' in answers[3]
    assert json.loads(answers[4]) == {
        "user_id": None,
        "client_id": WEB_ID,
        "secondary_ids": ["feide:alice@example.org"],
        "acr": None,
    }


def test_make_run_serves_both_with_the_h11_parser() -> None:
    """httptools turns request trailers into headers (issue 12, item 12): both run on h11."""
    from example_app.run import backend_command

    backend = backend_command("python")
    assert backend[backend.index("--http") + 1] == "h11"
    from gatekeeper_auth.devgate.server import uvicorn_config

    assert uvicorn_config(create_devgate(CONFIG), host="127.0.0.1", port=1).http == "h11"


def test_path_and_query_reach_the_upstream_as_sent(backend: str) -> None:
    seen: list[tuple[bytes, bytes]] = []

    async def upstream(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return  # no lifespan here
        seen.append((scope["raw_path"], scope["query_string"]))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with serve(upstream) as upstream_url, serve(create_devgate(devgate_config(upstream_url))) as gk:
        value = system_token_for(gk)
        response = httpx.get(f"{gk}/a%2Fb/c?x=1&y=%20z", headers=bearer(value))
    assert response.status_code == 204
    assert seen == [(b"/a%2Fb/c", b"x=1&y=%20z")]


# The local Feide: the dev gatekeeper issues JWTs by token exchange; the service, configured
# from its discovery document, takes them directly (no gatekeeper in the path).

AUDIENCE = CONFIG.datasources[0].audience
OTHER_AUDIENCE = "https://n.feide.no/datasources/0e9d3c1b-8a7f-4e6d-b5c4-a3f2e1d0c9b8"


@pytest.fixture(scope="module")
def local_feide() -> Iterator[tuple[dict[str, Any], Any]]:
    """The dev gatekeeper with a second data source, under uvicorn; yields its discovery
    document and the app (whose `state.feide` counts the key set's fetches)."""
    other = {"audience": OTHER_AUDIENCE, "scopes": ["read"]}
    datasources = [d.model_dump() for d in CONFIG.datasources] + [other]
    app = create_devgate(devgate_config("http://127.0.0.1:9", datasources=datasources))
    with serve(app) as url:
        discovery = httpx2.get(f"{url}/.well-known/openid-configuration").json()
        yield discovery, app


def jwt_service(discovery: dict[str, Any], **changes: str) -> Any:
    """The example service taking JWTs for the demo data source, as `make run` sets it up."""
    feide = {  # the demo data source's own client, which its group routes ask Feide with
        name.removeprefix("GATEKEEPER_").lower(): value
        for name, value in feide_environment().items()
        if name.startswith("GATEKEEPER_FEIDE_CLIENT_")
    }
    settings = {
        "jwt_audience": AUDIENCE,
        "jwt_issuer": discovery["issuer"],
        "jwt_jwks_url": discovery["jwks_uri"],
        **feide,
        **changes,
    }
    return serve(create_app(GatekeeperSettings(password=[SecretStr(DEMO_PASSWORD)], **settings)))


def test_the_service_takes_the_local_feides_jwts_directly(
    local_feide: tuple[dict[str, Any], Any],
) -> None:
    discovery, feide_app = local_feide
    token_url = discovery["token_endpoint"]
    system = ClientCredentialsAuth(SYSTEM_ID, SYSTEM_SECRET, token_url=token_url)
    system_jwt = TokenExchangeAuth(system, audience=AUDIENCE, scope=["read"])
    alice = user_token(discovery["issuer"])
    user_jwt = TokenExchangeAuth(
        alice, audience=AUDIENCE, client_id=WEB_ID, client_secret=WEB_SECRET, token_url=token_url
    )
    other_jwt = TokenExchangeAuth(system, audience=OTHER_AUDIENCE, scope=["read"])
    with jwt_service(discovery) as service, httpx2.Client(base_url=service) as http:
        assert feide_app.state.feide.jwks_requests == 1  # loaded at the service's start-up
        response = http.get("/system/ping", auth=system_jwt)
        assert response.status_code == 200, response.text
        assert response.json() == {"pong": SYSTEM_ID}
        whoami = http.get("/whoami", auth=system_jwt).json()
        assert whoami == {"kind": "system", "client_id": SYSTEM_ID, "scopes": ["read"]}

        assert_refused(http.get("/system/ping", auth=user_jwt), "user_token_not_allowed")
        me = http.get("/user/me", auth=user_jwt)
        assert me.json() == {
            "user_id": CONFIG.users[0].user_id,
            "client_id": WEB_ID,
            "secondary_ids": ["feide:alice@example.org"],  # the eduPersonPrincipalName claim
            "acr": None,
        }

        assert_refused(http.get("/system/ping", auth=other_jwt), "token_invalid")
        # No gatekeeper credentials and no X-Dataporten headers were needed; one key fetch.
        assert feide_app.state.feide.jwks_requests == 1
    assert (system_jwt.fetches, user_jwt.fetches, system.fetches) == (1, 1, 1)
    assert other_jwt.fetches == 2  # the 401 made it try a fresh JWT once: refused again


def test_a_service_expecting_another_issuer_refuses_the_local_feides_jwts(
    local_feide: tuple[dict[str, Any], Any],
) -> None:
    discovery, _ = local_feide
    elsewhere = discovery["issuer"].replace("127.0.0.1", "localhost")  # same server, other name
    system = ClientCredentialsAuth(SYSTEM_ID, SYSTEM_SECRET, token_url=discovery["token_endpoint"])
    auth = TokenExchangeAuth(system, audience=AUDIENCE)
    with jwt_service(discovery, jwt_issuer=elsewhere) as service:
        response = httpx2.get(f"{service}/system/ping", auth=auth)
    assert_refused(response, "token_invalid")


def test_the_getting_started_page_shows_the_walkthrough_make_run_prints() -> None:
    from example_app.run import walkthrough

    page = (ROOT / "docs" / "index.md").read_text()
    assert f"```sh\n{walkthrough()}```\n" in page
    steps = re.findall(r"^# (\d+)\. ", walkthrough(), re.MULTILINE)
    assert steps == [str(n) for n in range(1, len(steps) + 1)]
    answered = re.findall(r"^\| (\d+) \| ", page.split("What each step shows", 1)[1], re.M)
    assert set(answered) <= set(steps)
