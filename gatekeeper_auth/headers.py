"""Finding the gatekeeper's headers on a request, and reading them into an `Identity`, strictly.

The middleware picks `Authorization` and the gatekeeper headers out of the ASGI header list
with `IdentityReader.slots`. `IdentityReader.read` runs only for a request whose credentials
checked out: anything the gatekeeper cannot send (a header twice, an empty user id, a
missing client id, bytes that are not visible ASCII) is refused with a 400 `Refusal`.
"""

from __future__ import annotations

from pydantic import SecretStr

from gatekeeper_auth.errors import Refusal
from gatekeeper_auth.identity import Identity, SecondaryId

# The headers a backend can get, in the order `IdentityReader.read` takes their values.
FIELDS = ("Clientid", "Userid", "Userid-Sec", "Scopes", "Gatekeeper", "Acr", "Token")
_CLIENT, _USER, _USER_SEC, _SCOPES, _GATEKEEPER, _ACR, _TOKEN = range(len(FIELDS))
_REQUIRED = (_CLIENT, _SCOPES, _GATEKEEPER)

_VISIBLE = bytes(range(0x21, 0x7F))  # what an id or a scope may hold
_PRINTABLE = bytes(range(0x20, 0x7F))  # what the acr may hold


class IdentityReader:
    """Knows the header names for one prefix (`X-Dataporten-`, or the older `X-FeideConnect-`)."""

    __slots__ = ("names", "slots")

    def __init__(self, prefix: str) -> None:
        if not prefix or not prefix.isascii() or " " in prefix or "_" in prefix:
            raise ValueError(f"header prefix {prefix!r} is not a valid header name prefix")
        #: The header names as a human reads them, for messages.
        self.names = tuple(prefix + field for field in FIELDS)
        #: Lower-case header name -> slot: 0 is Authorization, 1.. the gatekeeper headers.
        self.slots = {b"authorization": 0} | {
            name.lower().encode(): slot for slot, name in enumerate(self.names, start=1)
        }

    def problem(self, name: bytes, slot: int | None) -> Refusal:
        """The refusal for a lower-case header name that was repeated (`slot` given) or is a
        gatekeeper header spelled with `_` (some servers map `X_Dataporten_Userid` and
        `X-Dataporten-Userid` to one variable)."""
        if slot is not None:
            return self._refuse("gatekeeper_header_repeated", slot - 1, "was sent twice")
        return Refusal(
            "gatekeeper_header_invalid",
            f"A header named {name.decode('latin-1')!r} was sent; the gatekeeper never spells "
            "its headers with '_'.",
        )

    def is_smuggled(self, name: bytes) -> bool:
        """True for a lower-case name with `_` that means a gatekeeper header."""
        return name.replace(b"_", b"-") in self.slots

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
