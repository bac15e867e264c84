"""What GatekeeperMiddleware and require_system() cost, next to baselines measured in the same run.

In-process variants are driven straight through their ASGI apps (no sockets, so the middleware
is not drowned in network noise), interleaved in rounds; each figure is the median µs per
request over the rounds. One HTTP-level figure runs uvicorn in a separate process, with and
without the middleware, under a bounded keep-alive load from this process.

    python benchmarks/overhead.py           # a readable table
    python benchmarks/overhead.py --json    # one JSON object
    python benchmarks/overhead.py --quick   # fewer rounds, shorter load: under 30 s
"""

import argparse
import asyncio
import base64
import itertools
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from hmac import compare_digest
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from starlette.applications import Starlette
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    SimpleUser,
)
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

sys.path.insert(0, str(Path(__file__).parent.parent))

from benchmarks.jwt_overhead import jwt_rows
from benchmarks.jwt_overhead import report as jwt_report
from gatekeeper_auth import FeideJWT, GatekeeperMiddleware, Identity, require_system
from gatekeeper_auth.fake_feide import FakeFeideIssuer

PASSWORD = "benchmark-password"
#: Where the gatekeeper calls from (Sikt's address space); every request comes from 158.38.0.10.
NETWORKS = ["158.38.0.0/16", "2001:700::/32"]
CLIENT = "42b0c02e-0dda-4882-9da0-882a4b1abad6"
AUTHORIZATION = "Basic " + base64.b64encode(f"dataporten:{PASSWORD}".encode()).decode()
# What a verified system request from the gatekeeper looks like, with usual client headers.
HEADERS = [
    (b"host", b"api.example.org"),
    (b"user-agent", b"python-httpx/0.28.1"),
    (b"accept", b"*/*"),
    (b"accept-encoding", b"gzip, deflate"),
    (b"authorization", AUTHORIZATION.encode()),
    (b"x-dataporten-clientid", CLIENT.encode()),
    (b"x-dataporten-scopes", b"read,admin"),
    (b"x-dataporten-gatekeeper", b"myapi"),
    (b"x-dataporten-acr", b""),
    (b"x-dataporten-token", b"5b1f3a2e-9c1d-4f0a-8e7b-2d6c4a9f0e13"),
    (b"x-forwarded-for", b"158.38.0.10"),
]
#: A Feide JWT straight from a caller (system token, an hour's life: it outlives the run).
ISSUER = FakeFeideIssuer()
JWT_HEADERS = [
    *HEADERS[:4],
    (b"authorization", b"Bearer " + ISSUER.mint(lifetime=3600).encode()),
]


# --- the in-process variants ------------------------------------------------------------


class NoopMiddleware:
    """The floor: a pure ASGI middleware that only loops once over the headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        for _name, _value in scope["headers"]:
            pass
        await self.app(scope, receive, send)


class LookupMiddleware:
    """The floor of any header reader: one dict lookup per header name, nothing else."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.names = {name: i for i, (name, _) in enumerate(HEADERS)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        get = self.names.get
        for name, _value in scope["headers"]:
            get(name)
        await self.app(scope, receive, send)


