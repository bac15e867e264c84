"""The benchmark keeps working: every variant answers 200 and every ratio is computed."""

import asyncio

from benchmarks.overhead import RATIOS, VARIANTS, in_process, ratios


def test_every_benchmark_variant_answers_and_every_ratio_is_computed() -> None:
    samples = asyncio.run(in_process(rounds=2, per_round=5))  # drive() fails on a non-200
    assert set(samples) == set(VARIANTS)
    assert all(len(values) == 2 and min(values) > 0 for values in samples.values())
    computed = ratios(samples, {"http_bare_rps": 100.0, "http_gatekeeper_rps": 99.0})
    assert set(computed) == {*RATIOS, "http_rps_ratio"}
    assert computed["http_rps_ratio"] == 0.99
