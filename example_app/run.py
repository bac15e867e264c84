"""`make run`: the example service on 127.0.0.1:8001 behind the development gatekeeper on :8000.

The dev gatekeeper is a local Feide too, and the service also takes its JWTs for the demo data
source, called directly; it serves Feide's groups API and userinfo for the demo users
(GROUPS_URL, USERINFO_URL). Prints a walk-through of curl commands once both answer. Ctrl-C
stops both.
`python -m example_app.run --without-userid` runs the same pair as an API without the `userid`
grant, on both paths: the dev gatekeeper sends no user id, the demo data source's JWTs carry the
client id as `sub`, and the service runs with `GATEKEEPER_USERID_GRANT=false` and
`GATEKEEPER_JWT_USERID_GRANT=false`, so its system routes are closed.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from example_app.main import DEMO_PASSWORD
from gatekeeper_auth.devgate.config import DevGateConfig

HERE = Path(__file__).parent
GATEKEEPER = "http://127.0.0.1:8000"
BACKEND = "http://127.0.0.1:8001"
#: The local Feide's groups API and extended userinfo, on the dev gatekeeper's address.
GROUPS_URL = f"{GATEKEEPER}/groups/me/groups"
USERINFO_URL = f"{GATEKEEPER}/userinfo/v1/userinfo"
#: The demo data source of example_app/devgate.toml: the audience of the JWTs the service takes.
AUDIENCE = DevGateConfig.load(HERE / "devgate.toml").datasources[0].audience
SYSTEM_CLIENT = "3e1b5a8c-7d2f-4c6a-9b1e-5f8d2c7a4e90:reports-secret"
USER_CLIENT = "b7d16c0e-4a2f-4e8b-9c3d-1f5e7a9b2c4d:web-app-secret"
TOKEN_OF = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])'"


def exchange(client: str, subject: str) -> str:
    """The curl command that exchanges the access token in `$subject` for a JWT (RFC 8693)."""
    return f"""curl -s -u {client} -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange \\
  -d subject_token=${subject} -d subject_token_type=urn:ietf:params:oauth:token-type:access_token \\
  -d audience={AUDIENCE} -d scope=read \\
  {GATEKEEPER}/oauth/token | {TOKEN_OF}"""


def jwt_environment(*, without_userid: bool = False) -> dict[str, str]:
    """What makes the service take the local Feide's JWTs for the demo data source. Its
    `userid_grant` matches the data source's grant in devgate.toml (`grants = ["userid"]`),
    which `--without-userid` takes away (`--grants` of the dev gatekeeper)."""
    return {
        "GATEKEEPER_JWT_AUDIENCE": AUDIENCE,
        "GATEKEEPER_JWT_ISSUER": GATEKEEPER,
        "GATEKEEPER_JWT_JWKS_URL": f"{GATEKEEPER}/openid/jwks",
        "GATEKEEPER_JWT_USERID_GRANT": "false" if without_userid else "true",
    }


def feide_environment() -> dict[str, str]:
    """What points the service's FeideAPI at the local Feide: its groups API and userinfo, and
    its token endpoint, where the demo data source's own client exchanges the JWTs it gets."""
    config = DevGateConfig.load(HERE / "devgate.toml")
    own = config.datasources[0].audience.rsplit("/", 1)[1]  # a data source's client is its id
    datasource = next(client for client in config.clients if client.id == own)
    return {
        "GATEKEEPER_FEIDE_GROUPS_URL": GROUPS_URL,
        "GATEKEEPER_FEIDE_USERINFO_URL": USERINFO_URL,
        "GATEKEEPER_FEIDE_TOKEN_URL": f"{GATEKEEPER}/oauth/token",
        "GATEKEEPER_FEIDE_CLIENT_ID": datasource.id,
        "GATEKEEPER_FEIDE_CLIENT_SECRET": datasource.secret.get_secret_value(),
    }


def walkthrough(*, without_userid: bool = False) -> str:
    """The commands `make run` prints; tests/test_e2e.py runs them."""
    if without_userid:
        return walkthrough_without_userid()
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

# 7. The local Feide: exchange the system token for a JWT for the demo data source (RFC 8693)
JWT=$({exchange(SYSTEM_CLIENT, "TOKEN")})

# 8. The service DIRECTLY, no gatekeeper in the path, with the JWT on a system route: 200
curl -s -H "Authorization: Bearer $JWT" {BACKEND}/system/ping; echo

# 9. Alice's token exchanged (by web-app, which holds it), same route: 403 user_token_not_allowed
USER_JWT=$({exchange(USER_CLIENT, "USER_TOKEN")})
curl -s -H "Authorization: Bearer $USER_JWT" {BACKEND}/system/ping; echo

# 10. A route for employees of Example University, which asks Feide's groups API with the
#     caller's own token. Alice is one: 200
curl -s -H "Authorization: Bearer $USER_TOKEN" {GATEKEEPER}/staff/reports; echo

# 11. Bob is a student there: 403 group_missing
BOB_TOKEN=$(curl -s -u {USER_CLIENT} -d grant_type=password \\
  -d username=bob -d password=bob-password {GATEKEEPER}/oauth/token | {TOKEN_OF})
curl -s -H "Authorization: Bearer $BOB_TOKEN" {GATEKEEPER}/staff/reports; echo

