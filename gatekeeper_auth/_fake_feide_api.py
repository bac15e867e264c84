"""A local stand-in for Feide's token exchange, groups API and extended userinfo, for tests.

It answers the three requests `FeideAPI` makes as Feide does, for users a test declares, through
an httpx2 transport (no network) or as an ASGI app (served over real HTTP), and counts them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from gatekeeper_auth._platform import (
    ACCESS_TOKEN_TYPE,
    FEIDE_API_AUDIENCE,
    GROUPS_URL,
    JWT_TOKEN_TYPE,
    TOKEN_EXCHANGE,
    TOKEN_URL,
    USERINFO_URL,
    client_basic,
)
from gatekeeper_auth.feide_api import Group

TOKEN_PATH = urlsplit(TOKEN_URL).path
GROUPS_PATH = urlsplit(GROUPS_URL).path
USERINFO_PATH = urlsplit(USERINFO_URL).path
#: The data source client `FakeFeideAPI` accepts for token exchange unless told otherwise.
TEST_DATASOURCE_ID = "02d0f79b-7fbc-422b-bb31-a4d22121f040"
TEST_DATASOURCE_SECRET = "gatekeeper-auth-test-datasource-secret"  # noqa: S105


class FakeFeideAPI:
    """Feide's token exchange, groups API and extended userinfo, answering for declared users.

    - `add_user(user_id, groups=..., userinfo=...)`: a user Feide knows; returns a token bound
      to that user, which is what the gatekeeper sends as the subtoken (`X-Dataporten-Token`).
    - `system_token()`: a token bound to no user, which the groups API and userinfo answer 403.
    - The token endpoint exchanges a JWT for a Feide API token bound to the JWT's `sub` (read,
      not verified: the data source verified it), for the data source `client_id` with
      `client_secret` (HTTP Basic) only, and only in the form Feide's APIs need.
    - `transport()`: an httpx2 transport for `FeideAPI(transport=...)`; `app`: an ASGI app,
      for `FeideAPI(token_url=..., groups_url=..., userinfo_url=...)` on 127.0.0.1.
    - `status`: answer everything with this status instead (503: Feide is down); `delay`:
      seconds before `app` answers. `requests` counts requests per path; `exchanges` holds the
      form and `Authorization` of each exchange.
    Never use it in production: it answers for whoever holds a token it issued.
    """

    def __init__(
        self,
        *,
        client_id: str = TEST_DATASOURCE_ID,
        client_secret: str = TEST_DATASOURCE_SECRET,
        expires_in: int = 3600,
    ) -> None:
        self.client_id = client_id
        self._secret = client_secret
        self.expires_in = expires_in
        self.status: int | None = None
        self.delay = 0.0
        self.requests: Counter[str] = Counter()
        self.exchanges: list[tuple[str | None, dict[str, str]]] = []
        self._users: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]] = {}
        self._tokens: dict[str, str | None] = {}  # token -> user id (None: no user)

    def __repr__(self) -> str:
        return f"FakeFeideAPI(client_id={self.client_id!r}, users={len(self._users)})"

    def add_user(
        self,
        user_id: str,
        *,
        groups: Iterable[Group] = (),
        userinfo: Mapping[str, Any] | None = None,
    ) -> str:
        """Declare a user with these groups and extended userinfo (`{"sub": user_id}` unless
        given); returns a new token bound to the user."""
        info = {"sub": user_id} if userinfo is None else dict(userinfo)
        self._users[user_id] = ([_group_json(g) for g in groups], info)
        return self.token_for(user_id)

    def token_for(self, user_id: str | None) -> str:
        """A new opaque token bound to `user_id` (None: to no user)."""
        token = str(uuid.uuid4())
        self._tokens[token] = user_id
        return token

    def system_token(self) -> str:
        """A token bound to no user (a client's own): Feide's APIs answer it 403."""
        return self.token_for(None)

    def answer(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Any]:
        """The status and JSON answer to one request (headers with lower-case names)."""
        self.requests[path] += 1
        if self.status is not None:
            return self.status, {"error": "temporarily_unavailable"}
        if method == "POST" and path == TOKEN_PATH:
            return self._exchange(headers.get("authorization"), body)
        if method != "GET" or path not in (GROUPS_PATH, USERINFO_PATH):
            return 404, {"message": "not found"}
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self._tokens:
            return 401, {"message": "the token is unknown or expired"}
        user_id = self._tokens[token]
        if user_id is None or user_id not in self._users:
            return 403, {"message": "the token is not bound to a user"}
        groups, userinfo = self._users[user_id]
        return 200, (groups if path == GROUPS_PATH else userinfo)

    def _exchange(self, authorization: str | None, body: bytes) -> tuple[int, Any]:
        form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        self.exchanges.append((authorization, form))
        if authorization != client_basic(self.client_id, self._secret):
            return 401, {"error": "invalid_client"}
        expected = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token_type": JWT_TOKEN_TYPE,
            "requested_token_type": ACCESS_TOKEN_TYPE,
            "audience": FEIDE_API_AUDIENCE,
            "scope": "",
        }
        if {name: form.get(name) for name in expected} != expected:
            return 400, {"error": "invalid_request"}
        claims = _unverified_claims(form.get("subject_token", ""))
        if claims is None:
            return 400, {"error": "invalid_grant"}
        sub, client = claims.get("sub"), claims.get("client_id")
        user_id = None if sub == client else sub
        if user_id is not None and user_id not in self._users:
            return 400, {"error": "invalid_grant"}
        return 200, {
            "access_token": self.token_for(user_id),
            "token_type": "Bearer",
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "expires_in": self.expires_in,
        }

    @property
    def app(self) -> ASGIApp:
        """An ASGI app answering as `answer` does (serve it with uvicorn on 127.0.0.1)."""

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                return
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            if self.delay:
                await asyncio.sleep(self.delay)
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            status, document = self.answer(scope["method"], scope["path"], headers, body)
            content = json.dumps(document).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"%d" % len(content)),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": content})

        return app

    def transport(self) -> Any:
        """An httpx2 transport answering as `answer` does, without sockets."""
        import httpx2

        def handle(request: httpx2.Request) -> httpx2.Response:
            headers = {k.lower(): v for k, v in request.headers.items()}
            status, document = self.answer(
                request.method, request.url.path, headers, request.read()
            )
            return httpx2.Response(status, json=document)

        return httpx2.MockTransport(handle)


def _group_json(group: Group) -> dict[str, Any]:
    """A `Group` as the groups API lists it."""
    return {
        "id": group.id,
        "type": group.type,
        "displayName": group.display_name,
        "membership": _thawed(group.membership),
    }


def _thawed(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thawed(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thawed(v) for v in value]
    return value


def _unverified_claims(token: str) -> dict[str, Any] | None:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    return claims if isinstance(claims, dict) else None
