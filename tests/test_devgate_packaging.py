"""The dev gatekeeper after a plain install (issue 13 packaging, issue 14 item 6): a missing
extra is named in one line, the shipped example config loads, `--help` points inside the wheel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gatekeeper_auth.devgate import DevGateConfig
from gatekeeper_auth.devgate.__main__ import example_config, parser
from tests.helpers import python_without

ROOT = Path(__file__).parent.parent
HINT = "pip install 'gatekeeper-auth[devgate]'"


@pytest.mark.parametrize("missing", ["uvicorn", "httpx2", "websockets"])
def test_running_without_the_extra_ends_with_one_line_naming_it(missing: str) -> None:
    result = python_without(
        {missing},
        "import sys, runpy\n"
        "sys.argv = ['devgate', '--config', 'example_app/devgate.toml']\n"
        "runpy.run_module('gatekeeper_auth.devgate', run_name='__main__')\n",
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"the development gatekeeper needs {missing}, which is not installed: {HINT}"
    ]


def test_importing_without_the_extra_works_and_building_names_it() -> None:
    result = python_without(
        {"uvicorn", "httpx2", "websockets"},
        "from gatekeeper_auth.devgate import DevGateConfig, MissingExtra, create_devgate\n"
        "config = DevGateConfig.load('example_app/devgate.toml')\n"
        "try:\n"
        "    create_devgate(config)\n"
        "except MissingExtra as error:\n"
        "    print(error)\n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(HINT)


def test_the_example_config_is_printed_and_loads(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gatekeeper_auth.devgate", "--example-config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout == example_config()
    path = tmp_path / "devgate.toml"
    path.write_text(result.stdout)
    config = DevGateConfig.load(path)
    assert config.api == "myapi"
    assert [c.name for c in config.clients] == ["reports-service", "web-app", "my data source"]
    assert config.clients[2].id == config.datasources[0].id  # the data source's own client
    # The commented-out keys show the defaults: uncommented, they load to the same config.
    uncommented = "\n".join(
        line[2:] if line.startswith("# ") and " = " in line.split("#")[1] else line
        for line in result.stdout.splitlines()
        if not line.startswith("# bearer_token")
    )
    path.write_text(uncommented)
    assert DevGateConfig.load(path) == config


def test_help_points_to_the_shipped_example_not_a_file_outside_the_wheel() -> None:
    text = parser().format_help()
    assert "example_app" not in text
    assert "--example-config" in text


def test_without_config_the_message_says_how_to_get_one() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gatekeeper_auth.devgate"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "--example-config > devgate.toml" in result.stderr
