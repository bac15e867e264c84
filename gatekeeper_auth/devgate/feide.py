"""The local Feide: the dev gatekeeper's signing key, its discovery document and key set, and the
JWT access tokens it mints for data sources (the token-exchange grant is in `exchange.py`).

The tokens have the claims of Feide's "Tokens" reference (`aud`, `iss`, `iat`, `nbf`, `exp`,
`client_id`, `sub`, `scope`, `act`, and the user claims the data source is authorised for), no
`jti`, and the header `typ: JWT`, `alg: RS256`, `kid`: what Feide sends, so an API tried against
it meets what production sends. PyJWT (the `jwt` extra) signs them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from gatekeeper_auth._platform import TOKEN_EXCHANGE
from gatekeeper_auth.claims import EPPN, NIN
from gatekeeper_auth.devgate.config import Client, DataSource, DevGateConfig, User

#: 2048 bits, as `FeideJWT`'s key set requires.
KEY_BITS = 2048
_CLAIM_NAMES = {"name": "name", "eduPersonPrincipalName": EPPN, "nin": NIN}


class LocalFeide:
    """Signs Feide-shaped JWTs with one RSA key: the configured `signing_key_file`, or one made
    here (so a restart invalidates every JWT, as a key rotation would).

    The issuer is `[feide] issuer`, or the address the request came in on: the socket's own
    address from the ASGI scope, never the caller's `Host` header."""

    def __init__(self, config: DevGateConfig) -> None:
        self.config = config
        self._key = _load_key(config) if config.feide.signing_key_file else _new_key()
        public = _public_jwk(self._key)
        self.kid = _thumbprint(public)
        self._jwks = {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}
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
        """`GET /.well-known/openid-configuration`: where the keys and the token endpoint are."""
        try:
            issuer = self.issuer(request)
        except LookupError as error:
            return JSONResponse({"error": "server_error", "error_description": str(error)}, 500)
        return JSONResponse(
            {
                "issuer": issuer,
                "jwks_uri": f"{issuer}/openid/jwks",
                "token_endpoint": f"{issuer}/oauth/token",
                "grant_types_supported": ["client_credentials", "password", TOKEN_EXCHANGE],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            }
        )

    async def jwks(self, request: Request) -> JSONResponse:
        """`GET /openid/jwks`: the public key, by `kid`."""
        self.jwks_requests += 1
        return JSONResponse(self._jwks)

    def mint(
        self,
        *,
        issuer: str,
        client: Client,
        user: User | None,
        datasource: DataSource,
        scopes: list[str],
    ) -> str:
        """An RS256 JWT for `datasource`, living `[feide] jwt_lifetime` seconds."""
        import jwt

        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": datasource.audience,
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": now + self.config.feide.jwt_lifetime,
            "client_id": client.id,
            "sub": client.id,
            "scope": " ".join(scopes),
            "act": {"sub": client.id},
        }
        if user is not None:
            if datasource.user_sub == "user_id":
                claims["sub"] = user.user_id
            claims.update(_user_claims(user, datasource))
        headers = {"kid": self.kid, "typ": "JWT"}
        return jwt.encode(claims, self._key, algorithm="RS256", headers=headers)


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
