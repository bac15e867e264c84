"""`Rule`: what a route demands of its caller, checked in one place for FastAPI and Starlette.

Also where the caller is found on a request: the middleware leaves the `Identity` (or None for
an anonymous request) under `SCOPE_KEY`, and `get_identity` reads it back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from gatekeeper_auth._platform import CHALLENGE
from gatekeeper_auth.errors import ConfigurationError, Refusal
from gatekeeper_auth.identity import Identity, Kind

#: The ASGI scope key under which `GatekeeperMiddleware` leaves the caller.
SCOPE_KEY = "gatekeeper_auth.identity"
#: Where the middleware leaves the refusal of an Authorization it let pass anonymously
#: (`unrecognised_authorization="anonymous"`), for the guards to answer with.
REFUSAL_KEY = "gatekeeper_auth.refusal"


def get_identity(conn: HTTPConnection) -> Identity | None:
    """The caller of this request or websocket, or None for an anonymous request.

    Raises `ConfigurationError` when `GatekeeperMiddleware` is not installed, so that a missing
    middleware never looks like an anonymous caller.
    """
    try:
        identity: Identity | None = conn.scope[SCOPE_KEY]
    except KeyError:
        raise ConfigurationError(
            "No gatekeeper identity on this request: add the middleware with "
            "app.add_middleware(GatekeeperMiddleware, ...) before using gatekeeper_auth guards."
        ) from None
    return identity


def raise_deferred(conn: HTTPConnection, identity: Identity | None) -> None:
    """Raise the refusal the middleware deferred for an anonymous request, if any: with
    `unrecognised_authorization="anonymous"` a guard answers such a request with the refusal
    its credentials would have had (wrong gatekeeper credentials, a JWT that failed)."""
    if identity is None and REFUSAL_KEY in conn.scope:
        raise conn.scope[REFUSAL_KEY]


@dataclass(frozen=True, slots=True)
class Rule:
    """The demands of one guard; `check` returns the identity or raises a `Refusal`.

    - `kind`: `"system"`, `"user"`, or None for either.
    - `clients`: the OAuth client ids allowed, or None for any client.
    - `scopes`: the sub-scopes the token must carry, all of them.
    - `require_user_id`: a user request must carry the user id (the API has the `userid` grant).
    - `allow_system_with_scopes`: on a user route, a system token that carries all these
      sub-scopes is let in too ("a user, unless a trusted system client").
    """

    kind: Kind | None = None
    clients: frozenset[str] | None = None
    scopes: frozenset[str] = frozenset()
    require_user_id: bool = False
    allow_system_with_scopes: frozenset[str] | None = None

    @classmethod
    def build(
        cls,
        kind: Kind | None,
        *,
        clients: Iterable[str] | None = None,
        scopes: Iterable[str] = (),
        require_user_id: bool = False,
        allow_system_with_scopes: Iterable[str] | None = None,
    ) -> Rule:
        """Validate a guard's options once, when the route is declared, not per request."""
        client_set = None if clients is None else _names("clients", clients)
        if client_set is not None and not client_set:
            raise ValueError(
                "clients= is empty, so no client could ever call this route; "
                "pass clients=None to allow any client"
            )
        system_scopes = None
        if allow_system_with_scopes is not None:
            if kind != "user":
                raise ValueError("allow_system_with_scopes= is an option of require_user()")
            system_scopes = _names("allow_system_with_scopes", allow_system_with_scopes)
            if not system_scopes:
                raise ValueError(
                    "allow_system_with_scopes= is empty, which would let every system "
                    "token in; name the sub-scopes a trusted system client holds"
                )
        if require_user_id and kind == "system":
            raise ValueError("require_user_id= is an option of require_user()")
        return cls(kind, client_set, _names("scopes", scopes), require_user_id, system_scopes)

    def admit(self, conn: HTTPConnection) -> Identity:
        """The caller of `conn` if this rule lets it in; else the refusal is logged and raised,
        as a `Refusal` (an `HTTPException`) for HTTP and a `WebSocketException` for websockets,
        which the framework renders wherever the route sits."""
        identity = get_identity(conn)
        try:
            raise_deferred(conn, identity)
            return self.check(identity)
        except Refusal as refusal:
            refusal.log(conn.scope, identity.client_id if identity else None)
            if conn.scope["type"] == "websocket":
                raise refusal.for_websocket() from None
            raise

    def check(self, identity: Identity | None) -> Identity:
        """The identity if this rule lets it in; else raises the `Refusal`."""
        if identity is None:
            raise Refusal(
                "authentication_required",
                "This route needs a token: call it through the API Gatekeeper with "
                "'Authorization: Bearer <access token>'.",
                www_authenticate=CHALLENGE,
            )
        if (
            self.kind is not None
            and identity.kind != self.kind
            and not self._system_let_in(identity)
        ):
            if identity.kind == "unknown":
                raise Refusal(
                    "userid_grant_missing",
                    "This API is configured without the userid grant (userid_grant=false): a "
                    "request without a user id may be a user's, so it cannot be let in here. "
                    "Give the API the userid grant in the Dataporten dashboard, and set "
                    "userid_grant=true once every token issued before the grant has expired.",
                )
            if identity.kind == "user":
                raise Refusal(
                    "user_token_not_allowed",
                    "This route is for system requests (client credentials); the token "
                    "represents a user. A token the client got for itself, with the client "
                    "credentials flow, would be let in.",
                )
            raise Refusal("system_token_not_allowed", self._system_refused(identity))
        if self.clients is not None and identity.client_id not in self.clients:
            raise Refusal(
                "client_not_allowed",
                f"Client {identity.client_id} is not allowed on this route: only the clients "
                "on its allow-list are (ask the API's owner to add yours).",
            )
        if not self.scopes <= identity.scopes:
            missing = ", ".join(sorted(self.scopes - identity.scopes))
            raise Refusal("scope_missing", f"The token lacks the sub-scope(s): {missing}.")
        if self.require_user_id and identity.kind == "user" and identity.user_id is None:
            raise Refusal(
                "user_id_missing",
                "This route needs the user's id, which the gatekeeper sends only when the "
                "API has the userid grant.",
            )
        return identity

    def _system_refused(self, identity: Identity) -> str:
        """Why a system token is refused on a user route, and what would have been let in."""
        message = "This route is for requests on behalf of a user; the token has no user."
        wanted = self.allow_system_with_scopes
        if wanted is None:
            return message + " A token issued to a logged-in user would be let in."
        missing = ", ".join(sorted(wanted - identity.scopes))
        return (
            f"{message} A user's token would be let in, or a system token with the "
            f"sub-scope(s) {', '.join(sorted(wanted))}; this one lacks {missing}."
        )

    def _system_let_in(self, identity: Identity) -> bool:
        wanted = self.allow_system_with_scopes
        return identity.kind == "system" and wanted is not None and wanted <= identity.scopes

    def describe(self, *, show_clients: bool = False) -> str:
        """One line for the OpenAPI docs: what a caller of the route needs."""
        parts = [
            {
                "system": "system requests only (client credentials)",
                "user": "user requests only",
            }.get(self.kind or "", "any verified caller")
        ]
        if self.allow_system_with_scopes is not None:
            wanted = ", ".join(sorted(self.allow_system_with_scopes))
            parts.append(f"or system requests with sub-scopes {wanted}")
        if self.scopes:
            parts.append(f"sub-scopes: {', '.join(sorted(self.scopes))}")
        if self.clients is not None:
            listed = ", ".join(sorted(self.clients)) if show_clients else "an allow-list"
            parts.append(f"clients: {listed}")
        if self.require_user_id:
            parts.append("user id required")
        return "; ".join(parts)


def _names(option: str, values: Iterable[str]) -> frozenset[str]:
    if isinstance(values, str):
        raise TypeError(f"{option}= takes a collection of names, such as {{{values!r}}}")
    names = frozenset(values)
    for name in names:
        if not name or name != name.strip():
            raise ValueError(f"{option}= holds an empty or padded name: {name!r}")
        if option != "clients" and name.startswith("gk_"):
            raise ValueError(
                f"{option}= holds {name!r}: name sub-scopes without the gk_<api>_ prefix "
                "(gk_myapi_admin arrives as 'admin')"
            )
    return names
