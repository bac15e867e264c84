"""What FeideJWT costs, next to PyJWT called directly and to what users would write by hand.

    python benchmarks/jwt_overhead.py          # a readable table
    python benchmarks/jwt_overhead.py --json   # one JSON object

Rows (each a median µs per token over interleaved rounds; ratios are medians of per-round ratios):
- `feidejwt_first_sight`: `FeideJWT.authenticate` with its cache off: every token's signature
  checked.
- `pyjwt_decode`: `jwt.decode(token, key, algorithms=["RS256"], audience=, issuer=)` with the key
  in hand: what verifying with the JOSE library costs, the reference of the first-sight target.
- `rsa_verify`: cryptography's RSA verify of the signature alone, with the bytes decoded
  beforehand: the floor of any RS256 verifier.
- `pyjwkclient_decode`: the usual hand-written code: `PyJWKClient.get_signing_key_from_jwt` and
  `jwt.decode` on every request (PyJWKClient's own key cache on, as by default).
- `feidejwt_seen_before`: `FeideJWT.seen` for a token verified before (the middleware's hot
  path; `make bench`'s `starlette_jwt_seen_before` measures it behind the middleware).
- `cache_insert`, `cache_insert_full`: remembering a newly verified caller in the cache of
  verified tokens, with room to spare and when full of live entries (the oldest goes).
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
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256

from gatekeeper_auth._jws import _decoded
from gatekeeper_auth.fake_feide import FakeFeideIssuer
from gatekeeper_auth.jwt import FeideJWT

TARGETS = {
    "first_sight_vs_pyjwt_decode": ("<=", 1.2),
    "cache_insert_full_vs_insert": ("<=", 2.0),
    "burst_key_fetches": ("==", 1),
}
#: Entries in the full cache of the `cache_insert_full` row: FeideJWT's default `max_cached`.
CACHE_SIZE = 10_000


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
        coroutine = feide.authenticate(token)
        try:  # no I/O once the keys are loaded: drive the coroutine without a loop's overhead
            coroutine.send(None)
        except StopIteration:
            return
        raise AssertionError("FeideJWT.authenticate waited on I/O with the keys loaded")

    def pyjwt_decode(token: bytes) -> None:
        jwt.decode(token, key, algorithms=["RS256"], audience=issuer.audience, issuer=issuer.issuer)

    padding, sha256 = PKCS1v15(), SHA256()
    signed = {token: _signed_parts(token) for token in tokens}

    def rsa_verify(token: bytes) -> None:
        signature, signing_input = signed[token]
        key.verify(signature, signing_input, padding, sha256)

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
        "rsa_verify": rsa_verify,
        "pyjwkclient_decode": pyjwkclient_decode,
        "feidejwt_seen_before": cached.seen,
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
    samples.update(cache_inserts(issuer, cached, rounds, per_round))
    return samples


def _signed_parts(token: bytes) -> tuple[bytes, bytes]:
    signing_input, _, signature = token.rpartition(b".")
    return _decoded(signature), signing_input


def cache_inserts(
    issuer: FakeFeideIssuer, source: FeideJWT, rounds: int, per_round: int
) -> dict[str, list[float]]:
    """µs per entry remembered, into a cache with room and into one full of live entries."""
    caller = next(iter(source._callers.values()))[0]
    far = time.time() + 3600
    samples: dict[str, list[float]] = {"cache_insert": [], "cache_insert_full": []}
    for round_ in range(rounds):  # new bytes in every round: each insert is a new entry
        fresh = [b"%d-%d" % (round_, i) for i in range(per_round)]
        roomy = FeideJWT(audience=issuer.audience, max_cached=CACHE_SIZE)
        full = FeideJWT(audience=issuer.audience, max_cached=CACHE_SIZE)
        for i in range(CACHE_SIZE):
            full._remember(b"live-%d" % i, caller, far)
        for name, feide in (("cache_insert", roomy), ("cache_insert_full", full)):
            remember = feide._remember
            start = time.perf_counter()
            for token in fresh:
                remember(token, caller, far)
            samples[name].append((time.perf_counter() - start) / per_round * 1e6)
        assert len(full._callers) == CACHE_SIZE
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
        callers = await asyncio.gather(*(feide.authenticate(t) for t in tokens))
        assert all(c.identity and c.identity.kind == "system" for c in callers)
        return issuer.jwks_requests - before

    return asyncio.run(run())


RATIOS = {
    "first_sight_vs_pyjwt_decode": ("feidejwt_first_sight", "pyjwt_decode"),
    "first_sight_vs_rsa_verify": ("feidejwt_first_sight", "rsa_verify"),
    "first_sight_vs_pyjwkclient_decode": ("feidejwt_first_sight", "pyjwkclient_decode"),
    "seen_before_vs_pyjwkclient_decode": ("feidejwt_seen_before", "pyjwkclient_decode"),
    "cache_insert_full_vs_insert": ("cache_insert_full", "cache_insert"),
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
