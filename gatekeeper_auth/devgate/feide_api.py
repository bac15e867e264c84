"""The local Feide's APIs a backend calls on its caller's behalf: the groups API
(`GET /groups/me/groups`), extended userinfo (`GET /userinfo/v1/userinfo`) and the OpenID
userinfo its discovery document lists, answered from the config's `[[users]]`.

As Feide's: the bearer is a token bound to the user, either the subtoken the gatekeeper sent the
API (`X-Dataporten-token`) or a Feide API access token a data source got for the JWT it received
(`exchange.py`). No token, 401 `Bearer realm="dataporten"`; an unknown or expired one, 401
`error="invalid_token"`; a token of a system request (no user), 403. Bodies are the platform's
`{"message": ...}`. What a token may see of the user follows its grants: a subtoken the API's
`grants` (`userid-feide`, `userid-nin`), a Feide API token its data source's `user_claims`.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from gatekeeper_auth._platform import GATEKEEPER_CHALLENGE, GATEKEEPER_INVALID_CHALLENGE
from gatekeeper_auth.devgate.config import DevGateConfig, User
from gatekeeper_auth.devgate.tokens import Grant, TokenIssuer


class FeideAPIs:
    """The endpoints, reading tokens from the token endpoint's store."""

    def __init__(self, config: DevGateConfig, tokens: TokenIssuer) -> None:
        self.config = config
        self.tokens = tokens

    async def groups(self, request: Request) -> JSONResponse:
        """The user's groups; ended memberships (`active = false`) only with `?showAll=true`."""
        found = self._caller(request)
        if isinstance(found, JSONResponse):
            return found
        _, user = found
        show_all = request.query_params.get("showAll", "false").lower() == "true"
        groups = [g for g in user.groups if show_all or g.membership.active is not False]
        return JSONResponse([group.as_feide() for group in groups])

    async def userinfo(self, request: Request) -> JSONResponse:
        """Extended userinfo: directory attributes, as far as the token's grants reach."""
        found = self._caller(request)
        if isinstance(found, JSONResponse):
            return found
        grant, user = found
        feide_ok, nin_ok = self._may_see(grant)
        info: dict[str, Any] = {"displayName": user.name or user.username}
        eppn = user.secondary_id("feide")
        if feide_ok and eppn is not None:
            info |= {"eduPersonPrincipalName": eppn, "uid": [eppn.partition("@")[0]]}
        nin = user.secondary_id("nin")
        if nin_ok and nin is not None:
            info["norEduPersonNIN"] = nin
        org = next((g for g in user.groups if g.type == "fc:org"), None)
        if org is not None:
            info["schacHomeOrganization"] = org.id.removeprefix("fc:org:")
            if org.membership.affiliation is not None:
                info["eduPersonAffiliation"] = org.membership.affiliation
            if org.membership.primaryAffiliation is not None:
                info["eduPersonPrimaryAffiliation"] = org.membership.primaryAffiliation
        return JSONResponse(info)

    async def openid_userinfo(self, request: Request) -> JSONResponse:
        """The OpenID Connect userinfo: the user id as `sub`, and her name."""
        found = self._caller(request)
        if isinstance(found, JSONResponse):
            return found
        _, user = found
        return JSONResponse({"sub": user.user_id, "name": user.name or user.username})

    def _caller(self, request: Request) -> tuple[Grant, User] | JSONResponse:
        values = [v for n, v in request.scope["headers"] if n.lower() == b"authorization"]
        bearer = [v for v in values if v.startswith(b"Bearer ") and v[7:]]
        if not bearer:
            return _answer(401, "Not authorized", GATEKEEPER_CHALLENGE)
        grant = self._grant(bearer[0][7:]) if len(values) == 1 else None
        if grant is None:
            return _answer(401, "Token is invalid", GATEKEEPER_INVALID_CHALLENGE)
        if grant.user is None:
            return _answer(403, "This resource requires a personal token")
        return grant, grant.user

    def _grant(self, raw: bytes) -> Grant | None:
        """The grant of a subtoken, or of a Feide API token; None for any other token."""
        try:
            token = raw.decode("ascii")
        except UnicodeDecodeError:
            return None
        grant = self.tokens.lookup_subtoken(token)
        if grant is None:
            grant = self.tokens.lookup(token)
            if grant is not None and grant.datasource is None:
                return None  # a client's access token: for the API, not for Feide's APIs
        return grant

    def _may_see(self, grant: Grant) -> tuple[bool, bool]:
        """Whether the token may see the user's Feide id and her national identity number."""
        if grant.datasource is not None:
            claims = grant.datasource.user_claims
            return "eduPersonPrincipalName" in claims, "nin" in claims
        return "userid-feide" in self.config.grants, "userid-nin" in self.config.grants


def _answer(status: int, message: str, challenge: str | None = None) -> JSONResponse:
    headers = {"WWW-Authenticate": challenge} if challenge else None
    return JSONResponse({"message": message}, status, headers)
