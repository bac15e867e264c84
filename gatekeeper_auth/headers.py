"""Finding the gatekeeper's headers on a request, and reading them into an `Identity`, strictly.

`IdentityReader.values` runs on every request: it picks `Authorization` and the gatekeeper
headers out of the ASGI header list. `IdentityReader.read` runs only for a request whose
credentials checked out: anything the gatekeeper cannot send (a header twice, an empty user id, a
missing client id, bytes that are not visible ASCII) is refused with a 400 `Refusal`.
"""

from __future__ import annotations

from pydantic import SecretStr

from gatekeeper_auth.errors import Refusal
from gatekeeper_auth.identity import Identity, SecondaryId

# The headers a backend can get, in the order of `Values.gatekeeper`.
FIELDS = ("Clientid", "Userid", "Userid-Sec", "Scopes", "Gatekeeper", "Acr", "Token")
_CLIENT, _USER, _USER_SEC, _SCOPES, _GATEKEEPER, _ACR, _TOKEN = range(len(FIELDS))
_REQUIRED = (_CLIENT, _SCOPES, _GATEKEEPER)

_VISIBLE = bytes(range(0x21, 0x7F))  # what an id or a scope may hold
_PRINTABLE = bytes(range(0x20, 0x7F))  # what the acr may hold

#: `(authorization, gatekeeper header values in FIELDS order)`, absent ones None.
Values = tuple[bytes | None, tuple[bytes | None, ...]]


class IdentityReader:
    """Knows the header names for one prefix (`X-Dataporten-`, or the older `X-FeideConnect-`)."""

    __slots__ = ("_gatekeeper_names", "_slots", "names")

    def __init__(self, prefix: str) -> None:
        if not prefix or not prefix.isascii() or " " in prefix or "_" in prefix:
            raise ValueError(f"header prefix {prefix!r} is not a valid header name prefix")
        #: The header names as a human reads them, for messages.
        self.names = tuple(prefix + field for field in FIELDS)
        self._gatekeeper_names = tuple(name.lower().encode() for name in self.names)
        # Slot -1 is Authorization; 0.. are the gatekeeper headers.
        self._slots = {b"authorization": -1} | {
            name: slot for slot, name in enumerate(self._gatekeeper_names)
        }

    def values(self, headers: list[tuple[bytes, bytes]]) -> tuple[Values, Refusal | None]:
        """The values that matter, and a problem with them that only a verified request hears.

        The common case (lower-case names, none twice, none with `_`) is a few C-level calls.
        Any other request takes a careful loop that matches names case-insensitively and
        notes a header sent twice, or a gatekeeper header spelled with `_` (some servers map
        `X_Dataporten_Userid` and `X-Dataporten-Userid` to one variable). `Authorization` sent
        twice becomes an empty credential, which never matches.
        """
        fields = dict(headers)
        joined = b"\0".join(fields)
        if len(fields) == len(headers) and joined.islower() and 95 not in joined:  # 95 is "_"
            gatekeeper = tuple(map(fields.get, self._gatekeeper_names))
            return (fields.get(b"authorization"), gatekeeper), None
        found: list[bytes | None] = [None] * (len(FIELDS) + 1)
        problem = None
        for raw_name, value in headers:
            name = raw_name.lower()
            slot = self._slots.get(name)
            if slot is None:
                if name.replace(b"_", b"-") in self._slots:
                    problem = Refusal(
                        "gatekeeper_header_invalid",
                        f"A header named {name.decode('latin-1')!r} was sent; the gatekeeper "
                        "never spells its headers with '_'.",
                    )
            elif found[slot] is None:
                found[slot] = value
            elif slot < 0:
                found[slot] = b""
            else:
                problem = self._refuse("gatekeeper_header_repeated", slot, "was sent twice")
        return (found[-1], tuple(found[:-1])), problem

    def read(self, gatekeeper: tuple[bytes | None, ...]) -> Identity:
        """Build the identity from the gatekeeper headers of a request that was verified."""
        for slot in _REQUIRED:
            if gatekeeper[slot] is None:
                raise self._refuse(
                    "gatekeeper_header_missing", slot, "is missing from a verified request"
                )
        client_id = self._id(gatekeeper[_CLIENT], _CLIENT)
        name = self._id(gatekeeper[_GATEKEEPER], _GATEKEEPER)
        scopes = frozenset(self._list(gatekeeper[_SCOPES], _SCOPES))
        raw_user = gatekeeper[_USER]
        user_id = None if raw_user is None else self._id(raw_user, _USER)
        secondary_ids = tuple(map(self._secondary, self._list(gatekeeper[_USER_SEC], _USER_SEC)))
        acr = self._acr(gatekeeper[_ACR])
        raw_token = gatekeeper[_TOKEN]
        token = None if raw_token is None else SecretStr(self._id(raw_token, _TOKEN))
        is_user = user_id is not None or bool(secondary_ids) or acr is not None
        return Identity(
            kind="user" if is_user else "system",
            client_id=client_id,
            scopes=scopes,
            gatekeeper=name,
            user_id=user_id,
            secondary_ids=secondary_ids,
            acr=acr,
            token=token,
        )

    def _refuse(self, code: str, slot: int, problem: str) -> Refusal:
        return Refusal(code, f"{self.names[slot]} {problem}.")

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
