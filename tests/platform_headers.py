"""What the real API Gatekeeper sends to a backend, situation by situation.

Written from `shared/domain.md` (the platform's gatekeeper controller and proxy), never from the
development gatekeeper's output: this table is the truth both the middleware (driven through it
by the lead's tests) and the dev gatekeeper (compared with it in `test_devgate_fidelity.py`) are
held to.

Each `Situation` lists the exact `(name, value)` pairs that reach the backend that the gatekeeper
controls: its `Authorization` and every header under its prefix, spelled as the platform writes
them (prefix + lower-case field name). Nothing else is listed (Host, Accept, ... are the
caller's). The subtoken's value cannot be fixed for the dev gatekeeper, which makes up a UUID per
token: `comparable()` keeps its presence and hides its value.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, replace

from gatekeeper_auth.testing import TEST_CLIENT_ID, TEST_PASSWORD, TEST_USER_ID

PREFIX = "X-Dataporten-"
GATEKEEPER = "testapi"
USERNAME = "dataporten"
#: The shared token of an API whose trust type is `bearer` (tests only).
BEARER_TRUST_TOKEN = "gatekeeper-auth-test-bearer-trust-token"
BASIC = "Basic " + base64.b64encode(f"{USERNAME}:{TEST_PASSWORD}".encode()).decode()
BEARER = f"Bearer {BEARER_TRUST_TOKEN}"

CLIENT_ID = TEST_CLIENT_ID
USER_ID = TEST_USER_ID
FEIDE = "feide:alice@example.org"
FEIDE_2 = "feide:alice.second@example.org"
NIN = "nin:01019012345"
ACR = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
#: A subtoken as the platform issues them (a UUID); its value differs per token in real life.
SUBTOKEN = "5b1f3a2e-9c1d-4f0a-8e7b-2d6c4a9f0e13"
#: The caller's own access token, which the gatekeeper leaves on an OPTIONS request.
CALLER_TOKEN = "caller-access-token-7d0e2b9c"

ALL_GRANTS = frozenset({"userid", "userid-feide", "userid-nin"})
NO_GRANTS: frozenset[str] = frozenset()

#: The fields whose empty value the proxy drops (see domain.md, "Empty values").
OMITTED_WHEN_EMPTY = ("scopes", "acr", "userid-sec")


def h(field: str, value: str) -> tuple[str, str]:
    """One gatekeeper header in platform spelling: `h("userid-sec", ...)`."""
    return (PREFIX + field, value)


@dataclass(frozen=True, slots=True)
class Situation:
    """One kind of request, as it reaches the backend.

    `is_user` is the truth (the token represents a user), whatever the headers let a backend
    tell; `grants` are the API's user-id grants; `method` the request's. A situation without
    `X-Dataporten-clientid` is anonymous (OPTIONS, or a public API called without a token).
    """

    name: str
    is_user: bool
    grants: frozenset[str]
    method: str
    headers: tuple[tuple[str, str], ...]

    @property
    def has_token(self) -> bool:
        return any(name.lower() == (PREFIX + "clientid").lower() for name, _ in self.headers)


def _token_request(
    *fields: tuple[str, str], authorization: str = BASIC
) -> tuple[tuple[str, str], ...]:
    """A request that carried a valid token: credentials, client, fields, gatekeeper, subtoken."""
    return (
        ("Authorization", authorization),
        h("clientid", CLIENT_ID),
        *fields,
        h("gatekeeper", GATEKEEPER),
        h("token", SUBTOKEN),
    )


SITUATIONS: tuple[Situation, ...] = (
    Situation("system token without sub-scopes", False, ALL_GRANTS, "GET", _token_request()),
    Situation(
        "system token with sub-scopes",
        False,
        ALL_GRANTS,
        "GET",
        _token_request(h("scopes", "read,reports")),
    ),
    Situation(
        "user token, all grants",
        True,
        ALL_GRANTS,
        "GET",
        _token_request(
            h("userid", USER_ID), h("userid-sec", f"{FEIDE},{NIN}"), h("scopes", "read")
        ),
    ),
    Situation(
        "user token, only userid",
        True,
        frozenset({"userid"}),
        "GET",
        _token_request(h("userid", USER_ID)),
    ),
    # The trap: nothing tells this user request from a system request.
    Situation("user token, no user-id grants", True, NO_GRANTS, "GET", _token_request()),
    Situation(
        "user token, no user-id grants, acr requested",
        True,
        NO_GRANTS,
        "GET",
        _token_request(h("acr", ACR)),
    ),
    Situation(
        "user token, only userid-nin",
        True,
        frozenset({"userid-nin"}),
        "GET",
        _token_request(h("userid-sec", NIN)),
    ),
    # A user with only a nin: nothing matches the userid-feide grant, so nothing shows a user.
    Situation(
        "user token, only userid-feide, user without a feide id",
        True,
        frozenset({"userid-feide"}),
        "GET",
        _token_request(),
    ),
    Situation(
        "user token, two feide ids and a nin",
        True,
        ALL_GRANTS,
        "GET",
        _token_request(h("userid", USER_ID), h("userid-sec", f"{FEIDE},{FEIDE_2},{NIN}")),
    ),
    Situation(
        "bearer trust, system token",
        False,
        ALL_GRANTS,
        "GET",
        _token_request(h("scopes", "read"), authorization=BEARER),
    ),
    # The client sent X-Dataporten-Userid itself; the gatekeeper clears its own prefix.
    Situation(
        "system client that sent its own userid",
        False,
        ALL_GRANTS,
        "GET",
        _token_request(),
    ),
    Situation(
        "OPTIONS without a token", False, ALL_GRANTS, "OPTIONS", (h("gatekeeper", GATEKEEPER),)
    ),
    Situation(
        "OPTIONS with the caller's token",
        False,
        ALL_GRANTS,
        "OPTIONS",
        (("Authorization", f"Bearer {CALLER_TOKEN}"), h("gatekeeper", GATEKEEPER)),
    ),
    Situation(
        "public API called without a token",
        False,
        ALL_GRANTS,
        "GET",
        (h("gatekeeper", GATEKEEPER),),
    ),
)

BY_NAME = {situation.name: situation for situation in SITUATIONS}


def with_empty_values(situation: Situation) -> Situation:
    """The same situation as a proxy that keeps empty values would send it: every absent
    Scopes, Acr and Userid-Sec present as `""` (requests with a token only: the OPTIONS and
    token-less paths set nothing but the Gatekeeper header either way)."""
    if not situation.has_token:
        return situation
    present = {name.lower() for name, _ in situation.headers}
    extra = tuple(
        h(field, "") for field in OMITTED_WHEN_EMPTY if (PREFIX + field).lower() not in present
    )
    return replace(
        situation, name=situation.name + " (empty values kept)", headers=situation.headers + extra
    )


def comparable(headers: Iterable[tuple[str | bytes, str | bytes]]) -> list[tuple[str, str]]:
    """Sorted `(lower-case name, value)` pairs of the gatekeeper's headers, the subtoken's value
    replaced by a marker (its presence still counts). `headers` is an iterable of pairs of
    `str` or `bytes`."""
    result = []
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1") if isinstance(raw_name, bytes) else raw_name
        value = raw_value.decode("latin-1") if isinstance(raw_value, bytes) else raw_value
        lower = name.lower()
        if lower != "authorization" and not lower.startswith(PREFIX.lower()):
            continue
        if lower == (PREFIX + "token").lower():
            value = "<subtoken>"
        result.append((lower, value))
    return sorted(result)
