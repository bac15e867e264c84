"""Calling a gatekeeper-protected API as a system, with the client
credentials flow."""

import httpx2

from gatekeeper_auth.client import ClientCredentialsAuth


async def fetch_reports(
    api: str, client_id: str, secret: str, token_url: str
) -> object:
    auth = ClientCredentialsAuth(client_id, secret, token_url=token_url)
    async with httpx2.AsyncClient(
        auth=auth, base_url=api, timeout=10
    ) as http:
        response = await http.get("/reports")
        response.raise_for_status()
        return response.json()
