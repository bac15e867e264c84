"""`Caller`: what the middleware writes on the scope for one caller, built once and shared.

Every part is immutable, so an authenticator that has seen a caller before hands the same
object to every later request of that caller: `request.user`, `request.auth` and the identity.
"""

from __future__ import annotations

from typing import NamedTuple

from gatekeeper_auth.identity import Identity
from gatekeeper_auth.starlette import GatekeeperAuth, GatekeeperUser


class Caller(NamedTuple):
    """Starlette's `request.user` and `request.auth`, and the `Identity` (None: anonymous)."""

    user: GatekeeperUser
    auth: GatekeeperAuth
    identity: Identity | None

    @classmethod
    def of(cls, identity: Identity | None) -> Caller:
        return cls(GatekeeperUser(identity), GatekeeperAuth(identity), identity)


ANONYMOUS = Caller.of(None)