class UsualBackend(AuthenticationBackend):
    """The same checks written the usual way, for Starlette's AuthenticationMiddleware."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser] | None:
        header = conn.headers.get("authorization")
        if header is None:
            return None
        scheme, _, param = header.partition(" ")
        try:
            username, _, password = base64.b64decode(param).decode().partition(":")
        except ValueError:
            raise AuthenticationError("bad credentials") from None
        if scheme.lower() != "basic" or not (
            compare_digest(username, "dataporten") & compare_digest(password, PASSWORD)
        ):
            raise AuthenticationError("bad credentials")
        h = conn.headers
        is_user = bool(
            h.get("x-dataporten-userid")
            or h.get("x-dataporten-userid-sec")
            or h.get("x-dataporten-acr")
        )
        scopes = [s for s in h.get("x-dataporten-scopes", "").split(",") if s]
        kind = "user" if is_user else "system"
        return AuthCredentials(["authenticated", kind, *scopes]), SimpleUser(
            h.get("x-dataporten-clientid", "")
        )


async def hello(request: Any) -> JSONResponse:
    return JSONResponse({"hello": "world"})


def starlette_app(middleware: str | None) -> ASGIApp:
    app = Starlette(routes=[Route("/", hello)])
    if middleware == "noop":
        app.add_middleware(NoopMiddleware)
    elif middleware == "lookup":
        app.add_middleware(LookupMiddleware)
    elif middleware == "gatekeeper":
        app.add_middleware(GatekeeperMiddleware, password=PASSWORD)
    elif middleware == "gatekeeper_networks":  # the gatekeeper's addresses configured too
        app.add_middleware(GatekeeperMiddleware, password=PASSWORD, allowed_networks=NETWORKS)
    elif middleware == "authmw":
        app.add_middleware(AuthenticationMiddleware, backend=UsualBackend())
    elif middleware == "gatekeeper_and_jwt":  # both paths configured, as during a migration
        jwt = FeideJWT(audience=ISSUER.audience, transport=ISSUER.transport())
        app.add_middleware(GatekeeperMiddleware, password=PASSWORD, jwt=jwt)
    return app


basic_scheme = HTTPBasic()


async def checked_by_hand(
    request: Request, credentials: Annotated[HTTPBasicCredentials, Depends(basic_scheme)]
) -> str:
    """FastAPI's own HTTPBasic plus the equivalent checks, by hand."""
    ok = compare_digest(credentials.username, "dataporten") & compare_digest(
        credentials.password, PASSWORD
    )
    if not ok:
        raise HTTPException(401, "bad credentials", {"WWW-Authenticate": "Basic"})
    h = request.headers
    if (
        h.get("x-dataporten-userid")
        or h.get("x-dataporten-userid-sec")
        or h.get("x-dataporten-acr")
    ):
        raise HTTPException(403, "user token")
    if h.get("x-dataporten-clientid") != CLIENT:
        raise HTTPException(403, "client not allowed")
    if "read" not in h.get("x-dataporten-scopes", "").split(","):
        raise HTTPException(403, "scope missing")
    return CLIENT


async def trivial() -> int:
    return 1


def fastapi_app(kind: str) -> ASGIApp:
    app = FastAPI()
    if kind == "bare":

        @app.get("/")
        async def bare() -> dict[str, str]:
            return {"hello": "world"}

    elif kind == "require_system":
        guard = require_system(clients={CLIENT}, scopes={"read"})

        @app.get("/")
        async def guarded(caller: Annotated[Identity, Depends(guard)]) -> dict[str, str]:
            return {"hello": "world"}

        app.add_middleware(GatekeeperMiddleware, password=PASSWORD)
    elif kind == "httpbasic":

        @app.get("/")
        async def basic(caller: Annotated[str, Depends(checked_by_hand)]) -> dict[str, str]:
            return {"hello": "world"}

    elif kind == "trivial_dependency":

        @app.get("/")
        async def floor(value: Annotated[int, Depends(trivial)]) -> dict[str, str]:
            return {"hello": "world"}

    return app


def scope_for(headers: list[tuple[bytes, bytes]]) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("158.38.0.10", 51234),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def drive(
    app: ASGIApp, count: int, headers: Callable[[int], list[tuple[bytes, bytes]]]
) -> float:
    """µs per request over `count` requests; checks every answer is a 200."""
    statuses: list[int] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    start = time.perf_counter()
    for i in range(count):
        await app(scope_for(headers(i)), receive, send)
    elapsed = time.perf_counter() - start
    if statuses != [200] * count:
        raise SystemExit(f"a benchmark variant answered {set(statuses)}, not 200: fix the setup")
    return elapsed / count * 1e6


def same_headers(_: int) -> list[tuple[bytes, bytes]]:
    return list(HEADERS)


def jwt_seen_before(_: int) -> list[tuple[bytes, bytes]]:
    """The same Feide JWT every time (verified once in the warm-up), and no gatekeeper."""
    return list(JWT_HEADERS)


_tokens = itertools.count()


def new_token_each_time(_: int) -> list[tuple[bytes, bytes]]:
    """Defeats the caller cache: every request of the whole run carries another
    X-Dataporten-Token, never one of an earlier round."""
    headers = list(HEADERS)
    token = f"5b1f3a2e-9c1d-4f0a-8e7b-{next(_tokens):012d}".encode()
    headers[-2] = (b"x-dataporten-token", token)
    return headers


