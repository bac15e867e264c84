"""GatekeeperCredentials and the failed-login log: counted, once a minute, never a secret."""

import base64
import logging

import pytest
from fastapi.testclient import TestClient

from gatekeeper_auth import credentials as credentials_module
from gatekeeper_auth.testing import TEST_PASSWORD


def test_wrong_credentials_are_logged_once_a_minute_with_a_count_and_no_secret(
    client: TestClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def basic(credentials: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}

    now = [1000.0]
    monkeypatch.setattr(credentials_module.time, "monotonic", lambda: now[0])
    with caplog.at_level(logging.INFO, logger="gatekeeper_auth"):
        client.get("/system", headers=basic("dataporten:typo-in-password"))
        client.get("/system", headers=basic("dataporten:typo-in-password"))
        client.get("/system", headers=basic("feideconnect:typo-in-password"))
        now[0] += 61
        client.get("/system", headers=basic("dataporten:typo-in-password"))
    lines = [r for r in caplog.records if "did not match" in r.getMessage()]
    assert [r.levelno for r in lines] == [logging.WARNING, logging.WARNING]
    first, second = (r.getMessage() for r in lines)
    assert first.startswith("gatekeeper_auth: 1 request(s) refused since the last such line")
    assert "trust type basic with username 'dataporten'" in first
    assert "the username matched, the password did not" in first
    assert second.startswith("gatekeeper_auth: 3 request(s) refused")
    assert "typo-in-password" not in caplog.text
    assert TEST_PASSWORD not in caplog.text
