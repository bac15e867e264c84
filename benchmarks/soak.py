"""Load and soak over real sockets: example_app behind the development gatekeeper.

Many concurrent clients, for a fixed time, mix system, user, forged and anonymous requests;
every answer is checked against what it must be. Traffic goes to 127.0.0.1 only, is bounded
in time and count, and stops by itself.

    python benchmarks/soak.py                      # 60 s, 32 clients (`make soak`)
    python benchmarks/soak.py --seconds 5 --json   # a short run, one JSON object
"""

import argparse
import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.overhead import free_port  # noqa: E402
from example_app.main import DEMO_PASSWORD  # noqa: E402
from gatekeeper_auth.devgate import DevGateConfig  # noqa: E402

CONFIG = DevGateConfig.load(ROOT / "example_app" / "devgate.toml")
SYSTEM = (CONFIG.clients[0].id, CONFIG.clients[0].secret.get_secret_value())
WEB = (CONFIG.clients[1].id, CONFIG.clients[1].secret.get_secret_value())
ALICE = CONFIG.users[0]


@dataclass
class Case:
    """One kind of request and the answer it must get."""

    name: str
    via_gatekeeper: bool
    path: str
    headers: dict[str, str]
    status: int
    code: str | None = None


@dataclass
class Tally:
    sent: int = 0
    wrong: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    server_errors: int = 0
    latencies: list[float] = field(default_factory=list)


def rss_kib(pid: int) -> int:
    """Resident memory of a process, from /proc (0 where there is no /proc)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{url} did not start") from None
            time.sleep(0.05)


def start_servers() -> tuple[list[subprocess.Popen[bytes]], str, str]:
    backend_port, gatekeeper_port = free_port(), free_port()
    env = {**os.environ, "GATEKEEPER_PASSWORD": DEMO_PASSWORD}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    backend = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "uvicorn", "example_app.main:app", "--host", "127.0.0.1",
         "--port", str(backend_port), "--log-level", "error", "--no-access-log"],
        cwd=ROOT, env=env, **quiet,
    )  # fmt: skip
    backend_url = f"http://127.0.0.1:{backend_port}"
    gatekeeper = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "gatekeeper_auth.devgate", "--config",
         str(ROOT / "example_app" / "devgate.toml"), "--upstream", backend_url,
         "--host", "127.0.0.1", "--port", str(gatekeeper_port)],
        cwd=ROOT, **quiet,
    )  # fmt: skip
    gatekeeper_url = f"http://127.0.0.1:{gatekeeper_port}"
    wait_until_up(backend_url + "/", backend)
    wait_until_up(gatekeeper_url + "/", gatekeeper)
    return [backend, gatekeeper], backend_url, gatekeeper_url


def cases(gatekeeper: str) -> list[Case]:
    def token(auth: tuple[str, str], **form: str) -> str:
        response = httpx.post(f"{gatekeeper}/oauth/token", data=form, auth=auth)
        value: str = response.json()["access_token"]
        return value

    system = {"Authorization": "Bearer " + token(SYSTEM, grant_type="client_credentials")}
    user = {
        "Authorization": "Bearer "
        + token(
            WEB,
            grant_type="password",
            username=ALICE.username,
            password=ALICE.password.get_secret_value(),
        )
    }
    forged = {
        "X-Dataporten-Clientid": SYSTEM[0],
        "X-Dataporten-Scopes": "read,reports",
        "X-Dataporten-Gatekeeper": CONFIG.api,
        "X-Dataporten-Acr": "",
    }
    wrong_basic = {"Authorization": "Basic " + base64.b64encode(b"dataporten:guess").decode()}
    return [
        Case("system token, system route", True, "/system/ping", system, 200),
        Case("system token, sub-scope route", True, "/reports", system, 200),
        Case("user token, system route", True, "/system/ping", user, 403, "user_token_not_allowed"),
        Case("user token, user route", True, "/user/me", user, 200),
        Case("system token, user route", True, "/user/me", system, 403, "system_token_not_allowed"),
        Case(
            "system token, forged user id",
            True,
            "/system/ping",
            {**system, "X-Dataporten-Userid": ALICE.user_id},
            200,
        ),
        Case("no token", True, "/system/ping", {}, 401),
        Case("forged token", True, "/system/ping", {"Authorization": "Bearer forged"}, 401),
        Case(
            "direct, forged headers",
            False,
            "/system/ping",
            {**forged, **wrong_basic},
            401,
            "gatekeeper_credentials_invalid",
        ),
        Case("direct, anonymous", False, "/system/ping", forged, 401, "authentication_required"),
    ]


async def drive(
    backend: str, gatekeeper: str, mix: list[Case], seconds: float, clients: int, limit: int
) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients * 2, max_keepalive_connections=clients * 2)

    async def client(offset: int, http: httpx.AsyncClient) -> None:
        i = offset
        while time.monotonic() < deadline and tally.sent < limit:
            case = mix[i % len(mix)]
            i += 1
            url = (gatekeeper if case.via_gatekeeper else backend) + case.path
            tally.sent += 1
            started = time.perf_counter()
            try:
                response = await http.get(url, headers=case.headers)
            except httpx.HTTPError as error:
                tally.errors[type(error).__name__] += 1
                continue
            tally.latencies.append(time.perf_counter() - started)
            if response.status_code >= 500:
                tally.server_errors += 1
            code = response.json()["detail"].get("code") if case.code else None
            if response.status_code != case.status or code != case.code:
                tally.wrong[f"{case.name}: got {response.status_code} {code}"] += 1

    async with httpx.AsyncClient(limits=limits, timeout=10) as http:
        await asyncio.gather(*(client(n, http) for n in range(clients)))
    return tally


def run(seconds: float, clients: int, limit: int = 2_000_000) -> dict[str, Any]:
    processes, backend, gatekeeper = start_servers()
    try:
        mix = cases(gatekeeper)
        asyncio.run(drive(backend, gatekeeper, mix, min(2.0, seconds / 5), clients, limit))
        rss_start = [rss_kib(p.pid) for p in processes]
        started = time.monotonic()
        tally = asyncio.run(drive(backend, gatekeeper, mix, seconds, clients, limit))
        elapsed = time.monotonic() - started
        rss_end = [rss_kib(p.pid) for p in processes]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)
    latencies = sorted(tally.latencies) or [0.0]
    return {
        "seconds": round(elapsed, 1),
        "clients": clients,
        "requests": tally.sent,
        "requests_per_second": round(tally.sent / elapsed, 1),
        "wrong_answers": sum(tally.wrong.values()),
        "wrong_by_case": dict(tally.wrong),
        "errors": sum(tally.errors.values()),
        "errors_by_kind": dict(tally.errors),
        "server_errors_5xx": tally.server_errors,
        "latency_ms": {
            "p50": round(statistics.median(latencies) * 1000, 2),
            "p99": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        },
        "rss_kib": {
            "backend": {"start": rss_start[0], "end": rss_end[0]},
            "gatekeeper": {"start": rss_start[1], "end": rss_end[1]},
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.seconds, args.clients)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:22} {value}")
    failed = result["wrong_answers"] or result["errors"] or result["server_errors_5xx"]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
