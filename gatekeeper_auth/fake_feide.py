"""A local stand-in for Feide's JWT issuer: an RSA key made here, its JWKS, and Feide-shaped tokens.

For tests and the development gatekeeper. It mints RS256 JWTs with the claims Feide's "Tokens"
reference lists (`aud`, `iss`, `iat`, `nbf`, `exp`, `client_id`, `sub`, `scope`, `act`, and the
user claims), serves its key set as an ASGI app or through an httpx2 transport (no network), and
rotates keys. Never use it in production: anyone holding this object can mint tokens.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from gatekeeper_auth._platform import FEIDE_ISSUER
from gatekeeper_auth.claims import EPPN, NIN
from gatekeeper_auth.errors import ConfigurationError

DEFAULT_AUDIENCE = "https://n.feide.no/datasources/02d0f79b-7fbc-422b-bb31-a4d22121f040"
DEFAULT_CLIENT = "208335d4-e8c1-4910-8928-05b2e5b14127"
DEFAULT_USER = "76a7a061-3c55-430d-8ee0-6f82ec42501f"


class FakeFeideIssuer:
    """Mints Feide-shaped JWTs with a key made at construction, and serves the key set.

    - `mint(...)`: a system token by default, a user's with `user_id=`; any claim or header
      can be overridden or dropped, for negative tests.
    - `rotate()`: a new signing key (the old one stays published unless `keep_old=False`).
    - `withdraw(kid)`: stop publishing a key, as Feide would after a compromise; it still signs
      with `mint(kid=...)`, as a thief's copy would.
    - `app`: an ASGI app answering `/openid/jwks` and `/.well-known/openid-configuration`;
      `transport()`: an httpx2 transport to it for `FeideJWT(transport=...)`.
    - `down = True` makes the key endpoint answer 503, `delay` makes `app` answer it late,
      `cache_control` is sent as the key set's `Cache-Control` header; `jwks_requests` counts
      its answers.
    """

    def __init__(
        self,
        *,
        issuer: str = FEIDE_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        lifetime: int = 300,
        key_size: int = 2048,
        key: Any = None,
        kid: str | None = None,
    ) -> None:
        try:  # all of the jwt extra: it signs with cryptography, serves keys with PyJWT and httpx2
            import cryptography  # noqa: F401
            import httpx2  # noqa: F401
            import jwt  # noqa: F401
        except ImportError as error:
            raise ConfigurationError(
                f"FakeFeideIssuer needs PyJWT with cryptography and httpx2 ({error.name} is "
                "missing): pip install 'gatekeeper-auth[jwt]'"
            ) from None
        self.issuer = issuer
        self.audience = audience
        self.lifetime = lifetime
        self.key_size = key_size
        self.down = False
        self.delay = 0.0
        self.cache_control: str | None = None
        self.jwks_requests = 0
        self._keys: dict[str, Any] = {}
        self._withdrawn: dict[str, Any] = {}
        self.kid = ""
        self.rotate(key=key, kid=kid)

    def __repr__(self) -> str:
        return f"FakeFeideIssuer(issuer={self.issuer!r}, kid={self.kid!r})"

    def rotate(self, *, keep_old: bool = True, key: Any = None, kid: str | None = None) -> str:
        """Make a new signing key (or use `key`, a cryptography `RSAPrivateKey`), publish it
        under `kid` (a random one by default), and return the `kid`."""
        from cryptography.hazmat.primitives.asymmetric import rsa

        if key is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=self.key_size)
        if not keep_old:
            self._keys.clear()
        self.kid = kid or secrets.token_urlsafe(12)
        self._keys[self.kid] = key
        return self.kid

    def withdraw(self, kid: str) -> None:
        """Stop publishing the key `kid`; if it is the current one, a new key signs from now."""
        if kid == self.kid:
            self.rotate()
        self._withdrawn[kid] = self._keys.pop(kid)

    @property
    def private_key(self) -> Any:
        """The current signing key (a cryptography `RSAPrivateKey`)."""
        return self._keys[self.kid]

    def jwks(self) -> dict[str, Any]:
        """The published key set, as Feide's `/openid/jwks` answers it."""
        from jwt.algorithms import RSAAlgorithm

        keys = []
        for kid, key in self._keys.items():
            jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def openid_configuration(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/openid/jwks",
            "token_endpoint": f"{self.issuer}/oauth/token",
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def claims(
        self,
        *,
        user_id: str | None = None,
        client_id: str = DEFAULT_CLIENT,
        scope: str = "read",
        audience: str | None = None,
        lifetime: int | None = None,
        now: float | None = None,
        user_claims: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The claims Feide puts in a token: a system token unless `user_id` is given.

        A user token gets `name` and the eduPersonPrincipalName unless `user_claims` says
        otherwise (`{}` for a user token without user claims).
        """
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "aud": audience or self.audience,
            "iss": self.issuer,
            "iat": issued,
            "nbf": issued,
            "exp": issued + (self.lifetime if lifetime is None else lifetime),
            "client_id": client_id,
            "sub": user_id or client_id,
            "scope": scope,
            "act": {
                "sub": client_id,
                "https://n.feide.no/claims/customer_portal_id": "https://n.feide.no/services/1234",
            },
        }
        if user_id is not None:
            if user_claims is None:
                user_claims = {"name": "Bekymret Sky", EPPN: "bsk@uinn.no"}
            claims.update(user_claims)
        elif user_claims:
            claims.update(user_claims)
        return claims

    def mint(
        self,
        *,
        user_id: str | None = None,
        client_id: str = DEFAULT_CLIENT,
        scope: str = "read",
        audience: str | None = None,
        lifetime: int | None = None,
        now: float | None = None,
        user_claims: Mapping[str, Any] | None = None,
        claims: Mapping[str, Any] | None = None,
        header: Mapping[str, Any] | None = None,
        drop: Iterable[str] = (),
        kid: str | None = None,
    ) -> str:
        """An RS256 JWT signed with the current key, or with the key `kid` (withdrawn ones
        too). `claims` and `header` override or add fields (a header field set to None is left
        out); `drop` removes claims (for negative tests). Signed here rather than by PyJWT,
        which refuses to write odd headers."""
        payload = self.claims(
            user_id=user_id,
            client_id=client_id,
            scope=scope,
            audience=audience,
            lifetime=lifetime,
            now=now,
            user_claims=user_claims,
        )
        payload.update(claims or {})
        for name in drop:
            payload.pop(name, None)
        kid = kid or self.kid
        fields = {"alg": "RS256", "typ": "JWT", "kid": kid, **(header or {})}
        return self.sign({k: v for k, v in fields.items() if v is not None}, payload, kid=kid)

    def sign(
        self, header: Mapping[str, Any], payload: Mapping[str, Any], *, kid: str | None = None
    ) -> str:
        """`header.payload.signature`, signed RS256 with the current key (or the key `kid`)
        whatever `header` says."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        kid = kid or self.kid
        key = self._keys[kid] if kid in self._keys else self._withdrawn[kid]
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"

    def nin_claim(self, nin: str) -> dict[str, str]:
        """`user_claims` with a national identity number, for `mint(user_claims=...)`."""
        return {NIN: nin}

    # --- serving the key set -------------------------------------------------------------

    def _answer(self, path: str) -> tuple[int, bytes]:
        if path == "/.well-known/openid-configuration":
            return 200, json.dumps(self.openid_configuration()).encode()
        if path == "/openid/jwks":
            self.jwks_requests += 1
            if self.down:
                return 503, b'{"error": "temporarily_unavailable"}'
            return 200, json.dumps(self.jwks()).encode()
        return 404, b'{"error": "not_found"}'

    @property
    def app(self) -> ASGIApp:
        """An ASGI app serving the key set and the OpenID configuration (mount it, or serve it
        with uvicorn)."""

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":
                while True:
                    kind = (await receive())["type"].rsplit(".", 1)[-1]  # startup / shutdown
                    await send({"type": f"lifespan.{kind}.complete"})
                    if kind == "shutdown":
                        return
            if self.delay and scope["path"] == "/openid/jwks":
                await asyncio.sleep(self.delay)
            status, body = self._answer(scope["path"])
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ]
            if self.cache_control is not None and scope["path"] == "/openid/jwks":
                headers.append((b"cache-control", self.cache_control.encode()))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        return app

    def transport(self) -> Any:
        """An httpx2 transport answering like `app`, without sockets."""
        import httpx2

        def handle(request: httpx2.Request) -> httpx2.Response:
            status, body = self._answer(request.url.path)
            headers = {"content-type": "application/json"}
            if self.cache_control is not None and request.url.path == "/openid/jwks":
                headers["cache-control"] = self.cache_control
            return httpx2.Response(status, content=body, headers=headers)

        return httpx2.MockTransport(handle)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def random_datasource() -> str:
    """A fresh data source audience, `https://n.feide.no/datasources/<uuid>`."""
    return f"https://n.feide.no/datasources/{uuid.uuid4()}"
