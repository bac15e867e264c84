"""Which headers cross the dev gatekeeper, both ways, and which it adds.

Toward the upstream, as the platform's proxy (nginx) passes them: the caller's headers as they
are, `Forwarded`, `X-Forwarded-*`, `Proxy-Authorization` and the headers the caller's
`Connection` names included, less
- every header whose name holds `_` (nginx drops those by default), which also clears any
  `X_Dataporten_*` spelling;
- anything under the gatekeeper's own prefix (`header_prefix`, any case): the platform clears
  its own prefix, and only that one, so a caller's `X-FeideConnect-*` reaches a backend behind
  today's `X-Dataporten-` gatekeeper;
- the hop-by-hop headers nginx sets or clears itself (`Connection`, `Keep-Alive`, `TE`,
  `Upgrade`, `Transfer-Encoding`, ...), and `Host` and `Content-Length`, rebuilt for the upstream;
- the caller's `Authorization`, unless the request passes anonymous (OPTIONS, or a public API
  without a token), when it is the caller's own and stays as it is.
Then the gatekeeper's own headers, spelled as the platform writes them (prefix + lower-case field
name), and never with an empty value: the platform's proxy drops those.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gatekeeper_auth._platform import (
    basic,
    gatekeeper_headers,
    scope_list,
)
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
# What nginx sets or clears on the way to the upstream whatever the caller sent (it passes
# Proxy-Authorization and the headers Connection names); Host and the length are rebuilt from the
# upstream URL and the body, and Expect: 100-continue is answered on each hop.
_NOT_FORWARDED = (HOP_BY_HOP - {b"proxy-authorization"}) | {b"host", b"content-length", b"expect"}
_WEBSOCKET = frozenset(
    {
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
        b"sec-websocket-accept",
    }
)


@dataclass(frozen=True, slots=True)
class Admission:
    """What the gate decided: `grant` None is anonymous (OPTIONS, or a public API without a
    token); `keep_authorization` leaves the caller's own `Authorization` on (anonymous only)."""

    grant: Grant | None
    keep_authorization: bool = False


def _named_by_connection(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    named: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            named.update(token.strip().lower() for token in value.split(b","))
    return named


def caller_headers(
    headers: Iterable[tuple[bytes, bytes]],
    *,
    prefix: str,
    keep_authorization: bool,
    websocket: bool = False,
) -> Headers:
    """The caller's headers that go on to the upstream (`prefix`: the gatekeeper's own)."""
    dropped = _NOT_FORWARDED | _WEBSOCKET if websocket else _NOT_FORWARDED
    own = prefix.lower().encode()
    kept: Headers = []
    for name, value in headers:
        lower = name.lower()
        if (
            b"_" in lower
            or lower in dropped
            or lower.startswith(own)
            or (lower == b"authorization" and not keep_authorization)
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


class UpstreamHeaders:
    """The headers the gatekeeper adds toward the upstream, from the configuration."""

    def __init__(self, config: DevGateConfig) -> None:
        self.config = config
        creds = config.upstream_credentials
        if creds.bearer_token is not None:
            secret = b"Bearer " + creds.bearer_token.get_secret_value().encode()
        else:
            assert creds.password is not None  # the config's validator requires one of them
            secret = basic(creds.username, creds.password.get_secret_value()).encode()
        self._authorization = secret

    def __repr__(self) -> str:  # never show the credentials
        return f"UpstreamHeaders(api={self.config.api!r})"

    def for_admission(self, admission: Admission) -> Headers:
        """OPTIONS and token-less requests get the Gatekeeper header alone; a token gets the
        credentials and the fields the platform's controller computes for it."""
        grant = admission.grant
        values: dict[str, str | None] = {"Gatekeeper": self.config.api}
        if grant is not None:
            values |= self._fields(grant)
        added = gatekeeper_headers(values, self.config.header_prefix, as_written=True)
        encoded = [(name.encode(), value.encode()) for name, value in added.items()]
        return encoded if grant is None else [(b"Authorization", self._authorization), *encoded]

    def _fields(self, grant: Grant) -> dict[str, str | None]:
        user, grants = grant.user, self.config.grants
        fields: dict[str, str | None] = {
            "Clientid": grant.client.id,
            "Scopes": scope_list(sorted(grant.scopes)),
            "Acr": grant.acr,
        }
        if user is not None:
            fields["Userid"] = user.user_id if "userid" in grants else None
            secondary = [s for s in user.secondary_ids if _grant_for(s) in grants]
            fields["Userid-Sec"] = ",".join(secondary)
        if self.config.forward_token:
            fields["Token"] = grant.api_token
        return fields


def _grant_for(secondary_id: str) -> str:
    """`feide:x` needs the `userid-feide` grant, `nin:x` the `userid-nin` grant."""
    return "userid-" + secondary_id.partition(":")[0]
