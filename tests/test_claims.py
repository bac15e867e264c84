"""What a Feide JWT's claims make of its caller: every claim about an end user marks a user,
through the real middleware and guards."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from gatekeeper_auth import FeideJWT
from gatekeeper_auth.claims import EPPN, NIN
from gatekeeper_auth.fake_feide import DEFAULT_CLIENT, FakeFeideIssuer
from tests.helpers import assert_refused, build_app, refusal_message

ISSUER = FakeFeideIssuer()

#: Every standard claim of OpenID Connect Core 1.0 §5.1 but `sub`, with a value of its type.
OIDC_STANDARD_CLAIMS: dict[str, Any] = {
    "name": "Bekymret Sky",
    "given_name": "Bekymret",
    "family_name": "Sky",
    "middle_name": "Grå",
    "nickname": "bsk",
    "preferred_username": "bsk",
    "profile": "https://uinn.no/~bsk",
    "picture": "https://uinn.no/~bsk.png",
    "website": "https://bsk.example",
    "email": "bsk@uinn.no",
    "email_verified": True,
    "gender": "female",
    "birthdate": "1990-12-31",
    "zoneinfo": "Europe/Oslo",
    "locale": "nb-NO",
    "phone_number": "+47 12345678",
    "phone_number_verified": False,
    "address": {"street_address": "Gata 1", "locality": "Oslo", "country": "NO"},
    "updated_at": 1700000000,
}


@pytest.fixture(scope="module")
def jwt_client() -> TestClient:
    feide = FeideJWT(audience=ISSUER.audience, transport=ISSUER.transport())
    return TestClient(build_app(jwt=feide))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "claim",
    [
        *({name: value} for name, value in OIDC_STANDARD_CLAIMS.items()),
        {"name": 1},  # presence marks a user, whatever the value
        {"email": None},
        {"address": "Gata 1"},
        {"https://n.feide.no/claims/someFutureUserClaim": "x"},
        {"http://n.feide.no/claims/someFutureUserClaim": "x"},
        {"nonce": "n-0S6_WzA2Mj"},
        {"at_hash": "77QmUPtjPfzWtF2AnpK9RQ"},
        {"dataporten-userid_sec": ["feide:bsk@uinn.no"]},
        {"act": {"sub": "someone-else-than-the-client"}},
    ],
    ids=[
        *OIDC_STANDARD_CLAIMS,
        *("name a number", "email null", "address a string", "feide claim", "feide claim, http"),
        *("nonce", "at_hash", "dataporten-userid_sec", "act of another"),
    ],
)
def test_every_claim_about_an_end_user_makes_a_token_a_users(
    jwt_client: TestClient, claim: dict[str, Any]
) -> None:
    token = ISSUER.mint(claims=claim)  # sub == client_id: only the claim tells
    refused = jwt_client.get("/system", headers=bearer(token))
    assert_refused(refused, "user_token_not_allowed")
    assert refusal_message(refused).startswith(
        "This route is for system requests (client credentials); the token represents a user."
    )
    assert jwt_client.get("/any", headers=bearer(token)).json() == {
        "kind": "user",
        "client_id": DEFAULT_CLIENT,
        "user_id": None,
        "scopes": ["read"],
        "secondary_ids": [],
        "acr": None,
        "gatekeeper": "",
    }


@pytest.mark.parametrize(
    "claim", [{"jti": "x"}, {"azp": "x"}, {"groups": ["g"]}], ids=["jti", "azp", "unknown"]
)
def test_claims_about_no_user_leave_a_system_token_a_system_token(
    jwt_client: TestClient, claim: dict[str, Any]
) -> None:
    response = jwt_client.get("/system", headers=bearer(ISSUER.mint(claims=claim)))
    assert response.status_code == 200
    assert response.json()["kind"] == "system"


@pytest.mark.parametrize(
    ("claim", "name"),
    [({EPPN: 7}, EPPN), ({NIN: ["1"]}, NIN), ({EPPN: ""}, EPPN), ({NIN: "a\nb"}, NIN)],
    ids=["eppn a number", "nin a list", "eppn empty", "nin with a newline"],
)
def test_the_claims_that_become_secondary_ids_must_be_printable_strings(
    jwt_client: TestClient, claim: dict[str, Any], name: str
) -> None:
    response = jwt_client.get("/any", headers=bearer(ISSUER.mint(claims=claim)))
    assert_refused(response, "token_invalid")
    assert refusal_message(response) == f"the token's {name} claim is not a printable string"


@pytest.mark.parametrize(("depth", "status"), [(60, 200), (70, 401)])
def test_claims_nested_deeper_than_64_are_refused_on_every_python(
    jwt_client: TestClient, depth: int, status: int
) -> None:
    nested: Any = 1
    for _ in range(depth):
        nested = [nested]
    response = jwt_client.get("/any", headers=bearer(ISSUER.mint(claims={"x": nested})))
    assert response.status_code == status
    if status == 401:
        assert_refused(response, "token_invalid")
        assert refusal_message(response) == "the token's claims are out of range or nested too deep"
