"""The table of real header sets keeps the platform's rules (domain.md), row by row."""

import pytest

from tests.platform_headers import (
    BASIC,
    BEARER,
    PREFIX,
    SITUATIONS,
    Situation,
    comparable,
    with_empty_values,
)


def fields(situation: Situation) -> dict[str, str]:
    return {name.lower(): value for name, value in situation.headers}


@pytest.mark.parametrize("situation", SITUATIONS, ids=lambda s: s.name)
def test_each_row_follows_the_platforms_rules(situation: Situation) -> None:
    names = [name for name, _ in situation.headers]
    got = fields(situation)
    assert len(set(map(str.lower, names))) == len(names)  # nothing repeated
    assert all(value for _, value in situation.headers)  # the proxy drops empty values
    for name in names:  # platform spelling: prefix + lower-case field name
        assert name == "Authorization" or (
            name.startswith(PREFIX) and name[len(PREFIX) :] == name[len(PREFIX) :].lower()
        )
    assert got[(PREFIX + "gatekeeper").lower()] == "testapi"  # on every request
    p = PREFIX.lower()
    if situation.has_token:
        assert got["authorization"] in (BASIC, BEARER)
        assert p + "token" in got  # every token that reaches an API has a subtoken
    else:  # OPTIONS or a public API: no credentials, no identity
        assert got.get("authorization", "Bearer caller").startswith("Bearer caller")
        assert set(got) <= {"authorization", p + "gatekeeper"}
    assert (p + "userid" in got) == (situation.is_user and "userid" in situation.grants)
    for sid in got[p + "userid-sec"].split(",") if p + "userid-sec" in got else []:
        assert situation.is_user
        assert f"userid-{sid.partition(':')[0]}" in situation.grants
    if not situation.is_user:
        assert p + "acr" not in got


def test_the_empty_values_variant_only_adds_empty_values() -> None:
    row = SITUATIONS[0]
    variant = with_empty_values(row)
    added = set(variant.headers) - set(row.headers)
    assert sorted(added) == [
        ("X-Dataporten-acr", ""),
        ("X-Dataporten-scopes", ""),
        ("X-Dataporten-userid-sec", ""),
    ]
    anonymous = next(s for s in SITUATIONS if not s.has_token)
    assert with_empty_values(anonymous) == anonymous


def test_comparable_hides_only_the_subtokens_value() -> None:
    pairs = [(b"X-Dataporten-Token", b"abc"), ("host", "x"), ("Authorization", "Basic y")]
    assert comparable(pairs) == [
        ("authorization", "Basic y"),
        ("x-dataporten-token", "<subtoken>"),
    ]
