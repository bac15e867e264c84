"""The docs site and the example's Swagger UI, as a person sees them in headless Chromium.

Each test reads the text the page shows (innerText, after its scripts ran), never file sizes; a
screenshot is saved only when a test fails (tests/browser.py says where).
"""

from pathlib import Path

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.staticfiles import StaticFiles

from example_app.main import DEMO_PASSWORD, create_app
from gatekeeper_auth import GatekeeperSettings
from tests.browser import ROOT, browser_page, build_docs, needs_chromium
from tests.servers import serve

pytestmark = needs_chromium

NAVIGATION = [
    "Getting started",
    "Introduction",
    "Concepts",
    "Guides",
    "FastAPI",
    "Starlette",
    "Testing your app",
    "Calling a protected API",
    "Feide JWT & Feide APIs",
    "Operations",
    "Deployment",
    "Security",
    "Development gatekeeper",
    "Benchmarks",
    "Reference",
    "API reference",
    "Release notes",
]


def test_the_docs_start_page_shows_its_navigation_and_the_quickstart_code(tmp_path: Path) -> None:
    site = build_docs(tmp_path / "site")
    quickstart = (ROOT / "docs/examples/quickstart.py").read_text().strip()
    app = Starlette()
    app.mount("/", StaticFiles(directory=site, html=True))
    with serve(app) as url, browser_page(tmp_path / "artifacts") as page:
        page.open(url + "/")
        navigation = page.text("nav.md-nav--primary")
        code = page.code_blocks()
        page.open(url + "/concepts/")
        diagram = page.page.locator("img[src$='flow.svg']")
        diagram_loaded = diagram.evaluate("img => img.complete && img.naturalWidth > 0")
    assert [item for item in NAVIGATION if item not in navigation] == []
    assert any(quickstart in block for block in code), code
    assert not any("--8<--" in block or "--8 <" in block for block in code), code
    assert diagram_loaded, "the flow diagram on the Concepts page did not load"
    assert page.blocked == []  # the site needs nothing from the internet
    assert page.errors == []


def test_swagger_ui_of_the_example_lists_the_operations_and_authorize(tmp_path: Path) -> None:
    app = create_app(GatekeeperSettings(password=[SecretStr(DEMO_PASSWORD)]))
    schema = app.openapi()
    operations = {
        (method.upper(), path) for path, methods in schema["paths"].items() for method in methods
    }
    schemes = set(schema["components"]["securitySchemes"])
    with serve(app) as url, browser_page(tmp_path / "artifacts") as page:
        page.open(url + "/docs")
        page.wait_for_text("/system/ping", selector=".swagger-ui")
        summaries = page.page.locator(".opblock-summary").all_inner_texts()
        authorize = page.text("button.authorize")
        page.click("Authorize")
        page.wait_for_text("Available authorizations", selector=".modal-ux")
        dialog = page.text(".modal-ux h4")
        page.fill("auth-bearer-value", "a-pasted-token")
        page.click("Apply credentials")
        page.wait_for_text("Logout", selector=".modal-ux")
        authorized = page.text(".modal-ux")
        page.click("Close")
        locked = page.page.locator("button.authorize.locked").count()
    shown = {tuple(summary.split("\n")[:2]) for summary in summaries}
    assert len(operations) >= 5
    assert shown == operations
    assert authorize.strip() == "Authorize"
    assert schemes
    assert [name for name in schemes if name not in dialog] == []
    assert "Authorized" in authorized
    assert "a-pasted-token" not in authorized  # Swagger UI masks what was pasted
    assert locked == 1  # the padlock closed: the token will be sent
    assert page.blocked == []  # Swagger UI is served from the package, not a CDN
    assert page.errors == []


def test_no_code_block_is_cut_off_or_covered_by_its_copy_button_at_1280_px(
    tmp_path: Path,
) -> None:
    site = build_docs(tmp_path / "site")
    app = Starlette()
    app.mount("/", StaticFiles(directory=site, html=True))
    cut: list[str] = []
    with serve(app) as url, browser_page(tmp_path / "artifacts", width=1280) as page:
        for html in sorted(site.glob("**/index.html")):
            path = "/" + str(html.parent.relative_to(site)).removeprefix(".") + "/"
            page.open(url + path.replace("//", "/"))
            # A block whose text is wider than its box hides the rest of its lines; a copy
            # button needs the block's right padding to sit beside the text, not over it.
            cut += page.page.locator(".md-typeset pre > code").evaluate_all(
                """codes => codes.filter(c => c.scrollWidth > c.clientWidth + 1
                        || parseFloat(getComputedStyle(c).paddingRight) < 30)
                    .map(c => location.pathname + ': ' + c.innerText.split('\\n')[0])"""
            )
    assert cut == []