VARIANTS: dict[str, tuple[Callable[[], ASGIApp], Callable[[int], list[tuple[bytes, bytes]]]]] = {
    "starlette_bare": (lambda: starlette_app(None), same_headers),
    "starlette_noop": (lambda: starlette_app("noop"), same_headers),
    "starlette_lookup": (lambda: starlette_app("lookup"), same_headers),
    "starlette_gatekeeper": (lambda: starlette_app("gatekeeper"), same_headers),
    "starlette_gatekeeper_uncached": (lambda: starlette_app("gatekeeper"), new_token_each_time),
    "starlette_gatekeeper_networks": (lambda: starlette_app("gatekeeper_networks"), same_headers),
    "starlette_authmw": (lambda: starlette_app("authmw"), same_headers),
    "starlette_jwt_seen_before": (lambda: starlette_app("gatekeeper_and_jwt"), jwt_seen_before),
    "fastapi_bare": (lambda: fastapi_app("bare"), same_headers),
    "fastapi_trivial_dependency": (lambda: fastapi_app("trivial_dependency"), same_headers),
    "fastapi_require_system": (lambda: fastapi_app("require_system"), same_headers),
    "fastapi_httpbasic": (lambda: fastapi_app("httpbasic"), same_headers),
}


async def in_process(rounds: int, per_round: int) -> dict[str, list[float]]:
    """µs per request of every variant in every round; the order rotates from round to round."""
    apps = {name: (make(), headers) for name, (make, headers) in VARIANTS.items()}
    for app, headers in apps.values():  # warm up: build middleware stacks, fill caches
        await drive(app, 200, headers)
    samples: dict[str, list[float]] = {name: [] for name in apps}
    names = list(apps)
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            app, headers = apps[name]
            samples[name].append(await drive(app, per_round, headers))
    return samples


# --- the HTTP-level figure -----------------------------------------------------------------

SERVER = """
import os, sys, uvicorn
if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > 1:
    os.sched_setaffinity(0, {{1}})  # the server on its own core, the load on another
sys.path.insert(0, {root!r})
from benchmarks.overhead import starlette_app
uvicorn.run(starlette_app({middleware!r}), host="127.0.0.1", port={port}, log_level="error",
            access_log=False)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def load(port: int, seconds: float, connections: int) -> int:
    """Keep-alive GETs from `connections` clients for `seconds`; returns the 200s counted."""
    head = (
        "\r\n".join(
            ["GET / HTTP/1.1", "host: 127.0.0.1"]
            + [f"{k.decode()}: {v.decode()}" for k, v in HEADERS[1:]]
        ).encode()
        + b"\r\n\r\n"
    )
    deadline = time.monotonic() + seconds
    done = 0

    async def client() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < deadline:
                writer.write(head)
                status = await reader.readuntil(b"\r\n\r\n")
                length = int(status.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                if not status.startswith(b"HTTP/1.1 200"):
                    raise SystemExit(f"the HTTP benchmark got {status[:20]!r}")
                done += 1
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    return done


def start_server(middleware: str | None) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    code = SERVER.format(root=str(Path(__file__).parent.parent), middleware=middleware, port=port)
    server = subprocess.Popen([sys.executable, "-c", code])  # noqa: S603
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, port
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise SystemExit("the benchmark server did not start") from None
            time.sleep(0.05)


def http_level(seconds: float, slices: int) -> dict[str, float]:
    """Both servers run at once; the load alternates between them in short slices, so drift
    on the machine (other tenants, clock changes) hits both alike. Loopback only."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    servers = [start_server(None), start_server("gatekeeper")]
    try:
        for _, port in servers:
            asyncio.run(load(port, 0.5, 8))  # warm up
        done = [0, 0]
        for _ in range(slices):
            for i, (_, port) in enumerate(servers):
                done[i] += asyncio.run(load(port, seconds / slices, 8))
    finally:
        for server, _ in servers:
            server.terminate()
            server.wait(timeout=10)
    return {"http_bare_rps": done[0] / seconds, "http_gatekeeper_rps": done[1] / seconds}


