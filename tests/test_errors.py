"""`Refusal` and its codes: FastAPI renders it wherever it is raised, with no handler and no
middleware, and the codes are one closed set; the deprecated refusal_handler still works."""

from typing import Any, get_args

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import gatekeeper_auth
from gatekeeper_auth import CODES, Refusal, RefusalCode
from tests.helpers import STATUS, assert_refused


def test_the_code_type_and_the_codes_table_list_the_same_codes_in_the_same_order() -> None:
    assert get_args(RefusalCode) == tuple(CODES)


def test_an_unknown_code_is_refused_at_construction() -> None:
    # mypy refuses it too: tests/typecheck/refusal_codes.py
    with pytest.raises(KeyError, match="scope_mising"):
        Refusal("scope_mising", "a misspelled code")  # type: ignore[arg-type]


def test_fastapi_renders_a_refusal_raised_in_a_route_as_the_json_body() -> None:
    app = FastAPI()

    @app.get("/")
    async def route() -> None:
        raise Refusal(
            "token_invalid", "the token is malformed", www_authenticate='Bearer error="x"'
        )

    response = TestClient(app).get("/")
    assert isinstance(Refusal("scope_missing", "m"), HTTPException)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.headers["www-authenticate"] == 'Bearer error="x"'
    assert response.json() == {
        "detail": {"code": "token_invalid", "message": "the token is malformed"}
    }


def test_refusal_handler_still_renders_and_warns() -> None:
    from gatekeeper_auth import refusal_handler

    async def refuse(request: Request) -> JSONResponse:
        raise gatekeeper_auth.Refusal("scope_missing", "needs read")

    handlers: Any = {gatekeeper_auth.Refusal: refusal_handler}
    app = Starlette(routes=[Route("/refuse", refuse)], exception_handlers=handlers)
    with pytest.warns(DeprecationWarning, match="no longer needed"):
        response = TestClient(app).get("/refuse")
    assert_refused(response, "scope_missing")


def test_every_code_has_the_status_the_tests_expect() -> None:
    """The tests' written-out table (tests/helpers.py STATUS) and the code agree, both ways."""
    assert {code: status for code, (status, *_) in CODES.items()} == STATUS
