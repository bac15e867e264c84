"""The documentation's code runs: every example the docs include is exercised here."""

import asyncio
import base64
import html
import importlib
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from starlette.websockets import WebSocketDisconnect

from example_app.main import DEMO_PASSWORD, create_app
from gatekeeper_auth import GatekeeperSettings, Identity, require_system
from gatekeeper_auth.devgate import DevGateConfig, create_devgate
from gatekeeper_auth.testing import TEST_USER_ID, FakeFeideAPI, FakeGatekeeper, feide_group
from tests.browser import build_docs
from tests.helpers import assert_refused
from tests.servers import serve

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
DOCS_GATEKEEPER = FakeGatekeeper(password="change-me")

#: A pymdownx.snippets include line as it must be written: alone on its line, double quotes.
INCLUDE_LINE = re.compile(r'^--8<-- "([^"]+)"$')
#: Anything that looks like an include marker, however a formatter respaced it.
RAW_MARKER = re.compile(r"-{1,2}\s*8\s*<\s*-{1,2}")


def includes() -> list[tuple[str, str, bool]]:
    """Every include line of the docs pages: (page, included file, inside a code fence)."""
    found = []
    for page in sorted(DOCS.glob("*.md")):
        fenced = False
        for line in page.read_text().splitlines():
            if line.lstrip().startswith("```"):
                fenced = not fenced
            elif match := INCLUDE_LINE.match(line):
                found.append((page.name, match[1], fenced))
    return found


def built_page(site: Path, page: str) -> Path:
    """Where mkdocs (directory URLs) writes the HTML of the page `page` (`index.md`, `x.md`)."""
    stem = page.removesuffix(".md")
    return site / "index.html" if stem == "index" else site / stem / "index.html"


class _CodeText(HTMLParser):
    """The text of each <pre> block of a page as a reader sees it, highlighting markup gone."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "pre":
            if self._depth == 0:
                self.blocks.append("")
            self._depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre" and self._depth:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._depth:
            self.blocks[-1] += data


def page_text(page: Path) -> str:
    """A built page's text with every tag gone (highlighting splits a line into many spans)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))


def code_blocks(page: Path) -> list[str]:
    parser = _CodeText()
    parser.feed(page.read_text())
    return parser.blocks


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_docs(tmp_path_factory.mktemp("docs") / "site")


def example(name: str) -> ModuleType:
    sys.path.insert(0, str(EXAMPLES))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(EXAMPLES))


def test_every_example_file_is_included_in_a_page() -> None:
    included = {target for _, target, fenced in includes() if fenced}
    for path in EXAMPLES.glob("*.py"):
        assert f"docs/examples/{path.name}" in included, (
            f'{path.name} is on no page as an include line `--8<-- "docs/examples/{path.name}"`'
            " inside a ```python fence"
        )


