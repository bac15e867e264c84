"""The local Feide's APIs on the caller's behalf, over real HTTP: the groups API and userinfo,
called with the subtoken the gatekeeper sent the API, or with a Feide API token a data source
got for the JWT it received (token exchange of a JWT, as Sikt's example data source does)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from gatekeeper_auth.devgate import DevGateConfig
from gatekeeper_auth.fake_feide import FakeFeideIssuer
from tests.devgate_support import echo_upstream, serve_devgate, token_for
from tests.servers import serve

ROOT = Path(__file__).parent.parent
BASE = DevGateConfig.load(ROOT / "example_app" / "devgate.toml")
SYSTEM = (BASE.clients[0].id, BASE.clients[0].secret.get_secret_value())
WEB = (BASE.clients[1].id, BASE.clients[1].secret.get_secret_value())
SOURCE = (BASE.clients[3].id, BASE.clients[3].secret.get_secret_value())  # the data source's
AUDIENCE = BASE.datasources[0].audience
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
JWT = "urn:ietf:params:oauth:token-type:jwt"
NO_TOKEN = 'Bearer realm="dataporten"'
INVALID = 'Bearer realm="dataporten", error="invalid_token", error_description="Token is invalid"'

ALICES_ORG = {
    "id": "fc:org:example.org",
    "type": "fc:org",
    "displayName": "Example University",
    "membership": {
        "basic": "member",
        "affiliation": ["employee", "member"],
        "primaryAffiliation": "employee",
    },
}
ALICES_GROUPS = [
    ALICES_ORG,
    {
        "id": "fc:adhoc:1b4e28ba-2fa1-4d2c-9a5e-7c3f8d6e2b10",
        "type": "fc:adhoc",
        "displayName": "Reading group",
        "membership": {"basic": "admin"},
    },
]
BOBS_ENDED = {
    "id": "fc:org:other.example.org",
    "type": "fc:org",
    "displayName": "Other College",
    "membership": {
        "basic": "member",
        "affiliation": ["employee"],
        "primaryAffiliation": "employee",
        "active": False,
    },
}


def config(upstream: str, **changes: Any) -> DevGateConfig:
    return DevGateConfig.model_validate(BASE.model_dump() | {"upstream": upstream} | changes)


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serve(echo_upstream) as url:
        yield url


@pytest.fixture(scope="module")
def gatekeeper(upstream: str) -> Iterator[str]:
    with serve_devgate(config(upstream)) as (url, _):
        yield url


def login(url: str, username: str) -> str:
    form = {"grant_type": "password", "username": username, "password": f"{username}-password"}
    token: str = token_for(url, WEB, **form)["access_token"]
    return token


def subtoken(url: str, access_token: str) -> str:
    """The X-Dataporten-token the API gets for a request with `access_token`."""
    response = httpx2.get(f"{url}/echo", headers={"Authorization": f"Bearer {access_token}"})
    headers = dict(response.json()["headers"])
    value: str = headers["x-dataporten-token"]
    return value


def get(url: str, path: str, token: str | None) -> httpx2.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx2.get(url + path, headers=headers)


def feide_api_token(url: str, username: str | None, client: tuple[str, str] = SOURCE) -> Any:
    """The data source's exchange of the JWT it received for a Feide API token: the answer."""
    subject = (
        login(url, username)
        if username
        else token_for(url, WEB, grant_type="client_credentials")["access_token"]
    )
    jwt = httpx2.post(
        f"{url}/oauth/token",
        data={
            "grant_type": EXCHANGE,
            "subject_token": subject,
            "subject_token_type": ACCESS_TOKEN,
            "audience": AUDIENCE,
        },
        auth=WEB,
    ).json()["access_token"]
    return exchange_jwt(url, jwt, client)


def exchange_jwt(url: str, jwt: str, client: tuple[str, str] = SOURCE, **form: str) -> Any:
    data = {
        "grant_type": EXCHANGE,
        "subject_token": jwt,
        "subject_token_type": JWT,
        "requested_token_type": ACCESS_TOKEN,
        "audience": "https://auth.dataporten.no",
        "scope": "",
        **form,
    }
    return httpx2.post(f"{url}/oauth/token", data=data, auth=client)


# With the subtoken (the gatekeeper path)


def test_the_groups_api_answers_the_users_groups_for_her_subtoken(gatekeeper: str) -> None:
    response = get(
        gatekeeper, "/groups/me/groups", subtoken(gatekeeper, login(gatekeeper, "alice"))
    )
    assert response.status_code == 200
    assert response.json() == ALICES_GROUPS


