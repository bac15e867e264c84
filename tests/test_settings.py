"""Settings from the environment and `.env`: the one door in, and it fails closed.

Every refusal is a `ConfigurationError` that names the variable (or the file and line) and says
what to do, never the value; under uvicorn it is a non-zero exit.
"""

import logging
import os
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from gatekeeper_auth import ConfigurationError, Gatekeeper, GatekeeperMiddleware, GatekeeperSettings
from gatekeeper_auth.settings import ExplicitSettings, environment_names
from gatekeeper_auth.testing import FakeGatekeeper
from tests.helpers import build_app

GENERATED = "[Zq8#uV1k!p0w"  # a plausible generated password that starts like a JSON list
NO_GATEKEEPER_ENV = {k: v for k, v in os.environ.items() if not k.upper().startswith("GATEKEEPER_")}
SECRET_FIELDS = [
    n for n, f in GatekeeperSettings.model_fields.items() if "SecretStr" in repr(f.annotation)
]


async def _app(scope: Scope, receive: Receive, send: Send) -> None: ...


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No GATEKEEPER_* variable from outside, and a directory of the test's own for `.env`."""
    for name in list(os.environ):
        if name.upper().startswith("GATEKEEPER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


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


def said_by_settings() -> str:
    """All that `GatekeeperSettings()` says when it refuses (its repr and traceback), or ''."""
    try:
        GatekeeperSettings()
    except (ValidationError, ConfigurationError) as error:
        return repr(error) + everything_said(error)
    return ""


# The GATEKEEPER_ prefix is ours: a name that is not a setting stops the start.

UNKNOWN = (
    "GATEKEEPER_USERID_GRANTS (in the environment) is not a gatekeeper-auth setting; did you "
    "mean GATEKEEPER_USERID_GRANT? The GATEKEEPER_ prefix is gatekeeper-auth's, so that a "
    "misspelt setting stops the start instead of being ignored: correct or remove the name, or, "
    "for a variable of your service's own, declare it: GATEKEEPER_FOREIGN=GATEKEEPER_USERID_GRANTS"
)


def test_a_misspelt_setting_is_refused_with_the_closest_name_and_without_its_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GATEKEEPER_PASSWORD", "pw")
    monkeypatch.setenv("GATEKEEPER_USERID_GRANTS", "false-Qz7")
    with pytest.raises(ConfigurationError) as refused:
        GatekeeperSettings()
    assert str(refused.value) == UNKNOWN
    assert "Qz7" not in everything_said(refused.value)


def test_the_middleware_from_the_environment_refuses_a_misspelt_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GATEKEEPER_PASSWORD", "pw")
    monkeypatch.setenv("GATEKEEPER_USERID_GRANTS", "false-Qz7")
    with pytest.raises(ConfigurationError) as refused:
        GatekeeperMiddleware(_app)
    assert str(refused.value) == UNKNOWN


@pytest.mark.parametrize(
    ("name", "said"),
    [
        (
            "gatekeeper_passwrd",
            "gatekeeper_passwrd (in the environment) is not a gatekeeper-auth "
            "setting; did you mean GATEKEEPER_PASSWORD?",
        ),
        (
            "Gatekeeper_Allowed_Network",
            "Gatekeeper_Allowed_Network (in the environment) is not a "
            "gatekeeper-auth setting; did you mean GATEKEEPER_ALLOWED_NETWORKS?",
        ),
        ("GATEKEEPER_FOREIGNS", "did you mean GATEKEEPER_FOREIGN?"),
        (
            "GATEKEEPER_URL",
            "GATEKEEPER_URL (in the environment) is not a gatekeeper-auth setting. "
            "The GATEKEEPER_ prefix",
        ),  # no setting is close: no guess
        ("GATEKEEPER_", "GATEKEEPER_ (in the environment) is not a gatekeeper-auth setting."),
    ],
)
def test_any_case_of_the_prefix_is_ours(
    monkeypatch: pytest.MonkeyPatch, name: str, said: str
) -> None:
    monkeypatch.setenv(name, "x")
    with pytest.raises(ConfigurationError) as refused:
        GatekeeperSettings()
    assert said in str(refused.value)


def test_a_setting_in_any_case_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("gatekeeper_userid_grant", "false")
    monkeypatch.setenv("Gatekeeper_Password", "pw")
    settings = GatekeeperSettings()
    assert (settings.userid_grant, settings.secrets()) == (False, (["pw"], []))


@pytest.mark.parametrize("name", ["GATEKEEPERS_URL", "MY_GATEKEEPER_URL", "EXAMPLE_GATEKEEPER_URL"])
def test_names_without_the_prefix_are_not_ours(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "x")
    assert GatekeeperSettings().username == "dataporten"


def test_a_misspelt_key_in_dotenv_is_refused_with_its_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("OTHER=1\n\nGATEKEEPER_USERID_GRANTS=false-Qz7\n")
    with pytest.raises(ConfigurationError) as refused:
        GatekeeperSettings()
    assert str(refused.value).startswith(
        "GATEKEEPER_USERID_GRANTS (in .env, line 3) is not a gatekeeper-auth setting; did you "
        "mean GATEKEEPER_USERID_GRANT?"
    )
    assert "Qz7" not in everything_said(refused.value)


@pytest.mark.parametrize("field", list(GatekeeperSettings.model_fields))
def test_every_field_is_a_known_name(monkeypatch: pytest.MonkeyPatch, field: str) -> None:
    monkeypatch.setenv(f"GATEKEEPER_{field.upper()}", "1")
    assert "is not a gatekeeper-auth setting" not in said_by_settings()


class _ServiceSettings(GatekeeperSettings):
    key_max_age: float = 0.0


def test_the_known_names_are_the_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEKEEPER_KEY_MAX_AGE", "5")
    assert _ServiceSettings().key_max_age == 5.0
    with pytest.raises(ConfigurationError, match=r"GATEKEEPER_KEY_MAX_AGE \(.*\) is not a"):
        GatekeeperSettings()


@pytest.mark.parametrize("where", ["environment", ".env"])
def test_a_service_declares_its_own_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, where: str
) -> None:
    monkeypatch.setenv("GATEKEEPER_URL", "https://kdto99.dataporten-api.no/")
    monkeypatch.setenv("GATEKEEPER_MODE", "strict")
    if where == "environment":
        monkeypatch.setenv("GATEKEEPER_FOREIGN", "gatekeeper_url, GATEKEEPER_MODE")
    else:
        (tmp_path / ".env").write_text("GATEKEEPER_FOREIGN=GATEKEEPER_URL,gatekeeper_mode\n")
    assert GatekeeperSettings().username == "dataporten"
    monkeypatch.delenv("GATEKEEPER_MODE")
    assert GatekeeperSettings().username == "dataporten"  # a name declared but unset: fine


