"""Which headers cross the dev gatekeeper, both ways, and which it adds.

Toward the upstream: the caller's headers, less the hop-by-hop ones (RFC 9110 §7.6.1, including
every header the caller's `Connection` names), less anything under either gatekeeper prefix
(`X-Dataporten-`, `X-FeideConnect-`, any case, `_` for `-`: the platform clears its own prefix
and nginx drops `_` names), less `Forwarded`/`X-Forwarded-*` (the caller must not choose the
address the backend sees; whether the real gatekeeper adds its own is not public, so none is
added), less the caller's `Authorization` unless it is kept on purpose (OPTIONS). Then the
gatekeeper's own, spelled as the platform writes them (prefix + lower-case field name), and
never with an empty value: the platform's proxy drops those.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gatekeeper_auth._platform import basic
from gatekeeper_auth.devgate.config import DevGateConfig
from gatekeeper_auth.devgate.tokens import Grant

Headers = list[tuple[bytes, bytes]]

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Rebuilt by the client toward the upstream (Host from the upstream URL, the length from the
# body) or answered here (Expect: 100-continue is the server's job on each hop).
_REBUILT = frozenset({b"host", b"content-length", b"expect"})
_WEBSOCKET = frozenset(
    {
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
        b"sec-websocket-accept",
    }
)
_GATEKEEPER_PREFIXES = (b"x-dataporten-", b"x-feideconnect-")


@dataclass(frozen=True, slots=True)
class Admission:
    """What the gate decided: `grant` None is anonymous (OPTIONS, or a public API without a
    token); `keep_authorization` leaves the caller's own `Authorization` on (OPTIONS only)."""

    grant: Grant | None
    keep_authorization: bool = False


def _named_by_connection(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    named: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            named.update(token.strip().lower() for token in value.split(b","))
    return named


def _normal(name: bytes) -> bytes:
    return name.lower().replace(b"_", b"-")


def caller_headers(
    headers: Iterable[tuple[bytes, bytes]], *, keep_authorization: bool, websocket: bool = False
) -> Headers:
    """The caller's headers that may go on to the upstream."""
    headers = list(headers)
    dropped = HOP_BY_HOP | _REBUILT | _named_by_connection(headers)
    if websocket:
        dropped |= _WEBSOCKET
    kept: Headers = []
    for name, value in headers:
        normal = _normal(name)
        if (
            normal in dropped
            or normal.startswith(_GATEKEEPER_PREFIXES)
            or normal == b"forwarded"
            or normal.startswith(b"x-forwarded-")
            or (normal == b"authorization" and not keep_authorization)
        ):
            continue
        kept.append((name, value))
    return kept


def response_headers(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    """The upstream's response headers to relay (its own Date and Server included: the dev
    gatekeeper's server adds none, so none is doubled)."""
    headers = list(headers)
    dropped = (HOP_BY_HOP | _named_by_connection(headers)) - {b"content-length"}
    return [(name, value) for name, value in headers if name.lower() not in dropped]


class GatekeeperHeaders:
    """The headers the gatekeeper adds, computed from the configuration once."""

    def __init__(self, config: DevGateConfig) -> None:
        self.config = config
        self.prefix = config.header_prefix.encode()
        creds = config.upstream_credentials
        if creds.bearer_token is not None:
            secret = b"Bearer " + creds.bearer_token.get_secret_value().encode()
        else:
            assert creds.password is not None  # the config's validator requires one of them
            secret = basic(creds.username, creds.password.get_secret_value()).encode()
        self._authorization = secret

    def __repr__(self) -> str:  # never show the credentials
        return f"GatekeeperHeaders(api={self.config.api!r})"

    def for_admission(self, admission: Admission) -> Headers:
        """OPTIONS and token-less requests get the Gatekeeper header alone; a token gets the
        credentials and the fields the platform's controller computes for it."""
        grant = admission.grant
        if grant is None:
            return [self._h("gatekeeper", self.config.api)]
        fields = [
            ("clientid", grant.client.id),
            ("scopes", ",".join(sorted(grant.scopes))),
            ("gatekeeper", self.config.api),
            ("acr", grant.acr or ""),
        ]
        user, grants = grant.user, self.config.grants
        if user is not None:
            if "userid" in grants:
                fields.append(("userid", user.user_id))
            secondary = [s for s in user.secondary_ids if _grant_for(s) in grants]
            fields.append(("userid-sec", ",".join(secondary)))
        if self.config.forward_token:
            fields.append(("token", grant.api_token))
        added = [(b"Authorization", self._authorization)]
        added += [self._h(name, value) for name, value in fields if value]  # never empty
        return added

    def _h(self, field: str, value: str) -> tuple[bytes, bytes]:
        return (self.prefix + field.encode(), value.encode())


def _grant_for(secondary_id: str) -> str:
    """`feide:x` needs the `userid-feide` grant, `nin:x` the `userid-nin` grant."""
    return "userid-" + secondary_id.partition(":")[0]