def test_an_ended_membership_is_listed_only_with_show_all(gatekeeper: str) -> None:
    token = subtoken(gatekeeper, login(gatekeeper, "bob"))
    active = get(gatekeeper, "/groups/me/groups", token).json()
    every = get(gatekeeper, "/groups/me/groups?showAll=true", token).json()
    assert [g["id"] for g in active] == ["fc:org:example.org"]
    assert every == [*active, BOBS_ENDED]
    assert active[0]["membership"]["affiliation"] == ["student", "member"]


@pytest.mark.parametrize(
    ("grants", "visible"),
    [
        (
            ["userid", "userid-feide", "userid-nin"],
            {
                "eduPersonPrincipalName": "alice@example.org",
                "uid": ["alice"],
                "norEduPersonNIN": "01019012345",
            },
        ),
        ([], {}),
    ],
    ids=["all grants", "no grants"],
)
def test_userinfo_shows_what_the_apis_grants_reach(
    upstream: str, grants: list[str], visible: dict[str, Any]
) -> None:
    with serve_devgate(config(upstream, grants=grants)) as (url, _):
        response = get(url, "/userinfo/v1/userinfo", subtoken(url, login(url, "alice")))
    assert response.status_code == 200
    assert response.json() == {
        "displayName": "Alice Example",
        **visible,
        "schacHomeOrganization": "example.org",
        "eduPersonAffiliation": ["employee", "member"],
        "eduPersonPrimaryAffiliation": "employee",
    }


def test_the_openid_userinfo_has_the_user_id_and_name(gatekeeper: str) -> None:
    response = get(gatekeeper, "/openid/userinfo", subtoken(gatekeeper, login(gatekeeper, "bob")))
    assert response.json() == {"sub": BASE.users[1].user_id, "name": "Bob Example"}


# Refusals, as Feide's APIs answer them


@pytest.mark.parametrize("path", ["/groups/me/groups", "/userinfo/v1/userinfo", "/openid/userinfo"])
def test_a_token_without_a_user_is_403(gatekeeper: str, path: str) -> None:
    system = token_for(gatekeeper, SYSTEM, grant_type="client_credentials")["access_token"]
    response = get(gatekeeper, path, subtoken(gatekeeper, system))
    assert response.status_code == 403
    assert response.json() == {"message": "This resource requires a personal token"}


@pytest.mark.parametrize("path", ["/groups/me/groups", "/userinfo/v1/userinfo"])
@pytest.mark.parametrize(
    ("token", "challenge", "message"),
    [
        (None, NO_TOKEN, "Not authorized"),
        ("not-a-token", INVALID, "Token is invalid"),
        ("<the caller's own access token>", INVALID, "Token is invalid"),
    ],
    ids=["no token", "unknown token", "an access token for the API"],
)
def test_no_token_or_one_that_is_not_for_feides_apis_is_401(
    gatekeeper: str, path: str, token: str | None, challenge: str, message: str
) -> None:
    if token == "<the caller's own access token>":
        token = login(gatekeeper, "alice")
    response = get(gatekeeper, path, token)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == challenge
    assert response.json() == {"message": message}


def test_a_subtoken_dies_with_its_access_token(upstream: str) -> None:
    with serve_devgate(config(upstream)) as (url, app):
        token = subtoken(url, login(url, "alice"))
        assert get(url, "/groups/me/groups", token).status_code == 200
        app.state.issuer.clear()  # as when the caller's token expires
        assert get(url, "/groups/me/groups", token).status_code == 401


# With a Feide API token for the JWT a data source received (the JWT path)


def test_a_data_source_exchanges_the_users_jwt_for_a_feide_api_token(gatekeeper: str) -> None:
    response = feide_api_token(gatekeeper, "alice")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    token = body.pop("access_token")
    assert body == {
        "issued_token_type": ACCESS_TOKEN,
        "token_type": "Bearer",
        "expires_in": body["expires_in"],
        "scope": "",
    }
    assert 28800 - 2 <= body["expires_in"] <= 28800
    assert get(gatekeeper, "/groups/me/groups", token).json() == ALICES_GROUPS
    # Its user claims are name and eduPersonPrincipalName: no national identity number.
    assert get(gatekeeper, "/userinfo/v1/userinfo", token).json() == {
        "displayName": "Alice Example",
        "eduPersonPrincipalName": "alice@example.org",
        "uid": ["alice"],
        "schacHomeOrganization": "example.org",
        "eduPersonAffiliation": ["employee", "member"],
        "eduPersonPrimaryAffiliation": "employee",
    }


