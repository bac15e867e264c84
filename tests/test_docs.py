"""The documentation as a product: its tables are written from the code (`make docs-tables`), the
README is checked against the pages it sums up, and public pages speak of the library, never of
the project's own process. (The examples the pages include run in test_docs_examples.py.)"""

import ast
import dataclasses
import inspect
import re
import runpy
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from markdown.extensions.toc import slugify
from packaging.requirements import Requirement

from gatekeeper_auth import CODES, FeideAPI, FeideJWT, Gatekeeper, GatekeeperSettings, Identity

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
TABLES = runpy.run_path(str(ROOT / ".ci" / "docs_tables.py"))
#: Every page a reader sees: the site's pages, what they include, and the README.
PUBLIC = [
    *sorted(DOCS.glob("*.md")),
    *sorted((DOCS / "examples").glob("*.py")),
    README,
    ROOT / "benchmarks" / "README.md",
    *[path for path in [ROOT / "CHANGELOG.md"] if path.exists()],
    ROOT / "CONTRIBUTING.md",
]
#: `GATEKEEPER_` names the pages show that are not settings, on purpose.
NOT_SETTINGS = {
    "GATEKEEPER_URL",  # a service's own variable, declared in GATEKEEPER_FOREIGN
    "GATEKEEPER_USERID_GRANTS",  # the misspelt setting a start-up error names
}


def public_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def tables(text: str) -> list[list[dict[str, str]]]:
    """The Markdown tables of a page, each a list of rows keyed by the header's cells."""
    found: list[list[dict[str, str]]] = []
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if not line.startswith("|") or (number and lines[number - 1].startswith("|")):
            continue  # not the first line of a table
        block = []
        for row in lines[number:]:
            if not row.startswith("|"):
                break
            cells = re.split(r"(?<!\\)\|", row.strip()[1:-1])  # a cell's own | is written \|
            block.append([cell.strip() for cell in cells])
        header, _, *rows = block
        found.append([dict(zip(header, row, strict=True)) for row in rows])
    return found


def table_after(text: str, header: str) -> str:
    """The lines of the table whose header line starts with `header`."""
    start = text.index(header)
    end = text.find("\n\n", start)
    return text[start : end if end != -1 else len(text)]


# The tables written from the code.


@pytest.mark.parametrize(
    ("page", "marker", "render"), TABLES["TABLES"], ids=[m for _, m, _ in TABLES["TABLES"]]
)
def test_each_table_is_what_the_code_writes(page: str, marker: str, render: Any) -> None:
    assert TABLES["written"](page, marker) == render(), f"{page} differs: run `make docs-tables`"


def test_the_settings_table_lists_every_field_and_the_codes_table_every_code() -> None:
    settings = TABLES["settings_table"]()
    for name in GatekeeperSettings.model_fields:
        assert f"| `GATEKEEPER_{name.upper()}` |" in settings
    assert "| `GATEKEEPER_FOREIGN` |" in settings
    codes = TABLES["codes_table"]()
    for code, (status, meaning) in CODES.items():
        assert f"| `{code}` | {status} | {meaning} |" in codes


OWNERS = {"FeideJWT": FeideJWT, "FeideAPI": FeideAPI}


@pytest.mark.parametrize("field", list(GatekeeperSettings.model_fields))
def test_each_setting_says_what_it_means_and_goes_in_code_where_the_table_says(field: str) -> None:
    info = GatekeeperSettings.model_fields[field]
    assert info.description, f"GatekeeperSettings.{field} has no Field(description=...)"
    owner, _, keyword = TABLES["keyword"](field).rpartition("(")
    parameter = inspect.signature(OWNERS.get(owner, Gatekeeper)).parameters[keyword.strip("=)")]
    in_code = parameter.default
    if in_code is not None and in_code is not inspect.Parameter.empty:
        # The same default in code as from the environment.
        assert TABLES["shown"](in_code) == TABLES["default"](field)


NUMBERS = {5: "five", 6: "six", 7: "seven", 8: "eight"}


@pytest.mark.parametrize(("page", "prefix"), [("jwt.md", "jwt_"), ("feide-api.md", "feide_")])
def test_an_option_table_lists_the_settings_first_as_it_says_with_their_defaults(
    page: str, prefix: str
) -> None:
    text = (DOCS / page).read_text()
    (table,) = [t for t in tables(text) if t and "option" in t[0]]
    options = [row["option"].strip("`") for row in table]
    fields = [f for f in GatekeeperSettings.model_fields if TABLES["group"](f) == prefix]
    settings = [option for option in options if prefix + option in fields]
    assert sorted(settings) == sorted(f.removeprefix(prefix) for f in fields)
    assert options[: len(settings)] == settings, "the settings come first"
    assert f"The first {NUMBERS[len(settings)]} options are also settings" in text
    for row in table[: len(settings)]:
        field = prefix + row["option"].strip("`")
        if TABLES["default"](field) != "unset":
            assert row["default"] == TABLES["default"](field), f"{page}: {field}"


@pytest.mark.parametrize("path", PUBLIC, ids=public_id)
def test_every_gatekeeper_name_on_a_page_is_a_setting(path: Path) -> None:
    variables = {TABLES["variable"](name) for name in GatekeeperSettings.model_fields}
    known = variables | {TABLES["FOREIGN"][0]} | NOT_SETTINGS
    for name in re.findall(r"GATEKEEPER_[A-Z0-9_]*", path.read_text()):
        if name.endswith("_"):  # a family: GATEKEEPER_JWT_*, GATEKEEPER_<FIELD>
            assert any(v.startswith(name) for v in variables), f"{public_id(path)}: {name}*"
        else:
            assert name in known, f"{public_id(path)} names {name}, which is not a setting"