@pytest.mark.parametrize(
    ("listed", "said"),
    [
        (
            "GATEKEEPER_URL,gatekeeper_userid_grant",
            "GATEKEEPER_FOREIGN lists GATEKEEPER_USERID_GRANT, a gatekeeper-auth setting: "
            "remove it from the list.",
        ),
        (
            "GATEKEEPER_URL,hunter2-Qz7",
            "GATEKEEPER_FOREIGN lists something that is not a GATEKEEPER_ name: list only your "
            "service's own GATEKEEPER_* variables, by full name, comma-separated.",
        ),
    ],
)
def test_a_declaration_lists_only_names_that_are_not_settings(
    monkeypatch: pytest.MonkeyPatch, listed: str, said: str
) -> None:
    monkeypatch.setenv("GATEKEEPER_URL", "https://kdto99.dataporten-api.no/")
    monkeypatch.setenv("GATEKEEPER_FOREIGN", listed)
    with pytest.raises(ConfigurationError) as refused:
        GatekeeperSettings()
    assert str(refused.value) == said
    assert "Qz7" not in everything_said(refused.value)


def test_settings_given_in_code_check_no_name_and_read_no_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GATEKEEPER_USERID_GRANTS", "false")
    (tmp_path / ".env").write_bytes(b'GATEKEEPER_ALLOWED_NETWORKS="10.0.0.0/8\nX=\xff\n')
    assert ExplicitSettings(password=["pw"]).secrets() == (["pw"], [])
    Gatekeeper(password="pw")
    client = TestClient(build_app(password="pw"))
    assert client.get("/system", headers=FakeGatekeeper(password="pw").system()).is_success


