"""What got in a newcomer's way (issue 14, items 3-5 and 8), and renamed names (issue 13)."""

import base64
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import gatekeeper_auth
from gatekeeper_auth import ConfigurationError, GatekeeperMiddleware, Identity, optional_identity
from gatekeeper_auth import credentials as credentials_module
from gatekeeper_auth.testing import TEST_PASSWORD, system_identity
from tests.helpers import assert_refused, python_without

ROOT = Path(__file__).parent.parent
NO_GATEKEEPER_ENV = {k: v for k, v in os.environ.items() if not k.startswith("GATEKEEPER_")}

# 3. A browser that opens a guarded route directly must not pop up a login dialog.


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic " + base64.b64encode(b"dataporten:guess").decode()}],
    ids=["no credentials", "wrong credentials"],
)
def test_no_401_ever_asks_the_browser_for_a_password(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.get("/system", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer ")


# 4. A misconfigured middleware stops the server instead of serving 500s.

BAD_APP = """
from fastapi import FastAPI
from gatekeeper_auth import GatekeeperMiddleware

app = FastAPI()
app.add_middleware(GatekeeperMiddleware)  # no password, no environment: misconfigured
"""


def test_uvicorn_exits_with_the_message_when_the_middleware_is_misconfigured(
    tmp_path: Path,
) -> None:
    (tmp_path / "bad_app.py").write_text(BAD_APP)
    command = [sys.executable, "-m", "uvicorn", "bad_app:app", "--port", "0", "--lifespan", "auto"]
    result = subprocess.run(  # noqa: S603
        command,
        cwd=tmp_path,
        env=NO_GATEKEEPER_ENV,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert "GatekeeperMiddleware needs password=" in result.stderr
    assert "Application startup failed" in result.stderr
    assert "appears unsupported" not in result.stderr


def test_a_test_client_raises_the_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("GATEKEEPER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(ROOT / "docs")  # no .env here
    app = FastAPI()
    app.add_middleware(GatekeeperMiddleware)
    with pytest.raises(ConfigurationError, match="needs password="), TestClient(app):
        pass
    with pytest.raises(ConfigurationError, match="needs password="):
        TestClient(app).get("/")  # without the lifespan: the first request raises it


def test_built_by_hand_the_middleware_raises_at_once() -> None:
    with pytest.raises(ConfigurationError, match="got both password= and bearer_token="):
        GatekeeperMiddleware(FastAPI(), password="p", bearer_token="t")


# 5. override_caller covers every gatekeeper dependency, optional_identity included.


def test_override_caller_covers_optional_identity(
    override_caller: Callable[[FastAPI, Identity | None], None],
) -> None:
    app = FastAPI()  # no middleware

    @app.get("/hello")
    async def hello(caller: Annotated[Identity | None, Depends(optional_identity)]) -> Any:
        return caller.client_id if caller else None

    override_caller(app, system_identity(client_id="faked"))
    assert TestClient(app).get("/hello").json() == "faked"


# 8. A wrong gatekeeper password is easy to spot in the log.


def test_wrong_credentials_are_logged_once_a_minute_with_a_count_and_no_secret(
    client: TestClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def basic(credentials: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}

    now = [1000.0]
    monkeypatch.setattr(credentials_module.time, "monotonic", lambda: now[0])
    with caplog.at_level(logging.INFO, logger="gatekeeper_auth"):
        client.get("/system", headers=basic("dataporten:typo-in-password"))
        client.get("/system", headers=basic("dataporten:typo-in-password"))
        client.get("/system", headers=basic("feideconnect:typo-in-password"))
        now[0] += 61
        client.get("/system", headers=basic("dataporten:typo-in-password"))
    lines = [r for r in caplog.records if "did not match" in r.getMessage()]
    assert [r.levelno for r in lines] == [logging.WARNING, logging.WARNING]
    first, second = (r.getMessage() for r in lines)
    assert first.startswith("gatekeeper_auth: 1 request(s) refused since the last such line")
    assert "trust type basic with username 'dataporten'" in first
    assert "the username matched, the password did not" in first
    assert second.startswith("gatekeeper_auth: 3 request(s) refused")
    assert "typo-in-password" not in caplog.text
    assert TEST_PASSWORD not in caplog.text


# Renamed public names keep working for a release, with a warning that names the new one.


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("requires_system", "system_endpoint"),
        ("requires_user", "user_endpoint"),
        ("requires_identity", "identity_endpoint"),
    ],
)
def test_the_old_starlette_decorator_names_warn_and_work(old: str, new: str) -> None:
    with pytest.warns(DeprecationWarning, match=f"renamed {new}"):
        decorator = getattr(gatekeeper_auth, old)
    assert decorator is getattr(gatekeeper_auth, new)


def test_refusal_handler_still_renders_and_warns() -> None:
    from gatekeeper_auth import refusal_handler

    async def refuse(request: Request) -> JSONResponse:
        raise gatekeeper_auth.Refusal("scope_missing", "needs read")

    handlers: Any = {gatekeeper_auth.Refusal: refusal_handler}
    app = Starlette(routes=[Route("/refuse", refuse)], exception_handlers=handlers)
    with pytest.warns(DeprecationWarning, match="no longer needed"):
        response = TestClient(app).get("/refuse")
    assert_refused(response, "scope_missing")


def test_unknown_names_are_still_attribute_errors() -> None:
    with pytest.raises(AttributeError):
        gatekeeper_auth.no_such_name  # noqa: B018


# gatekeeper_auth.testing imports without pytest; the fixtures come by entry point.


def test_the_testing_helpers_import_without_pytest() -> None:
    result = python_without({"pytest"}, "import gatekeeper_auth.testing")
    assert result.returncode == 0, result.stderr


def test_the_fixtures_need_no_conftest_line(tmp_path: Path) -> None:
    (tmp_path / "test_mine.py").write_text(
        textwrap.dedent(
            """
            def test_fixtures(gatekeeper, override_caller):
                assert gatekeeper.system()["X-Dataporten-Clientid"]
            """
        )
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


# Packaging: everything importable from gatekeeper_auth imports on a plain install; a missing
# extra is named.

OPTIONAL = ["httpx", "httpx2", "jwt", "cryptography", "uvicorn", "websockets", "pytest"]


def test_the_package_imports_without_any_extra() -> None:
    result = python_without(
        OPTIONAL,
        """
        import gatekeeper_auth, gatekeeper_auth.testing
        from gatekeeper_auth import *
        try:
            gatekeeper_auth.FeideJWT(audience="https://n.feide.no/datasources/x")
        except gatekeeper_auth.ConfigurationError as error:
            print(error)
        """,
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'gatekeeper-auth[jwt]'" in result.stdout


def test_the_client_names_its_extra_and_needs_no_httpx() -> None:
    missing = python_without(["httpx2"], "import gatekeeper_auth.client")
    assert missing.returncode != 0
    assert missing.stderr.strip().splitlines()[-1] == (
        "ImportError: gatekeeper_auth.client needs httpx2, which is not installed: "
        "pip install 'gatekeeper-auth[client]'"
    )
    without_httpx = python_without(
        ["httpx"],
        """
        import httpx2
        from gatekeeper_auth.client import ClientCredentialsAuth
        assert isinstance(ClientCredentialsAuth("id", "secret"), httpx2.Auth)
        """,
    )
    assert without_httpx.returncode == 0, without_httpx.stderr
