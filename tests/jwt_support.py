"""Helpers shared by the JWT and token-exchange tests: one place to change when bodies change."""

import asyncio
import base64
import json
from typing import Any

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
