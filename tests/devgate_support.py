"""Helpers for the dev gatekeeper's tests: serve it as `python -m` does, an echo upstream, and a
raw socket for request targets and headers no HTTP client would send."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import uvicorn
from starlette.types import Receive, Scope, Send

from gatekeeper_auth.devgate import DevGateConfig, create_devgate
from gatekeeper_auth.devgate.server import uvicorn_config
from tests.servers import free_port


@contextmanager
def run_server(config: uvicorn.Config) -> Iterator[str]:
    """Run a uvicorn `config` in a thread until the block ends; yields its base URL."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"uvicorn did not start on port {config.port}")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def serve_devgate(config: DevGateConfig) -> Iterator[tuple[str, Any]]:
    """The dev gatekeeper served with the settings `python -m gatekeeper_auth.devgate` uses."""
    app = create_devgate(config)
    settings = uvicorn_config(app, host="127.0.0.1", port=free_port(), log_level="warning")
    with run_server(settings) as url:
        yield url, app


async def echo_upstream(scope: Scope, receive: Receive, send: Send) -> None:
    """An upstream that answers, as JSON, the raw path, query and headers it got."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    body = json.dumps(
        {
            "method": scope["method"],
            "raw_path": scope["raw_path"].decode("latin-1"),
            "query": scope["query_string"].decode("latin-1"),
            "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]],
        }
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def token_for(gatekeeper: str, client: tuple[str, str], **form: str) -> dict[str, Any]:
    """A token endpoint answer (the whole JSON body), asserting it is a 200."""
    response = httpx2.post(f"{gatekeeper}/oauth/token", data=form, auth=client)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def raw_request(url: str, request: bytes, timeout: float = 5.0) -> bytes:
    """Send `request` bytes as they are to `url`'s host and port; the whole answer back."""
    host, port = httpx2.URL(url).host, httpx2.URL(url).port
    assert port is not None
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(request)
        answer = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])
