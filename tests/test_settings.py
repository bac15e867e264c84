"""Settings from the environment and `.env`: secrets used exactly as given, or refused by name."""

import logging
import traceback
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gatekeeper_auth import ConfigurationError, GatekeeperMiddleware, GatekeeperSettings
from gatekeeper_auth.testing import FakeGatekeeper
from tests.helpers import build_app

GENERATED = "[Zq8#uV1k!p0w"  # a plausible generated password that starts like a JSON list


def configuration_error(**environment: str) -> ConfigurationError:
    """The error the middleware raises when configured from these variables."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("GATEKEEPER_PASSWORD", "GATEKEEPER_BEARER_TOKEN"):
            patch.delenv(name, raising=False)
        for name, value in environment.items():
            patch.setenv(name, value)
        with pytest.raises(ConfigurationError) as caught:
            build_app().build_middleware_stack()
    return caught.value


def everything_said(error: BaseException) -> str:
    """The message and the whole traceback, chained exceptions included, as a log shows them."""
    return "".join(traceback.format_exception(error))


# A secret in an error message; any password string can be configured.


def test_a_password_that_begins_with_a_bracket_is_used_as_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GATEKEEPER_PASSWORD", GENERATED)
    client = TestClient(build_app())
    headers = FakeGatekeeper(password=GENERATED).system()
    assert client.get("/system", headers=headers).status_code == 200


def test_the_old_list_syntax_is_refused_without_echoing_it() -> None:
    error = configuration_error(GATEKEEPER_PASSWORD='["new-secret-1", "old-secret-2"]')
    said = everything_said(error)
    assert "GATEKEEPER_PASSWORD" in said
    assert "GATEKEEPER_PREVIOUS_PASSWORD" in said  # where the old password goes now
    for piece in ("new-secret", "old-secret", "secret-1", "secret-2"):
        assert piece not in said


@pytest.mark.parametrize(
    "environment",
    [
        {"GATEKEEPER_PASSWORD": '["new-secret-1", "old-secret-2"]'},
        {"GATEKEEPER_PASSWORD": " leading-secret-1"},
        {"GATEKEEPER_PASSWORD": "trailing-secret-1\t"},
        {"GATEKEEPER_PASSWORD": "ok-secret-1", "GATEKEEPER_PREVIOUS_PASSWORD": "padded-secret-2 "},
        {"GATEKEEPER_BEARER_TOKEN": '["token-secret-1"]'},
        {"GATEKEEPER_PASSWORD": "a-secret-1", "GATEKEEPER_BEARER_TOKEN": "b-secret-2"},
        {"GATEKEEPER_PASSWORD": "a-secret-1", "GATEKEEPER_USERID_GRANT": "secret-maybe"},
    ],
)
def test_no_configuration_error_contains_a_secret(
    environment: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        said = everything_said(configuration_error(**environment))
    logged = caplog.text
    for value in environment.values():
        for piece in (value, value.strip(), value.strip()[:8]):
            if "secret" in piece:
                assert piece not in said
                assert piece not in logged


# Secrets silently changed: used exactly as given, or refused.


@pytest.mark.parametrize("value", [" secret", "secret ", "\tsecret\n"])
def test_a_secret_with_surrounding_white_space_is_refused(value: str) -> None:
    error = configuration_error(GATEKEEPER_PASSWORD=value)
    assert "white space" in str(error)
    assert "GATEKEEPER_PASSWORD" in str(error)


def test_a_quoted_dotenv_value_keeps_its_white_space_and_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text('GATEKEEPER_PASSWORD=" padded "\n')
    assert "white space" in str(configuration_error())


# An empty network list meant "anyone".


@pytest.mark.parametrize("value", ["", " ", ",", "[]", " , "])
def test_an_empty_network_list_is_refused_at_start_up(value: str) -> None:
    error = configuration_error(GATEKEEPER_PASSWORD="pw", GATEKEEPER_ALLOWED_NETWORKS=value)
    assert "GATEKEEPER_ALLOWED_NETWORKS names no network" in str(error)


def test_an_empty_network_list_in_code_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="allowed_networks= names no network"):
        GatekeeperMiddleware(build_app(), password="pw", allowed_networks=[])


# Read from the environment and .env.


def test_settings_read_the_environment_and_hide_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEKEEPER_USERNAME", "feideconnect")
    monkeypatch.setenv("GATEKEEPER_PASSWORD", "new-secret")
    monkeypatch.setenv("GATEKEEPER_PREVIOUS_PASSWORD", "old-secret")
    monkeypatch.setenv("GATEKEEPER_HEADER_PREFIX", "X-FeideConnect-")
    monkeypatch.setenv("GATEKEEPER_ALLOWED_NETWORKS", "10.0.0.0/8, 2001:db8::/32")
    settings = GatekeeperSettings()
    assert settings.username == "feideconnect"
    assert settings.secrets() == (["new-secret", "old-secret"], [])
    assert [str(n) for n in settings.allowed_networks or []] == ["10.0.0.0/8", "2001:db8::/32"]
    assert "secret" not in repr(settings)
    assert "secret" not in str(settings.model_dump())


def test_a_single_password_and_a_dotenv_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GATEKEEPER_PASSWORD", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("GATEKEEPER_PASSWORD=from-dotenv\n")
    settings = GatekeeperSettings()
    assert [p.get_secret_value() for p in settings.password] == ["from-dotenv"]


# A .env file must not change a secret either.


@pytest.mark.parametrize(
    ("line", "password"),
    [
        ("GATEKEEPER_PASSWORD=k9${Qz7!mP2}x", "k9${Qz7!mP2}x"),  # dotenv would expand ${...}
        ("GATEKEEPER_PASSWORD='k9 #Qz7!mP2x'", "k9 #Qz7!mP2x"),
        ("  export GATEKEEPER_PASSWORD='k9\"Qz7'", 'k9"Qz7'),
    ],
)
def test_a_dotenv_secret_is_used_exactly_as_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, line: str, password: str
) -> None:
    monkeypatch.delenv("GATEKEEPER_PASSWORD", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(line + "\n")
    client = TestClient(build_app())
    assert client.get("/system", headers=FakeGatekeeper(password=password).system()).is_success


@pytest.mark.parametrize(
    "line",
    [
        "GATEKEEPER_PASSWORD=k9 #Qz7!mP2x",  # dotenv cuts at " #"
        "GATEKEEPER_PASSWORD=k9\t#Qz7!mP2x",
        "GATEKEEPER_PREVIOUS_PASSWORD=abc-Qz7   ",  # dotenv trims
        'GATEKEEPER_PASSWORD="Zq8\\tQz7"',  # double quotes decode escapes
        "GATEKEEPER_PASSWORD='ab\\\\Qz7'",  # so do single quotes, for \\ and \'
        "  export GATEKEEPER_PASSWORD=abc #Qz7",
        "export\tGATEKEEPER_PASSWORD=abc #Qz7",
        "'GATEKEEPER_PASSWORD'=abc #Qz7",
        "GATEKEEPER_PASSWORD=abc\x85Qz7",
    ],
)
def test_a_dotenv_secret_that_dotenv_would_change_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, line: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("GATEKEEPER_PASSWORD=ok\n" + line + "\n")
    said = everything_said(configuration_error())
    assert "is not written plainly" in said
    assert "Qz7" not in said


def test_a_dotenv_file_that_is_not_utf8_is_refused_without_a_byte_of_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_bytes(b"GATEKEEPER_PASSWORD=s\xe6cretpass\n")
    said = everything_said(configuration_error())
    assert "not utf-8 text" in said
    assert "0xe6" not in said
    assert "position" not in said


def test_the_env_file_named_in_code_is_the_one_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GATEKEEPER_PASSWORD", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("GATEKEEPER_PASSWORD=dev-password\n")
    (tmp_path / "prod.env").write_text("GATEKEEPER_PASSWORD=prod-password\n")
    chosen = GatekeeperSettings(_env_file="prod.env")  # type: ignore[call-arg]
    assert chosen.secrets() == (["prod-password"], [])
    assert GatekeeperSettings(_env_file=None).secrets() == ([], [])  # type: ignore[call-arg]
