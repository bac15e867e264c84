"""The key set's life (key_max_age, Cache-Control, single flight, failed refetches) on a clock
moved by hand; the deadline of a whole fetch against a raw server on 127.0.0.1 that trickles; and
what the log shows of jwks_url. The rest of the key set's tests: tests/test_jwt_keys.py."""

import asyncio
import logging
import socket
import time
from typing import Any

import httpx2
import pytest

import gatekeeper_auth.jwks as jwks_module
from gatekeeper_auth.errors import Refusal
from gatekeeper_auth.fake_feide import FakeFeideIssuer
from gatekeeper_auth.jwt import FeideJWT
from tests.helpers import assert_refused
from tests.jwt_support import feide_at, protected, verifier
from tests.servers import free_port, raw_server, read_head, serve

# --- the key set's life: key_max_age, Cache-Control, single flight (on a clock moved by hand) ---


class Clock:
    """The key set's monotonic clock, moved by hand: no test waits for a key set to age."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(jwks_module, "time", clock)  # the key set's clock only, not asyncio's
    return clock


def fetches_at(clock: Clock, issuer: FakeFeideIssuer, feide: FeideJWT, *ages: float) -> list[int]:
    """The key fetches so far after a new token at each age of the key set (seconds)."""

    async def run() -> list[int]:
        await feide.start()
        start, counts = clock.now, []
        for age in ages:
            clock.now = start + age
            await feide.authenticate(issuer.mint(scope=f"at-{age}").encode())
            counts.append(feide.keys.fetches)
        return counts

    return asyncio.run(run())


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_withdrawn_key_stops_verifying_new_tokens_once_the_key_set_is_key_max_age_old(
    clock: Clock,
) -> None:
    issuer = FakeFeideIssuer()
    feide = verifier(issuer)  # key_max_age 900 s by default
    compromised = issuer.kid

    async def scenario() -> dict[str, Any]:
        await feide.start()
        verified_before = issuer.mint(scope="before").encode()
        caller = await feide.authenticate(verified_before)
        issuer.withdraw(compromised)  # Feide drops the key; its thief still signs with it
        clock.now += 899
        stolen = await feide.authenticate(issuer.mint(kid=compromised, scope="s1").encode())
        fetches_within = feide.keys.fetches
        clock.now += 2
        try:
            await feide.authenticate(issuer.mint(kid=compromised, scope="s2").encode())
        except Refusal as refused:
            after = refused
        new_key = await feide.authenticate(issuer.mint(scope="new").encode())
        return {
            "within": (stolen.identity is not None, fetches_within),
            "after": (after.status_code, after.code, after.message),
            "fetches": feide.keys.fetches,
            "new key": new_key.identity is not None,
            "verified before": feide.seen(verified_before) is caller,
        }

    assert asyncio.run(scenario()) == {
        "within": (True, 1),  # still in its 900 s: no fetch
        "after": (401, "token_invalid", "the token's key id (kid) is not in the issuer's key set"),
        "fetches": 2,  # one refetch, before trusting the old set
        "new key": True,
        "verified before": True,  # verified before: cached until its exp (300 s at most)
    }


@pytest.mark.parametrize(
    ("cache_control", "key_max_age", "life"),
    [
        (None, 900, 900),
        ("public, max-age=60", 900, 60),
        ("max-age=60, must-revalidate", 900, 60),
        ("Max-Age=3600", 900, 900),
        ("max-age=3600", 1800, 1800),
        ("no-cache", 900, 900),
    ],
)
def test_the_key_set_serves_key_max_age_or_its_cache_control_max_age_if_sooner(
    clock: Clock, cache_control: str | None, key_max_age: float, life: float
) -> None:
    issuer = FakeFeideIssuer()
    issuer.cache_control = cache_control
    feide = verifier(issuer, key_max_age=key_max_age)

    assert fetches_at(clock, issuer, feide, life - 1, life + 1) == [1, 2]


def test_a_key_set_that_says_max_age_0_is_fetched_at_most_once_per_refetch_interval(
    clock: Clock,
) -> None:
    issuer = FakeFeideIssuer()
    issuer.cache_control = "max-age=0"
    feide = verifier(issuer, refetch_interval=5)

    assert fetches_at(clock, issuer, feide, 0, 1, 4.9, 5.1, 6, 9.9) == [1, 1, 1, 2, 2, 2]


def test_a_burst_of_tokens_after_the_key_set_went_stale_costs_one_fetch(clock: Clock) -> None:
    issuer = FakeFeideIssuer()
    feide = verifier(issuer)
    tokens = [issuer.mint(scope=f"s{i}").encode() for i in range(50)]

    async def burst() -> list[Any]:
        await feide.start()
        clock.now += 901
        return await asyncio.gather(*(feide.authenticate(t) for t in tokens))

    callers = asyncio.run(burst())
    assert [c.identity.kind for c in callers] == ["system"] * 50
    assert (feide.keys.fetches, issuer.jwks_requests) == (2, 2)


def test_a_failed_refetch_keeps_the_old_keys_and_logs_one_warning(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    issuer = FakeFeideIssuer()
    feide = verifier(issuer)  # refetch_interval 5 s
    tokens = [issuer.mint(scope=f"s{i}").encode() for i in range(21)]

    async def scenario() -> list[int]:
        await feide.start()
        clock.now += 901
        issuer.down = True
        callers = await asyncio.gather(*(feide.authenticate(t) for t in tokens[:20]))
        assert all(c.identity is not None for c in callers)  # the old keys still serve
        counts = [feide.keys.fetches]
        clock.now += 4  # within refetch_interval: no other try
        await feide.authenticate(tokens[20])
        counts.append(feide.keys.fetches)
        issuer.down = False
        clock.now += 2
        await feide.authenticate(issuer.mint(scope="later").encode())
        counts.append(feide.keys.fetches)
        return counts

    assert asyncio.run(scenario()) == [2, 2, 3]
    assert warnings_of(caplog) == [
        "gatekeeper_auth could not load JWT keys from https://auth.dataporten.no/openid/jwks: "
        "ValueError: HTTP 503 (keeping the cached keys)"
    ]


# --- fetch_timeout bounds the whole fetch --------------------------------------------------


def trickle(conn: socket.socket) -> None:
    """A key endpoint that answers its head at once, then one byte every 0.2 s: every read
    gets data in time, the body never ends. Stops when the client leaves, or after 20 s."""
    read_head(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
    conn.sendall(b"Content-Length: 100000\r\n\r\n{")
    for _ in range(100):
        time.sleep(0.2)
        try:
            conn.sendall(b" ")
        except OSError:
            return


def test_a_trickling_key_endpoint_does_not_hold_start_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    issuer = FakeFeideIssuer()
    with raw_server(trickle) as base:
        feide = feide_at(issuer, base, fetch_timeout=0.5)
        # `serve` gives up if the lifespan start-up has not finished within 10 s.
        with serve(protected(feide)) as api:
            assert feide._retry is not None  # the background retry took over
            response = httpx2.get(api, headers={"Authorization": f"Bearer {issuer.mint()}"})
    assert_refused(response, "keys_unavailable")
    assert feide.keys.loaded is False
    assert warnings_of(caplog)[:2] == [
        f"gatekeeper_auth could not load JWT keys from {base}/openid/jwks: no complete answer "
        "within fetch_timeout (0.5 s) (no keys yet)",
        f"gatekeeper_auth starts without JWT keys: retrying {base}/openid/jwks in the background",
    ]


def test_requests_waiting_on_a_trickling_fetch_get_503_when_it_times_out() -> None:
    issuer = FakeFeideIssuer()
    tokens = [issuer.mint(scope=f"s{i}").encode() for i in range(5)]
    with raw_server(trickle) as base:
        feide = feide_at(issuer, base, fetch_timeout=0.5)

        async def waiting() -> list[Any]:
            burst = asyncio.gather(*(feide.authenticate(t) for t in tokens), return_exceptions=True)
            return await asyncio.wait_for(burst, 10)  # a bound for the test, not a timing

        outcomes = asyncio.run(waiting())
    assert [(r.status_code, r.code) for r in outcomes] == [(503, "keys_unavailable")] * 5
    assert feide.keys.fetches == 1


# --- the log shows jwks_url without its query ----------------------------------------------


def test_a_jwks_url_query_or_fragment_never_reaches_the_log_or_the_repr(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gatekeeper_auth")
    issuer = FakeFeideIssuer()
    secret = "Zq8sQy7"
    dead = f"http://127.0.0.1:{free_port()}/openid/jwks"
    with serve(issuer.app) as base:
        alive = f"{base}/openid/jwks"
        failing = FeideJWT(audience="a", jwks_url=f"{dead}?key={secret}#{secret}x")
        working = FeideJWT(audience="a", jwks_url=f"{alive}?key={secret}")

        async def scenario() -> None:
            for feide in (failing, working):
                await feide.start()
                await feide.stop()
            issuer.down = True
            await working.keys.load()

        asyncio.run(scenario())
    assert secret not in caplog.text
    assert secret not in repr(failing) + repr(working)
    lines = [r.getMessage() for r in caplog.records if "JWT key" in r.getMessage()]
    assert lines[0].startswith(f"gatekeeper_auth could not load JWT keys from {dead}: ConnectError")
    assert lines[1:] == [
        f"gatekeeper_auth starts without JWT keys: retrying {dead} in the background",
        f"gatekeeper_auth loaded 1 JWT key(s) from {alive}",
        f"gatekeeper_auth could not load JWT keys from {alive}: ValueError: HTTP 503 "
        "(keeping the cached keys)",
    ]


def test_the_refetch_limit_never_keeps_a_stale_key_set_serving(clock: Clock) -> None:
    """A refetch for a new kid pushes the next allowed fetch out by refetch_interval; once the
    set is older than key_max_age, that limit must not keep a withdrawn key verifying."""
    issuer = FakeFeideIssuer()
    issuer.cache_control = "max-age=1"  # the key set's own word: stale after 1 s
    feide = verifier(issuer, refetch_interval=5)
    old = issuer.kid

    async def scenario() -> tuple[int, str]:
        await feide.start()
        issuer.rotate()  # a new key: its first token refetches the set
        await feide.authenticate(issuer.mint().encode())
        issuer.withdraw(old)
        clock.now += 5.3  # stale since 1 s, and refetch_interval allows a fetch again
        try:
            await feide.authenticate(issuer.mint(kid=old).encode())
        except Refusal as refused:
            return refused.status_code, refused.code
        return 200, "let in"

    assert asyncio.run(scenario()) == (401, "token_invalid")


# --- what a key set answer may be: no redirect followed, no body over 256 KiB -------------------


def key_server(answer: httpx2.Response) -> tuple[FeideJWT, list[str]]:
    """A FeideJWT whose key URL answers `answer`, and the URLs it asked."""
    asked: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        asked.append(str(request.url))
        return answer

    feide = FeideJWT(audience="a", transport=httpx2.MockTransport(handler))
    return feide, asked


def test_a_key_set_that_redirects_is_not_followed(caplog: pytest.LogCaptureFixture) -> None:
    feide, asked = key_server(
        httpx2.Response(302, headers={"Location": "https://evil.example/jwks"})
    )
    assert asyncio.run(feide.keys.load()) is False
    assert asked == ["https://auth.dataporten.no/openid/jwks"]
    assert warnings_of(caplog) == [
        "gatekeeper_auth could not load JWT keys from https://auth.dataporten.no/openid/jwks: "
        "ValueError: HTTP 302 (no keys yet)"
    ]


def test_a_key_set_over_256_kib_is_refused_unread(caplog: pytest.LogCaptureFixture) -> None:
    issuer = FakeFeideIssuer()
    padded = {**issuer.jwks(), "padding": "x" * jwks_module.MAX_JWKS_BYTES}
    feide, _ = key_server(httpx2.Response(200, json=padded))
    assert asyncio.run(feide.keys.load()) is False
    assert not feide.keys.loaded
    assert warnings_of(caplog) == [
        "gatekeeper_auth could not load JWT keys from https://auth.dataporten.no/openid/jwks: "
        "TooLarge: an answer larger than 262144 bytes (no keys yet)"
    ]


def test_a_key_set_with_two_keys_under_one_kid_is_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    issuer, other = FakeFeideIssuer(), FakeFeideIssuer()
    twin = {**other.jwks()["keys"][0], "kid": issuer.kid}  # another key under issuer's kid
    feide, _ = key_server(httpx2.Response(200, json={"keys": [*issuer.jwks()["keys"], twin]}))
    assert asyncio.run(feide.keys.load()) is False
    assert warnings_of(caplog) == [
        "gatekeeper_auth could not load JWT keys from https://auth.dataporten.no/openid/jwks: "
        "ValueError: the JWKS holds two signing keys with the same kid (no keys yet)"
    ]


def test_a_token_without_kid_is_never_tried_against_one_of_several_keys() -> None:
    issuer, other = FakeFeideIssuer(), FakeFeideIssuer()
    keys = {"keys": [*issuer.jwks()["keys"], *other.jwks()["keys"]]}
    feide, _ = key_server(httpx2.Response(200, json=keys))
    feide = FeideJWT(audience=issuer.audience, transport=feide.keys.transport)
    with pytest.raises(Refusal) as refused:
        asyncio.run(feide.verify(issuer.mint(header={"kid": None}).encode()))
    assert refused.value.message == "the token's key id (kid) is not in the issuer's key set"
