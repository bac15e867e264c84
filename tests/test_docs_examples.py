"""The documentation's code runs: every example the docs include is exercised here."""

import asyncio
import base64
import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from starlette.websockets import WebSocketDisconnect

from example_app.main import DEMO_PASSWORD, create_app
from gatekeeper_auth import GatekeeperSettings, require_system
from gatekeeper_auth.devgate import DevGateConfig, create_devgate
from gatekeeper_auth.testing import TEST_USER_ID, FakeGatekeeper
from tests.helpers import assert_refused
from tests.servers import serve

EXAMPLES = Path(__file__).parent.parent / "docs" / "examples"
DOCS_GATEKEEPER = FakeGatekeeper(password="change-me")


def example(name: str) -> ModuleType:
    sys.path.insert(0, str(EXAMPLES))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(EXAMPLES))


def test_every_example_file_is_included_in_a_page() -> None:
    pages = "".join(p.read_text() for p in (EXAMPLES.parent).glob("*.md"))
    for path in EXAMPLES.glob("*.py"):
        if path.name != "conftest.py":
            assert f"examples/{path.name}" in pages, path.name


def test_quickstart() -> None:
    client = TestClient(example("quickstart").app)
    gk = DOCS_GATEKEEPER
    reports = "3e1b5a8c-7d2f-4c6a-9b1e-5f8d2c7a4e90"
    ok = client.get("/reports", headers=gk.system(client_id=reports, scopes=["read"]))
    assert ok.json() == {"for": reports}
    refused = client.get("/reports", headers=gk.user(client_id=reports, scopes=["read"]))
    assert_refused(refused, "user_token_not_allowed")
    assert client.get("/me", headers=gk.user()).json()["user"] == TEST_USER_ID


def test_fastapi_guides_example() -> None:
    module = example("fastapi_guards")
    client = TestClient(module.app)
    gk = DOCS_GATEKEEPER
    assert client.get("/reports/latest", headers=gk.user(scopes=["read"])).status_code == 200
    assert_refused(client.get("/reports/latest", headers=gk.user()), "scope_missing")
    assert client.get("/jobs", headers=gk.system()).status_code == 200
    assert_refused(client.delete("/jobs/7", headers=gk.system()), "scope_missing")
    assert client.delete("/jobs/7", headers=gk.system(scopes=["admin"])).json() == {"deleted": 7}
    profile = client.get("/profile", headers=gk.user(secondary_ids=["feide:ola@uio.no"])).json()
    assert profile["feide"] == "ola@uio.no"
    no_id = client.get("/profile", headers=gk.user(user_id=None, acr="urn:x"))
    assert_refused(no_id, "user_id_missing")
    assert client.get("/greeting").json() == {"hello": "stranger"}
    assert client.get("/act-for-users", headers=gk.system(scopes=["act"])).status_code == 200
    assert (
        "sub-scopes: admin"
        in module.app.openapi()["paths"]["/jobs/{job_id}"]["delete"]["description"]
    )


def test_starlette_guide_example() -> None:
    client = TestClient(example("starlette_app").app)
    gk = DOCS_GATEKEEPER
    assert client.get("/export", headers=gk.system(scopes=["read"])).status_code == 200
    assert_refused(
        client.get("/export", headers=gk.user(scopes=["read"])), "user_token_not_allowed"
    )
    assert client.get("/inbox", headers=gk.user(scopes=["read"])).status_code == 200
    assert client.get("/inbox", headers=gk.system(scopes=["read"])).status_code == 403
    with client.websocket_connect("/chat", headers=gk.user()) as websocket:
        websocket.send_text("hi")
        assert websocket.receive_text() == "echo: hi"
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect("/chat", headers=gk.system()),
    ):
        pass
    assert refused.value.code == 1008


def test_the_testing_guide_example_passes() -> None:
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "pytest", "-o", "addopts=", "-p", "no:cacheprovider", str(EXAMPLES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_client_example_against_the_dev_gatekeeper() -> None:
    config = DevGateConfig.load(Path("example_app/devgate.toml"))
    client = config.clients[0]
    with serve(create_app(GatekeeperSettings(password=[SecretStr(DEMO_PASSWORD)]))) as backend:
        devgate = create_devgate(
            DevGateConfig.model_validate(config.model_dump() | {"upstream": backend})
        )
        with serve(devgate) as gatekeeper:
            body = asyncio.run(
                example("client_example").fetch_reports(
                    gatekeeper,
                    client.id,
                    client.secret.get_secret_value(),
                    f"{gatekeeper}/oauth/token",
                )
            )
    assert body == {"reports": ["2026-q3", "2026-q4"], "for": client.id}


def test_migrating_before_is_fooled_and_after_is_not() -> None:
    forged = {"X-Dataporten-Clientid": "anyone", "X-Dataporten-Acr": "urn:x:password"}
    before = TestClient(example("migrating_before").app)
    assert before.get("/reports", headers=forged).status_code == 200  # the hole
    after_module = example("migrating_after")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GATEKEEPER_PASSWORD", "change-me")
        after = TestClient(after_module.app)
        assert after.get("/reports", headers=forged).status_code == 401
        user = DOCS_GATEKEEPER.user(user_id=None, acr="urn:x:password")  # no userid grant
        assert_refused(after.get("/reports", headers=user), "user_token_not_allowed")
        assert after.get("/reports", headers=DOCS_GATEKEEPER.system()).status_code == 200


def test_settings_example_reads_a_rotation_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GATEKEEPER_PASSWORD", "new-password")
    monkeypatch.setenv("GATEKEEPER_PREVIOUS_PASSWORD", "old-password")
    client = TestClient(example("settings_example").create_app())

    @client.app.get("/x")  # type: ignore[attr-defined]
    async def x() -> str:
        return "ok"

    for password in ("new-password", "old-password"):
        basic = base64.b64encode(f"dataporten:{password}".encode()).decode()
        headers = {**FakeGatekeeper(password=password).system(), "Authorization": f"Basic {basic}"}
        assert client.get("/x", headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("setup", "gatekeeper", "address", "status"),
    [
        ("bearer_trust", FakeGatekeeper(bearer_token="old-shared-token"), "10.0.0.1", 200),
        ("bearer_trust", DOCS_GATEKEEPER, "10.0.0.1", 401),
        (
            "feide_connect",
            FakeGatekeeper(
                username="feideconnect", password="change-me", header_prefix="X-FeideConnect-"
            ),
            "10.0.0.1",
            200,
        ),
        ("feide_connect", DOCS_GATEKEEPER, "10.0.0.1", 401),
        ("gatekeeper_networks", DOCS_GATEKEEPER, "158.38.1.2", 200),
        ("gatekeeper_networks", DOCS_GATEKEEPER, "10.0.0.1", 403),
    ],
)
def test_deployment_options_example(
    setup: str, gatekeeper: FakeGatekeeper, address: str, status: int
) -> None:
    app = FastAPI()

    @app.get("/jobs", dependencies=[Depends(require_system())])
    async def jobs() -> str:
        return "ok"

    getattr(example("deployment_options"), setup)(app)
    client = TestClient(app, client=(address, 5000))
    assert client.get("/jobs", headers=gatekeeper.system()).status_code == status


def test_every_test_the_security_page_names_exists() -> None:
    import re

    page = (EXAMPLES.parent / "security.md").read_text()
    named = set(re.findall(r"`(?:tests/\w+\.py::)?(test_\w+)", page))
    sources = "".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    assert len(named) >= 10
    for name in named:
        assert f"def {name}(" in sources, name
