"""Feide JWTs through GatekeeperMiddleware, beside the gatekeeper path, with the same guards."""

from typing import Any

import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from gatekeeper_auth import ConfigurationError, FeideJWT, GatekeeperMiddleware
from gatekeeper_auth.testing import TEST_CLIENT_ID, FakeFeideIssuer, FakeGatekeeper
from tests.helpers import assert_refused, build_app

USER = "9a1c2b3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"


def jwt_for(issuer: FakeFeideIssuer) -> FeideJWT:
    return FeideJWT(audience=issuer.audience, transport=issuer.transport())


def client_for(issuer: FakeFeideIssuer, **options: Any) -> TestClient:
    """The test app with both paths: the gatekeeper's credentials and Feide JWTs."""
    options = {**FakeGatekeeper().middleware_options(), **options}
    return TestClient(build_app(jwt=jwt_for(issuer), **options))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_system_jwt_passes_the_system_guard_and_a_user_jwt_is_refused(
    feide_issuer: FakeFeideIssuer,
) -> None:
    client = client_for(feide_issuer)
    system = client.get("/system/scoped", headers=bearer(feide_issuer.mint(scope="read")))
    assert system.status_code == 200
    assert system.json()["kind"] == "system"
    user = feide_issuer.mint(user_id=USER, scope="read")
    assert_refused(client.get("/system/scoped", headers=bearer(user)), "user_token_not_allowed")
    me = client.get("/user", headers=bearer(user)).json()
    assert (me["kind"], me["user_id"], me["secondary_ids"]) == ("user", USER, ["feide:bsk@uinn.no"])


def test_a_user_token_whose_sub_is_the_client_id_is_a_user_by_its_claims(
    feide_issuer: FakeFeideIssuer,
) -> None:
    # Feide's own reference example: sub == client_id, with user claims.
    token = feide_issuer.mint(user_claims={"name": "Bekymret Sky"})
    client = client_for(feide_issuer)
    assert_refused(client.get("/system", headers=bearer(token)), "user_token_not_allowed")


def test_both_paths_side_by_side(feide_issuer: FakeFeideIssuer) -> None:
    client = client_for(feide_issuer)
    by_gatekeeper = client.get("/any", headers=FakeGatekeeper().system()).json()
    by_jwt = client.get("/any", headers=bearer(feide_issuer.mint())).json()
    assert by_gatekeeper["gatekeeper"] == "testapi"
    assert by_jwt["gatekeeper"] == ""
    assert by_gatekeeper["client_id"] == TEST_CLIENT_ID


@pytest.mark.parametrize(
    "token",
    ["a.b.c", "a.b.", "..", "x" * 40 + ".y.z"],
    ids=["junk", "empty signature", "dots only", "long junk"],
)
def test_a_bearer_value_with_two_dots_is_a_jwt_and_its_failure_is_token_invalid(
    feide_issuer: FakeFeideIssuer, token: str
) -> None:
    assert_refused(client_for(feide_issuer).get("/any", headers=bearer(token)), "token_invalid")


def test_a_forged_jwt_is_token_invalid(feide_issuer: FakeFeideIssuer) -> None:
    forger = FakeFeideIssuer(audience=feide_issuer.audience)
    response = client_for(feide_issuer).get("/any", headers=bearer(forger.mint()))
    assert_refused(response, "token_invalid")


def test_the_gatekeepers_shared_token_is_checked_first_even_with_two_dots(
    feide_issuer: FakeFeideIssuer,
) -> None:
    gatekeeper = FakeGatekeeper(bearer_token="shared.token.with-dots")
    app = build_app(jwt=jwt_for(feide_issuer), **gatekeeper.middleware_options())
    client = TestClient(app)
    response = client.get("/system", headers=gatekeeper.system())
    assert response.status_code == 200
    assert response.json()["gatekeeper"] == "testapi"


