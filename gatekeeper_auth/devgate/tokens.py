"""The token endpoint: `POST /oauth/token`, answering like Dataporten's auth engine (RFC 6749).

As on the platform: clients authenticate with HTTP Basic for `client_credentials` and `password`
(form-posted client credentials get `invalid_client`); tokens live `token_lifetime` seconds (8 h),
or `longterm_lifetime` (680 days) with the `longterm` scope; `expires_in` counts the seconds
left. The `password` grant stands in for a browser login; `acr_values` in its form plays the
client asking for an authentication context, the only case in which the gatekeeper sends Acr.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from hmac import compare_digest
from urllib.parse import parse_qs, unquote_plus

from starlette.requests import Request
from starlette.responses import JSONResponse

from gatekeeper_auth.devgate.config import Client, DevGateConfig, User


@dataclass(frozen=True, slots=True)
class Grant:
    """What an issued access token stands for."""

    client: Client
    user: User | None
    scopes: frozenset[str]  # the API's sub-scopes, without the gk_<api>_ prefix
    expires_at: float
    api_token: str  # the subtoken, X-Dataporten-token
    basic_scope: bool = True  # the token carries gk_<api>
    acr: str | None = None  # set only when the login asked for acr_values
    longterm: bool = False


class OAuthError(Exception):
    """An RFC 6749 §5.2 error response."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status

    def response(self) -> JSONResponse:
        headers = {"Cache-Control": "no-store"}
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="devgate"'
        body = {"error": self.error, "error_description": self.description}
        return JSONResponse(body, self.status, headers)


