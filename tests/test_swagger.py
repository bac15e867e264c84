"""Swagger UI's "Try it out" as a person uses it under `make run`: the example app and the
development gatekeeper (with example_app/devgate.toml as shipped) each under uvicorn, Swagger UI
opened THROUGH the gatekeeper in headless Chromium, Authorize with the demo client's id and
secret, Execute. The tests read what the page shows, never screenshots.
"""

import json
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from pydantic import SecretStr

from example_app import run
from example_app.main import DEMO_PASSWORD, GATEKEEPER_URL, create_app, swagger_urls
from gatekeeper_auth import GatekeeperSettings
from gatekeeper_auth.devgate import DevGateConfig, create_devgate
from gatekeeper_auth.fastapi import DATAPORTEN_TOKEN_URL
from tests.browser import BrowserPage, browser_page, needs_chromium
from tests.helpers import assert_refused
from tests.servers import free_port, serve

ROOT = Path(__file__).parent.parent
CONFIG = DevGateConfig.load(ROOT / "example_app" / "devgate.toml")
REPORTS = next(client for client in CONFIG.clients if client.name == "reports-service")
WEB_APP = next(client for client in CONFIG.clients if client.name == "web-app")
ALICE = next(user for user in CONFIG.users if user.username == "alice")


@pytest.fixture(scope="module")
def gatekeeper() -> Iterator[str]:
    """The dev gatekeeper with example_app/devgate.toml (only `upstream` moved to the backend's
    free port) in front of the example app, whose OpenAPI `servers` point at the gatekeeper."""
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EXAMPLE_GATEKEEPER_URL", url)
        patch.delenv("EXAMPLE_TOKEN_URL", raising=False)
        backend_app = create_app(GatekeeperSettings(password=[SecretStr(DEMO_PASSWORD)]))
    with serve(backend_app) as backend:
        config = DevGateConfig.model_validate(CONFIG.model_dump() | {"upstream": backend})
        with serve(create_devgate(config), port=int(url.rsplit(":", 1)[1])) as served:
            assert served == url
            yield url


