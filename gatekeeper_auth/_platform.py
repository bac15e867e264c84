"""The platform's wire vocabulary, in one place: what Dataporten and Feide send and expect.

Read by the middleware, the JWT verifier and the token clients; written by the test fakes and
the development gatekeeper; quoted by the docs. Nothing here decides anything: it only names
what the platform spells (header names and their omission rule, Basic credentials, URLs, grant
and token-type URNs, challenges).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import Final
from urllib.parse import quote_plus

#: The prefix of the gatekeeper's headers today, and before 2016 (Feide Connect).
HEADER_PREFIX: Final = "X-Dataporten-"
LEGACY_HEADER_PREFIX: Final = "X-FeideConnect-"
#: The headers a backend can get from the gatekeeper, after the prefix.
HEADER_FIELDS: Final = ("Clientid", "Userid", "Userid-Sec", "Scopes", "Gatekeeper", "Acr", "Token")
#: The Basic username the gatekeeper uses unless the dashboard says otherwise.
GATEKEEPER_USERNAME: Final = "dataporten"

#: Feide's issuer, its key set and token endpoint, and the APIs a backend calls for the user.
FEIDE_ISSUER: Final = "https://auth.dataporten.no"
FEIDE_JWKS_URL: Final = "https://auth.dataporten.no/openid/jwks"
TOKEN_URL: Final = "https://auth.dataporten.no/oauth/token"  # noqa: S105 (a URL)
DISCOVERY_PATH: Final = "/.well-known/openid-configuration"
GROUPS_URL: Final = "https://groups-api.dataporten.no/groups/me/groups"
USERINFO_URL: Final = "https://api.dataporten.no/userinfo/v1/userinfo"
#: A data source's audience is this prefix and its id.
DATASOURCE_PREFIX: Final = "https://n.feide.no/datasources/"
#: The audience a token exchange names to get an access token for Feide's own APIs.
FEIDE_API_AUDIENCE: Final = FEIDE_ISSUER
#: The login and OpenID userinfo endpoints Feide's discovery document lists.
AUTHORIZATION_URL: Final = "https://auth.dataporten.no/oauth/authorization"
OPENID_USERINFO_URL: Final = "https://auth.dataporten.no/openid/userinfo"

#: Access tokens live 8 hours; 680 days with the `longterm` scope.
TOKEN_LIFETIME: Final = 8 * 3600
LONGTERM_SCOPE: Final = "longterm"
LONGTERM_LIFETIME: Final = 680 * 24 * 3600

#: OAuth 2.0 grant types and RFC 8693 token types.
CLIENT_CREDENTIALS: Final = "client_credentials"
TOKEN_EXCHANGE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 (a URN)
ACCESS_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 (a URN)
JWT_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:jwt"  # noqa: S105 (a URN)

#: The gatekeeper's own 401 challenges: no token, and a token it does not accept.
GATEKEEPER_CHALLENGE: Final = 'Bearer realm="dataporten"'
GATEKEEPER_INVALID_CHALLENGE: Final = (
    'Bearer realm="dataporten", error="invalid_token", error_description="Token is invalid"'
)
#: Our 401 challenges: never `Basic`, which makes a browser pop up a login dialog.
CHALLENGE: Final = 'Bearer realm="gatekeeper"'
JWT_CHALLENGE: Final = 'Bearer error="invalid_token"'


def header_names(prefix: str = HEADER_PREFIX) -> tuple[str, ...]:
    """The gatekeeper's header names for `prefix`, in the order of `HEADER_FIELDS`."""
    return tuple(prefix + field for field in HEADER_FIELDS)


def gatekeeper_headers(
    values: Mapping[str, str | None], prefix: str = HEADER_PREFIX, *, as_written: bool = False
) -> dict[str, str]:
    """The headers the gatekeeper sends for `values` (field name -> value), as its proxy does:
    a value that is None or empty is never sent (setting an nginx header to "" removes it).
    `as_written=True` spells the names as the platform writes them: the prefix and the field
    in lower case (`X-Dataporten-userid-sec`)."""
    unknown = values.keys() - set(HEADER_FIELDS)
    if unknown:
        raise ValueError(f"not a gatekeeper header: {', '.join(sorted(unknown))}")
    return {
        prefix + (field.lower() if as_written else field): value
        for field, value in values.items()
        if value
    }


def basic(username: str, password: str) -> str:
    """An `Authorization: Basic` value, as the gatekeeper sends its credentials."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def client_basic(client_id: str, client_secret: str) -> str:
    """An OAuth client's `Authorization: Basic` value: id and secret form-url-encoded first
    (RFC 6749 §2.3.1), which changes nothing for Dataporten's UUIDs."""
    return basic(quote_plus(client_id), quote_plus(client_secret))


def parse_basic(value: bytes) -> tuple[bytes, bytes] | None:
    """The (username, password) of a `Basic` Authorization value (any case of the scheme,
    strict base64), or None when it is not one."""
    scheme, _, param = value.strip().partition(b" ")
    if scheme.lower() != b"basic":
        return None
    try:
        decoded = base64.b64decode(param.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    username, colon, password = decoded.partition(b":")
    return (username, password) if colon else None


def scope_list(names: Iterable[str]) -> str:
    """Sub-scopes as the gatekeeper's Scopes header writes them: comma separated."""
    return ",".join(names)


def gatekeeper_scope(api: str, sub_scope: str | None = None) -> str:
    """The scope a client asks for: `gk_<api>` (the API's basic scope) or
    `gk_<api>_<sub_scope>`, which reaches the backend as `<sub_scope>` in the Scopes header."""
    return f"gk_{api}" if sub_scope is None else f"gk_{api}_{sub_scope}"