#: A grant beyond the two built in: given the request, the authenticated client and the form,
#: the token response's body, or an `OAuthError`.
GrantHandler = Callable[[Request, Client, dict[str, list[str]]], dict[str, object]]
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class TokenIssuer:
    """Issues and looks up tokens. Tokens live in memory and expire; expired ones are dropped.

    `extra_grants` maps a `grant_type` to its handler (the local Feide's token exchange)."""

    def __init__(self, config: DevGateConfig) -> None:
        self.config = config
        self._grants: dict[str, Grant] = {}
        self.extra_grants: dict[str, GrantHandler] = {}

    def lookup(self, token: str) -> Grant | None:
        grant = self._grants.get(token)
        if grant is None:
            return None
        if grant.expires_at <= time.monotonic():
            del self._grants[token]
            return None
        return grant

    def clear(self) -> None:
        """Forget every token, as a restart of the gatekeeper would."""
        self._grants.clear()

    def issue(
        self,
        client: Client,
        user: User | None,
        scopes: frozenset[str],
        *,
        basic_scope: bool = True,
        acr: str | None = None,
        longterm: bool = False,
    ) -> tuple[str, Grant]:
        now = time.monotonic()
        for token in [t for t, g in self._grants.items() if g.expires_at <= now]:
            del self._grants[token]
        token = secrets.token_urlsafe(32)
        lifetime = self.config.longterm_lifetime if longterm else self.config.token_lifetime
        grant = Grant(
            client, user, scopes, now + lifetime, str(uuid.uuid4()), basic_scope, acr, longterm
        )
        self._grants[token] = grant
        return token, grant

    async def endpoint(self, request: Request) -> JSONResponse:
        try:
            form = await _read_form(request, self.config.max_body_bytes)
            grant_type = form_value(form, "grant_type")
            if grant_type is None:
                raise OAuthError("invalid_request", "grant_type is missing")
            extra = self.extra_grants.get(grant_type)
            if extra is None and grant_type not in ("client_credentials", "password"):
                raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r}")
            client = self._authenticate_client(request, form)
            if extra is not None:
                return JSONResponse(extra(request, client, form), headers=NO_STORE)
            user = self._authenticate_user(form) if grant_type == "password" else None
            acr = user.acr if user is not None and form_value(form, "acr_values") else None
            names = self._scopes(client, form_value(form, "scope"))
        except OAuthError as error:
            return error.response()
        prefix = f"gk_{self.config.api}_"
        token, grant = self.issue(
            client,
            user,
            frozenset(n[len(prefix) :] for n in names if n.startswith(prefix)),
            basic_scope=f"gk_{self.config.api}" in names,
            acr=acr,
            longterm="longterm" in names,
        )
        body = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": max(0, int(grant.expires_at - time.monotonic())),  # seconds left
            "scope": " ".join(names),
        }
        return JSONResponse(body, headers=NO_STORE)

    def _authenticate_client(self, request: Request, form: dict[str, list[str]]) -> Client:
        if "client_id" in form or "client_secret" in form:
            # Dataporten takes form-posted client credentials only with authorization_code.
            raise OAuthError(
                "invalid_client", "authenticate the client with HTTP Basic, not in the form", 401
            )
        header = request.headers.get("authorization")
        if header is None:
            raise OAuthError("invalid_client", "client authentication (HTTP Basic) is missing", 401)
        client_id, client_secret = _basic(header)
        matched = None
        for client in self.config.clients:
            id_ok = compare_digest(client.id.encode(), client_id.encode())
            secret_ok = compare_digest(
                client.secret.get_secret_value().encode(), client_secret.encode()
            )
            if id_ok & secret_ok:
                matched = client
        if matched is None:
            raise OAuthError("invalid_client", "unknown client or wrong secret", 401)
        return matched

    def _authenticate_user(self, form: dict[str, list[str]]) -> User:
        username, password = form_value(form, "username"), form_value(form, "password")
        if username is None or password is None:
            raise OAuthError("invalid_request", "the password grant needs username and password")
        for user in self.config.users:
            name_ok = compare_digest(user.username.encode(), username.encode())
            password_ok = compare_digest(
                user.password.get_secret_value().encode(), password.encode()
            )
            if name_ok & password_ok:
                return user
        raise OAuthError("invalid_grant", "unknown user or wrong password")

    def _scopes(self, client: Client, requested: str | None) -> list[str]:
        """The scope names the token gets: all the client's API scopes when none are asked
        for; otherwise exactly those asked for, each of which must be granted. A token asked
        without `gk_<api>` lacks the basic scope, and the proxy answers it 403."""
        basic = f"gk_{self.config.api}"
        granted = [basic, *(f"{basic}_{s}" for s in sorted(set(client.scopes)))]
        if client.longterm:
            granted.append("longterm")
        if requested is None:
            return [name for name in granted if name != "longterm"]
        wanted = set(requested.split())
        for name in sorted(wanted):
            if name not in granted:
                raise OAuthError("invalid_scope", f"scope {name!r} is not granted to this client")
        return [name for name in granted if name in wanted]


async def _read_form(request: Request, limit: int) -> dict[str, list[str]]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "send the parameters as a form (x-www-form-urlencoded)")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise OAuthError("invalid_request", f"the form is larger than {limit} bytes", 413)
    try:
        text = body.decode("ascii")
        return parse_qs(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        raise OAuthError("invalid_request", "the form is not valid url-encoding") from None


def form_value(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    if values is None:
        return None
    if len(values) != 1:
        raise OAuthError("invalid_request", f"{name} was sent more than once")
    return values[0]


def _basic(header: str) -> tuple[str, str]:
    scheme, _, param = header.partition(" ")
    if scheme.lower() != "basic":
        raise OAuthError("invalid_client", "client authentication must use HTTP Basic", 401)
    try:
        decoded = base64.b64decode(param.strip().encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError):
        raise OAuthError("invalid_client", "malformed HTTP Basic credentials", 401) from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise OAuthError("invalid_client", "malformed HTTP Basic credentials", 401)
    # RFC 6749 §2.3.1: the id and secret are form-url-encoded before Basic encoding.
    return unquote_plus(client_id), unquote_plus(secret)
