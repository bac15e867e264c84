"""The built docs site and the example's Swagger UI render in a real browser (headless Chromium)."""

import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.staticfiles import StaticFiles

from example_app.main import DEMO_PASSWORD, create_app
from gatekeeper_auth import GatekeeperSettings
from tests.servers import serve

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ROOT = Path(__file__).parent.parent
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed (Debian: apt-get install chromium; .ci/run does)",
)


def browse(url: str, profile: Path, *, screenshot: Path | None = None) -> str:
    """Load `url` in headless Chromium; save a screenshot, or return the DOM after scripts ran."""
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1280,900",
        "--virtual-time-budget=8000",
        f"--screenshot={screenshot}" if screenshot else "--dump-dom",
        url,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)  # noqa: S603
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def assert_png(path: Path, width: int, height: int) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (width, height)
    assert len(data) > 20_000  # a blank page compresses to a few kB


def test_the_docs_start_page_renders(tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run(  # noqa: S603
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    app = Starlette()
    app.mount("/", StaticFiles(directory=site, html=True))
    with serve(app) as url:
        dom = browse(url + "/", tmp_path / "profile")
        concepts = browse(url + "/concepts/", tmp_path / "profile")
        browse(url + "/", tmp_path / "profile", screenshot=tmp_path / "docs.png")
    assert "Getting started" in dom
    assert "FastAPI guide" in dom  # the navigation rendered
    assert 'src="../images/flow.svg"' in concepts
    assert_png(tmp_path / "docs.png", 1280, 900)


def test_swagger_ui_of_the_example_renders(tmp_path: Path) -> None:
    app = create_app(GatekeeperSettings(password=[SecretStr(DEMO_PASSWORD)]))
    with serve(app) as url:
        dom = browse(url + "/docs", tmp_path / "profile")
        browse(url + "/docs", tmp_path / "profile", screenshot=tmp_path / "swagger.png")
    assert "/system/ping" in dom  # Swagger UI fetched the schema and drew the operations
    assert "Authorize" in dom  # the security scheme of the guarded routes
    assert_png(tmp_path / "swagger.png", 1280, 900)