UVICORN_APP = """
from fastapi import FastAPI
from gatekeeper_auth import GatekeeperMiddleware

app = FastAPI()
app.add_middleware(GatekeeperMiddleware)  # configured from the environment and .env
"""


@pytest.mark.parametrize(
    ("environment", "dotenv", "said"),
    [
        (
            {"GATEKEEPER_USERID_GRANTS": "false-Qz7"},
            "",
            "GATEKEEPER_USERID_GRANTS (in the environment) is not a gatekeeper-auth setting; "
            "did you mean GATEKEEPER_USERID_GRANT?",
        ),
        ({}, 'GATEKEEPER_ALLOWED_NETWORKS="10.0.0.0/8 Qz7\n', ".env, line 1, cannot be parsed"),
    ],
    ids=["misspelt setting", "unparsable .env line"],
)
def test_uvicorn_exits_with_the_message(
    tmp_path: Path, environment: dict[str, str], dotenv: str, said: str
) -> None:
    (tmp_path / "configured_app.py").write_text(UVICORN_APP)
    (tmp_path / ".env").write_text(dotenv)
    command = [sys.executable, "-m", "uvicorn", "configured_app:app", "--port", "0"]
    result = subprocess.run(  # noqa: S603
        command,
        cwd=tmp_path,
        env={**NO_GATEKEEPER_ENV, "GATEKEEPER_PASSWORD": "pw", **environment},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert said in result.stderr
    assert "Application startup failed" in result.stderr
    assert "Qz7" not in result.stderr + result.stdout


# A .env line that cannot be parsed stops the start: it could be a setting.


@pytest.mark.parametrize(
    "line",
    [
        'GATEKEEPER_ALLOWED_NETWORKS="10.0.0.0/8 Qz7',  # an unclosed quote
        "OTHER_SERVICE_KEY='Qz7",  # not ours, but a line passed over could have been
        'GATEKEEPER_PASSWORD="Qz7" and more',
        "NOT A LINE Qz7",
        "=Qz7",
    ],
)
def test_a_dotenv_line_that_cannot_be_parsed_is_refused_by_its_number(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, line: str
) -> None:
    (tmp_path / ".env").write_text(f"GATEKEEPER_PASSWORD=pw\n\n# a comment\n{line}\nB=2\n")
    with caplog.at_level(logging.DEBUG), pytest.raises(ConfigurationError) as refused:
        GatekeeperSettings()
    assert str(refused.value) == (
        ".env, line 4, cannot be parsed (an unclosed quote, or text after a closing one?): a line "
        "passed over could be a setting. Write it as NAME=value or remove it."
    )
    assert "Qz7" not in everything_said(refused.value) + caplog.text


def test_a_dotenv_setting_without_a_value_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("GATEKEEPER_PASSWORD=pw\nGATEKEEPER_USERID_GRANT\n")
    with pytest.raises(ConfigurationError) as refused:
        GatekeeperSettings()
    assert str(refused.value) == (
        "GATEKEEPER_USERID_GRANT in .env, line 2, has no value (no '='): write "
        "GATEKEEPER_USERID_GRANT=<value>, or remove the line."
    )


def test_a_dotenv_file_that_is_not_text_is_refused_by_its_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"GATEKEEPER_USERNAME=dataporten\nGATEKEEPER_PASSWORD=s\xff\n")
    with pytest.raises(ConfigurationError) as refused:
        GatekeeperSettings()
    assert str(refused.value) == (
        ".env, line 2, is not utf-8 text: save the file as utf-8, with each secret copied "
        "exactly as the dashboard shows it."
    )
    said = everything_said(refused.value)
    for piece in ("0xff", "\\xff", "position", "can't decode"):
        assert piece not in said


