"""The package as PyPI shows it (the wheel's metadata, the README with absolute links, the
license, no dev extra), the deployment page's extras table against pyproject.toml, and the
version against the changelog. `make test` also builds the sdist and runs `twine check`."""

import re
import runpy
import subprocess
import sys
import tomllib
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
REPOSITORY = PROJECT["urls"]["Repository"]
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Message, list[str]]:
    """The wheel's METADATA and its file names, built here without network."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(  # noqa: S603
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", out, ROOT],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (built,) = out.glob("*.whl")
    with zipfile.ZipFile(built) as archive:
        names = archive.namelist()
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(archive.read(metadata).decode()), names


def test_the_package_page_links_only_to_addresses_that_exist(
    wheel: tuple[Message, list[str]],
) -> None:
    description = str(wheel[0].get_payload())
    links = LINK.findall(description)
    relative_in_readme = [
        link
        for link in LINK.findall((ROOT / "README.md").read_text())
        if not link.startswith(("https://", "http://", "#"))
    ]
    assert relative_in_readme, "the README links to files of the repository"
    files = [link for link in links if link.startswith(f"{REPOSITORY}/blob/main/")]
    assert len(files) == len(relative_in_readme)
    for link in links:
        assert link.startswith(("https://", "http://127.0.0.1", "#")), link
    for link in files:
        path = link.removeprefix(f"{REPOSITORY}/blob/main/").split("#")[0]
        assert (ROOT / path).is_file(), link


def test_the_metadata_names_the_license_the_pythons_and_only_the_users_extras(
    wheel: tuple[Message, list[str]],
) -> None:
    metadata, names = wheel
    pythons = runpy.run_path(str(ROOT / ".ci" / "compat.py"))["PYTHONS"]  # what make compat runs
    classifiers = metadata.get_all("Classifier") or []
    assert [
        c for c in classifiers if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ] == [f"Programming Language :: Python :: {python}" for python in pythons]
    assert metadata["Requires-Python"] == f">={pythons[0]}"
    assert "Development Status :: 4 - Beta" in classifiers
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")
    assert sorted(metadata.get_all("Provides-Extra") or []) == [
        "client",
        "devgate",
        "jwt",
    ]
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL") or [])
    assert sorted(urls) == ["Changelog", "Documentation", "Homepage", "Issues", "Repository"]


def extras_table() -> dict[str | None, list[str]]:
    """docs/deployment.md's table: the extra (None for the plain install) and what it adds."""
    table: dict[str | None, list[str]] = {}
    for line in (ROOT / "docs" / "deployment.md").read_text().splitlines():
        found = re.match(r"\| `gatekeeper-auth(?:\[(\w+)\])?` \| ([^|]+) \|", line)
        if found:
            table[found[1]] = re.findall(r"`([^`]+)`", found[2])
    return table


def test_the_extras_table_lists_what_each_extra_installs() -> None:
    declared: dict[str | None, list[str]] = {None: PROJECT["dependencies"]}
    declared.update(PROJECT["optional-dependencies"])
    expected = {
        extra: [str(r) for r in map(Requirement, requirements) if r.marker is None]
        for extra, requirements in declared.items()
    }
    assert extras_table() == expected


def test_the_version_is_the_changelogs_newest_release_or_a_dev_release_after_it() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "\n## [Unreleased]\n" in changelog
    released = [
        Version(v) for v in re.findall(r"^## \[(\d[^\]]*)\] - \d{4}-\d\d-\d\d$", changelog, re.M)
    ]
    assert released, "the changelog lists the releases"
    version = Version(PROJECT["version"])
    if version.is_devrelease:
        assert version > max(released)
    else:
        assert version == max(released)