def test_no_raw_include_line_survives_in_the_built_site(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 11
    for page in pages:
        raw = RAW_MARKER.search(page_text(page))
        assert raw is None, f"{page.relative_to(site)} shows an include line: {raw[0]!r}"


def test_no_built_page_speaks_of_the_projects_own_process(site: Path) -> None:
    """The pages' own words are checked in test_docs.py; this adds what the site builds in,
    such as the API reference's docstrings."""
    from tests.test_docs import INTERNAL

    found = [
        f"{page.relative_to(site)}: {match[0]!r}"
        for page in sorted(site.rglob("*.html"))
        for match in INTERNAL.finditer(page_text(page))
    ]
    assert found == []


@pytest.mark.parametrize(
    ("page", "target", "fenced"), includes(), ids=[f"{p}:{t}" for p, t, _ in includes()]
)
def test_each_included_file_appears_on_its_page(
    site: Path, page: str, target: str, fenced: bool
) -> None:
    built = built_page(site, page)
    included = (ROOT / target).read_text()
    if fenced:  # code: the whole file, exactly, in one code block as the reader sees it
        blocks = code_blocks(built)
        assert any(included.strip() in block for block in blocks), (
            f"{target} is not in any of the {len(blocks)} code blocks of {page}"
        )
    else:  # Markdown: each of its headings rendered on the page
        headings = [  # as rendered: inline code without backticks, a link as its text
            re.sub(r"\[([^\]]+)\]", r"\1", line.lstrip("#").strip().replace("`", ""))
            for line in included.splitlines()
            if line[:1] == "#"
        ]
        text = page_text(built)
        assert headings
        for heading in headings:
            assert heading in text, f"{target}'s heading {heading!r} is not on {page}"


def test_the_include_lines_are_found() -> None:
    found = includes()
    assert len([1 for _, _, fenced in found if fenced]) >= 11
    assert {page for page, _, _ in found} >= {"index.md", "fastapi.md", "testing.md"}


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
    assert " 5 passed" in result.stdout


def test_feide_groups_example(monkeypatch: pytest.MonkeyPatch) -> None:
    module = example("feide_groups")
    feide = FakeFeideAPI()
    uio = feide_group(module.UIO, "employee", display_name="UiO")
    alice = feide.add_user("alice", groups=[uio], userinfo={"name": "Alice"})
    bob = feide.add_user("bob", groups=[feide_group(module.UIO, "student")])
    settings = GatekeeperSettings(password=[SecretStr("change-me")])
    client = TestClient(
        module.create_app(settings, settings.feide_api(transport=feide.transport()))
    )
    gk = DOCS_GATEKEEPER

    me = client.get("/staff/me", headers=gk.user(token=alice))
    assert me.json() == {"name": "Alice", "groups": ["UiO"]}
    assert_refused(client.get("/staff/reports", headers=gk.user(token=bob)), "group_missing")
    assert_refused(client.get("/staff/reports", headers=gk.system()), "system_token_not_allowed")
    assert feide.requests == {"/groups/me/groups": 2, "/userinfo/v1/userinfo": 1}

    monkeypatch.setenv("GATEKEEPER_PASSWORD", "change-me")
    monkeypatch.setenv("GATEKEEPER_FEIDE_CLIENT_ID", "02d0f79b-7fbc-422b-bb31-a4d22121f040")
    monkeypatch.setenv("GATEKEEPER_FEIDE_CLIENT_SECRET", "data-source-secret")
    from_environment = TestClient(module.app_from_environment())
    refused = from_environment.get("/staff/reports", headers=gk.system())
    assert_refused(refused, "system_token_not_allowed")


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
        ("no_userid_grant", DOCS_GATEKEEPER, "10.0.0.1", 403),
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


@pytest.mark.parametrize("page", [*sorted(p.name for p in DOCS.glob("*.md")), "../README.md"])
def test_every_test_a_page_names_exists_where_it_says(page: str) -> None:
    text = (DOCS / page).read_text()
    tests = Path(__file__).parent
    for file, name in re.findall(r"`tests/(\w+\.py)::(test_\w+)", text):
        assert f"def {name}(" in (tests / file).read_text(), f"{page}: {file}::{name}"
    sources = "".join(p.read_text() for p in tests.glob("test_*.py"))
    for name in re.findall(r"`(test_\w+)", text):
        assert f"def {name}(" in sources, f"{page}: {name}"
    if page == "security.md":
        assert len(re.findall(r"`(?:tests/\w+\.py::)?(test_\w+)", text)) >= 10


def test_authenticators_example_serves_both_paths_own_keys_and_problem_details(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from docs.examples.authenticators import create_app
    from gatekeeper_auth import FeideJWT
    from gatekeeper_auth.fake_feide import FakeFeideIssuer
    from gatekeeper_auth.fastapi import require_system

    issuer = FakeFeideIssuer()
    monkeypatch.setenv("GATEKEEPER_PASSWORD", "change-me")
    app = create_app(FeideJWT(audience=issuer.audience, transport=issuer.transport()))

    @app.get("/reports")
    async def reports(caller: Identity = Depends(require_system())) -> dict[str, str]:  # noqa: B008
        return {"client": caller.client_id, "source": caller.source}

    jwt_headers = {"Authorization": f"Bearer {issuer.mint()}"}
    with TestClient(app) as client:
        by_gatekeeper = client.get("/reports", headers=DOCS_GATEKEEPER.system()).json()
        by_jwt = client.get("/reports", headers=jwt_headers).json()
        own_key = client.get("/legacy", headers={"Authorization": "ApiKey s3cret-key"}).json()
        refused = client.get("/reports", headers={"Authorization": "ApiKey s3cret-key"})
        wrong = client.get("/reports", headers=DOCS_GATEKEEPER.user())
    assert by_gatekeeper == {
        "client": DOCS_GATEKEEPER.system()["X-Dataporten-Clientid"],
        "source": "gatekeeper",
    }
    assert by_jwt["source"] == "jwt"
    assert own_key == {"hello": "api key holder"}
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "https://errors.example.org/authentication_required"
    assert wrong.status_code == 403
    assert wrong.json()["type"] == "https://errors.example.org/user_token_not_allowed"