# --- report --------------------------------------------------------------------------------

TARGETS = {
    "gatekeeper_vs_noop": ("<=", 1.10),
    "gatekeeper_vs_lookup": ("<=", 1.10),
    "networks_vs_gatekeeper": ("<=", 1.2),
    "gatekeeper_vs_authmw": ("<=", 0.85),
    "require_system_vs_fastapi_bare": ("<=", 1.10),
    "require_system_vs_httpbasic": ("<=", 1.0),
    "http_rps_ratio": (">=", 0.95),
    "jwt_seen_before_vs_gatekeeper": ("<=", 1.2),
}


RATIOS = {
    "gatekeeper_vs_bare": ("starlette_gatekeeper", "starlette_bare"),
    "gatekeeper_vs_noop": ("starlette_gatekeeper", "starlette_noop"),
    "gatekeeper_vs_authmw": ("starlette_gatekeeper", "starlette_authmw"),
    "lookup_vs_noop": ("starlette_lookup", "starlette_noop"),
    "gatekeeper_vs_lookup": ("starlette_gatekeeper", "starlette_lookup"),
    "gatekeeper_uncached_vs_noop": ("starlette_gatekeeper_uncached", "starlette_noop"),
    "networks_vs_gatekeeper": ("starlette_gatekeeper_networks", "starlette_gatekeeper"),
    "require_system_vs_fastapi_bare": ("fastapi_require_system", "fastapi_bare"),
    "require_system_vs_trivial_dependency": (
        "fastapi_require_system",
        "fastapi_trivial_dependency",
    ),
    "trivial_dependency_vs_fastapi_bare": ("fastapi_trivial_dependency", "fastapi_bare"),
    "require_system_vs_httpbasic": ("fastapi_require_system", "fastapi_httpbasic"),
    "jwt_seen_before_vs_gatekeeper": ("starlette_jwt_seen_before", "starlette_gatekeeper"),
}


def ratios(samples: dict[str, list[float]], http: dict[str, float]) -> dict[str, float]:
    """Each ratio is the median of the per-round ratios: two variants measured moments apart
    share the machine's drift, which a ratio of two overall medians would not cancel."""
    result = {
        name: statistics.median(a / b for a, b in zip(samples[top], samples[bottom], strict=True))
        for name, (top, bottom) in RATIOS.items()
    }
    result["http_rps_ratio"] = http["http_gatekeeper_rps"] / http["http_bare_rps"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="finish in under 30 s")
    args = parser.parse_args()
    # quick: about 8 s in process and 4 s of load per server; full: about a minute in all.
    rounds, per_round, seconds, slices = (15, 500, 4.0, 8) if args.quick else (61, 1000, 10.0, 20)
    started = time.monotonic()
    samples = asyncio.run(in_process(rounds, per_round))
    http = http_level(seconds, slices)
    result: dict[str, Any] = {
        "jwt": jwt_rows(),
        "us_per_request": {k: round(statistics.median(v), 2) for k, v in samples.items()},
        "http": {k: round(v, 1) for k, v in http.items()},
        "ratios": {k: round(v, 3) for k, v in ratios(samples, http).items()},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "seconds": round(time.monotonic() - started, 1),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{'variant':34} {'µs/request':>11}")
    for name, value in result["us_per_request"].items():
        print(f"{name:34} {value:11.2f}")
    print(
        f"\nHTTP (uvicorn, 8 keep-alive clients): bare {http['http_bare_rps']:.0f} req/s, "
        f"with GatekeeperMiddleware {http['http_gatekeeper_rps']:.0f} req/s\n"
    )
    print(f"{'ratio':38} {'value':>7}  target")
    for name, value in result["ratios"].items():
        target = TARGETS.get(name)
        mark = ""
        if target:
            op, bound = target
            met = value <= bound if op == "<=" else value >= bound
            mark = f"{op} {bound:.2f}  {'met' if met else 'NOT met'}"
        print(f"{name:38} {value:7.3f}  {mark}")
    print()
    print(jwt_report(result["jwt"]))  # FeideJWT's rows (benchmarks/jwt_overhead.py)
    print(f"\n{result['machine']}; {result['seconds']} s")


if __name__ == "__main__":
    main()
