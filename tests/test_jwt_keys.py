"""The key set over real HTTP: a fake Feide under uvicorn on 127.0.0.1 that rotates keys and goes
down, and an app under uvicorn verifying with FeideJWT for the concurrency cases."""

import asyncio
import json
import logging
import secrets
from typing import Any

import httpx2
import pytest

from gatekeeper_auth.errors import Refusal
from gatekeeper_auth.fake_feide import FakeFeideIssuer
from gatekeeper_auth.jwks import parse_jwks
from gatekeeper_auth.jwt import FeideJWT
from tests.helpers import assert_refused
from tests.jwt_support import feide_at, protected
from tests.servers import free_port, serve


async def verify_all(feide: FeideJWT, tokens: list[str]) -> list[Any]:
    return await asyncio.gather(*(feide.verify(t.encode()) for t in tokens), return_exceptions=True)


def test_a_burst_of_100_requests_with_a_new_kid_costs_one_fetch() -> None:
    issuer = FakeFeideIssuer()
    with serve(issuer.app) as keys_url:
        feide = feide_at(issuer, keys_url)
        with serve(protected(feide)) as api:
            assert issuer.jwks_requests == 1  # the start-up load
            issuer.rotate()
            issuer.delay = 0.5  # every request of the burst arrives while the fetch runs
            tokens = [issuer.mint(scope=f"s{i}") for i in range(100)]

            async def burst() -> list[httpx2.Response]:
                async with httpx2.AsyncClient(base_url=api, timeout=20) as http:
                    return await asyncio.gather(
                        *(http.get("/", headers={"Authorization": f"Bearer {t}"}) for t in tokens)
                    )

            responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [200] * 100
    assert responses[0].json() == {"kind": "system", "client_id": issuer.claims()["client_id"]}
    assert issuer.jwks_requests == 2
    assert feide.keys.fetches == 2


def test_unknown_kids_refetch_at_most_once_per_interval() -> None:
    issuer = FakeFeideIssuer()
    with serve(issuer.app) as keys_url:
        feide = feide_at(issuer, keys_url, refetch_interval=1)

        async def scenario() -> list[int]:
            await feide.start()
            counts = [issuer.jwks_requests]
            for _ in range(20):  # random kids, one after another
                with pytest.raises(Refusal):
                    await feide.verify(issuer.mint(header={"kid": secrets.token_hex(4)}).encode())
            counts.append(issuer.jwks_requests)
            await asyncio.sleep(1.1)
            with pytest.raises(Refusal):
                await feide.verify(issuer.mint(header={"kid": "another"}).encode())
            counts.append(issuer.jwks_requests)
            return counts

        # 1 at start-up; the first unknown kid refetches at once (the first load does not
        # count), the next 19 do not; after the interval one more.
        assert asyncio.run(scenario()) == [1, 2, 3]


def test_a_failed_fetch_keeps_the_cached_keys(caplog: pytest.LogCaptureFixture) -> None:
    issuer = FakeFeideIssuer()
    with serve(issuer.app) as keys_url:
        feide = feide_at(issuer, keys_url)  # the first refetch after start-up is at once

        async def scenario() -> tuple[Any, Any]:
            await feide.start()
            issuer.down = True
            unknown = await verify_all(feide, [issuer.mint(header={"kid": "new"})])
            still = await feide.verify(issuer.mint().encode())
            return unknown[0], still

        unknown, still = asyncio.run(scenario())
    assert isinstance(unknown, Refusal)
    assert unknown.code == "token_invalid"
    assert still.kind == "system"
    assert issuer.jwks_requests == 2
    assert "HTTP 503 (keeping the cached keys)" in caplog.text


def test_rotation_the_new_key_verifies_and_a_withdrawn_one_stops() -> None:
    issuer = FakeFeideIssuer()
    with serve(issuer.app) as keys_url:
        feide = feide_at(issuer, keys_url)  # the first refetch after start-up is at once
        old_token = issuer.mint()

        async def scenario() -> tuple[Any, Any]:
            await feide.start()
            issuer.rotate(keep_old=False)
            new = await feide.verify(issuer.mint().encode())
            old = (await verify_all(feide, [old_token]))[0]
            return new, old

        new, old = asyncio.run(scenario())
    assert new.kind == "system"
    assert isinstance(old, Refusal)
    assert (old.code, old.message) == (
        "token_invalid",
        "the token's key id (kid) is not in the issuer's key set",
    )