# A secret that cannot be encoded stops the start, quoting nothing of it.


@pytest.mark.parametrize("field", [*SECRET_FIELDS, "username", "jwt_audience"])
def test_a_value_that_is_not_utf8_is_refused_without_a_character_of_it(
    monkeypatch: pytest.MonkeyPatch, field: str
) -> None:
    name = f"GATEKEEPER_{field.upper()}"
    monkeypatch.setenv(name, "s\udcffcret-Qz7")  # how os.environ holds the byte 0xff
    with pytest.raises(ConfigurationError) as refused:
        GatekeeperMiddleware(_app)
    assert str(refused.value) == (
        f"GatekeeperMiddleware: {name} is not UTF-8 text (the environment held a byte that "
        "UTF-8 cannot decode, or the code a lone surrogate), so it could never be sent or "
        "matched; set it again as text, copied exactly"
    )
    said = everything_said(refused.value)
    for piece in ("\udcff", "\\udcff", "0xff", "\\xff", "position", "cret", "Qz7"):
        assert piece not in said


@pytest.mark.parametrize("field", list(GatekeeperSettings.model_fields))
def test_no_settings_error_quotes_what_was_set(monkeypatch: pytest.MonkeyPatch, field: str) -> None:
    monkeypatch.setenv(f"GATEKEEPER_{field.upper()}", "{Qz7:[not-a-value")
    said = said_by_settings()
    try:
        GatekeeperMiddleware(_app)
    except ConfigurationError as error:
        said += everything_said(error)
    assert "Qz7" not in said


# The names the environment sets, for a warning when code options make it ignored.