def test_other_credentials_are_gatekeeper_credentials_invalid_with_both_paths(
    feide_issuer: FakeFeideIssuer,
) -> None:
    response = client_for(feide_issuer).get("/any", headers=bearer("not-a-jwt"))
    assert_refused(response, "gatekeeper_credentials_invalid")


def test_jwt_only_needs_no_gatekeeper_secret_and_refuses_other_credentials(
    feide_issuer: FakeFeideIssuer,
) -> None:
    client = TestClient(build_app(jwt=jwt_for(feide_issuer)))
    assert client.get("/system", headers=bearer(feide_issuer.mint())).status_code == 200
    assert_refused(client.get("/any", headers=FakeGatekeeper().system()), "token_invalid")
    assert_refused(client.get("/any"), "authentication_required")


def test_gatekeeper_headers_beside_a_jwt_are_ignored(feide_issuer: FakeFeideIssuer) -> None:
    headers = [
        ("Authorization", f"Bearer {feide_issuer.mint()}"),
        ("X-Dataporten-Userid", USER),  # would make it a user's on the gatekeeper path
        ("X-Dataporten-Clientid", "a"),
        ("X-Dataporten-Clientid", "b"),  # repeated: a 400 on the gatekeeper path
        ("X_Dataporten_Acr", "x"),  # spelled with "_": a 400 on the gatekeeper path
    ]
    response = client_for(feide_issuer).get("/system", headers=headers)
    assert response.status_code == 200
    assert response.json()["user_id"] is None


def test_userid_grant_and_allowed_networks_concern_the_gatekeeper_path_only(
    feide_issuer: FakeFeideIssuer,
) -> None:
    app = build_app(
        jwt=jwt_for(feide_issuer),
        userid_grant=False,
        allowed_networks=["192.0.2.0/24"],
        **FakeGatekeeper().middleware_options(),
    )
    client = TestClient(app, client=("203.0.113.9", 4000))
    assert client.get("/system", headers=bearer(feide_issuer.mint())).status_code == 200
    assert_refused(
        client.get("/system", headers=FakeGatekeeper().system()), "gatekeeper_network_not_allowed"
    )


def test_options_with_a_foreign_or_bad_bearer_is_anonymous(feide_issuer: FakeFeideIssuer) -> None:
    client = client_for(feide_issuer)
    for token in ("a.b.c", "opaque-dataporten-token", FakeFeideIssuer().mint()):
        response = client.options("/optional", headers=bearer(token))
        assert response.status_code == 405  # reached the app, anonymous: the route has no OPTIONS


def test_options_with_a_valid_jwt_is_its_holders(feide_issuer: FakeFeideIssuer) -> None:
    app = build_app(jwt=jwt_for(feide_issuer))

    @app.options("/who")
    def who(request: Request) -> dict[str, Any]:
        return {"user": request.user.identity, "authenticated": request.user.is_authenticated}

    token = feide_issuer.mint(user_id=USER)
    with TestClient(app) as client:
        answer = client.options("/who", headers=bearer(token))
        anonymous = client.options("/who", headers=bearer(FakeFeideIssuer().mint(user_id=USER)))
    assert answer.json() == {"user": USER, "authenticated": True}
    assert anonymous.json() == {"user": "", "authenticated": False}


def test_no_usable_key_is_503_keys_unavailable(feide_issuer: FakeFeideIssuer) -> None:
    feide_issuer.down = True
    response = client_for(feide_issuer).get("/any", headers=bearer(feide_issuer.mint()))
    assert_refused(response, "keys_unavailable")


def test_the_keys_are_loaded_at_start_up(feide_issuer: FakeFeideIssuer) -> None:
    with client_for(feide_issuer):
        assert feide_issuer.jwks_requests == 1  # before any request


