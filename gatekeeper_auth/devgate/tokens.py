"""The token endpoint: `POST /oauth/token`, answering like Dataporten's auth engine (RFC 6749).

As on the platform: clients authenticate with HTTP Basic for `client_credentials` and `password`
(form-posted client credentials get `invalid_client`, as in the platform's code); the token
exchange, newer than that code, takes them in the form too (`client_secret_post`, listed in
Feide's discovery document). Tokens live `token_lifetime` seconds (8 h), or
`longterm_lifetime` (680 days) with the `longterm` scope; `expires_in` counts the seconds left.
The `password` grant stands in for a browser login; `acr_values` in its form plays the client
asking for an authentication context, the only case in which the gatekeeper sends Acr.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from hmac import compare_digest
from urllib.parse import parse_qs, unquote_plus

from starlette.requests import Request
from starlette.responses import JSONResponse

from gatekeeper_auth._platform import LONGTERM_SCOPE, gatekeeper_scope, parse_basic
from gatekeeper_auth.devgate.config import Client, DataSource, DevGateConfig, User


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
    # A Feide API access token, issued to this data source's own client for its JWT.
    datasource: DataSource | None = None


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
        self._subtokens: dict[str, Grant] = {}
        self.extra_grants: dict[str, GrantHandler] = {}

    def lookup(self, token: str) -> Grant | None:
        """The grant of an access token this endpoint issued and that has not expired."""
        grant = self._grants.get(token)
        return grant if grant is not None and grant.expires_at > time.monotonic() else None

    def lookup_subtoken(self, subtoken: str) -> Grant | None:
        """The grant whose subtoken (`X-Dataporten-token`) this is, while it lives."""
        grant = self._subtokens.get(subtoken)
        return grant if grant is not None and grant.expires_at > time.monotonic() else None

    def clear(self) -> None:
        """Forget every token, as a restart of the gatekeeper would."""
        self._grants.clear()
        self._subtokens.clear()

    def issue(
        self,
        client: Client,
        user: User | None,
        scopes: frozenset[str],
        *,
        basic_scope: bool = True,
        acr: str | None = None,
        longterm: bool = False,
        datasource: DataSource | None = None,
    ) -> tuple[str, Grant]:
        now = time.monotonic()
        for token in [t for t, g in self._grants.items() if g.expires_at <= now]:
            del self._subtokens[self._grants.pop(token).api_token]
        token = secrets.token_urlsafe(32)
        lifetime = self.config.longterm_lifetime if longterm else self.config.token_lifetime
        grant = Grant(
            client,
            user,
            scopes,
            now + lifetime,
            str(uuid.uuid4()),
            basic_scope,
            acr,
            longterm,
            datasource,
        )
        self._grants[token] = grant
        self._subtokens[grant.api_token] = grant
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
            client = self._authenticate_client(request, form, form_allowed=extra is not None)
            if extra is not None:
                return JSONResponse(extra(request, client, form), headers=NO_STORE)
            user = self._authenticate_user(form) if grant_type == "password" else None
            acr = user.acr if user is not None and form_value(form, "acr_values") else None
            names = self._scopes(client, form_value(form, "scope"))
        except OAuthError as error:
            return error.response()
        prefix = gatekeeper_scope(self.config.api, "")  # gk_<api>_, before each sub-scope
        token, grant = self.issue(
            client,
            user,
            frozenset(n[len(prefix) :] for n in names if n.startswith(prefix)),
            basic_scope=gatekeeper_scope(self.config.api) in names,
            acr=acr,
            longterm=LONGTERM_SCOPE in names,
        )
        body = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": max(0, int(grant.expires_at - time.monotonic())),  # seconds left
            "scope": " ".join(names),
        }
        return JSONResponse(body, headers=NO_STORE)

    def _authenticate_client(
        self, request: Request, form: dict[str, list[str]], *, form_allowed: bool
    ) -> Client:
        """HTTP Basic, or, where `form_allowed`, `client_id` and `client_secret` in the form."""
        header = request.headers.get("authorization")
        posted = "client_id" in form or "client_secret" in form
        if posted and not form_allowed:
            # The platform's code takes form-posted credentials only with authorization_code.
            raise OAuthError(
                "invalid_client", "authenticate the client with HTTP Basic, not in the form", 401
            )
        if posted and header is not None:
            raise OAuthError(  # RFC 6749 §2.3: one method per request
                "invalid_request", "authenticate the client with HTTP Basic or the form, not both"
            )
        if posted:
            client_id, client_secret = (
                form_value(form, "client_id"),
                form_value(form, "client_secret"),
            )
            if client_id is None or client_secret is None:
                raise OAuthError(
                    "invalid_client", "the form needs both client_id and client_secret", 401
                )
        elif header is None:
            raise OAuthError("invalid_client", "client authentication (HTTP Basic) is missing", 401)
        else:
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
        api = self.config.api
        subs = sorted(set(client.scopes))
        granted = [gatekeeper_scope(api), *(gatekeeper_scope(api, sub) for sub in subs)]
        if client.longterm:
            granted.append(LONGTERM_SCOPE)
        if requested is None:
            return [name for name in granted if name != LONGTERM_SCOPE]
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
    if not header.lower().startswith("basic "):
        raise OAuthError("invalid_client", "client authentication must use HTTP Basic", 401)
    parsed = parse_basic(header.encode("latin-1"))  # Starlette decodes headers as latin-1
    try:
        if parsed is None:
            raise ValueError
        client_id, secret = parsed[0].decode("utf-8"), parsed[1].decode("utf-8")
    except (ValueError, UnicodeError):
        raise OAuthError("invalid_client", "malformed HTTP Basic credentials", 401) from None
    # RFC 6749 §2.3.1: the id and secret are form-url-encoded before Basic encoding.
    return unquote_plus(client_id), unquote_plus(secret)