def user_token(gatekeeper: str) -> str:
    """Alice's token from the password grant, as the walk-through gets it."""
    response = httpx2.post(
        f"{gatekeeper}/oauth/token",
        data={"grant_type": "password", "username": ALICE.username, "password": secret(ALICE)},
        auth=(WEB_APP.id, secret(WEB_APP)),
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def secret(holder: Any) -> str:
    """A demo client's secret or a demo user's password, from the shipped config."""
    value = holder.secret if hasattr(holder, "secret") else holder.password
    plain: str = value.get_secret_value()
    return plain


@dataclass(frozen=True, slots=True)
class Shown:
    """What Swagger UI shows after Execute: the request URL, the status, the body."""

    url: str
    status: int
    body: Any


def execute(page: BrowserPage, path: str, *, previous: Shown | None = None) -> Shown:
    """Try it out -> Execute on GET `path` (opening the operation first), then read the answer
    Swagger UI shows; with `previous`, wait until it shows a different one."""
    operation = page.page.locator(".opblock-get").filter(
        has=page.page.locator(f".opblock-summary-path[data-path='{path}']")
    )
    if not operation.locator(".opblock-body").count():
        operation.locator(".opblock-summary-control").click()
        operation.get_by_role("button", name="Try it out").click()
    if previous is not None:
        operation.get_by_role("button", name="Clear").click()
    operation.get_by_role("button", name="Execute").click()
    answer = operation.locator(".live-responses-table .response")
    answer.wait_for()
    # "403\nUndocumented" when the status is not among the operation's documented ones, and
    # no number at all when the browser got no answer ("Failed to fetch": CORS, a dead server).
    status = answer.locator(".response-col_status").inner_text().split()[0]
    if not status.isdigit():
        raise AssertionError(
            f"Swagger UI got no answer from the API; it shows:\n{answer.inner_text()}"
        )
    return Shown(
        url=operation.locator(".request-url pre").inner_text().strip(),
        status=int(status),
        body=json.loads(answer.locator(".response-col_description pre").first.inner_text()),
    )


def authorize(page: BrowserPage, fill: dict[str, str], apply: str) -> str:
    """Open Authorize, fill the inputs by label, apply; the dialog's text once authorized."""
    page.click("Authorize")
    page.wait_for_text("Available authorizations", selector=".modal-ux")
    for label, value in fill.items():
        page.fill(label, value)
    page.click(apply)
    page.wait_for_text("Logout", selector=".modal-ux")
    text = page.text(".modal-ux")
    page.click("Close")
    return text


@needs_chromium
def test_try_it_out_through_the_gatekeeper_with_a_client_and_with_a_user_token(
    gatekeeper: str, tmp_path: Path
) -> None:
    user = user_token(gatekeeper)
    with browser_page(tmp_path / "artifacts") as page:
        page.open(gatekeeper + "/docs")  # no token: the demo API allows unauthenticated calls
        page.wait_for_text("/system/ping", selector=".swagger-ui")
        servers = page.text(".servers")
        page.click("Authorize")
        page.wait_for_text("Available authorizations", selector=".modal-ux")
        offered = page.text(".modal-ux")  # before authorizing, with the scopes to choose
        page.click("Close")
        dialog = authorize(
            page,
            {"client_id:": REPORTS.id, "client_secret:": secret(REPORTS)},
            "Apply given OAuth2 credentials",  # the OAuth2 section's Authorize
        )
        as_client = execute(page, "/system/ping")

        page.click("Authorize")  # log the client out; paste alice's token instead
        page.click("Remove authorization")  # the Logout button's accessible name
        page.click("Close")
        authorize(page, {"auth-bearer-value": user}, "Apply credentials")
        as_user = execute(page, "/system/ping", previous=as_client)

    assert gatekeeper in servers
    assert f"Token URL: {gatekeeper}/oauth/token" in dialog
    assert "API requires the following scopes" in offered  # and names them:
    assert "gk_exampleapi\n\nthe basic scope of the API exampleapi" in offered
    assert "gk_exampleapi_reports\n\nthe sub-scope reports" in offered
    assert "Authorized" in dialog
    assert secret(REPORTS) not in dialog  # Swagger UI masks the secret
    assert as_client == Shown(f"{gatekeeper}/system/ping", 200, {"pong": REPORTS.id})
    # The page shows exactly the backend's refusal, as the gatekeeper passed it on.
    refused = httpx2.get(f"{gatekeeper}/system/ping", headers={"Authorization": f"Bearer {user}"})
    assert_refused(refused, "user_token_not_allowed")
    assert as_user == Shown(f"{gatekeeper}/system/ping", 403, refused.json())
    assert page.blocked == []  # Swagger UI's files come through the gatekeeper, not a CDN
    assert page.errors == []


def test_docs_and_the_openapi_document_load_through_the_gatekeeper_without_a_token(
    gatekeeper: str,
) -> None:
    docs = httpx2.get(f"{gatekeeper}/docs")
    schema = httpx2.get(f"{gatekeeper}/openapi.json")
    script = httpx2.get(f"{gatekeeper}/static/swagger-ui/swagger-ui-bundle.js")
    assert docs.status_code == 200
    assert "/static/swagger-ui/swagger-ui-bundle.js" in docs.text
    assert schema.status_code == 200
    assert script.status_code == 200
    assert schema.json()["servers"] == [{"url": gatekeeper, "description": "the API gatekeeper"}]
    flows = schema.json()["components"]["securitySchemes"]["DataportenOAuth2"]["flows"]
    assert flows == {
        "clientCredentials": {
            "tokenUrl": f"{gatekeeper}/oauth/token",
            "scopes": {
                "gk_exampleapi": "the basic scope of the API exampleapi",
                "gk_exampleapi_reports": "the sub-scope reports",
                "gk_exampleapi_act-for-users": "the sub-scope act-for-users",
            },
        }
    }
    reports = schema.json()["paths"]["/reports"]["get"]["security"]
    assert reports == [
        {"DataportenGatekeeper": []},
        {"DataportenOAuth2": ["gk_exampleapi", "gk_exampleapi_reports"]},
    ]


def test_a_guarded_route_without_a_token_is_still_refused_by_the_backend(gatekeeper: str) -> None:
    """`allow_unauthenticated` lets the request pass the gatekeeper anonymous: the guard refuses."""
    assert_refused(httpx2.get(f"{gatekeeper}/system/ping"), "authentication_required")


def test_swagger_urls_default_to_make_run_and_follow_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("EXAMPLE_GATEKEEPER_URL", raising=False)
    monkeypatch.delenv("EXAMPLE_TOKEN_URL", raising=False)
    assert GATEKEEPER_URL == run.GATEKEEPER  # make run's gatekeeper
    assert swagger_urls() == (run.GATEKEEPER, f"{run.GATEKEEPER}/oauth/token")
    monkeypatch.setenv("EXAMPLE_GATEKEEPER_URL", "https://exampleapi.dataporten-api.no/")
    monkeypatch.setenv("EXAMPLE_TOKEN_URL", DATAPORTEN_TOKEN_URL)
    assert swagger_urls() == ("https://exampleapi.dataporten-api.no", DATAPORTEN_TOKEN_URL)


@pytest.mark.parametrize("value", ["127.0.0.1:8000", "ftp://127.0.0.1", "http://"])
def test_a_gatekeeper_url_that_is_not_http_stops_the_app(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("EXAMPLE_GATEKEEPER_URL", value)
    with pytest.raises(ValueError, match="EXAMPLE_GATEKEEPER_URL") as raised:
        create_app(GatekeeperSettings(password=[SecretStr(DEMO_PASSWORD)]))
    assert str(raised.value) == (
        "EXAMPLE_GATEKEEPER_URL must be an http(s) URL with a host, such as http://127.0.0.1:8000"
    )


def test_make_run_prints_the_swagger_url_and_it_serves_the_flow_through_the_gatekeeper() -> None:
    """`python -m example_app.run` (what `make run` runs), with its defaults: the URL it prints
    loads through the gatekeeper, and its OpenAPI document sends calls and Authorize there."""
    if run.port_in_use(8000) or run.port_in_use(8001):
        pytest.skip("127.0.0.1:8000 or :8001 is taken, so make run cannot start here")
    process = subprocess.Popen(
        [sys.executable, "-m", "example_app.run"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=pump, args=(process, lines), daemon=True).start()
    try:
        printed = ""
        while not printed.startswith("Swagger UI:"):
            printed = lines.get(timeout=30)  # bounded: queue.Empty fails the test
        url = re.search(r"http://\S+/docs", printed)
        assert url is not None, printed
        docs = httpx2.get(url.group())
        schema = httpx2.get(url.group().removesuffix("/docs") + "/openapi.json").json()
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert url.group() == f"{run.GATEKEEPER}/docs"
    assert docs.status_code == 200
    assert schema["servers"][0]["url"] == run.GATEKEEPER
    flows = schema["components"]["securitySchemes"]["DataportenOAuth2"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == f"{run.GATEKEEPER}/oauth/token"


def pump(process: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    """Move a process's output into `lines`, so that the test reads it with a timeout."""
    assert process.stdout is not None
    for line in process.stdout:
        lines.put(line)