def test_the_environment_configures_the_jwt_path(
    feide_issuer: FakeFeideIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEKEEPER_JWT_AUDIENCE", feide_issuer.audience)
    monkeypatch.setenv("GATEKEEPER_JWT_LEEWAY", "5")
    monkeypatch.delenv("GATEKEEPER_PASSWORD", raising=False)
    monkeypatch.setenv("GATEKEEPER_JWT_KEY_MAX_AGE", "60")
    monkeypatch.setenv("GATEKEEPER_JWT_USERID_GRANT", "false")
    middleware = GatekeeperMiddleware(build_app())
    assert repr(middleware._jwt) == (
        f"FeideJWT(audience={feide_issuer.audience!r}, issuer='https://auth.dataporten.no', "
        "jwks_url='https://auth.dataporten.no/openid/jwks', leeway=5.0)"
    )
    assert middleware._jwt is not None
    assert (middleware._jwt.keys.max_age, middleware._jwt.userid_grant) == (60.0, False)


def test_the_reason_is_logged_and_the_token_never(
    feide_issuer: FakeFeideIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    token = feide_issuer.mint(lifetime=-100)
    with caplog.at_level("INFO", logger="gatekeeper_auth"):
        assert_refused(client_for(feide_issuer).get("/any", headers=bearer(token)), "token_invalid")
    assert "the token has expired" in caplog.text
    for piece in token.split("."):
        assert piece[:12] not in caplog.text


# Found by the review of this change.


def test_two_authorization_headers_beside_a_jwt_verifier_are_token_invalid(
    feide_issuer: FakeFeideIssuer,
) -> None:
    token = feide_issuer.mint()
    headers = [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
    assert_refused(client_for(feide_issuer).get("/any", headers=headers), "token_invalid")


@pytest.mark.parametrize(
    "claims",
    [{"exp": 10**400}, {"nbf": -(10**400)}, {"x": "nested 900 deep"}],
    ids=["huge exp", "huge negative nbf", "nesting"],
)
def test_absurd_numbers_or_nesting_in_a_signed_token_are_401_not_500(
    feide_issuer: FakeFeideIssuer, claims: dict[str, Any]
) -> None:
    if "x" in claims:
        nested: Any = 1
        for _ in range(900):
            nested = [nested]
        claims = {"x": nested}
    token = feide_issuer.mint(claims=claims)
    assert_refused(client_for(feide_issuer).get("/any", headers=bearer(token)), "token_invalid")


@pytest.mark.parametrize(
    "claim", [{"acr": "urn:x"}, {"amr": ["pwd"]}, {"auth_time": 1}, {"sid": "s"}]
)
def test_a_login_claim_makes_a_token_a_users(
    feide_issuer: FakeFeideIssuer, claim: dict[str, Any]
) -> None:
    token = feide_issuer.mint(claims=claim)  # sub == client_id, no profile claim
    response = client_for(feide_issuer).get("/system", headers=bearer(token))
    assert_refused(response, "user_token_not_allowed")


def test_a_jwks_url_with_a_password_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigurationError) as refused:
        FeideJWT(audience="https://n.feide.no/datasources/x", jwks_url="https://u:Zq8s@h/jwks")
    assert "Zq8s" not in str(refused.value)
    with pytest.raises(ConfigurationError) as bad:
        FeideJWT(audience="https://n.feide.no/datasources/x", jwks_url="https://u:Zq8s@[bad/j")
    assert "Zq8s" not in str(bad.value)


def test_starlettes_user_identity_never_mixes_users_of_one_client(
    feide_issuer: FakeFeideIssuer,
) -> None:
    app = build_app(jwt=jwt_for(feide_issuer), **FakeGatekeeper().middleware_options())

    @app.get("/who")
    async def who(request: Request) -> str:
        return str(request.user.identity)

    client = TestClient(app)
    gatekeeper = FakeGatekeeper()
    alice = gatekeeper.user(user_id=None, secondary_ids=["feide:alice@org.no"])
    bob = gatekeeper.user(user_id=None, secondary_ids=["feide:bob@org.no"])
    anonymous_user = gatekeeper.user(user_id=None, acr="urn:x")
    assert client.get("/who", headers=alice).json() == "feide:alice@org.no"
    assert client.get("/who", headers=bob).json() == "feide:bob@org.no"
    assert client.get("/who", headers=anonymous_user).json() == ""
    assert client.get("/who", headers=gatekeeper.system()).json() == TEST_CLIENT_ID
    jwt_user = feide_issuer.mint(user_claims={"name": "N"})  # sub == client_id
    assert client.get("/who", headers=bearer(jwt_user)).json() == ""


# Found by the second review.


def test_jwt_given_in_code_means_the_environment_is_not_read(
    feide_issuer: FakeFeideIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEKEEPER_ALLOW_UNVERIFIED", "true")  # a stray dev setting
    monkeypatch.setenv("GATEKEEPER_PASSWORD", "stray")
    client = TestClient(build_app(jwt=jwt_for(feide_issuer)))
    forged = {"X-Dataporten-Clientid": "any-client", "X-Dataporten-Gatekeeper": "x"}
    assert_refused(client.get("/system", headers=forged), "authentication_required")
    assert_refused(
        client.get("/system", headers=FakeGatekeeper(password="stray").system()), "token_invalid"
    )


def test_starlettes_user_identity_is_empty_for_an_unknown_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = build_app(userid_grant=False, **FakeGatekeeper().middleware_options())

    @app.get("/who")
    async def who(request: Request) -> str:
        return str(request.user.identity)

    response = TestClient(app).get("/who", headers=FakeGatekeeper().system())
    assert response.json() == ""  # may be any user of the client: never the client id


# The userid trap on the JWT path, and one spelling per token.


def test_without_userid_grant_a_jwt_with_no_sign_of_a_user_is_kept_off_system_routes(
    feide_issuer: FakeFeideIssuer,
) -> None:
    feide = FeideJWT(
        audience=feide_issuer.audience, transport=feide_issuer.transport(), userid_grant=False
    )
    client = TestClient(build_app(jwt=feide))
    token = bearer(feide_issuer.mint(scope="read act-for-users"))  # sub == client_id, no claim
    for route in ("/system", "/system/scoped", "/user/or-service"):
        assert_refused(client.get(route, headers=token), "userid_grant_missing")
    me = client.get("/any", headers=token)
    assert me.status_code == 200
    assert me.json() == {
        "kind": "unknown",
        "client_id": feide_issuer.claims()["client_id"],
        "user_id": None,
        "scopes": ["act-for-users", "read"],
        "secondary_ids": [],
        "acr": None,
        "gatekeeper": "",
    }
    user = bearer(feide_issuer.mint(user_claims={"name": "Bekymret Sky"}))
    assert_refused(client.get("/system", headers=user), "user_token_not_allowed")


def respelled(token: str) -> dict[str, bytes]:
    """Spellings of `token` that lenient base64 decoders read as the same bytes, or choke on."""
    header, payload, signature = token.encode().split(b".")
    return {
        "padding": token.encode() + b"==",
        "a \\xff byte": header + b"." + payload + b"\xff." + signature,
        "+/ alphabet": b".".join(
            [header, payload, signature.replace(b"-", b"+").replace(b"_", b"/")]
        ),
        "padded to 16 KiB": token.encode() + b"=" * (16 * 1024 - len(token)),
    }


@pytest.mark.parametrize("spelling", ["padding", "a \\xff byte", "+/ alphabet", "padded to 16 KiB"])
def test_another_spelling_of_a_valid_jwt_is_401_never_500(
    feide_issuer: FakeFeideIssuer, spelling: str
) -> None:
    client = client_for(feide_issuer)
    token = feide_issuer.mint()
    assert client.get("/any", headers=bearer(token)).status_code == 200
    authorization = b"Bearer " + respelled(token)[spelling]
    response = client.get("/any", headers=[(b"Authorization", authorization)])
    assert_refused(response, "token_invalid")
    assert response.json()["detail"]["message"] == "the token is not canonical unpadded base64url"