@pytest.mark.parametrize("path", PUBLIC, ids=public_id)
def test_a_status_given_beside_a_refusal_code_is_that_codes(path: Path) -> None:
    text = path.read_text()
    pairs = re.findall(r"\b([1-5]\d\d)\*{0,2}\s+`([a-z_]+)`", text)
    pairs += re.findall(r"^\| ([1-5]\d\d) \| `([a-z_]+)` \|", text, re.MULTILINE)
    pairs += [(s, c) for c, s in re.findall(r"^\| `([a-z_]+)` \| ([1-5]\d\d) \|", text, re.M)]
    for status, code in pairs:
        if code in CODES:
            assert CODES[code][0] == int(status), f"{public_id(path)}: {status} {code}"


# No word of the project's own process on a public page.

INTERNAL = re.compile(
    r"\bissues?\s+#?\d|\bitems?\s+\d|\breview(s|ed|ers?)?\b|\bhostile\b|domain\.md|\bround\s+\d"
    r"|\bcommit [0-9a-f]{7}|\bsessions?\b|\bredesign",
    re.IGNORECASE,
)


@pytest.mark.parametrize("path", PUBLIC, ids=public_id)
def test_no_public_page_speaks_of_the_projects_own_process(path: Path) -> None:
    found = [
        f"{public_id(path)}:{number}: {line.strip()}"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if INTERNAL.search(line)
    ]
    assert found == []


# The README: a landing page, checked against the pages it sums up.


def readme() -> str:
    return README.read_text()


def test_the_readme_is_a_landing_page() -> None:
    assert len(readme().splitlines()) <= 200


def test_the_readme_shows_the_quickstart_example_the_tests_run() -> None:
    quickstart = (DOCS / "examples" / "quickstart.py").read_text()
    assert f"```python\n{quickstart}```\n" in readme()
    assert '--8<-- "docs/examples/quickstart.py"' in (DOCS / "index.md").read_text()


def test_the_readme_user_or_system_table_is_the_concepts_pages() -> None:
    header = "| what the token is |"
    concepts = (DOCS / "concepts.md").read_text()
    assert table_after(readme(), header) == table_after(concepts, header)


def test_the_readme_names_every_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = set(project["optional-dependencies"]) - {"dev"}
    named = set(re.findall(r"^- `\[(\w+)\]`", readme(), re.MULTILINE))
    assert named == extras


def test_the_readmes_links_into_the_docs_name_files_and_headings_that_exist() -> None:
    links = re.findall(r"\]\(([^)\s]+)\)", readme())
    local = [link for link in links if not link.startswith(("https://", "http://", "#"))]
    assert len(local) >= 10
    for link in local:
        path, _, anchor = link.partition("#")
        assert (ROOT / path).is_file(), link
        if anchor:
            headings = re.findall(r"^#+ (.+)$", (ROOT / path).read_text(), re.MULTILINE)
            slugs = {slugify(heading.replace("`", ""), "-") for heading in headings}
            assert anchor in slugs, link


# Pages that state what the code does.


def test_the_concepts_page_lists_every_identity_field() -> None:
    section = (DOCS / "concepts.md").read_text().split("## The identity", 1)[1]
    for field in dataclasses.fields(Identity):
        assert f"| `{field.name}` |" in section, field.name


def test_the_devgate_install_line_names_what_the_extra_installs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    installed = {Requirement(r).name.lower() for r in project["optional-dependencies"]["devgate"]}
    lines = (DOCS / "devgate.md").read_text().splitlines()
    at = lines.index("pip install 'gatekeeper-auth[devgate]'")
    comment = lines[at - 1].removeprefix("# the extra installs ")
    assert {name.strip().lower() for name in comment.split(",")} == installed


#: The characters a code block of the site holds on a line at 1280 px (docs/examples/ruff.toml
#: keeps the included examples one narrower); a longer line wraps in the middle.
CODE_COLUMNS = 77


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=public_id)
def test_hand_written_code_blocks_fit_the_sites_width(page: Path) -> None:
    from example_app.run import walkthrough

    printed = walkthrough().splitlines()  # make run prints it so: its lines are its own
    blocks = re.findall(r"^```\w*\n(.*?)^```", page.read_text(), re.MULTILINE | re.DOTALL)
    long = [
        line
        for block in blocks
        for line in block.splitlines()
        if len(line) > CODE_COLUMNS and line not in printed
    ]
    assert long == [], f"{public_id(page)}: lines wider than {CODE_COLUMNS} columns"


#: What an install brings, by import name: the dependencies and every extra (pyjwt is `jwt`,
#: python-dotenv `dotenv`), and pytest for the test examples.
INSTALLED = {"starlette", "fastapi", "pydantic", "pydantic_settings", "dotenv", "httpx2", "jwt"}
INSTALLED |= {"uvicorn", "websockets", "gatekeeper_auth", "pytest"}


@pytest.mark.parametrize("example", sorted((DOCS / "examples").glob("*.py")), ids=public_id)
def test_an_example_imports_only_what_the_package_and_its_extras_install(example: Path) -> None:
    """`import httpx` passes here, where the dev tools bring httpx, and fails after
    `pip install 'gatekeeper-auth[client]'`, which brings httpx2 only."""
    local = {path.stem for path in example.parent.glob("*.py")}
    tree = ast.parse(example.read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and not node.level
    }
    roots = {name.split(".")[0] for name in imported}
    assert roots - INSTALLED - local - sys.stdlib_module_names == set()
