"""The token-exchange grant (RFC 8693) at `POST /oauth/token`, both ways Feide's works:

- one of the dev gatekeeper's own access tokens in (`subject_token_type=...:access_token`),
  a Feide-shaped JWT for a configured data source out (`audience` names it, `scope` its access
  levels, all of them when empty or left out); the subject token must be the client's own;
- a JWT the local Feide minted in (`subject_token_type=...:jwt`), exchanged by the data source
  it is for, as its own client (the `[[clients]]` entry whose id is the data source's id), for
  a Feide API access token (`audience=https://auth.dataporten.no`): an opaque token bound to the
  JWT's user, for the local groups API and userinfo (`feide_api.py`).

The client authenticates with HTTP Basic or in the form (`client_secret_post`). Errors are
RFC 8693 §2.2.2 / RFC 6749 §5.2 JSON: an unknown or expired subject token is `invalid_grant`, an
unknown audience `invalid_target`.
"""

from __future__ import annotations

import importlib
import time

from starlette.requests import Request
from starlette.responses import JSONResponse

from gatekeeper_auth._platform import (
    ACCESS_TOKEN_TYPE,
    FEIDE_API_AUDIENCE,
    JWT_TOKEN_TYPE,
    TOKEN_EXCHANGE,
)
from gatekeeper_auth.devgate.config import Client, DataSource
from gatekeeper_auth.devgate.extras import MissingExtra
from gatekeeper_auth.devgate.feide import LocalFeide
from gatekeeper_auth.devgate.tokens import OAuthError, TokenIssuer, form_value

JWT_INSTALL = "pip install 'gatekeeper-auth[jwt]'"
Form = dict[str, list[str]]


class TokenExchange:
    """The grant's handler, registered with `TokenIssuer.extra_grants`."""

    def __init__(self, tokens: TokenIssuer, feide: LocalFeide) -> None:
        self.tokens = tokens
        self.feide = feide

    def __call__(self, request: Request, client: Client, form: Form) -> dict[str, object]:
        subject = form_value(form, "subject_token")
        subject_type = form_value(form, "subject_token_type")
        audience = form_value(form, "audience")
        if not (subject and subject_type and audience):
            raise OAuthError(
                "invalid_request",
                "the token exchange needs subject_token, subject_token_type and audience",
            )
        if form_value(form, "actor_token") is not None:
            raise OAuthError("invalid_request", "delegation (actor_token) is not supported")
        if form_value(form, "resource") is not None:
            raise OAuthError("invalid_target", "name the audience with audience=, not resource=")
        requested_type = form_value(form, "requested_token_type")
        if subject_type == JWT_TOKEN_TYPE:
            return self._feide_api_token(client, subject, audience, requested_type, form)
        if subject_type != ACCESS_TOKEN_TYPE:
            raise OAuthError(
                "invalid_request",
                f"subject_token_type must be {ACCESS_TOKEN_TYPE} or {JWT_TOKEN_TYPE}",
            )
        if requested_type not in (None, ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE):
            raise OAuthError("invalid_request", "requested_token_type must be access_token or jwt")
        grant = self.tokens.lookup(subject)
        if grant is None:
            raise OAuthError("invalid_grant", "the subject token is unknown or expired")
        if grant.client.id != client.id:
            raise OAuthError("invalid_grant", "the subject token was issued to another client")
        if grant.datasource is not None:
            raise OAuthError("invalid_grant", "a Feide API token is for Feide's APIs only")
        datasource = self.tokens.config.datasource(audience)
        if datasource is None:
            raise OAuthError("invalid_target", "no data source has this audience")
        scopes = _scopes(datasource, form_value(form, "scope"))
        try:
            issuer = self.feide.issuer(request)
        except LookupError as error:
            raise OAuthError("server_error", str(error), 500) from None
        token = self.feide.mint(
            issuer=issuer, client=client, user=grant.user, datasource=datasource, scopes=scopes
        )
        return {
            "access_token": token,
            "issued_token_type": JWT_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": self.tokens.config.feide.jwt_lifetime,
            "scope": " ".join(scopes),
        }

    def _feide_api_token(
        self, client: Client, subject: str, audience: str, requested: str | None, form: Form
    ) -> dict[str, object]:
        """A data source's JWT in, a Feide API access token bound to its user out."""
        if audience != FEIDE_API_AUDIENCE:
            raise OAuthError(
                "invalid_target",
                f"a JWT is exchanged only for a Feide API token: audience={FEIDE_API_AUDIENCE}",
            )
        if requested not in (None, ACCESS_TOKEN_TYPE):
            raise OAuthError("invalid_request", f"requested_token_type must be {ACCESS_TOKEN_TYPE}")
        minted = self.feide.minted(subject)
        if minted is None:
            raise OAuthError("invalid_grant", "the subject token is unknown or expired")
        if minted.datasource.id != client.id:
            raise OAuthError(
                "invalid_grant",
                "only the data source the JWT is for may exchange it, as its own client",
            )
        token, grant = self.tokens.issue(
            client, minted.user, frozenset(), basic_scope=False, datasource=minted.datasource
        )
        return {
            "access_token": token,
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": max(0, int(grant.expires_at - time.monotonic())),
            # Feide's API scopes are not modelled: the answer repeats what was asked.
            "scope": form_value(form, "scope") or "",
        }


def _scopes(datasource: DataSource, requested: str | None) -> list[str]:
    """All the data source's access levels when none are asked for (no `scope`, or an empty
    one, as in Sikt's example); otherwise those asked for, each of which must be one of them."""
    wanted = (requested or "").split()
    if not wanted:
        return list(datasource.scopes)
    for name in wanted:
        if name not in datasource.scopes:
            raise OAuthError("invalid_scope", f"scope {name!r} is not an access level here")
    return [name for name in datasource.scopes if name in wanted]


class WithoutLocalFeide:
    """Stands in for `LocalFeide` when PyJWT is not installed: its endpoints say what to install
    (rather than passing the paths on to the API) and the grant is `unsupported_grant_type`."""

    message = f"the local Feide (JWT access tokens) needs PyJWT, not installed: {JWT_INSTALL}"

    async def discovery(self, request: Request) -> JSONResponse:
        return JSONResponse({"error": "not_found", "error_description": self.message}, 404)

    jwks = discovery

    def __call__(self, request: Request, client: Client, form: Form) -> dict[str, object]:
        raise OAuthError("unsupported_grant_type", self.message)


def local_feide(tokens: TokenIssuer) -> LocalFeide | WithoutLocalFeide:
    """The local Feide, its token exchange registered with `tokens`. Without PyJWT it is off,
    unless the config asks for it (`datasources` or `[feide] signing_key_file`): then the
    missing extra is named at start (`MissingExtra`), not at the first exchange."""
    config = tokens.config
    try:
        importlib.import_module("jwt")
        importlib.import_module("cryptography")
    except ImportError:
        if config.datasources or config.feide.signing_key_file is not None:
            raise MissingExtra(WithoutLocalFeide.message) from None
        tokens.extra_grants[TOKEN_EXCHANGE] = stand_in = WithoutLocalFeide()
        return stand_in
    feide = LocalFeide(config)
    tokens.extra_grants[TOKEN_EXCHANGE] = TokenExchange(tokens, feide)
    return feide
