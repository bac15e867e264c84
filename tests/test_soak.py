"""A short soak: the real servers under concurrent mixed traffic, every answer checked."""

from benchmarks.soak import run


def test_short_soak_gives_no_wrong_answers_errors_or_5xx() -> None:
    result = run(seconds=3.0, clients=8, limit=5000)
    assert result["requests"] > 100
    assert result["wrong_answers"] == 0, result["wrong_by_case"]
    assert result["errors"] == 0, result["errors_by_kind"]
    assert result["server_errors_5xx"] == 0
    for process in ("backend", "gatekeeper"):
        rss = result["rss_kib"][process]
        if rss["start"]:  # /proc is there
            assert rss["end"] - rss["start"] < 20 * 1024, (process, rss)
