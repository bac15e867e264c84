"""Refusal and the deprecated refusal_handler."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import gatekeeper_auth
from tests.helpers import assert_refused


def test_refusal_handler_still_renders_and_warns() -> None:
    from gatekeeper_auth import refusal_handler

    async def refuse(request: Request) -> JSONResponse:
        raise gatekeeper_auth.Refusal("scope_missing", "needs read")

    handlers: Any = {gatekeeper_auth.Refusal: refusal_handler}
    app = Starlette(routes=[Route("/refuse", refuse)], exception_handlers=handlers)
    with pytest.warns(DeprecationWarning, match="no longer needed"):
        response = TestClient(app).get("/refuse")
    assert_refused(response, "scope_missing")