def test_start_up_without_the_key_server_retries_and_answers_503_meanwhile(
    caplog: pytest.LogCaptureFixture,
) -> None:
    issuer = FakeFeideIssuer()
    port = free_port()
    feide = feide_at(issuer, f"http://127.0.0.1:{port}")
    token = issuer.mint()

    async def scenario() -> tuple[Refusal, str]:
        await feide.start()  # does not raise
        try:
            await feide.verify(token.encode())
        except Refusal as refused:
            meanwhile = refused
        with serve(issuer.app, port=port):
            assert feide._retry is not None
            await asyncio.wait_for(asyncio.shield(feide._retry), 10)
            identity = await feide.verify(token.encode())
        await feide.stop()
        return meanwhile, identity.kind

    meanwhile, kind = asyncio.run(scenario())
    assert (meanwhile.status_code, meanwhile.code) == (503, "keys_unavailable")
    assert (
        meanwhile.message == "the keys to verify the token could not be loaded; try again shortly"
    )
    assert kind == "system"
    assert "starts without JWT keys" in caplog.text


def test_503_over_http_when_no_key_was_ever_loaded() -> None:
    issuer = FakeFeideIssuer()
    issuer.down = True
    with serve(issuer.app) as keys_url:
        feide = feide_at(issuer, keys_url)
        with serve(protected(feide)) as api:
            response = httpx2.get(api, headers={"Authorization": f"Bearer {issuer.mint()}"})
            bad = httpx2.get(api, headers={"Authorization": "Bearer a.b."})
    assert_refused(response, "keys_unavailable")
    assert_refused(bad, "token_invalid")


def test_a_dead_key_server_is_not_hammered() -> None:
    issuer = FakeFeideIssuer()
    issuer.down = True
    with serve(issuer.app) as keys_url:
        feide = feide_at(issuer, keys_url, refetch_interval=60)

        async def scenario() -> None:
            for _ in range(10):
                with pytest.raises(Refusal, match="keys_unavailable"):
                    await feide.verify(issuer.mint().encode())

        asyncio.run(scenario())
    assert issuer.jwks_requests == 1


def test_the_same_verifier_works_on_several_event_loops() -> None:
    issuer = FakeFeideIssuer()
    with serve(issuer.app) as keys_url:
        feide = feide_at(issuer, keys_url)
        feide.keys.refetch_interval = 0  # each loop needs a fetch: a new kid every time
        for _ in range(3):
            issuer.rotate()
            identity = asyncio.run(feide.verify(issuer.mint().encode()))
            assert identity.kind == "system"
    assert issuer.jwks_requests == 3


@pytest.mark.parametrize(
    ("document", "usable"),
    [
        ({"keys": []}, 0),
        ({"nokeys": 1}, 0),
        ([1, 2], 0),
        ({"keys": [{"kty": "EC", "kid": "e"}]}, 0),
        ({"keys": [{"kty": "RSA", "kid": "x", "n": "AQAB", "e": "AQAB"}]}, 0),  # too short
    ],
)
def test_a_key_set_without_a_usable_rs256_key_is_refused(document: Any, usable: int) -> None:
    with pytest.raises(ValueError, match="JWKS"):
        parse_jwks(json.dumps(document).encode())


def test_keys_of_another_use_or_alg_are_skipped() -> None:
    issuer = FakeFeideIssuer()
    good = issuer.jwks()["keys"][0]
    document = {
        "keys": [
            {**good, "kid": "enc", "use": "enc"},
            {**good, "kid": "ps", "alg": "PS256"},
            good,
        ]
    }
    assert list(parse_jwks(json.dumps(document).encode())) == [good["kid"]]


def test_fetch_failures_are_logged_without_raising(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="gatekeeper_auth")
    feide = FeideJWT(audience="a", jwks_url=f"http://127.0.0.1:{free_port()}/jwks")
    assert asyncio.run(feide.keys.load()) is False
    assert "could not load JWT keys" in caplog.text
