"""The dev gatekeeper is indistinguishable from the real one (issue 11 §4).

Each situation of `tests/platform_headers.py` (written from domain.md) is driven through the dev
gatekeeper over real HTTP, to an echo upstream, and what arrives is compared header by header.
Then the gatekeeper's own answers and its token endpoint, against the same facts.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest

from gatekeeper_auth.devgate import DevGateConfig
from gatekeeper_auth.devgate.config import LONGTERM_LIFETIME
from tests import platform_headers as ph
from tests.devgate_support import echo_upstream, serve_devgate, token_for
from tests.servers import raw_server, read_head, serve

SECRET = "fidelity-client-secret"
CLIENT = (ph.CLIENT_ID, SECRET)
ALICE = {"username": "alice", "password": "alice-pw", "user_id": ph.USER_ID}


def config(upstream: str, **changes: Any) -> DevGateConfig:
    return DevGateConfig.model_validate(
        {
            "api": ph.GATEKEEPER,
            "upstream": upstream,
            "upstream_credentials": {"username": ph.USERNAME, "password": ph.TEST_PASSWORD},
            "clients": [{"id": ph.CLIENT_ID, "secret": SECRET, "scopes": ["read", "reports"]}],
            "users": [
                {**ALICE, "secondary_ids": [ph.FEIDE, ph.NIN], "acr": ph.ACR},
                {
                    "username": "bob",
                    "password": "bob-pw",
                    "user_id": ph.USER_ID,
                    "secondary_ids": [ph.FEIDE, ph.FEIDE_2, ph.NIN],
                },
                {
                    "username": "carol",
                    "password": "carol-pw",
                    "user_id": ph.USER_ID,
                    "secondary_ids": [ph.NIN],
                },
            ],
            **changes,
        }
    )


@dataclass(frozen=True)
class Drive:
    """How to make the dev gatekeeper meet one situation."""

    grants: tuple[str, ...] = ("userid", "userid-feide", "userid-nin")
    form: dict[str, str] | None = None  # the token request; None sends no token
    caller: dict[str, str] = field(default_factory=dict)  # headers the caller adds
    changes: dict[str, Any] = field(default_factory=dict)  # config keys
    # The token goes as the caller's own, written as ph.CALLER_TOKEN where it arrives (OPTIONS).
    callers_own: bool = False


BASIC_ONLY = {"grant_type": "client_credentials", "scope": "gk_testapi"}


def login(username: str, **extra: str) -> dict[str, str]:
    password = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}[username]
    form = {"grant_type": "password", "username": username, "password": password}
    return form | {"scope": "gk_testapi"} | extra


DRIVES = {
    "system token without sub-scopes": Drive(form=BASIC_ONLY),
    "system token with sub-scopes": Drive(form={"grant_type": "client_credentials"}),
    "user token, all grants": Drive(form=login("alice", scope="gk_testapi gk_testapi_read")),
    "user token, only userid": Drive(grants=("userid",), form=login("alice")),
    "user token, no user-id grants": Drive(grants=(), form=login("alice")),
    "user token, no user-id grants, acr requested": Drive(
        grants=(), form=login("alice", acr_values="urn:x:any")
    ),
    "user token, only userid-nin": Drive(grants=("userid-nin",), form=login("alice")),
    "user token, only userid-feide, user without a feide id": Drive(
        grants=("userid-feide",), form=login("carol")
    ),
    "user token, two feide ids and a nin": Drive(form=login("bob")),
    "bearer trust, system token": Drive(
        form={"grant_type": "client_credentials", "scope": "gk_testapi gk_testapi_read"},
        changes={"upstream_credentials": {"bearer_token": ph.BEARER_TRUST_TOKEN}},
    ),
    "system client that sent its own userid": Drive(
        form=BASIC_ONLY,
        caller={"X-Dataporten-Userid": ph.USER_ID, "x_dataporten_userid_sec": ph.FEIDE},
    ),
    "OPTIONS without a token": Drive(),
    "OPTIONS with the caller's token": Drive(form=BASIC_ONLY, callers_own=True),
    "public API called without a token": Drive(changes={"allow_unauthenticated": True}),
}


def test_every_situation_of_the_table_is_driven() -> None:
    assert set(DRIVES) == {s.name for s in ph.SITUATIONS}


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serve(echo_upstream) as url:
        yield url


def arrived(upstream: str, situation: ph.Situation) -> list[tuple[str, str]]:
    """The headers the echo upstream got when the dev gatekeeper met `situation`."""
    drive = DRIVES[situation.name]
    settings = config(upstream, grants=list(drive.grants), **drive.changes)
    with serve_devgate(settings) as (gatekeeper, _):
        headers = dict(drive.caller)
        token = ""
        if drive.form is not None:
            token = token_for(gatekeeper, CLIENT, **drive.form)["access_token"]
            headers["Authorization"] = f"Bearer {token}"
        response = httpx2.request(situation.method, f"{gatekeeper}/echo", headers=headers)
    assert response.status_code == 200, response.text
    seen = [(name, value) for name, value in response.json()["headers"]]
    if drive.callers_own:  # a valid token: the platform checks it on the preflight too
        seen = [(name, value.replace(token, ph.CALLER_TOKEN)) for name, value in seen]
    return seen


@pytest.mark.parametrize("situation", ph.SITUATIONS, ids=lambda s: s.name)
def test_the_dev_gatekeeper_sends_what_the_platform_sends(
    upstream: str, situation: ph.Situation
) -> None:
    assert ph.comparable(arrived(upstream, situation)) == ph.comparable(situation.headers)


def test_header_names_are_spelled_as_the_platform_writes_them() -> None:
    """Through a raw socket: what the upstream reads on the wire, before any server lower-cases."""
    seen: list[bytes] = []

    def record(conn: socket.socket) -> None:
        seen.append(read_head(conn))
        conn.sendall(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")

    with raw_server(record) as upstream, serve_devgate(config(upstream)) as (gatekeeper, _):
        token = token_for(gatekeeper, CLIENT, **login("alice", acr_values="x"))["access_token"]
        httpx2.get(f"{gatekeeper}/x", headers={"Authorization": f"Bearer {token}"})
    names = [line.split(b":")[0] for line in seen[0].split(b"\r\n")[1:] if b":" in line]
    ours = sorted(n.decode() for n in names if n.lower().startswith(b"x-dataporten-"))
    assert ours == [
        "X-Dataporten-acr",
        "X-Dataporten-clientid",
        "X-Dataporten-gatekeeper",
        "X-Dataporten-token",
        "X-Dataporten-userid",
        "X-Dataporten-userid-sec",
    ]


# --- what the gatekeeper answers itself (never reaching the upstream) -------------------------


@pytest.fixture(scope="module")
def gatekeeper(upstream: str) -> Iterator[str]:
    with serve_devgate(config(upstream)) as (url, _):
        yield url


NO_TOKEN = 'Bearer realm="dataporten"'
INVALID = 'Bearer realm="dataporten", error="invalid_token", error_description="Token is invalid"'


@pytest.mark.parametrize(
    ("authorization", "challenge", "message"),
    [
        (None, NO_TOKEN, "a bearer token is required"),
        ("Basic eDp5", NO_TOKEN, "a bearer token is required"),
        ("Bearer not-a-token", INVALID, "Token is invalid"),
        ("Bearer", NO_TOKEN, "a bearer token is required"),  # the platform reads no token in it
    ],
    ids=["no token", "basic", "unknown token", "empty bearer"],
)
def test_without_a_valid_token_the_answer_is_the_platforms_401(
    gatekeeper: str, authorization: str | None, challenge: str, message: str
) -> None:
    """domain.md: the decision service's own refusals are `{"message": ...}` with these
    challenges."""
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx2.get(f"{gatekeeper}/echo", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == challenge
    assert response.json() == {"message": message}


def test_a_token_without_the_basic_scope_is_403(gatekeeper: str) -> None:
    body = token_for(gatekeeper, CLIENT, grant_type="client_credentials", scope="gk_testapi_read")
    assert body["scope"] == "gk_testapi_read"
    response = httpx2.get(
        f"{gatekeeper}/echo", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert response.status_code == 403
    assert response.json() == {"message": "the token lacks the API's basic scope gk_testapi"}


def test_requireuser_refuses_system_tokens_and_passes_user_tokens(upstream: str) -> None:
    with serve_devgate(config(upstream, requireuser=True)) as (gatekeeper, _):
        system = token_for(gatekeeper, CLIENT, grant_type="client_credentials")["access_token"]
        user = token_for(gatekeeper, CLIENT, **login("alice"))["access_token"]
        refused = httpx2.get(f"{gatekeeper}/echo", headers={"Authorization": f"Bearer {system}"})
        passed = httpx2.get(f"{gatekeeper}/echo", headers={"Authorization": f"Bearer {user}"})
    assert refused.status_code == 403
    assert refused.json() == {"message": "this API requires a token for a user"}
    assert passed.status_code == 200


def test_a_public_api_still_refuses_an_invalid_token(upstream: str) -> None:
    with serve_devgate(config(upstream, allow_unauthenticated=True)) as (gatekeeper, _):
        response = httpx2.get(f"{gatekeeper}/echo", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == INVALID


# --- the token endpoint -------------------------------------------------------------------------


@pytest.mark.parametrize("grant_type", ["client_credentials", "password"])
def test_form_posted_client_credentials_are_invalid_client(
    gatekeeper: str, grant_type: str
) -> None:
    form = {"grant_type": grant_type, "client_id": ph.CLIENT_ID, "client_secret": SECRET}
    if grant_type == "password":
        form |= {"username": "alice", "password": "alice-pw"}
    response = httpx2.post(f"{gatekeeper}/oauth/token", data=form)
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "authenticate the client with HTTP Basic, not in the form",
    }
    assert response.headers["cache-control"] == "no-store"


def test_expires_in_counts_the_seconds_left_of_eight_hours(gatekeeper: str) -> None:
    body = token_for(gatekeeper, CLIENT, grant_type="client_credentials")
    assert 28800 - 2 <= body["expires_in"] < 28800
    assert body["scope"] == "gk_testapi gk_testapi_read gk_testapi_reports"


def test_longterm_tokens_live_680_days_and_only_for_clients_granted_it(upstream: str) -> None:
    longterm_client = {"id": "lt", "secret": "lt-secret", "scopes": [], "longterm": True}
    settings = config(upstream)
    settings = DevGateConfig.model_validate(
        settings.model_dump() | {"clients": [*settings.model_dump()["clients"], longterm_client]}
    )
    with serve_devgate(settings) as (gatekeeper, _):
        body = token_for(
            gatekeeper,
            ("lt", "lt-secret"),
            grant_type="client_credentials",
            scope="gk_testapi longterm",
        )
        refused = httpx2.post(
            f"{gatekeeper}/oauth/token",
            data={"grant_type": "client_credentials", "scope": "gk_testapi longterm"},
            auth=CLIENT,
        )
    assert LONGTERM_LIFETIME == 680 * 86400
    assert LONGTERM_LIFETIME - 2 <= body["expires_in"] < LONGTERM_LIFETIME
    assert body["scope"] == "gk_testapi longterm"
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_scope"
