"""The local Feide: the dev gatekeeper's signing key, its discovery document and key set, and the
JWT access tokens it mints for data sources (the token-exchange grant is in `exchange.py`).

Tokens are minted by `FakeFeideIssuer`, the library's one way of writing Feide-shaped JWTs:
the claims of Feide's "Tokens" reference (`aud`, `iss`, `iat`, `nbf`, `exp`, `client_id`,
`sub`, `scope`, `act`, and the user claims the data source is authorised for), no `jti`, and
the header `typ: JWT`, `alg: RS256`, `kid`: what Feide sends, so an API tried against it meets
what production sends.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse

from gatekeeper_auth._platform import (
    AUTHORIZATION_URL,
    FEIDE_JWKS_URL,
    OPENID_USERINFO_URL,
    TOKEN_EXCHANGE,
    TOKEN_URL,
)
from gatekeeper_auth.claims import EPPN, NIN
from gatekeeper_auth.devgate.config import Client, DataSource, DevGateConfig, User
from gatekeeper_auth.fake_feide import FakeFeideIssuer

#: 2048 bits, as `FeideJWT`'s key set requires.
KEY_BITS = 2048
_CLAIM_NAMES = {"name": "name", "eduPersonPrincipalName": EPPN, "nin": NIN}
#: Where Feide serves its endpoints on auth.dataporten.no; the dev gatekeeper, on its own address.
TOKEN_PATH = urlsplit(TOKEN_URL).path
JWKS_PATH = urlsplit(FEIDE_JWKS_URL).path
AUTHORIZATION_PATH = urlsplit(AUTHORIZATION_URL).path
OPENID_USERINFO_PATH = urlsplit(OPENID_USERINFO_URL).path
#: Its token endpoint's client authentication methods (for the grants: docs/devgate.md).
AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


@dataclass(frozen=True, slots=True)
class Minted:
    """What a JWT the local Feide minted stands for, so that its data source can exchange it."""

    client: Client
    user: User | None
    datasource: DataSource
    expires_at: float


class LocalFeide:
    """Signs Feide-shaped JWTs with one RSA key: the configured `signing_key_file`, or one made
    here (so a restart invalidates every JWT, as a key rotation would).

    The issuer is `[feide] issuer`, or the address the request came in on: the socket's own
    address from the ASGI scope, never the caller's `Host` header."""

    def __init__(self, config: DevGateConfig) -> None:
        self.config = config
        key = _load_key(config) if config.feide.signing_key_file else _new_key()
        self.kid = _thumbprint(_public_jwk(key))
        self._issuer = FakeFeideIssuer(lifetime=config.feide.jwt_lifetime, key=key, kid=self.kid)
        self._minted: dict[str, Minted] = {}
        #: How many times the key set was served: for tests (an app should fetch it once).
        self.jwks_requests = 0

    def __repr__(self) -> str:
        return f"LocalFeide(kid={self.kid!r})"

    def issuer(self, request: Request) -> str:
        """The `iss` of the JWTs, and the base of every URL in the discovery document."""
        if self.config.feide.issuer is not None:
            return self.config.feide.issuer
        server = request.scope.get("server")
        if not server or server[1] is None:
            raise LookupError("the server's own address is unknown: set [feide] issuer")
        host, port = server
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    async def discovery(self, request: Request) -> JSONResponse:
        """`GET /.well-known/openid-configuration`: where the keys and the endpoints are."""
        try:
            issuer = self.issuer(request)
        except LookupError as error:
            return JSONResponse({"error": "server_error", "error_description": str(error)}, 500)
        return JSONResponse(
            {
                "issuer": issuer,
                "authorization_endpoint": issuer + AUTHORIZATION_PATH,
                "token_endpoint": issuer + TOKEN_PATH,
                "userinfo_endpoint": issuer + OPENID_USERINFO_PATH,
                "jwks_uri": issuer + JWKS_PATH,
                "grant_types_supported": ["client_credentials", "password", TOKEN_EXCHANGE],
                "token_endpoint_auth_methods_supported": AUTH_METHODS,
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            },
            headers=PUBLIC,
        )

    async def jwks(self, request: Request) -> JSONResponse:
        """`GET /openid/jwks`: the public key, by `kid`."""
        self.jwks_requests += 1
        return JSONResponse(self._issuer.jwks(), headers=PUBLIC)

    def mint(
        self,
        *,
        issuer: str,
        client: Client,
        user: User | None,
        datasource: DataSource,
        scopes: list[str],
    ) -> str:
        """An RS256 JWT for `datasource`, living `[feide] jwt_lifetime` seconds. `sub` is the
        user id only when the data source has the `userid` grant; otherwise the client id."""
        overrides: dict[str, Any] = {"iss": issuer, "act": {"sub": client.id}}
        if user is not None and "userid" not in datasource.grants:
            overrides["sub"] = client.id
        token = self._issuer.mint(
            user_id=None if user is None else user.user_id,
            client_id=client.id,
            scope=" ".join(scopes),
            audience=datasource.audience,
            user_claims=None if user is None else _user_claims(user, datasource),
            claims=overrides,
        )
        now = time.monotonic()
        for old in [t for t, m in self._minted.items() if m.expires_at <= now]:
            del self._minted[old]
        expires_at = now + self.config.feide.jwt_lifetime
        self._minted[token] = Minted(client, user, datasource, expires_at)
        return token

    def minted(self, token: str) -> Minted | None:
        """What a JWT minted here stands for, while it lives; None for any other string."""
        found = self._minted.get(token)
        return found if found is not None and found.expires_at > time.monotonic() else None


#: The discovery document and the key set are public: any web page may read them.
PUBLIC = {"Access-Control-Allow-Origin": "*"}


def _user_claims(user: User, datasource: DataSource) -> dict[str, str]:
    """The user claims `datasource` is authorised for that `user` has."""
    values = {"name": user.name or user.username}
    for sid in user.secondary_ids:
        kind, _, value = sid.partition(":")
        if kind == "feide":
            values.setdefault("eduPersonPrincipalName", value)
        elif kind == "nin":
            values.setdefault("nin", value)
    return {_CLAIM_NAMES[c]: values[c] for c in datasource.user_claims if c in values}


def _new_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)


def _load_key(config: DevGateConfig) -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    path = config.feide.signing_key_file
    try:
        with open(str(path), "rb") as file:
            key = load_pem_private_key(file.read(), password=None)
    except OSError as error:
        raise ValueError(f"cannot read [feide] signing_key_file {path}: {error.strerror}") from None
    except (ValueError, TypeError):
        raise ValueError(
            f"[feide] signing_key_file {path} is not an unencrypted PEM private key; make one "
            f"with: openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:{KEY_BITS} -out {path}"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < KEY_BITS:
        raise ValueError(
            f"[feide] signing_key_file {path} must be an RSA key of at least {KEY_BITS} bits "
            "(Feide signs with RS256)"
        )
    return key


def _public_jwk(key: Any) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    return {"kty": "RSA", "n": _b64_int(numbers.n), "e": _b64_int(numbers.e)}


def _b64_int(value: int) -> str:
    data = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _thumbprint(jwk: dict[str, str]) -> str:
    """The key's RFC 7638 thumbprint: the same key file gives the same `kid` at every start."""
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
