"""The token endpoint: `POST /oauth/token`, answering like Dataporten's auth engine (RFC 6749)."""

from __future__ import annotations

import base64
import binascii
import secrets
import time
import uuid
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
    scopes: frozenset[str]
    expires_at: float
    api_token: str


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


class TokenIssuer:
    """Issues and looks up tokens. Tokens live in memory and expire; expired ones are dropped."""

    def __init__(self, config: DevGateConfig) -> None:
        self.config = config
        self._grants: dict[str, Grant] = {}

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

    def issue(self, client: Client, user: User | None, scopes: frozenset[str]) -> tuple[str, Grant]:
        now = time.monotonic()
        for token in [t for t, g in self._grants.items() if g.expires_at <= now]:
            del self._grants[token]
        token = secrets.token_urlsafe(32)
        grant = Grant(client, user, scopes, now + self.config.token_lifetime, str(uuid.uuid4()))
        self._grants[token] = grant
        return token, grant

    async def endpoint(self, request: Request) -> JSONResponse:
        try:
            form = await _read_form(request, self.config.max_body_bytes)
            client = self._authenticate_client(request, form)
            grant_type = _one(form, "grant_type")
            if grant_type == "client_credentials":
                user = None
            elif grant_type == "password":
                user = self._authenticate_user(form)
            elif grant_type is None:
                raise OAuthError("invalid_request", "grant_type is missing")
            else:
                raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r}")
            scopes = self._scopes(client, _one(form, "scope"))
        except OAuthError as error:
            return error.response()
        token, grant = self.issue(client, user, scopes)
        api = self.config.api
        names = [f"gk_{api}", *(f"gk_{api}_{s}" for s in sorted(grant.scopes))]
        body = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.config.token_lifetime - 1,
            "scope": " ".join(names),
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _authenticate_client(self, request: Request, form: dict[str, list[str]]) -> Client:
        header = request.headers.get("authorization")
        in_form = "client_id" in form or "client_secret" in form
        if header is not None and in_form:
            raise OAuthError("invalid_request", "use one client authentication method, not two")
        client_id: str | None
        client_secret: str | None
        if header is not None:
            client_id, client_secret = _basic(header)
        else:
            client_id, client_secret = _one(form, "client_id"), _one(form, "client_secret")
        if client_id is None or client_secret is None:
            raise OAuthError("invalid_client", "client authentication is missing", 401)
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
        username, password = _one(form, "username"), _one(form, "password")
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

    def _scopes(self, client: Client, requested: str | None) -> frozenset[str]:
        granted = frozenset(client.scopes)
        if requested is None:
            return granted
        prefix = f"gk_{self.config.api}_"
        wanted = set()
        for name in requested.split():
            if name == f"gk_{self.config.api}":
                continue
            if not name.startswith(prefix) or name[len(prefix) :] not in granted:
                raise OAuthError("invalid_scope", f"scope {name!r} is not granted to this client")
            wanted.add(name[len(prefix) :])
        return frozenset(wanted)


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


def _one(form: dict[str, list[str]], name: str) -> str | None:
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
        decoded = base64.b64decode(param.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("invalid_client", "malformed HTTP Basic credentials", 401) from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise OAuthError("invalid_client", "malformed HTTP Basic credentials", 401)
    # RFC 6749 §2.3.1: the id and secret are form-url-encoded before Basic encoding.
    return unquote_plus(client_id), unquote_plus(secret)