def test_environment_names_are_the_prefixed_names_not_declared_foreign(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GATEKEEPER_PASSWORD", "secret-Qz7")
    monkeypatch.setenv("gatekeeper_userid_grant", "false")
    monkeypatch.setenv("GATEKEEPER_URL", "https://kdto99.dataporten-api.no/")
    monkeypatch.setenv("GATEKEEPER_FOREIGN", "GATEKEEPER_URL")
    monkeypatch.setenv("MY_GATEKEEPER_TOKEN", "x")
    (tmp_path / ".env").write_text(
        "GATEKEEPER_JWT_AUDIENCE=aud\nGATEKEEPER_PASSWORD=other\nGATEKEEPER_USERID_GRANTS=1\nX=1\n"
    )
    assert environment_names() == (
        "GATEKEEPER_JWT_AUDIENCE",
        "GATEKEEPER_PASSWORD",
        "GATEKEEPER_USERID_GRANTS",
        "gatekeeper_userid_grant",
    )


def test_environment_names_never_refuse_a_file_nobody_reads(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(
        b'GATEKEEPER_PASSWORD="unclosed\nGATEKEEPER_USERID_GRANT=false\nGATEKEEPER_X=\xff\n'
    )
    assert environment_names() == ("GATEKEEPER_USERID_GRANT", "GATEKEEPER_X")


def test_no_environment_names_no_names() -> None:
    assert environment_names() == ()


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


@pytest.mark.parametrize("value", ["[" * 100_000, "[1", '["10.0.0.0/8"'])
def test_a_network_list_that_is_not_json_is_refused_naming_the_variable(value: str) -> None:
    error = configuration_error(GATEKEEPER_PASSWORD="pw", GATEKEEPER_ALLOWED_NETWORKS=value)
    assert "GATEKEEPER_ALLOWED_NETWORKS" in str(error)


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
    for value in ("new-secret", "old-secret"):
        assert value not in repr(settings)
        assert value not in str(settings.model_dump())


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
    (tmp_path / ".env").write_text("GATEKEEPER_USERNAME=dataporten\n" + line + "\n")
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


# A quote left open in .env takes in the lines after it: a value over several lines is refused.


@pytest.mark.parametrize(
    ("dotenv", "said"),
    [
        (
            "OTHER=1\nGATEKEEPER_PASSWORD='s3cret-Qz7\nGATEKEEPER_ALLOWED_NETWORKS=10.0.0.0/8\n"
            "GATEKEEPER_USERID_GRANT=false'\n",
            "GATEKEEPER_PASSWORD in .env, line 2, is written over several lines (a quote left "
            "open?), so it takes in the lines after it: write each GATEKEEPER_* value on one line.",
        ),
        (
            'GATEKEEPER_PASSWORD=pw\ngatekeeper_allowed_networks="10.0.0.0/8,\n10.1.0.0/16"\n',
            "gatekeeper_allowed_networks in .env, line 2, is written over several lines (a quote "
            "left open?), so it takes in the lines after it: write each GATEKEEPER_* value on one "
            "line.",
        ),
        (
            "GATEKEEPER_PASSWORD=pw\nOTHER_KEY='Qz7\n\n  export GATEKEEPER_USERID_GRANT=false\n'\n",
            "OTHER_KEY in .env, line 2, is written over several lines and takes in a GATEKEEPER_* "
            "line after it (a quote left open?): close the quote on the line it opens.",
        ),
    ],
    ids=["a secret", "any setting", "someone else's value"],
)
def test_a_dotenv_value_over_several_lines_that_could_hide_a_setting_is_refused(
    tmp_path: Path, dotenv: str, said: str
) -> None:
    (tmp_path / ".env").write_text(dotenv)
    with pytest.raises(ConfigurationError) as refused:
        GatekeeperSettings()
    assert str(refused.value) == said
    assert "Qz7" not in everything_said(refused.value)


def test_someone_elses_value_may_span_lines_that_hide_no_setting(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        'SERVICE_KEY="-----BEGIN KEY-----\nabc\n-----END KEY-----"\nGATEKEEPER_PASSWORD=pw\n'
    )
    assert GatekeeperSettings().secrets() == (["pw"], [])


# A control character in a setting: no secret holds one, and a line break is a quote left open.

CONTROL = (
    "holds a control character (such as a line break or a tab), which no setting holds; set it "
    "again, copied exactly"
)


@pytest.mark.parametrize(
    ("where", "character"),
    [
        *[("environment", c) for c in ["\n", "\r", "\r\n", "\t", "\x1b", "\x7f", "\x85"]],
        *[("code", c) for c in ["\n", "\r", "\x00", "\t", "\x1b", "\x7f"]],
        *[(".env", c) for c in ["\t", "\x1b", "\x7f", "\x0c"]],  # in single quotes: plain
    ],
)
def test_a_secret_with_a_control_character_is_refused_wherever_it_comes_from(
    tmp_path: Path, where: str, character: str
) -> None:
    password = f"s3cret{character}Qz7"
    if where == "code":
        with pytest.raises(ConfigurationError) as refused:
            GatekeeperMiddleware(_app, password=password)
        error, name = refused.value, "Gatekeeper: password="
    elif where == "environment":
        error, name = configuration_error(GATEKEEPER_PASSWORD=password), "GATEKEEPER_PASSWORD"
    else:
        (tmp_path / ".env").write_text(f"GATEKEEPER_PASSWORD='{password}'\n", newline="")
        error, name = configuration_error(), "GATEKEEPER_PASSWORD"
    assert str(error).endswith(f"{name} {CONTROL}")
    assert "Qz7" not in everything_said(error)


@pytest.mark.parametrize("field", [*SECRET_FIELDS, "username", "jwt_audience", "feide_client_id"])
def test_no_setting_holds_a_control_character(monkeypatch: pytest.MonkeyPatch, field: str) -> None:
    name = f"GATEKEEPER_{field.upper()}"
    monkeypatch.setenv(name, "data\nporten-Qz7")
    with pytest.raises(ValidationError) as refused:
        GatekeeperSettings()
    assert [e["msg"] for e in refused.value.errors()] == [f"Value error, {CONTROL}"]


def test_an_escaped_line_break_in_double_quotes_is_refused_too(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text('GATEKEEPER_PASSWORD=pw\nGATEKEEPER_USERNAME="data\\nporten"\n')
    assert str(configuration_error()) == f"GatekeeperMiddleware: GATEKEEPER_USERNAME {CONTROL}"


# A keyword that is not a setting would be ignored, and its default used.


@pytest.mark.parametrize("settings_class", [GatekeeperSettings, ExplicitSettings])
@pytest.mark.parametrize(
    ("keywords", "said"),
    [
        (
            {"userid_grnat": False},
            "userid_grnat= is not a gatekeeper-auth setting; did you mean userid_grant=?",
        ),
        (
            {"_env_fil": None},
            "_env_fil= is not a gatekeeper-auth setting; did you mean _env_file=?",
        ),
        ({"zzz": 1}, "zzz= is not a gatekeeper-auth setting."),
        (
            {"password:Qz7": "x"},
            "A keyword that is not a Python name is not a gatekeeper-auth setting.",
        ),
    ],
)
def test_a_keyword_that_is_not_a_setting_is_refused_with_the_closest_name(
    settings_class: type[GatekeeperSettings], keywords: dict[str, Any], said: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        settings_class(**{"password": ["pw"], **keywords})
    assert str(refused.value) == (
        f"{said} A misspelt option would be ignored and its default used: correct or remove it."
    )
    assert "Qz7" not in everything_said(refused.value)


def test_pydantic_settings_own_options_keep_working(tmp_path: Path) -> None:
    (tmp_path / "prod.env").write_bytes("GATEKEEPER_USERNAME=dataporten-ø\n".encode("latin-1"))
    options: dict[str, Any] = {
        "_env_file": "prod.env",
        "_env_file_encoding": "latin-1",
        "_case_sensitive": False,
    }
    settings = GatekeeperSettings(**options)
    assert settings.username == "dataporten-ø"


def test_gatekeeper_keywords_are_its_signature() -> None:
    """So no keyword reaches `ExplicitSettings` unchecked: a misspelt one is Python's TypeError."""
    with pytest.raises(TypeError, match="userid_grnat"):
        Gatekeeper(password="pw", userid_grnat=False)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="userid_grnat"):
        GatekeeperMiddleware(_app, password="pw", userid_grnat=False)  # type: ignore[call-arg]


# The same name twice in one source: which one wins would depend on the order.


@pytest.mark.parametrize(
    ("dotenv", "said"),
    [
        (
            "GATEKEEPER_USERID_GRANT=false\nGATEKEEPER_PASSWORD=pw\nGATEKEEPER_USERID_GRANT=true\n",
            "GATEKEEPER_USERID_GRANT (in .env, line 1) and GATEKEEPER_USERID_GRANT (in .env, "
            "line 3)",
        ),
        (
            "GATEKEEPER_PASSWORD=pw\nGATEKEEPER_USERID_GRANT=false\ngatekeeper_userid_grant=true\n",
            "GATEKEEPER_USERID_GRANT (in .env, line 2) and gatekeeper_userid_grant (in .env, "
            "line 3)",
        ),
        (
            "GATEKEEPER_PASSWORD=Qz7-old\n# rotated\nexport Gatekeeper_Password=Qz7-new\n",
            "GATEKEEPER_PASSWORD (in .env, line 1) and Gatekeeper_Password (in .env, line 3)",
        ),
    ],
)
def test_a_name_given_twice_in_dotenv_is_refused_naming_both_lines(
    tmp_path: Path, dotenv: str, said: str
) -> None:
    (tmp_path / ".env").write_text(dotenv)
    with pytest.raises(ConfigurationError) as refused:
        GatekeeperSettings()
    assert str(refused.value) == (
        f"{said} are one name, given twice (names are read in any case): keep one of them."
    )
    assert "Qz7" not in everything_said(refused.value)


def test_a_name_given_twice_in_the_environment_is_refused_naming_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GATEKEEPER_PASSWORD", "pw")
    monkeypatch.setenv("gatekeeper_userid_grant", "true-Qz7")
    monkeypatch.setenv("GATEKEEPER_USERID_GRANT", "false-Qz7")
    with pytest.raises(ConfigurationError) as refused:
        GatekeeperSettings()
    assert str(refused.value) == (
        "GATEKEEPER_USERID_GRANT and gatekeeper_userid_grant (in the environment) are one name, "
        "given twice (names are read in any case): keep one of them."
    )
    assert "Qz7" not in everything_said(refused.value)


@pytest.mark.parametrize("variable", ["GATEKEEPER_USERID_GRANT", "gatekeeper_userid_grant"])
def test_the_environment_overrides_dotenv_as_pydantic_settings_documents(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str
) -> None:
    monkeypatch.setenv(variable, "false")
    (tmp_path / ".env").write_text("GATEKEEPER_PASSWORD=pw\nGATEKEEPER_USERID_GRANT=true\n")
    assert GatekeeperSettings().userid_grant is False


# A line that is not NAME=value is refused quoting nothing: its "name" may hold a secret.

NOT_A_NAME = (
    "Line 2 of .env is not NAME=value (a NAME is ASCII letters, digits and _, and does not begin "
    "with a digit): correct the line or remove it."
)


@pytest.mark.parametrize(
    "line",
    [
        "GATEKEEPER_PASSWORD:Qz7hunter2",
        "GATEKEEPER_PASSWORD-Qz7hunter2",
        "GATEKEEPER_PASSWORD.Qz7hunter2=",
        "GATEKEEPER-USERID-GRANT=false",  # not GATEKEEPER_, so it was ignored
        "GAT\u0415KEEPER_USERID_GRANT=false",  # a Cyrillic E
        "GATEKEEPER_USERID_GRANT\u200b=false",  # a zero-width space
        "SERVICE.KEY=1",
    ],
)
def test_a_dotenv_line_that_is_not_name_value_is_refused_quoting_nothing(
    tmp_path: Path, line: str
) -> None:
    (tmp_path / ".env").write_text(f"GATEKEEPER_PASSWORD=pw\n{line}\n")
    with pytest.raises(ConfigurationError) as refused:
        GatekeeperSettings()
    assert str(refused.value) == NOT_A_NAME
    assert "Qz7" not in everything_said(refused.value)


@pytest.mark.parametrize("name", ["GATEKEEPER_PASSWORD:Qz7hunter2", "gatekeeper_Qz7 hunter2"])
def test_an_environment_name_that_is_not_a_name_is_refused_quoting_nothing(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv("GATEKEEPER_PASSWORD", "pw")
    monkeypatch.setenv(name, "x")
    with pytest.raises(ConfigurationError) as refused:
        GatekeeperSettings()
    assert str(refused.value) == (
        "A variable in the environment begins with GATEKEEPER_ but is not a NAME (ASCII letters, "
        "digits and _), so it can be no setting: remove it from the environment."
    )
    assert "Qz7" not in everything_said(refused.value)
    assert environment_names() == ("GATEKEEPER_PASSWORD",)  # for a warning: never quoted


# Numbers: finite, and Feide's answers kept no longer than an hour.

KEPT_BRIEFLY = (
    "must be a finite number of seconds between 0 and 3600: a member taken out of a group in "
    "Feide keeps access for as long as Feide's answer is kept"
)


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e12", "3600.5", "-1"])
def test_feides_answers_are_kept_at_most_an_hour(value: str) -> None:
    error = configuration_error(GATEKEEPER_PASSWORD="pw", GATEKEEPER_FEIDE_CACHE_SECONDS=value)
    assert str(error) == f"GatekeeperMiddleware: GATEKEEPER_FEIDE_CACHE_SECONDS {KEPT_BRIEFLY}"


@pytest.mark.parametrize("value", ["0", "3600"])
def test_feides_answers_may_be_kept_from_none_to_an_hour(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("GATEKEEPER_FEIDE_CACHE_SECONDS", value)
    assert GatekeeperSettings().feide_cache_seconds == float(value)


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "NaN"])
def test_a_number_that_is_not_finite_is_refused(value: str) -> None:
    error = configuration_error(GATEKEEPER_PASSWORD="pw", GATEKEEPER_JWT_LEEWAY=value)
    assert str(error) == "GatekeeperMiddleware: GATEKEEPER_JWT_LEEWAY must be a finite number"