def test_the_form_may_carry_the_data_sources_client_credentials(gatekeeper: str) -> None:
    jwt = httpx2.post(
        f"{gatekeeper}/oauth/token",
        data={
            "grant_type": EXCHANGE,
            "subject_token": login(gatekeeper, "bob"),
            "subject_token_type": ACCESS_TOKEN,
            "audience": AUDIENCE,
        },
        auth=WEB,
    ).json()["access_token"]
    form = {"client_id": SOURCE[0], "client_secret": SOURCE[1]}
    data = {"grant_type": EXCHANGE, "subject_token": jwt, "subject_token_type": JWT}
    data |= {"audience": "https://auth.dataporten.no", "scope": ""} | form
    response = httpx2.post(f"{gatekeeper}/oauth/token", data=data)
    assert response.status_code == 200, response.text
    groups = get(gatekeeper, "/groups/me/groups", response.json()["access_token"]).json()
    assert [g["id"] for g in groups] == ["fc:org:example.org"]


def test_a_system_jwts_feide_api_token_is_403_at_the_groups_api(gatekeeper: str) -> None:
    token = feide_api_token(gatekeeper, None).json()["access_token"]
    response = get(gatekeeper, "/groups/me/groups", token)
    assert (response.status_code, response.json()) == (
        403,
        {"message": "This resource requires a personal token"},
    )


def test_a_feide_api_token_is_not_a_token_for_the_api(gatekeeper: str) -> None:
    token = feide_api_token(gatekeeper, "alice").json()["access_token"]
    response = get(gatekeeper, "/echo", token)
    assert response.status_code == 403
    assert response.json() == {"message": "the token lacks the API's basic scope gk_exampleapi"}


@pytest.mark.parametrize(
    ("jwt", "client", "form", "error", "description"),
    [
        (
            "minted",
            WEB,
            {},
            "invalid_grant",
            "only the data source the JWT is for may exchange it, as its own client",
        ),
        (
            "foreign",
            SOURCE,
            {},
            "invalid_grant",
            "the subject token is unknown or expired",
        ),
        (
            "minted",
            SOURCE,
            {"audience": AUDIENCE},
            "invalid_target",
            "a JWT is exchanged only for a Feide API token: audience=https://auth.dataporten.no",
        ),
        (
            "minted",
            SOURCE,
            {"requested_token_type": JWT},
            "invalid_request",
            f"requested_token_type must be {ACCESS_TOKEN}",
        ),
    ],
    ids=["another client", "a JWT it never minted", "a data source audience", "a JWT asked"],
)
def test_a_bad_jwt_exchange_gets_an_rfc_8693_error(
    gatekeeper: str,
    jwt: str,
    client: tuple[str, str],
    form: dict[str, str],
    error: str,
    description: str,
) -> None:
    if jwt == "minted":
        jwt = httpx2.post(
            f"{gatekeeper}/oauth/token",
            data={
                "grant_type": EXCHANGE,
                "subject_token": login(gatekeeper, "alice"),
                "subject_token_type": ACCESS_TOKEN,
                "audience": AUDIENCE,
            },
            auth=WEB,
        ).json()["access_token"]
    else:  # signed by another Feide-shaped issuer, for the same audience
        jwt = FakeFeideIssuer(audience=AUDIENCE).mint(user_id=BASE.users[0].user_id)
    response = exchange_jwt(gatekeeper, jwt, client, **form)
    assert response.status_code == 400
    assert response.json() == {"error": error, "error_description": description}


# The groups in the configuration


@pytest.mark.parametrize(
    ("group", "message"),
    [
        (
            {"type": "fc:adhoc", "membership": {"affiliation": ["member"]}},
            'affiliation and primaryAffiliation are for organisation groups (type = "fc:org")',
        ),
        (
            {"membership": {"affiliation": ["member"], "primaryAffiliation": "employee"}},
            "primaryAffiliation must be one of the group's affiliation list",
        ),
        ({"membership": {"affiliation": ["boss"]}}, "Input should be 'employee'"),
        ({"membership": {"basic": "guest"}}, "Input should be 'member', 'admin' or 'owner'"),
        ({"id": "org:example.org"}, "String should match pattern"),
        ({"displayName": ""}, "String should have at least 1 character"),
    ],
    ids=["affiliation off an org", "primary not listed", "affiliation", "basic", "id", "name"],
)
def test_a_group_that_feide_would_not_send_is_refused(group: dict[str, Any], message: str) -> None:
    base = {"id": "fc:org:example.org", "type": "fc:org", "displayName": "Example University"}
    user = BASE.users[0].model_dump() | {"groups": [base | group]}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        DevGateConfig.model_validate(BASE.model_dump() | {"users": [user]})


def test_group_ids_are_unique_per_user() -> None:
    group = {"id": "fc:org:example.org", "type": "fc:org", "displayName": "Example University"}
    user = BASE.users[0].model_dump() | {"groups": [group, group]}
    with pytest.raises(ValueError, match="user alice: group ids must be unique"):
        DevGateConfig.model_validate(BASE.model_dump() | {"users": [user]})
