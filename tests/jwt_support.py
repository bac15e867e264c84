"""Helpers shared by the JWT and token-exchange tests: one place to change when bodies change."""

import asyncio
import base64
import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gatekeeper_auth import GatekeeperMiddleware, get_identity, identity_endpoint
from gatekeeper_auth.errors import Refusal
from gatekeeper_auth.fake_feide import FakeFeideIssuer
from gatekeeper_auth.identity import Identity
from gatekeeper_auth.jwt import FeideJWT

INVALID = 'Bearer error="invalid_token"'


def b64(data: bytes | dict[str, Any]) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def verifier(issuer: FakeFeideIssuer, **options: Any) -> FeideJWT:
    """A FeideJWT for `issuer`'s audience, fetching its keys without a network."""
    return FeideJWT(audience=issuer.audience, transport=issuer.transport(), **options)


def verify(jwt: FeideJWT, token: str | bytes) -> Identity:
    raw = token.encode() if isinstance(token, str) else token
    return asyncio.run(jwt.verify(raw))


def refusal(jwt: FeideJWT, token: str | bytes) -> Refusal:
    """The refusal `verify` raises; fails the test if the token is accepted."""
    try:
        identity = verify(jwt, token)
    except Refusal as refused:
        return refused
    raise AssertionError(f"the token was accepted: {identity!r}")


def feide_at(issuer: FakeFeideIssuer, base: str, **options: Any) -> FeideJWT:
    """A FeideJWT for `issuer`'s audience, fetching its keys from `base` over HTTP."""
    return FeideJWT(audience=issuer.audience, jwks_url=f"{base}/openid/jwks", **options)


def protected(feide: FeideJWT) -> Any:
    """An app behind the real middleware, with Feide JWTs only; the keys load in its lifespan."""

    @identity_endpoint()
    async def whoami(request: Request) -> JSONResponse:
        identity = get_identity(request)
        assert identity is not None
        return JSONResponse({"kind": identity.kind, "client_id": identity.client_id})

    app = Starlette(routes=[Route("/", whoami)])
    app.add_middleware(GatekeeperMiddleware, jwt=feide)
    return app