# 12. A system token: 403 system_token_not_allowed (Feide is not asked)
curl -s -H "Authorization: Bearer $TOKEN" {GATEKEEPER}/staff/reports; echo

# 13. Alice's JWT, straight to the service: 200 (it exchanges the JWT for a Feide API token)
curl -s -H "Authorization: Bearer $USER_JWT" {BACKEND}/staff/reports; echo
"""


def walkthrough_without_userid() -> str:
    """The commands `python -m example_app.run --without-userid` prints."""
    return f"""\
# An API without the userid grant: the gatekeeper sends no X-Dataporten-userid, so nothing
# tells a user's request from a system request unless the user shows another sign (here
# alice's feide and nin ids, through the userid-feide and userid-nin grants). The service runs
# with GATEKEEPER_USERID_GRANT=false, so it lets nothing onto its system routes.

# 1. A system token, and a system route with it: 403 userid_grant_missing
TOKEN=$(curl -s -u {SYSTEM_CLIENT} -d grant_type=client_credentials \\
  {GATEKEEPER}/oauth/token | {TOKEN_OF})
curl -s -H "Authorization: Bearer $TOKEN" {GATEKEEPER}/system/ping; echo

# 2. A user token for alice, on a user route: 200, with "user_id": null
USER_TOKEN=$(curl -s -u {USER_CLIENT} -d grant_type=password \\
  -d username=alice -d password=alice-password {GATEKEEPER}/oauth/token | {TOKEN_OF})
curl -s -H "Authorization: Bearer $USER_TOKEN" {GATEKEEPER}/user/me; echo

# 3. The user token on the system route: 403 as well
curl -s -H "Authorization: Bearer $USER_TOKEN" {GATEKEEPER}/system/ping; echo

# The same on the JWT path: the demo data source has no userid grant now, so sub in a user's
# JWT is the client id, and the service runs with GATEKEEPER_JWT_USERID_GRANT=false.

# 4. A system JWT, straight to the service, on the system route: 403 userid_grant_missing
JWT=$({exchange(SYSTEM_CLIENT, "TOKEN")})
curl -s -H "Authorization: Bearer $JWT" {BACKEND}/system/ping; echo

# 5. Alice's JWT on a user route: 200, with "user_id": null (her name claim shows a user)
USER_JWT=$({exchange(USER_CLIENT, "USER_TOKEN")})
curl -s -H "Authorization: Bearer $USER_JWT" {BACKEND}/user/me; echo
"""


def backend_command(python: str) -> list[str]:
    """The example service under uvicorn with the h11 parser: httptools would turn a chunked
    request's trailer fields into headers (see the security page)."""
    return [
        python,
        "-m",
        "uvicorn",
        "example_app.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        "8001",
        "--http",
        "h11",
    ]


def gatekeeper_command(python: str, *, without_userid: bool = False) -> list[str]:
    """The development gatekeeper in front of it, with example_app/devgate.toml."""
    command = [
        python,
        "-m",
        "gatekeeper_auth.devgate",
        "--config",
        str(HERE / "devgate.toml"),
        "--host",
        "127.0.0.1",
        "--port",
        "8000",
    ]
    if without_userid:
        command += ["--grants", "userid-feide,userid-nin"]
    return command


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{url} exited with code {process.returncode}")
        try:
            httpx2.get(url, timeout=1.0)
            return
        except httpx2.TransportError:
            time.sleep(0.1)
    sys.exit(f"{url} did not answer within {seconds:.0f} s")


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def main(argv: list[str] | None = None) -> None:
    options = argparse.ArgumentParser(prog="python -m example_app.run", description=__doc__)
    options.add_argument(
        "--without-userid",
        action="store_true",
        help="run as an API without the userid grant (GATEKEEPER_USERID_GRANT=false)",
    )
    without_userid = options.parse_args(argv).without_userid
    for port in (8000, 8001):
        if port_in_use(port):
            sys.exit(f"127.0.0.1:{port} is in use: stop what runs there, then make run again")
    # A SIGTERM (not only Ctrl-C) must stop both servers too, through the `finally` below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    env = {
        **os.environ,
        "GATEKEEPER_PASSWORD": os.environ.get("GATEKEEPER_PASSWORD", DEMO_PASSWORD),
        **jwt_environment(without_userid=without_userid),
        **feide_environment(),
    }
    if without_userid:
        env["GATEKEEPER_USERID_GRANT"] = "false"
    python = sys.executable
    # The gatekeeper first: the service loads the local Feide's keys from it as it starts.
    processes = [
        subprocess.Popen(gatekeeper_command(python, without_userid=without_userid)),  # noqa: S603
    ]
    try:
        wait_until_up(GATEKEEPER + "/", processes[0])
        processes.append(subprocess.Popen(backend_command(python), env=env))  # noqa: S603
        wait_until_up(BACKEND + "/", processes[1])
        print(f"\nexample_app on {BACKEND}, the development gatekeeper on {GATEKEEPER}.")
        client_id, client_secret = SYSTEM_CLIENT.split(":")
        print(f"Swagger UI: {GATEKEEPER}/docs (Authorize: {client_id} / {client_secret})")
        print("Paste these into another shell (Ctrl-C here stops both):\n")
        print(walkthrough(without_userid=without_userid), flush=True)
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
