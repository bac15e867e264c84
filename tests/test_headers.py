"""GatekeeperHeaders: the header list as the ASGI specification defines it, or a clear error."""

import asyncio
from typing import Any

import pytest
from starlette.types import Message

from gatekeeper_auth.testing import FakeGatekeeper
from tests.helpers import build_app, http_scope


@pytest.mark.parametrize(
    "headers",
    [
        [("authorization", "Basic x")],
        [(b"authorization", "Basic x")],
        [(b"x-other", b"1"), ("X-Dataporten-Clientid", "c")],
    ],
    ids=["str name", "str value", "str gatekeeper name"],
)
def test_str_headers_are_refused_with_a_clear_error(headers: list[tuple[Any, Any]]) -> None:
    app = build_app(**FakeGatekeeper().middleware_options())

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None: ...

    with pytest.raises(TypeError, match="the ASGI specification requires byte strings"):
        asyncio.run(app(http_scope(headers, path="/system"), receive, send))
