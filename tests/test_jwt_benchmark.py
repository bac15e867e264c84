"""The JWT benchmark keeps working: every row is measured and the burst costs one key fetch."""

from benchmarks.jwt_overhead import RATIOS, jwt_rows, report


def test_every_jwt_row_is_measured_and_the_burst_costs_one_fetch() -> None:
    rows = jwt_rows(rounds=2, per_round=5)
    assert set(rows["ratios"]) == set(RATIOS)
    assert set(rows["us_per_token"]) == {name for pair in RATIOS.values() for name in pair}
    assert all(value > 0 for value in rows["us_per_token"].values())
    assert rows["burst_key_fetches"] == 1
    assert "burst_key_fetches" in report(rows)
