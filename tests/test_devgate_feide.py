"""The dev gatekeeper as a local Feide, over real HTTP: its discovery document and key set, the
token-exchange grant (RFC 8693) and the JWTs it mints, its errors, and its signing key file."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from gatekeeper_auth.claims import EPPN, NIN
from gatekeeper_auth.devgate import DevGateConfig, create_devgate
from gatekeeper_auth.devgate.feide import _public_jwk, _thumbprint
from gatekeeper_auth.jwt import FeideJWT
from tests.helpers import python_without
from tests.servers import serve

ROOT = Path(__file__).parent.parent
BASE = DevGateConfig.load(ROOT / "example_app" / "devgate.toml")
SYSTEM = (BASE.clients[0].id, BASE.clients[0].secret.get_secret_value())
WEB = (BASE.clients[1].id, BASE.clients[1].secret.get_secret_value())
ALICE = BASE.users[0]
DEMO = BASE.datasources[0].audience  # user_claims name and eduPersonPrincipalName
PLAIN = "https://n.feide.no/datasources/6b0f9a3e-2c4d-4e8f-9a1b-7c3d5e9f1a2b"
NINS = "https://n.feide.no/datasources/1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
TRAP = "https://n.feide.no/datasources/9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
NO_USERID = "https://n.feide.no/datasources/3c2b1a9f-8e7d-4c6b-9a5f-4e3d2c1b0a9f"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"


def config(**changes: Any) -> DevGateConfig:
    datasources = [
        *(d.model_dump() for d in BASE.datasources),
        {"audience": PLAIN, "scopes": ["read"]},
        {"audience": NINS, "user_claims": ["nin", "name"]},
        {"audience": TRAP, "scopes": ["read"], "grants": []},
        {"audience": NO_USERID, "scopes": ["read"], "grants": [], "user_claims": ["name"]},
    ]
    data = BASE.model_dump() | {"upstream": "http://127.0.0.1:9", "datasources": datasources}
    return DevGateConfig.model_validate(data | changes)


@pytest.fixture(scope="module")
def feide() -> Iterator[str]:
    with serve(create_devgate(config())) as url:
        yield url


def access_token(url: str, client: tuple[str, str] = SYSTEM, **form: str) -> str:
    form = form or {"grant_type": "client_credentials"}
    response = httpx2.post(f"{url}/oauth/token", data=form, auth=client)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def alice_token(url: str) -> str:
    return access_token(
        url, WEB, grant_type="password", username=ALICE.username, password="alice-password"
    )


def exchange(url: str, subject: str, client: tuple[str, str] = SYSTEM, **form: str) -> Any:
    data = {
        "grant_type": EXCHANGE,
        "subject_token": subject,
        "subject_token_type": ACCESS_TOKEN,
        "audience": DEMO,
        **form,
    }
    return httpx2.post(f"{url}/oauth/token", data={k: v for k, v in data.items() if v}, auth=client)


def verified(url: str, token: str, audience: str = DEMO) -> dict[str, Any]:
    """The claims, checked with PyJWT against the key set the dev gatekeeper publishes."""
    (key,) = httpx2.get(f"{url}/openid/jwks").json()["keys"]
    public = RSAAlgorithm.from_jwk(json.dumps(key))
    claims: dict[str, Any] = jwt.decode(
        token,
        public,
        algorithms=["RS256"],
        audience=audience,
        issuer=url,  # type: ignore[arg-type]
    )
    return claims


def test_discovery_document_names_its_own_address_and_what_feides_lists(feide: str) -> None:
    response = httpx2.get(f"{feide}/.well-known/openid-configuration")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.json() == {
        "issuer": feide,  # http://127.0.0.1:<port>, as the verifier compares it
        "authorization_endpoint": f"{feide}/oauth/authorization",
        "token_endpoint": f"{feide}/oauth/token",
        "userinfo_endpoint": f"{feide}/openid/userinfo",
        "jwks_uri": f"{feide}/openid/jwks",
        "grant_types_supported": ["client_credentials", "password", EXCHANGE],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }


def test_the_authorization_endpoint_says_there_is_no_browser_login(feide: str) -> None:
    response = httpx2.get(f"{feide}/oauth/authorization", params={"response_type": "code"})
    assert response.status_code == 400
    assert response.json() == {
        "error": "unsupported_response_type",
        "error_description": "the development gatekeeper has no browser login: get a user's "
        "token with grant_type=password at the token endpoint",
    }


def test_a_host_header_does_not_choose_the_issuer(feide: str) -> None:
    headers = {"Host": "evil.example"}
    document = httpx2.get(f"{feide}/.well-known/openid-configuration", headers=headers).json()
    assert document["issuer"] == feide
    jwt_ = exchange(feide, access_token(feide)).json()["access_token"]
    assert verified(feide, jwt_)["iss"] == feide


def test_key_set_is_one_public_rsa_key(feide: str) -> None:
    (key,) = httpx2.get(f"{feide}/openid/jwks").json()["keys"]
    assert sorted(key) == ["alg", "e", "key_ops", "kid", "kty", "n", "use"]  # no private part
    assert (key["kty"], key["alg"], key["use"], key["e"]) == ("RSA", "RS256", "sig", "AQAB")
    assert key["key_ops"] == ["verify"]
    assert key["kid"] == _thumbprint({"kty": "RSA", "n": key["n"], "e": key["e"]})


def test_exchanged_system_token_is_a_feide_shaped_jwt(feide: str) -> None:
    response = exchange(feide, access_token(feide), scope="read")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    token = body.pop("access_token")
    assert body == {
        "issued_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "read",
    }
    (key,) = httpx2.get(f"{feide}/openid/jwks").json()["keys"]
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": key["kid"], "typ": "JWT"}
    claims = verified(feide, token)
    issued = claims["iat"]
    assert claims == {
        "aud": DEMO,
        "iss": feide,
        "iat": issued,
        "nbf": issued,
        "exp": issued + 300,
        "client_id": SYSTEM[0],
        "sub": SYSTEM[0],
        "scope": "read",
        "act": {"sub": SYSTEM[0]},
    }


@pytest.mark.parametrize(
    ("audience", "scope", "user_claims"),
    [
        (DEMO, "read reports", {"name": "Alice Example", EPPN: "alice@example.org"}),
        (PLAIN, "read", {}),
        (NINS, "", {"name": "Alice Example", NIN: "01019012345"}),
    ],
    ids=["name and eppn", "no user claims", "nin and name"],
)
def test_a_users_jwt_carries_only_the_user_claims_the_data_source_may_get(
    feide: str, audience: str, scope: str, user_claims: dict[str, str]
) -> None:
    response = exchange(feide, alice_token(feide), WEB, audience=audience)
    assert response.status_code == 200, response.text
    claims = verified(feide, response.json()["access_token"], audience)
    assert {k: v for k, v in claims.items() if k not in ("iat", "nbf", "exp")} == {
        "aud": audience,
        "iss": feide,
        "client_id": WEB[0],
        "sub": ALICE.user_id,
        "scope": scope,
        "act": {"sub": WEB[0]},
        **user_claims,
    }


def test_the_jwt_userid_trap_a_users_token_can_look_like_a_systems(feide: str) -> None:
    """`user_sub = "client_id"` and no user claims: what Feide's own example shows, minus the
    user claims. The verifier cannot tell alice's JWT from web-app's own: both are "system"."""
    users = exchange(feide, alice_token(feide), WEB, audience=TRAP).json()["access_token"]
    systems = exchange(feide, access_token(feide, WEB), WEB, audience=TRAP).json()["access_token"]
    times = ("iat", "nbf", "exp")
    user_claims = {k: v for k, v in verified(feide, users, TRAP).items() if k not in times}
    system_claims = {k: v for k, v in verified(feide, systems, TRAP).items() if k not in times}
    assert user_claims == system_claims

    async def kinds() -> list[str]:
        verifier = FeideJWT(audience=TRAP, issuer=feide, jwks_url=f"{feide}/openid/jwks")
        return [(await verifier.verify(t.encode())).kind for t in (users, systems)]

    assert asyncio.run(kinds()) == ["system", "system"]


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"subject_token": "no-such-token"}, 400, "invalid_grant"),
        ({"audience": "https://n.feide.no/datasources/unknown"}, 400, "invalid_target"),
        ({"audience": DEMO + "/"}, 400, "invalid_target"),
        ({"audience": ""}, 400, "invalid_request"),
        ({"subject_token": ""}, 400, "invalid_request"),
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:saml2"}, 400, "invalid_request"),
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:jwt"}, 400, "invalid_target"),
        (
            {"requested_token_type": "urn:ietf:params:oauth:token-type:saml2"},
            400,
            "invalid_request",
        ),
        ({"actor_token": "x"}, 400, "invalid_request"),
        ({"resource": "https://api.example.org/"}, 400, "invalid_target"),
        ({"scope": "read admin"}, 400, "invalid_scope"),
    ],
)
def test_a_bad_exchange_gets_an_rfc_8693_error(
    feide: str, form: dict[str, str], status: int, error: str
) -> None:
    response = exchange(feide, access_token(feide), **form)
    assert response.status_code == status
    body = response.json()
    assert sorted(body) == ["error", "error_description"]
    assert body["error"] == error, body
    assert response.headers["cache-control"] == "no-store"
    assert "access_token" not in body


def test_a_token_of_another_client_cannot_be_exchanged(feide: str) -> None:
    response = exchange(feide, alice_token(feide), SYSTEM)  # web-app's token, reports-service
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "the subject token was issued to another client",
    }


def test_the_exchange_refuses_a_wrong_client_secret(feide: str) -> None:
    response = exchange(feide, access_token(feide), (SYSTEM[0], "wrong-secret"))
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "unknown client or wrong secret",
    }
    assert response.headers["www-authenticate"] == 'Basic realm="devgate"'


def test_the_exchange_takes_the_client_credentials_in_the_form_too(feide: str) -> None:
    """client_secret_post, listed in Feide's discovery document; the platform's older grants
    keep refusing it (test_devgate_fidelity)."""
    form = {"grant_type": EXCHANGE, "subject_token": access_token(feide)}
    form |= {"subject_token_type": ACCESS_TOKEN, "audience": DEMO, "scope": "read"}
    posted = httpx2.post(
        f"{feide}/oauth/token", data=form | {"client_id": SYSTEM[0], "client_secret": SYSTEM[1]}
    )
    assert posted.status_code == 200, posted.text
    assert verified(feide, posted.json()["access_token"])["client_id"] == SYSTEM[0]
    wrong = httpx2.post(
        f"{feide}/oauth/token", data=form | {"client_id": SYSTEM[0], "client_secret": "wrong"}
    )
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    both = httpx2.post(
        f"{feide}/oauth/token",
        data=form | {"client_id": SYSTEM[0], "client_secret": SYSTEM[1]},
        auth=SYSTEM,
    )
    assert both.status_code == 400
    assert both.json() == {
        "error": "invalid_request",
        "error_description": "authenticate the client with HTTP Basic or the form, not both",
    }


@pytest.mark.parametrize("scope", ["", None], ids=["empty scope", "no scope"])
def test_an_exchange_without_a_scope_gets_all_the_access_levels(
    feide: str, scope: str | None
) -> None:
    form = {"grant_type": EXCHANGE, "subject_token": access_token(feide)}
    form |= {"subject_token_type": ACCESS_TOKEN, "audience": DEMO}
    if scope is not None:
        form["scope"] = scope
    response = httpx2.post(f"{feide}/oauth/token", data=form, auth=SYSTEM)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "read reports"
    assert verified(feide, response.json()["access_token"])["scope"] == "read reports"


def test_without_the_userid_grant_a_users_jwt_has_the_client_id_as_sub(feide: str) -> None:
    """What Feide's own reference example shows: sub is the client id, the user claims say
    whose token it is."""
    response = exchange(feide, alice_token(feide), WEB, audience=NO_USERID)
    claims = verified(feide, response.json()["access_token"], NO_USERID)
    assert {k: v for k, v in claims.items() if k not in ("iat", "nbf", "exp")} == {
        "aud": NO_USERID,
        "iss": feide,
        "client_id": WEB[0],
        "sub": WEB[0],
        "scope": "read",
        "act": {"sub": WEB[0]},
        "name": "Alice Example",
    }


def test_user_sub_still_works_with_a_warning_naming_grants() -> None:
    source = {"audience": TRAP}
    with pytest.warns(FutureWarning, match=r'user_sub = "client_id" is deprecated: write grants'):
        old = DevGateConfig.model_validate(
            BASE.model_dump() | {"datasources": [source | {"user_sub": "client_id"}]}
        )
    with pytest.warns(FutureWarning, match=r'write grants = \["userid"\] instead'):
        kept = DevGateConfig.model_validate(
            BASE.model_dump() | {"datasources": [source | {"user_sub": "user_id"}]}
        )
    assert (old.datasources[0].grants, kept.datasources[0].grants) == ([], ["userid"])
    with pytest.raises(ValueError, match="set grants alone"):
        DevGateConfig.model_validate(
            BASE.model_dump() | {"datasources": [source | {"user_sub": "user_id", "grants": []}]}
        )


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/.well-known/openid-configuration", "GET, HEAD, OPTIONS"),
        ("/openid/jwks", "GET, HEAD, OPTIONS"),
        ("/oauth/token", "OPTIONS, POST"),
        ("/groups/me/groups", "GET, HEAD, OPTIONS"),
        ("/userinfo/v1/userinfo", "GET, HEAD, OPTIONS"),
        ("/openid/userinfo", "GET, HEAD, OPTIONS"),
    ],
)
def test_the_local_feides_paths_never_reach_the_api_whatever_the_method(
    path: str, allow: str
) -> None:
    """Other methods get 405 with Allow, OPTIONS a preflight answer: none is passed on."""
    seen: list[str] = []

    async def api(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append(scope["method"])
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    with serve(api) as upstream, serve(create_devgate(config(upstream=upstream))) as url:
        refused = {
            method: httpx2.request(method, url + path, content=b"{}")
            for method in ("POST", "PUT", "PATCH", "DELETE", "GET")
            if method not in allow
        }
        preflight = httpx2.options(
            url + path,
            headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"},
        )
    for response in refused.values():
        assert response.status_code == 405
        assert response.headers["allow"] == allow
        assert response.json() == {
            "detail": f"{path} answers {allow}",
            "code": "method_not_allowed",
        }
    assert preflight.status_code == 204
    assert {k: v for k, v in preflight.headers.items() if k.startswith(("allow", "access"))} == {
        "allow": allow,
        "access-control-allow-origin": "*",
        "access-control-allow-methods": allow,
        "access-control-allow-headers": "Authorization, Content-Type",
    }
    assert seen == []


def test_an_expired_subject_token_cannot_be_exchanged() -> None:
    app = create_devgate(config(token_lifetime=1))
    with serve(app) as url:
        subject = access_token(url)
        app.state.issuer.clear()  # as if it had expired: the gatekeeper no longer knows it
        assert exchange(url, subject).json()["error"] == "invalid_grant"


def test_a_configured_issuer_is_used_everywhere() -> None:
    issuer = "https://devgate.example.org"
    with serve(create_devgate(config(feide={"issuer": issuer}))) as url:
        document = httpx2.get(f"{url}/.well-known/openid-configuration").json()
        token = exchange(url, access_token(url)).json()["access_token"]
    assert (document["issuer"], document["jwks_uri"]) == (issuer, f"{issuer}/openid/jwks")
    assert jwt.decode(token, options={"verify_signature": False})["iss"] == issuer


# The signing key file


def write_key(path: Path, bits: int = 2048) -> rsa.RSAPrivateKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    return key


def config_file(tmp_path: Path, key_line: str) -> Path:
    text = (ROOT / "example_app" / "devgate.toml").read_text()
    path = tmp_path / "devgate.toml"
    path.write_text(text.replace("[feide]\n", f"[feide]\n{key_line}\n"))
    return path


def test_a_signing_key_file_relative_to_the_config_signs_with_a_stable_kid(
    tmp_path: Path,
) -> None:
    key = write_key(tmp_path / "feide-key.pem")
    loaded = DevGateConfig.load(config_file(tmp_path, 'signing_key_file = "feide-key.pem"'))
    assert loaded.feide.signing_key_file == tmp_path / "feide-key.pem"
    kid = _thumbprint(_public_jwk(key))
    for _ in range(2):  # a restart keeps the key and its kid
        with serve(create_devgate(loaded)) as url:
            (published,) = httpx2.get(f"{url}/openid/jwks").json()["keys"]
            token = exchange(url, access_token(url)).json()["access_token"]
        assert published["kid"] == kid
        assert jwt.get_unverified_header(token)["kid"] == kid
        jwt.decode(token, key.public_key(), algorithms=["RS256"], audience=DEMO, issuer=url)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda path: None, "cannot read [feide] signing_key_file"),
        (lambda path: path.write_text("not a key"), "is not an unencrypted PEM private key"),
        (lambda path: write_key(path, 1024), "must be an RSA key of at least 2048 bits"),
    ],
    ids=["missing", "not PEM", "too small"],
)
def test_an_unusable_signing_key_file_stops_the_start_with_one_line(
    tmp_path: Path, make: Any, message: str
) -> None:
    make(tmp_path / "key.pem")
    path = config_file(tmp_path, 'signing_key_file = "key.pem"')
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        create_devgate(DevGateConfig.load(path))
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "gatekeeper_auth.devgate", "--config", str(path), "--port", "9"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert message in line


# Without PyJWT (the `jwt` extra)

JWT_HINT = "pip install 'gatekeeper-auth[jwt]'"


def test_without_pyjwt_a_config_with_data_sources_names_the_extra() -> None:
    result = python_without(
        {"jwt"},
        "from gatekeeper_auth.devgate import DevGateConfig, MissingExtra, create_devgate\n"
        "try:\n"
        "    create_devgate(DevGateConfig.load('example_app/devgate.toml'))\n"
        "except MissingExtra as error:\n"
        "    print(error)\n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(JWT_HINT)


def test_without_pyjwt_and_data_sources_the_local_feide_says_what_to_install() -> None:
    result = python_without(
        {"jwt"},
        "from starlette.testclient import TestClient\n"
        "from gatekeeper_auth.devgate import DevGateConfig, create_devgate\n"
        "c = DevGateConfig.load('example_app/devgate.toml')\n"
        "c = DevGateConfig.model_validate(c.model_dump() | {'datasources': []})\n"
        "t = TestClient(create_devgate(c))\n"
        "print(t.get('/openid/jwks').status_code, t.get('/openid/jwks').json()['error'])\n"
        "form = {'grant_type': 'urn:ietf:params:oauth:grant-type:token-exchange'}\n"
        "auth = (c.clients[0].id, c.clients[0].secret.get_secret_value())\n"
        "print(t.post('/oauth/token', data=form, auth=auth).json()['error_description'])\n",
    )
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.strip().splitlines()
    assert first == "404 not_found"
    assert second.endswith(JWT_HINT)
