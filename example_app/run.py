"""`make run`: the example service on 127.0.0.1:8001 behind the development gatekeeper on :8000.

Prints a walk-through of curl commands once both answer. Ctrl-C stops both.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from example_app.main import DEMO_PASSWORD

HERE = Path(__file__).parent
GATEKEEPER = "http://127.0.0.1:8000"
BACKEND = "http://127.0.0.1:8001"
SYSTEM_CLIENT = "3e1b5a8c-7d2f-4c6a-9b1e-5f8d2c7a4e90:reports-secret"
USER_CLIENT = "b7d16c0e-4a2f-4e8b-9c3d-1f5e7a9b2c4d:web-app-secret"
TOKEN_OF = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])'"


def walkthrough() -> str:
    """The commands `make run` prints; tests/test_e2e.py runs them."""
    return f"""\
# 1. A system token (client credentials) for the client reports-service:
TOKEN=$(curl -s -u {SYSTEM_CLIENT} -d grant_type=client_credentials \\
  {GATEKEEPER}/oauth/token | {TOKEN_OF})

# 2. A system route with it: 200
curl -s -H "Authorization: Bearer $TOKEN" {GATEKEEPER}/system/ping; echo

# 3. A user token for alice (the password grant stands in for a browser login; dev only):
USER_TOKEN=$(curl -s -u {USER_CLIENT} -d grant_type=password \\
  -d username=alice -d password=alice-password {GATEKEEPER}/oauth/token | {TOKEN_OF})

# 4. The same system route with the user token: 403 user_token_not_allowed
curl -s -H "Authorization: Bearer $USER_TOKEN" {GATEKEEPER}/system/ping; echo

# 5. A user route with the user token: 200
curl -s -H "Authorization: Bearer $USER_TOKEN" {GATEKEEPER}/user/me; echo

# 6. The backend directly, with forged gatekeeper headers: 401
curl -s -u dataporten:a-guess -H "X-Dataporten-Clientid: {SYSTEM_CLIENT.split(":")[0]}" \\
  -H "X-Dataporten-Scopes: reports" -H "X-Dataporten-Gatekeeper: exampleapi" \\
  {BACKEND}/system/ping; echo
"""


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{url} exited with code {process.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    sys.exit(f"{url} did not answer within {seconds:.0f} s")


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def main() -> None:
    for port in (8000, 8001):
        if port_in_use(port):
            sys.exit(f"127.0.0.1:{port} is in use: stop what runs there, then make run again")
    # A SIGTERM (not only Ctrl-C) must stop both servers too, through the `finally` below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    env = {
        **os.environ,
        "GATEKEEPER_PASSWORD": os.environ.get("GATEKEEPER_PASSWORD", DEMO_PASSWORD),
    }
    python = sys.executable
    processes = [
        subprocess.Popen(  # noqa: S603
            [
                python,
                "-m",
                "uvicorn",
                "example_app.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                "8001",
            ],
            env=env,
        ),
        subprocess.Popen(  # noqa: S603
            [
                python,
                "-m",
                "gatekeeper_auth.devgate",
                "--config",
                str(HERE / "devgate.toml"),
                "--host",
                "127.0.0.1",
                "--port",
                "8000",
            ],
        ),
    ]
    try:
        wait_until_up(BACKEND + "/", processes[0])
        wait_until_up(GATEKEEPER + "/", processes[1])
        print(f"\nexample_app on {BACKEND}, the development gatekeeper on {GATEKEEPER}.")
        print("Paste these into another shell (Ctrl-C here stops both):\n")
        print(walkthrough(), flush=True)
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
