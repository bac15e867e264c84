"""`GroupRule`: what a guard by Feide group demands, checked in one place for FastAPI
(`require_group`) and Starlette (`group_endpoint`), and who Feide may be asked about at all."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from starlette.requests import HTTPConnection

from gatekeeper_auth.errors import Refusal
from gatekeeper_auth.identity import Identity
from gatekeeper_auth.rules import Rule, get_identity, raise_deferred

if TYPE_CHECKING:
    from gatekeeper_auth.feide_api import FeideAPI, Group

_ANYONE: Final = Rule()


def refuse_system(identity: Identity) -> None:
    """Refuse a system caller: Feide knows nothing of it, so it is not asked.

    An `unknown` caller (an API without the `userid` grant) is not refused: Feide answers for
    the user its token is bound to and refuses a token bound to no user (403
    `feide_access_denied`), so whatever Feide says of it is a user's.
    """
    if identity.kind == "system":
        raise Refusal(
            "system_token_not_allowed",
            "This route asks Feide about the user; the token has no user.",
        )


@dataclass(frozen=True, slots=True)
class GroupRule:
    """What `require_group` and `group_endpoint` demand: a user in one of `group_ids`, with
    `affiliation` there when given. `decide` is the rule; `check` asks Feide for the groups."""

    group_ids: frozenset[str]
    affiliation: str | None
    feide: FeideAPI

    @classmethod
    def build(cls, group_ids: Iterable[str], affiliation: str | None, feide: FeideAPI) -> GroupRule:
        """Validate a guard's options once, when the route is declared."""
        ids = tuple(group_ids)
        if not ids:
            raise ValueError("name at least one group id, such as require_group('fc:org:uio.no')")
        for gid in ids:
            if not isinstance(gid, str):
                raise TypeError(f"group ids are strings, one per argument; got {gid!r}")
            if not gid or gid != gid.strip():
                raise ValueError(f"a group id is empty or padded: {gid!r}")
        if affiliation is not None and (
            not isinstance(affiliation, str)
            or not affiliation
            or affiliation != affiliation.strip()
        ):
            raise ValueError(f"affiliation= is a name such as 'employee'; got {affiliation!r}")
        if not callable(getattr(feide, "groups", None)):
            raise TypeError("feide= takes a FeideAPI, such as FeideAPI() or settings.feide_api()")
        return cls(frozenset(ids), affiliation, feide)

    async def admit(self, conn: HTTPConnection) -> Identity:
        """The caller of `conn` if this rule lets it in; else the refusal is logged and raised
        (for a websocket, as a close), as `Rule.admit` does."""
        identity = get_identity(conn)
        try:
            raise_deferred(conn, identity)
            return await self.check(identity)
        except Refusal as refusal:
            refusal.log(conn.scope, identity.client_id if identity else None)
            if conn.scope["type"] == "websocket":
                raise refusal.for_websocket() from None
            raise

    async def check(self, identity: Identity | None) -> Identity:
        """`decide` with the caller's groups from Feide, asked only for a user's request."""
        caller = _who(identity)
        return self.decide(caller, await self.feide.groups(caller))

    def decide(self, identity: Identity | None, groups: Iterable[Group]) -> Identity:
        """The identity if it is a user in one of the groups; else raises the `Refusal`."""
        caller = _who(identity)
        for group in groups:
            if group.id in self.group_ids and (
                self.affiliation is None or self.affiliation in group.affiliations
            ):
                return caller
        raise Refusal("group_missing", f"This route is for {self.describe()}.")

    def describe(self, *, show_clients: bool = False) -> str:
        """One line for the OpenAPI docs: the groups (and affiliation) a caller needs."""
        names = " or ".join(sorted(self.group_ids))
        where = f" with the affiliation {self.affiliation}" if self.affiliation else ""
        return f"members of {names}{where}"


def _who(identity: Identity | None) -> Identity:
    """The caller, if Feide may be asked about it: anonymous is 401, as every guard answers;
    a system caller 403, without asking."""
    caller = _ANYONE.check(identity)
    refuse_system(caller)
    return caller
