"""gatekeeper_auth.testing and its pytest plugin: usable without pytest, no conftest line."""

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from gatekeeper_auth import Identity, optional_identity
from gatekeeper_auth.testing import system_identity
from tests.helpers import python_without


def test_override_caller_covers_optional_identity(
    override_caller: Callable[[FastAPI, Identity | None], None],
) -> None:
    app = FastAPI()  # no middleware

    @app.get("/hello")
    async def hello(caller: Annotated[Identity | None, Depends(optional_identity)]) -> Any:
        return caller.client_id if caller else None

    override_caller(app, system_identity(client_id="faked"))
    assert TestClient(app).get("/hello").json() == "faked"


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
