"""What FeideJWT costs, next to PyJWT called directly and to what users would write by hand.

    python benchmarks/jwt_overhead.py          # a readable table
    python benchmarks/jwt_overhead.py --json   # one JSON object

Rows (each a median µs per token over interleaved rounds; ratios are medians of per-round ratios):
- `feidejwt_first_sight`: `FeideJWT.verify` with its cache off: every token's signature checked.
- `pyjwt_decode`: `jwt.decode(token, key, algorithms=["RS256"], audience=, issuer=)` with the key
  in hand: the JOSE library's own verify, the floor.
- `pyjwkclient_decode`: the usual hand-written code: `PyJWKClient.get_signing_key_from_jwt` and
  `jwt.decode` on every request (PyJWKClient's own key cache on, as by default).
- `feidejwt_seen_before`: `FeideJWT.cached` for a token verified before.
A burst of 100 concurrent tokens signed with a newly rotated key reports its key fetches.
"""

import argparse
import asyncio
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent.parent))

import jwt

from gatekeeper_auth.fake_feide import FakeFeideIssuer
from gatekeeper_auth.jwt import FeideJWT

TARGETS = {"first_sight_vs_pyjwt_decode": ("<=", 1.2), "burst_key_fetches": ("==", 1)}


def timed(function: Callable[[bytes], Any], tokens: list[bytes]) -> float:
    start = time.perf_counter()
    for token in tokens:
        function(token)
    return (time.perf_counter() - start) / len(tokens) * 1e6


def jwks_server(body: bytes) -> ThreadingHTTPServer:
    """The key set on 127.0.0.1 for PyJWKClient (it fetches over HTTP with urllib)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def measure(rounds: int, per_round: int) -> dict[str, list[float]]:
    issuer = FakeFeideIssuer()
    feide = FeideJWT(audience=issuer.audience, transport=issuer.transport(), max_cached=0)
    cached = FeideJWT(audience=issuer.audience, transport=issuer.transport())
    loop = asyncio.new_event_loop()
    loop.run_until_complete(feide.keys.load())
    loop.run_until_complete(cached.keys.load())
    key = issuer.private_key.public_key()
    tokens = [issuer.mint(scope=f"read s{i}").encode() for i in range(per_round)]
    for token in tokens:
        loop.run_until_complete(cached.verify(token))
    server = jwks_server(json.dumps(issuer.jwks()).encode())
    client = jwt.PyJWKClient(f"http://127.0.0.1:{server.server_address[1]}/openid/jwks")

    def first_sight(token: bytes) -> None:
        coroutine = feide.verify(token)
        try:  # no I/O once the keys are loaded: drive the coroutine without a loop's overhead
            coroutine.send(None)
        except StopIteration:
            return
        raise AssertionError("FeideJWT.verify waited on I/O with the keys loaded")

    def pyjwt_decode(token: bytes) -> None:
        jwt.decode(token, key, algorithms=["RS256"], audience=issuer.audience, issuer=issuer.issuer)

    def pyjwkclient_decode(token: bytes) -> None:
        signing = client.get_signing_key_from_jwt(token)
        jwt.decode(
            token,
            signing.key,
            algorithms=["RS256"],
            audience=issuer.audience,
            issuer=issuer.issuer,
        )

    variants: dict[str, Callable[[bytes], Any]] = {
        "feidejwt_first_sight": first_sight,
        "pyjwt_decode": pyjwt_decode,
        "pyjwkclient_decode": pyjwkclient_decode,
        "feidejwt_seen_before": cached.cached,
    }
    for function in variants.values():
        timed(function, tokens[:20])  # warm up
    samples: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(timed(variants[name], tokens))
    loop.close()
    server.shutdown()
    server.server_close()
    return samples


def burst_key_fetches(size: int = 100) -> int:
    """Key fetches caused by `size` concurrent first-sight tokens signed with a new key."""
    issuer = FakeFeideIssuer()
    feide = FeideJWT(audience=issuer.audience, transport=issuer.transport())

    async def run() -> int:
        await feide.start()
        before = issuer.jwks_requests
        issuer.rotate()
        tokens = [issuer.mint(scope=f"s{i}").encode() for i in range(size)]
        identities = await asyncio.gather(*(feide.verify(t) for t in tokens))
        assert all(i.kind == "system" for i in identities)
        return issuer.jwks_requests - before

    return asyncio.run(run())


RATIOS = {
    "first_sight_vs_pyjwt_decode": ("feidejwt_first_sight", "pyjwt_decode"),
    "first_sight_vs_pyjwkclient_decode": ("feidejwt_first_sight", "pyjwkclient_decode"),
    "seen_before_vs_pyjwkclient_decode": ("feidejwt_seen_before", "pyjwkclient_decode"),
}


def jwt_rows(rounds: int = 21, per_round: int = 200) -> dict[str, Any]:
    samples = measure(rounds, per_round)
    ratios: dict[str, float] = {
        name: round(
            statistics.median(a / b for a, b in zip(samples[top], samples[bottom], strict=True)),
            3,
        )
        for name, (top, bottom) in RATIOS.items()
    }
    return {
        "us_per_token": {k: round(statistics.median(v), 2) for k, v in samples.items()},
        "ratios": ratios,
        "burst_key_fetches": burst_key_fetches(),
    }


def report(rows: dict[str, Any]) -> str:
    lines = [f"{'JWT variant':34} {'µs/token':>11}"]
    lines += [f"{name:34} {value:11.2f}" for name, value in rows["us_per_token"].items()]
    lines.append(f"\n{'JWT ratio':38} {'value':>7}  target")
    figures = {**rows["ratios"], "burst_key_fetches": rows["burst_key_fetches"]}
    for name, value in figures.items():
        mark = ""
        if name in TARGETS:
            op, bound = TARGETS[name]
            met = value <= bound if op == "<=" else value == bound
            mark = f"{op} {bound}  {'met' if met else 'NOT met'}"
        lines.append(f"{name:38} {value:7.3f}  {mark}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    rows = jwt_rows()
    print(json.dumps(rows, indent=2) if args.json else report(rows))


if __name__ == "__main__":
    main()
