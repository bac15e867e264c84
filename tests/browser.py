"""Tests that read what a person sees: headless system Chromium, driven by Playwright.

Playwright talks to the browser over the DevTools protocol; it is launched with the system's
`chromium` (never `playwright install`, which downloads a browser build and fails offline). A
page may reach 127.0.0.1 only: anything else is refused and listed in `BrowserPage.blocked`, so a
test can also prove that a page works without the internet.

    with browser_page(tmp_path / "artifacts") as page:
        page.open(url + "/docs")
        page.click("Authorize")             # a button or link, by its accessible name
        page.fill("client_id:", client_id)  # an input, by its label or aria-label
        page.click("Apply credentials")     # Swagger UI's name for the dialog's Authorize
        page.wait_for_text("Logout", selector=".modal-ux")
        text = page.text(".live-responses-table")  # innerText: what is shown

Swagger UI's own button names differ from their labels in places (the dialog's "Authorize" is
named "Apply credentials"); `page.page.get_by_role(...)` lists what a locator sees.
In Swagger UI 5 the dialog's buttons are named "Apply credentials" (an HTTP scheme's
Authorize), "Apply given OAuth2 credentials" (an OAuth2 scheme's, labelled `client_id:` and
`client_secret:`) and "Remove authorization" (Logout); the bearer input is `auth-bearer-value`.

When the block raises, a screenshot and the page's text are saved in `artifacts` and named in a
note on the exception: the screenshot is evidence for a person, never what a test asserts.
"""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, Route, sync_playwright

ROOT = Path(__file__).parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

#: Mark for tests that need the browser: they skip, saying why, only where Chromium is missing.
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed (Debian: apt-get install chromium; .ci/run does)",
)

# No sandbox (CI runs as root), no GPU, nothing that phones home.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: How long one step (a click, a wait for text) may take before the test fails, in ms.
STEP_TIMEOUT_MS = 10_000
#: How long loading a page may take, in ms.
LOAD_TIMEOUT_MS = 30_000
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@dataclass(slots=True)
class BrowserPage:
    """One browser tab with the few steps tests need; `page` is Playwright's for anything else."""

    page: Page
    #: Requests refused because they left 127.0.0.1 (URLs).
    blocked: list[str] = field(default_factory=list)
    #: Uncaught JavaScript errors on the page.
    errors: list[str] = field(default_factory=list)

    def open(self, url: str) -> None:
        """Load `url` and wait until its network is idle (scripts have fetched what they need)."""
        self.page.goto(url, wait_until="networkidle", timeout=LOAD_TIMEOUT_MS)

    def text(self, selector: str = "body") -> str:
        """The `innerText` of every element `selector` matches (what is shown), one per line."""
        return "\n".join(self.page.locator(selector).all_inner_texts())

    def code_blocks(self) -> list[str]:
        """The text of every code block on the page, highlighting markup gone."""
        return self.page.locator("pre code").all_inner_texts()

    def wait_for_text(
        self, text: str, *, selector: str = "body", timeout_ms: int = STEP_TIMEOUT_MS
    ) -> None:
        """Wait until `text` is shown inside `selector`; fail saying what is shown instead."""
        try:
            self.page.locator(selector).get_by_text(text).first.wait_for(
                state="visible", timeout=timeout_ms
            )
        except PlaywrightError:
            shown = self.text(selector)[:2000]
            raise AssertionError(
                f"{text!r} not shown in {selector!r}; it shows:\n{shown}"
            ) from None

    def click(self, name: str) -> None:
        """Click the button or link whose accessible name is `name` (its label, exactly)."""
        button = self.page.get_by_role("button", name=name, exact=True)
        link = self.page.get_by_role("link", name=name, exact=True)
        button.or_(link).first.click(timeout=STEP_TIMEOUT_MS)

    def fill(self, label: str, value: str) -> None:
        """Type `value` into the input labelled `label` (its <label> or aria-label)."""
        self.page.get_by_label(label, exact=True).first.fill(value, timeout=STEP_TIMEOUT_MS)


@contextmanager
def browser_page(artifacts: Path, *, width: int = 1280, height: int = 900) -> Iterator[BrowserPage]:
    """A fresh tab in headless system Chromium that can reach 127.0.0.1 only; closed afterwards."""
    if CHROMIUM is None:
        pytest.skip(needs_chromium.kwargs["reason"])
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, timeout=LOAD_TIMEOUT_MS
        )
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            tab = BrowserPage(context.new_page())
            tab.page.set_default_timeout(STEP_TIMEOUT_MS)
            tab.page.on("pageerror", lambda error: tab.errors.append(str(error)))

            def local_only(route: Route) -> None:
                url = route.request.url
                if urlsplit(url).scheme in {"http", "https", "ws", "wss"} and (
                    urlsplit(url).hostname not in LOCAL_HOSTS
                ):
                    tab.blocked.append(url)
                    route.abort("blockedbyclient")
                else:
                    route.continue_()

            context.route("**/*", local_only)
            try:
                yield tab
            except BaseException as failure:
                _keep_evidence(tab, artifacts, failure)
                raise
        finally:
            browser.close()


def _keep_evidence(tab: BrowserPage, artifacts: Path, failure: BaseException) -> None:
    """Save what the page showed when a test failed, and say where on the failure."""
    artifacts.mkdir(parents=True, exist_ok=True)
    shot, text = artifacts / "failure.png", artifacts / "failure.txt"
    try:
        tab.page.screenshot(path=shot, full_page=True, timeout=STEP_TIMEOUT_MS)
        text.write_text(f"{tab.page.url}\n\n{tab.text()}")
    except PlaywrightError as error:
        failure.add_note(f"no screenshot of the page: {error}")
        return
    failure.add_note(f"the page as it was: {shot} and {text}")


def build_docs(site: Path) -> Path:
    """Build the docs site strictly into `site` (as `make docs-build` does); returns `site`."""
    subprocess.run(  # noqa: S603
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=True,
        timeout=120,
    )
    return site
