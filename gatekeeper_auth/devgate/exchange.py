"""The token-exchange grant (RFC 8693) at `POST /oauth/token`: one of the dev gatekeeper's own
access tokens in, a Feide-shaped JWT for a configured data source out.

As on Feide: `subject_token` is an access token of the client that authenticates the exchange
(HTTP Basic, as for the other grants), `subject_token_type` is
`urn:ietf:params:oauth:token-type:access_token`, `audience` names the data source and `scope`
its access levels (all of them when left out). Errors are RFC 8693 §2.2.2 / RFC 6749 §5.2 JSON:
an unknown or expired subject token is `invalid_grant`, an unknown audience `invalid_target`.
"""

from __future__ import annotations

import importlib

from starlette.requests import Request
from starlette.responses import JSONResponse

from gatekeeper_auth._platform import ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, TOKEN_EXCHANGE
from gatekeeper_auth.devgate.config import Client, DataSource
from gatekeeper_auth.devgate.extras import MissingExtra
from gatekeeper_auth.devgate.feide import LocalFeide
from gatekeeper_auth.devgate.tokens import OAuthError, TokenIssuer, form_value

JWT_INSTALL = "pip install 'gatekeeper-auth[jwt]'"


class TokenExchange:
    """The grant's handler, registered with `TokenIssuer.extra_grants`."""

    def __init__(self, tokens: TokenIssuer, feide: LocalFeide) -> None:
        self.tokens = tokens
        self.feide = feide

    def __call__(
        self, request: Request, client: Client, form: dict[str, list[str]]
    ) -> dict[str, object]:
        subject = form_value(form, "subject_token")
        subject_type = form_value(form, "subject_token_type")
        audience = form_value(form, "audience")
        if subject is None or subject_type is None or audience is None:
            raise OAuthError(
                "invalid_request",
                "the token exchange needs subject_token, subject_token_type and audience",
            )
        if subject_type != ACCESS_TOKEN_TYPE:
            raise OAuthError("invalid_request", f"subject_token_type must be {ACCESS_TOKEN_TYPE}")
        requested_type = form_value(form, "requested_token_type")
        if requested_type not in (None, ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE):
            raise OAuthError("invalid_request", "requested_token_type must be access_token or jwt")
        if form_value(form, "actor_token") is not None:
            raise OAuthError("invalid_request", "delegation (actor_token) is not supported")
        if form_value(form, "resource") is not None:
            raise OAuthError("invalid_target", "name the data source with audience=, not resource=")
        grant = self.tokens.lookup(subject)
        if grant is None:
            raise OAuthError("invalid_grant", "the subject token is unknown or expired")
        if grant.client.id != client.id:
            raise OAuthError("invalid_grant", "the subject token was issued to another client")
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


def _scopes(datasource: DataSource, requested: str | None) -> list[str]:
    """All the data source's access levels when none are asked for; otherwise those asked for,
    each of which must be one of them."""
    if requested is None:
        return list(datasource.scopes)
    wanted = requested.split()
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

    def __call__(
        self, request: Request, client: Client, form: dict[str, list[str]]
    ) -> dict[str, object]:
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
