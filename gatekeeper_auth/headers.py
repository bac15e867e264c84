"""The one owner of where Authorization and the gatekeeper's headers sit on a request.

`GatekeeperHeaders.collect` picks them out of the ASGI header list in one pass; `read` turns the
gatekeeper's values into an `Identity`, strictly, and runs only for a request whose credentials
checked out. Header names are matched case-insensitively. What the gatekeeper legitimately omits
(Scopes without sub-scopes, Acr, Userid-Sec, Token; an empty value, which its proxy never
forwards) reads as "none"; what it cannot send (a header twice, an empty user id, a missing client
id, bytes that are not visible ASCII) is a 400 `Refusal`.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import SecretStr

from gatekeeper_auth._platform import HEADER_FIELDS, header_names
from gatekeeper_auth.errors import Refusal, RefusalCode
from gatekeeper_auth.identity import Identity, Kind, SecondaryId

FIELDS = HEADER_FIELDS
# Slot 0 is Authorization; slot 1 + i is FIELDS[i]. Only this module knows the numbers.
_AUTH = 0
_CLIENT, _USER, _USER_SEC, _SCOPES, _GATEKEEPER, _ACR, _TOKEN = range(1, len(FIELDS) + 1)
_SLOTS = len(FIELDS) + 1
_OTHER = _SLOTS  # a header that is not ours
_SMUGGLED = _SLOTS + 1  # a gatekeeper header spelled with "_"
_NEW = _SLOTS + 2  # a name not seen before
_REMEMBERED_NAMES = 2048

_VISIBLE = bytes(range(0x21, 0x7F))  # what an id or a scope may hold
_PRINTABLE = bytes(range(0x20, 0x7F))  # what the acr may hold

#: What `collect` gives back: the exact values of Authorization and the gatekeeper headers, in
#: an order only this module knows. Hashable: the middleware's cache of verified callers uses it.
Key = tuple[bytes | None, ...]


class GatekeeperHeaders:
    """The header names for one prefix (`X-Dataporten-`, or the older `X-FeideConnect-`)."""

    __slots__ = ("_known", "_slots", "names")

    def __init__(self, prefix: str) -> None:
        if not prefix or not prefix.isascii() or " " in prefix or "_" in prefix:
            raise ValueError(f"header prefix {prefix!r} is not a valid header name prefix")
        #: The header names as a human reads them, for messages.
        self.names = header_names(prefix)
        self._known = {b"authorization": _AUTH} | {
            name.lower().encode(): slot for slot, name in enumerate(self.names, start=1)
        }
        # Every name seen (bounded) -> its slot, so a request costs one dict lookup per header.
        self._slots: dict[bytes, int] = dict(self._known)

    def collect(
        self, headers: Iterable[tuple[bytes, bytes]]
    ) -> tuple[bytes | None, Key, Refusal | None]:
        """Authorization, the key of all our values, and the first problem (a repeated or
        `_`-spelled gatekeeper header), which matters only once the request is verified.

        Authorization sent twice reads as `b""`: an empty credential never matches.
        """
        found: list[bytes | None] = [None] * _SLOTS
        problem: Refusal | None = None
        slot_of = self._slots.get
        for name, value in headers:
            slot = slot_of(name, _NEW)
            if slot >= _OTHER:  # one comparison for the headers that are not ours
                if slot == _OTHER:
                    continue
                if slot == _NEW:
                    slot = self._slot_for(name)
                    if slot == _OTHER:
                        continue
                if slot == _SMUGGLED:
                    problem = problem or self._smuggled(name)
                    continue
            if found[slot] is None:
                found[slot] = value
            elif slot:
                problem = problem or self._refuse(
                    "gatekeeper_header_repeated", slot, "was sent twice"
                )
            else:
                found[_AUTH] = b""
        return found[_AUTH], tuple(found), problem

    def check_types(self, key: Key) -> None:
        """Raise a clear `TypeError` when a server or an outer middleware put `str` where the
        ASGI specification requires bytes. Runs off the hot path: a key of `str` values never
        matches a verified caller, so it always reaches here first."""
        for value in key:
            if value is not None and type(value) is not bytes:
                raise _not_bytes()

    def has_client(self, key: Key) -> bool:
        """Whether the request carries a client id (what `allow_unverified` trusts)."""
        return key[_CLIENT] is not None

    def read(self, key: Key, *, userid_grant: bool) -> Identity:
        """The identity from the gatekeeper headers of a request whose credentials checked out.

        `userid_grant` says whether the API has the `userid` grant: only then does "no user id
        and no other sign of a user" mean a system request; without it the kind is "unknown".
        """
        for slot in (_CLIENT, _GATEKEEPER):
            if key[slot] is None:
                raise self._refuse(
                    "gatekeeper_header_missing", slot, "is missing from a verified request"
                )
        raw_user = key[_USER]
        user_id = None if raw_user is None else self._id(raw_user, _USER)
        secondary_ids = tuple(map(self._secondary, self._list(key[_USER_SEC], _USER_SEC)))
        acr = self._acr(key[_ACR])
        kind: Kind
        if user_id is not None or secondary_ids or acr is not None:
            kind = "user"
        else:
            kind = "system" if userid_grant else "unknown"
        raw_token = key[_TOKEN]
        return Identity(
            kind=kind,
            client_id=self._id(key[_CLIENT], _CLIENT),
            scopes=frozenset(self._list(key[_SCOPES], _SCOPES)),
            gatekeeper=self._id(key[_GATEKEEPER], _GATEKEEPER),
            user_id=user_id,
            secondary_ids=secondary_ids,
            acr=acr,
            token=SecretStr(self._id(raw_token, _TOKEN)) if raw_token else None,
        )

    def _slot_for(self, name: bytes) -> int:
        """Where a header name not seen before goes: a slot, `_OTHER`, or `_SMUGGLED`."""
        if type(name) is not bytes:
            raise _not_bytes()
        lower = name.lower()
        slot = self._known.get(lower)
        if slot is None:
            smuggled = b"_" in lower and lower.replace(b"_", b"-") in self._known
            slot = _SMUGGLED if smuggled else _OTHER
        if len(self._slots) < _REMEMBERED_NAMES:
            self._slots[name] = slot
        return slot

    def _smuggled(self, name: bytes) -> Refusal:
        # Some servers map `X_Dataporten_Userid` and `X-Dataporten-Userid` to one variable.
        return Refusal(
            "gatekeeper_header_invalid",
            f"A header named {name.decode('latin-1')!r} was sent; the gatekeeper never spells "
            "its headers with '_'.",
        )

    def _refuse(self, code: RefusalCode, slot: int, problem: str) -> Refusal:
        return Refusal(code, f"{self.names[slot - 1]} {problem}.")

    def _id(self, value: bytes | None, slot: int) -> str:
        if not value:
            raise self._refuse("gatekeeper_header_invalid", slot, "is empty")
        if value.translate(None, _VISIBLE):
            raise self._refuse(
                "gatekeeper_header_invalid", slot, "holds bytes that are not visible ASCII"
            )
        return value.decode("ascii")

    def _list(self, value: bytes | None, slot: int) -> list[str]:
        """A comma-separated list; an empty or absent header is an empty list."""
        if not value:
            return []
        return [self._id(item.strip(b" \t"), slot) for item in value.split(b",")]

    def _secondary(self, item: str) -> SecondaryId:
        type_, colon, value = item.partition(":")
        if not (type_ and colon and value):
            raise self._refuse(
                "gatekeeper_header_invalid", _USER_SEC, "holds an entry that is not type:value"
            )
        return SecondaryId(type_, value)

    def _acr(self, value: bytes | None) -> str | None:
        if not value:
            return None
        if value.translate(None, _PRINTABLE):
            raise self._refuse(
                "gatekeeper_header_invalid", _ACR, "holds bytes that are not printable ASCII"
            )
        return value.decode("ascii")


def _not_bytes() -> TypeError:
    return TypeError(
        "scope['headers'] holds a str where the ASGI specification requires byte strings: fix "
        "the server or middleware that put it there."
    )
