"""FeideAPI: whom it asks Feide about, with which token, what it keeps, and how Feide's failures
and refusals reach the caller. Feide is `FakeFeideAPI` (through an httpx2 transport, and once
over real HTTP on 127.0.0.1) or a handler that answers what a test needs."""

import asyncio
import base64
import logging
import math
from collections.abc import Awaitable, Callable
from types import MappingProxyType, SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

import httpx2
import pytest
from pydantic import SecretStr

from gatekeeper_auth import ConfigurationError, FeideAPI, GatekeeperSettings, Group, Identity
from gatekeeper_auth._platform import GROUPS_URL, TOKEN_URL, USERINFO_URL
from gatekeeper_auth.errors import Refusal
from gatekeeper_auth.fake_feide import DEFAULT_CLIENT, FakeFeideIssuer
from gatekeeper_auth.testing import (
    TEST_DATASOURCE_ID,
    TEST_DATASOURCE_SECRET,
    TEST_USER_ID,
    FakeFeideAPI,
    feide_group,
    system_identity,
    user_identity,
)
from tests.helpers import STATUS, python_without
from tests.servers import serve

ALICE_GROUPS = (
    feide_group("fc:org:uio.no", "employee", "member", primary_affiliation="employee"),
    feide_group("fc:adhoc:9d1e7f3a-0c55-4d7e-8f0a-3b5c2e1d4f6a", basic="admin"),
)
ALICE_INFO = {"sub": TEST_USER_ID, "name": "Alice Admin", "eduPersonAffiliation": ["employee"]}
#: Feide's groups answer as its documentation shows one (docs.feide.no, Groups API).
FEIDE_GROUPS_JSON = [
    {
        "id": "fc:org:uio.no",
        "type": "fc:org",
        "displayName": "Universitetet i Oslo",
        "membership": {
            "basic": "member",
            "affiliation": ["employee", "member"],
            "primaryAffiliation": "employee",
        },
        "parent": "fc:org:uio.no",
    },
    {
        "id": "fc:adhoc:9d1e7f3a-0c55-4d7e-8f0a-3b5c2e1d4f6a",
        "type": "voot:ad-hoc",
        "displayName": "Prosjekt",
        "membership": {"basic": "owner"},
    },
]


@pytest.fixture
def fake() -> FakeFeideAPI:
    return FakeFeideAPI()


@pytest.fixture
def issuer() -> FakeFeideIssuer:
    return FakeFeideIssuer()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The time the caches see; the test moves it by hand, so nothing waits."""
    now = [1000.0]
    monkeypatch.setattr("gatekeeper_auth._memo.time", SimpleNamespace(monotonic=lambda: now[0]))
    return now


def feide_for(fake: FakeFeideAPI, **options: Any) -> FeideAPI:
    """A FeideAPI of the data source `fake` knows, asking `fake` without a network."""
    options = {"client_id": TEST_DATASOURCE_ID, "client_secret": TEST_DATASOURCE_SECRET, **options}
    return FeideAPI(transport=fake.transport(), **options)


def jwt_caller(issuer: FakeFeideIssuer, user_id: str | None = TEST_USER_ID) -> Identity:
    """A caller verified on the JWT path: the token is the JWT itself."""
    jwt = issuer.mint(user_id=user_id)
    kind = "user" if user_id else "system"
    return Identity(
        kind=kind, client_id=DEFAULT_CLIENT, user_id=user_id, token=SecretStr(jwt), source="jwt"
    )


def refusal_of(call: Awaitable[Any]) -> Refusal:
    try:
        answer = asyncio.run(call)  # type: ignore[arg-type]
    except Refusal as refused:
        return refused
    raise AssertionError(f"Feide was asked and answered: {answer!r}")


def assert_refusal(refusal: Refusal, code: str) -> None:
    assert (refusal.status_code, refusal.code) == (STATUS[code], code)
    assert refusal.detail == {"code": code, "message": refusal.message}
    assert refusal.message


class Recorder:
    """An httpx2 transport that records each request and answers with `answer(request)`."""

    def __init__(self, answer: Callable[[httpx2.Request], httpx2.Response]) -> None:
        self.requests: list[httpx2.Request] = []
        self.answer = answer

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return self.answer(request)

    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self)


# --- whom Feide is asked about, and with which token ------------------------------------------


def test_the_gatekeeper_path_asks_with_the_subtoken_and_exchanges_nothing() -> None:
    recorder = Recorder(lambda request: httpx2.Response(200, json=FEIDE_GROUPS_JSON))
    feide = FeideAPI(transport=recorder.transport())
    caller = user_identity(token="subtoken-of-alice")

    groups = asyncio.run(feide.groups(caller))

    [request] = recorder.requests
    assert (request.method, str(request.url)) == ("GET", GROUPS_URL)
    assert request.headers["authorization"] == "Bearer subtoken-of-alice"
    assert groups == (
        Group(
            id="fc:org:uio.no",
            type="fc:org",
            display_name="Universitetet i Oslo",
            membership=MappingProxyType(
                {
                    "basic": "member",
                    "affiliation": ("employee", "member"),
                    "primaryAffiliation": "employee",
                }
            ),
            affiliations=("employee", "member"),
            primary_affiliation="employee",
        ),
        Group(
            id="fc:adhoc:9d1e7f3a-0c55-4d7e-8f0a-3b5c2e1d4f6a",
            type="voot:ad-hoc",
            display_name="Prosjekt",
            membership=MappingProxyType({"basic": "owner"}),
        ),
    )


def test_groups_and_userinfo_are_read_only(fake: FakeFeideAPI) -> None:
    subtoken = fake.add_user(TEST_USER_ID, groups=ALICE_GROUPS, userinfo=ALICE_INFO)
    feide = FeideAPI(transport=fake.transport())
    caller = user_identity(token=subtoken)

    groups = asyncio.run(feide.groups(caller))
    info = asyncio.run(feide.userinfo(caller))

    assert groups == ALICE_GROUPS
    assert dict(info) == {**ALICE_INFO, "eduPersonAffiliation": ("employee",)}
    with pytest.raises(TypeError):
        info["name"] = "Mallory"  # type: ignore[index]
    with pytest.raises(TypeError):
        groups[0].membership["basic"] = "owner"  # type: ignore[index]
    with pytest.raises(AttributeError):
        groups[0].id = "fc:org:other.no"  # type: ignore[misc]
    assert hash(groups[0]) == hash(ALICE_GROUPS[0])


def test_the_jwt_path_exchanges_the_jwt_once_in_feides_form(
    fake: FakeFeideAPI, issuer: FakeFeideIssuer
) -> None:
    fake.add_user(TEST_USER_ID, groups=ALICE_GROUPS, userinfo=ALICE_INFO)
    feide = feide_for(fake)
    caller = jwt_caller(issuer)

    async def both() -> tuple[Any, Any]:
        return await feide.groups(caller), await feide.userinfo(caller)

    groups, info = asyncio.run(both())

    assert groups == ALICE_GROUPS
    assert info["name"] == "Alice Admin"
    basic = base64.b64encode(f"{TEST_DATASOURCE_ID}:{TEST_DATASOURCE_SECRET}".encode()).decode()
    assert fake.exchanges == [
        (
            f"Basic {basic}",
            {
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "subject_token": caller.token.get_secret_value(),  # type: ignore[union-attr]
                "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
                "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "audience": "https://auth.dataporten.no",
                "scope": "",
            },
        )
    ]
    assert fake.requests == {"/oauth/token": 1, "/groups/me/groups": 1, "/userinfo/v1/userinfo": 1}


def test_the_jwt_itself_is_never_sent_to_the_groups_api(issuer: FakeFeideIssuer) -> None:
    def answer(request: httpx2.Request) -> httpx2.Response:
        if str(request.url) == TOKEN_URL:
            return httpx2.Response(
                200, json={"access_token": "feide-api-token", "token_type": "Bearer"}
            )
        return httpx2.Response(200, json=[])

    recorder = Recorder(answer)
    feide = FeideAPI(client_id="ds", client_secret="secret", transport=recorder.transport())
    caller = jwt_caller(issuer)

    assert asyncio.run(feide.groups(caller)) == ()

    exchange, ask = recorder.requests
    assert (exchange.method, str(exchange.url)) == ("POST", TOKEN_URL)
    form = dict(parse_qsl(exchange.read().decode(), keep_blank_values=True))
    assert form["subject_token"] == caller.token.get_secret_value()  # type: ignore[union-attr]
    assert (ask.method, str(ask.url)) == ("GET", GROUPS_URL)
    assert ask.headers["authorization"] == "Bearer feide-api-token"


def test_a_jwt_caller_without_client_credentials_is_a_configuration_error(
    fake: FakeFeideAPI, issuer: FakeFeideIssuer
) -> None:
    feide = FeideAPI(transport=fake.transport())
    with pytest.raises(ConfigurationError, match="GATEKEEPER_FEIDE_CLIENT_ID") as raised:
        asyncio.run(feide.groups(jwt_caller(issuer)))
    assert "client_secret=" in str(raised.value)
    assert sum(fake.requests.values()) == 0


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["gatekeeper", "jwt"])
@pytest.mark.parametrize("ask", ["groups", "userinfo"])
def test_a_system_caller_is_refused_without_asking_feide(
    fake: FakeFeideAPI, issuer: FakeFeideIssuer, path: str, ask: str
) -> None:
    feide = feide_for(fake)
    caller = system_identity() if path == "gatekeeper" else jwt_caller(issuer, user_id=None)
    refusal = refusal_of(getattr(feide, ask)(caller))
    assert_refusal(refusal, "system_token_not_allowed")
    assert sum(fake.requests.values()) == 0


def test_an_unknown_caller_is_asked_about_and_feide_decides(fake: FakeFeideAPI) -> None:
    """Without the userid grant a caller is `unknown`: Feide answers for the user its token is
    bound to, and refuses a token bound to no user, so nothing a system token holds gets in."""
    feide = FeideAPI(transport=fake.transport())
    users = Identity(kind="unknown", client_id="c", token=SecretStr(fake.add_user("u1")))
    systems = Identity(kind="unknown", client_id="c", token=SecretStr(fake.system_token()))

    assert asyncio.run(feide.userinfo(users)) == {"sub": "u1"}
    assert_refusal(refusal_of(feide.groups(systems)), "feide_access_denied")


def test_a_caller_without_a_subtoken_is_refused(fake: FakeFeideAPI) -> None:
    feide = FeideAPI(transport=fake.transport())
    assert_refusal(refusal_of(feide.groups(user_identity(token=None))), "feide_access_denied")
    assert sum(fake.requests.values()) == 0


def status(code: int, body: Any = None) -> Callable[[httpx2.Request], httpx2.Response]:
    return lambda request: httpx2.Response(code, json=body if body is not None else {})


def raises(error: type[Exception]) -> Callable[[httpx2.Request], httpx2.Response]:
    def answer(request: httpx2.Request) -> httpx2.Response:
        raise error("feide did not answer", request=request)  # type: ignore[call-arg]

    return answer


#: What Feide may do wrong, and the reason the log gives (the type of error, or our own phrase;
#: never another library's message, which could quote what Feide sent).
FEIDE_FAILURES = {
    "500": (status(500, []), "HTTP 500"),  # a body that would parse: the status decides
    "502": (status(502, []), "HTTP 502"),
    "503": (status(503, []), "HTTP 503"),
    "404": (status(404, []), "HTTP 404"),
    "429": (status(429, []), "HTTP 429"),
    "redirect": (
        lambda request: httpx2.Response(302, headers={"location": "https://evil.test/"}, json=[]),
        "HTTP 302",
    ),
    "connect error": (raises(httpx2.ConnectError), "ConnectError"),
    "read timeout": (raises(httpx2.ReadTimeout), "ReadTimeout"),
    "not JSON": (
        lambda request: httpx2.Response(200, content=b"<html>maintenance</html>"),
        "JSONDecodeError",
    ),
    "groups is an object": (status(200, {"groups": []}), "the groups answer is not a list"),
    "a group without id": (
        status(200, [{"type": "fc:org", "displayName": "x"}]),
        "a group's id, type or displayName is not a string",
    ),
    "a group that is a string": (status(200, ["fc:org:uio.no"]), "a group is not an object"),
    "affiliation not strings": (
        status(200, [{"id": "fc:org:x", "type": "fc:org", "membership": {"affiliation": [1]}}]),
        "a group's affiliation is not a list of strings",
    ),
    "membership a list": (
        status(200, [{"id": "fc:org:x", "type": "fc:org", "membership": []}]),
        "a group's membership is not an object",
    ),
    "too large": (
        lambda request: httpx2.Response(200, content=b"[" + b" " * 1024 * 1024 + b"]"),
        "an answer larger than 1048576 bytes",
    ),
}


@pytest.mark.parametrize(("answer", "reason"), FEIDE_FAILURES.values(), ids=FEIDE_FAILURES.keys())
def test_feide_failing_is_503_feide_unavailable(
    answer: Callable[[httpx2.Request], httpx2.Response],
    reason: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Recorder(answer)
    feide = FeideAPI(transport=recorder.transport())
    refusal = refusal_of(feide.groups(user_identity(token="subtoken")))
    assert_refusal(refusal, "feide_unavailable")
    assert len(recorder.requests) == 1  # a redirect is not followed: the token stays here
    assert [r.getMessage() for r in caplog.records if r.name == "gatekeeper_auth"] == [
        f"gatekeeper_auth: Feide's groups API failed: {reason}"
    ]


@pytest.mark.parametrize("body", [[], "Alice", None], ids=["list", "string", "null"])
def test_userinfo_that_is_not_an_object_is_503(body: Any) -> None:
    answer = lambda request: httpx2.Response(200, json=body)  # noqa: E731
    feide = FeideAPI(transport=Recorder(answer).transport())
    refusal = refusal_of(feide.userinfo(user_identity(token="subtoken")))
    assert_refusal(refusal, "feide_unavailable")


def test_feide_not_answering_within_the_timeout_is_503() -> None:
    async def never(request: httpx2.Request) -> httpx2.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    feide = FeideAPI(transport=httpx2.MockTransport(never), timeout=0.01)
    bounded = asyncio.wait_for(feide.groups(user_identity(token="t")), 10)  # fails, never hangs
    assert_refusal(refusal_of(bounded), "feide_unavailable")


@pytest.mark.parametrize("code", [401, 403])
def test_feide_refusing_the_token_is_403_feide_access_denied(code: int) -> None:
    feide = FeideAPI(transport=Recorder(status(code)).transport())
    refusal = refusal_of(feide.userinfo(user_identity(token="subtoken")))
    assert_refusal(refusal, "feide_access_denied")


TOKEN_ENDPOINT_ANSWERS = {
    "invalid_client": (status(401, {"error": "invalid_client"}), "feide_unavailable"),
    "invalid_grant": (status(400, {"error": "invalid_grant"}), "feide_access_denied"),
    "forbidden": (status(403, {"error": "access_denied"}), "feide_access_denied"),
    "500": (status(500, {"error": "server_error"}), "feide_unavailable"),
    "redirect": (
        lambda request: httpx2.Response(302, headers={"location": "https://evil.test/"}),
        "feide_unavailable",
    ),
    "no token": (status(200, {"token_type": "Bearer"}), "feide_unavailable"),
    "not JSON": (lambda request: httpx2.Response(200, content=b"ok"), "feide_unavailable"),
    "connect error": (raises(httpx2.ConnectError), "feide_unavailable"),
}


@pytest.mark.parametrize(
    ("answer", "code"), TOKEN_ENDPOINT_ANSWERS.values(), ids=TOKEN_ENDPOINT_ANSWERS.keys()
)
def test_the_token_endpoint_refusing_or_failing(
    issuer: FakeFeideIssuer, answer: Callable[[httpx2.Request], httpx2.Response], code: str
) -> None:
    recorder = Recorder(answer)
    feide = FeideAPI(client_id="ds", client_secret="secret", transport=recorder.transport())
    assert_refusal(refusal_of(feide.groups(jwt_caller(issuer))), code)
    assert [str(r.url) for r in recorder.requests] == [TOKEN_URL]  # never the groups API


def test_our_own_client_refused_is_503_and_the_log_says_which_settings_to_check(
    issuer: FakeFeideIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    answer = status(401, {"error": "invalid_client"})
    feide = FeideAPI(client_id="ds", client_secret="wrong", transport=Recorder(answer).transport())
    assert_refusal(refusal_of(feide.groups(jwt_caller(issuer))), "feide_unavailable")
    assert "check client_id= and client_secret= (GATEKEEPER_FEIDE_CLIENT_ID" in caplog.text
    assert "wrong" not in caplog.text


def test_a_failure_is_not_kept(fake: FakeFeideAPI) -> None:
    feide = FeideAPI(transport=fake.transport())
    caller = user_identity(token=fake.add_user(TEST_USER_ID, groups=ALICE_GROUPS))
    fake.status = 503
    assert_refusal(refusal_of(feide.groups(caller)), "feide_unavailable")
    fake.status = None
    assert asyncio.run(feide.groups(caller)) == ALICE_GROUPS


# --- what is kept, and for how long -------------------------------------------------------------


def test_answers_are_kept_per_caller_token_for_cache_seconds(
    fake: FakeFeideAPI, clock: list[float]
) -> None:
    feide = FeideAPI(transport=fake.transport(), cache_seconds=300)
    alice = user_identity(token=fake.add_user(TEST_USER_ID, groups=ALICE_GROUPS))
    bob = user_identity(token=fake.add_user("bob"))

    def asked() -> int:
        return fake.requests["/groups/me/groups"]

    asyncio.run(feide.groups(alice))
    asyncio.run(feide.groups(alice))
    assert asked() == 1
    asyncio.run(feide.groups(bob))  # another token: its own answer
    assert asked() == 2
    clock[0] += 299
    assert asyncio.run(feide.groups(alice)) == ALICE_GROUPS
    assert asked() == 2
    clock[0] += 2
    assert asyncio.run(feide.groups(alice)) == ALICE_GROUPS
    assert asked() == 3


def test_cache_seconds_zero_keeps_nothing(fake: FakeFeideAPI) -> None:
    feide = FeideAPI(transport=fake.transport(), cache_seconds=0)
    alice = user_identity(token=fake.add_user(TEST_USER_ID))
    for _ in range(3):
        asyncio.run(feide.userinfo(alice))
    assert fake.requests["/userinfo/v1/userinfo"] == 3


def test_the_cache_is_bounded_and_drops_the_oldest_first(fake: FakeFeideAPI) -> None:
    feide = FeideAPI(transport=fake.transport(), max_cached=2)
    first, second, third = (user_identity(token=fake.add_user(f"u{n}")) for n in range(3))

    def asked_after(caller: Identity) -> int:
        asyncio.run(feide.groups(caller))
        return fake.requests["/groups/me/groups"]

    assert [asked_after(c) for c in (first, second, third)] == [1, 2, 3]
    assert asked_after(third) == 3
    assert asked_after(second) == 3  # kept: `first`, the oldest, made room for `third`
    assert asked_after(first) == 4


def test_the_exchanged_token_is_kept_until_it_expires(
    fake: FakeFeideAPI, issuer: FakeFeideIssuer, clock: list[float]
) -> None:
    fake.add_user(TEST_USER_ID)
    fake.expires_in = 600
    feide = feide_for(fake, cache_seconds=0)  # answers not kept: each call asks Feide
    caller = jwt_caller(issuer)

    asyncio.run(feide.groups(caller))
    asyncio.run(feide.userinfo(caller))
    clock[0] += 580
    asyncio.run(feide.groups(caller))
    assert len(fake.exchanges) == 1
    clock[0] += 15  # 595 s: within the margin before it expires
    asyncio.run(feide.groups(caller))
    assert len(fake.exchanges) == 2
    assert fake.requests["/groups/me/groups"] == 3


async def gathered(calls: list[Awaitable[Any]], gate: asyncio.Event) -> list[Any]:
    """Start every call, let them all reach Feide's door, then let Feide answer."""
    running = asyncio.gather(*calls)
    for _ in range(10):
        await asyncio.sleep(0)
    gate.set()
    return await running


def gated(fake: FakeFeideAPI, gate: asyncio.Event) -> httpx2.MockTransport:
    """`fake`, answering only once `gate` is set."""
    inner = fake.transport()

    async def handle(request: httpx2.Request) -> httpx2.Response:
        await gate.wait()
        return await inner.handle_async_request(request)

    return httpx2.MockTransport(handle)


def test_concurrent_callers_of_one_token_cause_one_fetch(fake: FakeFeideAPI) -> None:
    alice = user_identity(token=fake.add_user(TEST_USER_ID, groups=ALICE_GROUPS))

    async def scenario() -> list[Any]:
        gate = asyncio.Event()
        feide = FeideAPI(transport=gated(fake, gate))
        return await gathered([feide.groups(alice) for _ in range(20)], gate)

    assert asyncio.run(scenario()) == [ALICE_GROUPS] * 20
    assert fake.requests["/groups/me/groups"] == 1


def test_concurrent_calls_for_one_jwt_share_one_exchange(
    fake: FakeFeideAPI, issuer: FakeFeideIssuer
) -> None:
    fake.add_user(TEST_USER_ID, groups=ALICE_GROUPS, userinfo=ALICE_INFO)
    caller = jwt_caller(issuer)

    async def scenario() -> list[Any]:
        gate = asyncio.Event()
        feide = FeideAPI(
            client_id=TEST_DATASOURCE_ID,
            client_secret=TEST_DATASOURCE_SECRET,
            transport=gated(fake, gate),
        )
        calls = [feide.groups(caller) for _ in range(5)] + [
            feide.userinfo(caller) for _ in range(5)
        ]
        return await gathered(calls, gate)

    answers = asyncio.run(scenario())
    assert answers[:5] == [ALICE_GROUPS] * 5
    assert [a["name"] for a in answers[5:]] == ["Alice Admin"] * 5
    assert fake.requests == {"/oauth/token": 1, "/groups/me/groups": 1, "/userinfo/v1/userinfo": 1}


def test_a_caller_that_goes_away_does_not_cancel_the_others_fetch(fake: FakeFeideAPI) -> None:
    alice = user_identity(token=fake.add_user(TEST_USER_ID, groups=ALICE_GROUPS))

    async def scenario() -> Any:
        gate = asyncio.Event()
        feide = FeideAPI(transport=gated(fake, gate))
        impatient = asyncio.ensure_future(feide.groups(alice))
        patient = asyncio.ensure_future(feide.groups(alice))
        await asyncio.sleep(0)
        impatient.cancel()
        gate.set()
        return await patient

    assert asyncio.run(scenario()) == ALICE_GROUPS
    assert fake.requests["/groups/me/groups"] == 1


# --- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"client_id": "ds"}, "client_secret="),
        ({"client_secret": "secret"}, "client_id="),
        ({"client_id": "", "client_secret": "secret"}, "client_id="),
        ({"groups_url": "http://groups.example.org/groups/me/groups"}, "groups_url="),
        ({"userinfo_url": "https://user:pw@api.dataporten.no/x"}, "userinfo_url="),
        ({"token_url": "ftp://auth.dataporten.no/oauth/token"}, "token_url="),
        ({"cache_seconds": -1}, "cache_seconds="),
        ({"cache_seconds": math.inf}, "cache_seconds= must be a finite number of seconds between"),
        ({"cache_seconds": math.nan}, "cache_seconds= must be a finite number of seconds between"),
        ({"cache_seconds": 3600.5}, "Feide keeps access for as long as Feide's answer is kept"),
        ({"timeout": 0}, "timeout="),
        ({"timeout": math.nan}, "timeout="),
        ({"timeout": math.inf}, "timeout="),
        ({"max_cached": -1}, "max_cached="),
    ],
)
def test_wrong_options_are_configuration_errors(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        FeideAPI(**options)


def test_plain_http_is_allowed_on_loopback_only() -> None:
    local = FeideAPI(groups_url="http://127.0.0.1:9000/groups/me/groups")
    assert local.groups_url == "http://127.0.0.1:9000/groups/me/groups"


def test_settings_build_the_feide_api_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, fake: FakeFeideAPI, issuer: FakeFeideIssuer
) -> None:
    monkeypatch.setenv("GATEKEEPER_FEIDE_CLIENT_ID", TEST_DATASOURCE_ID)
    monkeypatch.setenv("GATEKEEPER_FEIDE_CLIENT_SECRET", TEST_DATASOURCE_SECRET)
    monkeypatch.setenv("GATEKEEPER_FEIDE_GROUPS_URL", "http://127.0.0.1:1/groups/me/groups")
    monkeypatch.setenv("GATEKEEPER_FEIDE_USERINFO_URL", "http://127.0.0.1:1/userinfo/v1/userinfo")
    monkeypatch.setenv("GATEKEEPER_FEIDE_TOKEN_URL", "http://127.0.0.1:1/oauth/token")
    monkeypatch.setenv("GATEKEEPER_FEIDE_CACHE_SECONDS", "60")
    settings = GatekeeperSettings(_env_file=None)  # type: ignore[call-arg]
    feide = settings.feide_api(transport=fake.transport())

    assert (feide.client_id, feide.cache_seconds) == (TEST_DATASOURCE_ID, 60.0)
    assert feide.groups_url == "http://127.0.0.1:1/groups/me/groups"
    assert feide.userinfo_url == "http://127.0.0.1:1/userinfo/v1/userinfo"
    assert feide.token_url == "http://127.0.0.1:1/oauth/token"
    fake.add_user(TEST_USER_ID, groups=ALICE_GROUPS)
    assert asyncio.run(feide.groups(jwt_caller(issuer))) == ALICE_GROUPS  # the secret works
    assert TEST_DATASOURCE_SECRET not in repr(settings)


def test_the_settings_default_to_feides_urls() -> None:
    feide = GatekeeperSettings(_env_file=None).feide_api()  # type: ignore[call-arg]
    assert (feide.token_url, feide.groups_url, feide.userinfo_url) == (
        TOKEN_URL,
        GROUPS_URL,
        USERINFO_URL,
    )
    assert (feide.client_id, feide.cache_seconds) == (None, 300.0)


def test_jwt_callers_without_the_data_sources_client_are_refused_at_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Else the first JWT caller of a group guard would be a 500."""
    monkeypatch.setenv("GATEKEEPER_JWT_AUDIENCE", "https://n.feide.no/datasources/x")
    settings = GatekeeperSettings(_env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match="set GATEKEEPER_FEIDE_CLIENT_ID and GATEKEEPER_F"):
        settings.feide_api()
    monkeypatch.setenv("GATEKEEPER_FEIDE_CLIENT_ID", "ds")
    monkeypatch.setenv("GATEKEEPER_FEIDE_CLIENT_SECRET", "s3cret")
    assert GatekeeperSettings(_env_file=None).feide_api().client_id == "ds"  # type: ignore[call-arg]


def test_a_padded_client_secret_in_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GATEKEEPER_FEIDE_CLIENT_SECRET", " s3cr3t-value")
    with pytest.raises(ValueError, match="feide_client_secret") as raised:
        GatekeeperSettings(_env_file=None)  # type: ignore[call-arg]
    assert "s3cr3t" not in str(raised.value)


def test_without_httpx2_building_names_the_extra() -> None:
    result = python_without(
        {"httpx2"},
        "import gatekeeper_auth\n"
        "try:\n"
        "    gatekeeper_auth.FeideAPI()\n"
        "except ImportError as error:\n"
        "    print(error)\n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "FeideAPI needs httpx2, which is not installed: pip install 'gatekeeper-auth[client]'"
    )


# --- no token in any log line, repr or error ----------------------------------------------------


def test_no_token_or_secret_reaches_a_log_line_a_repr_or_an_error(
    fake: FakeFeideAPI, issuer: FakeFeideIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    subtoken = fake.add_user(TEST_USER_ID, groups=ALICE_GROUPS)
    jwt_user = jwt_caller(issuer)
    feide = feide_for(fake)
    said: list[str] = [repr(feide)]

    def attempt(call: Awaitable[Any]) -> None:
        try:
            said.append(repr(asyncio.run(call)))  # type: ignore[arg-type]
        except Refusal as refused:
            said.extend([str(refused), repr(refused), repr(refused.detail)])

    attempt(feide.groups(user_identity(token=subtoken)))
    attempt(feide.groups(jwt_user))
    attempt(feide.userinfo(user_identity(token="unknown-subtoken-0123")))
    fake.status = 503
    attempt(feide.userinfo(jwt_caller(issuer)))
    wrong = FeideAPI(client_id="ds", client_secret="wrong-secret-4567", transport=fake.transport())
    fake.status = None
    attempt(wrong.groups(jwt_caller(issuer)))
    said.append(repr(wrong))
    exchanged = [form["subject_token"] for _, form in fake.exchanges]
    issued = [token for token in fake._tokens if token != subtoken]

    text = caplog.text + "\n".join(said)
    assert "Feide's token endpoint failed" in caplog.text  # the failures were logged
    assert "Feide's userinfo refused" in caplog.text
    for secret in [
        subtoken,
        "unknown-subtoken-0123",
        TEST_DATASOURCE_SECRET,
        "wrong-secret-4567",
        *exchanged,
        *issued,
    ]:
        assert secret not in text
        for piece in secret.split("."):  # not a JWT's header, payload or signature either
            assert len(piece) < 12 or piece not in text


# --- over real HTTP -----------------------------------------------------------------------------


def test_both_paths_over_real_http(
    fake: FakeFeideAPI, issuer: FakeFeideIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    subtoken = fake.add_user(TEST_USER_ID, groups=ALICE_GROUPS, userinfo=ALICE_INFO)
    jwt_user = jwt_caller(issuer)
    with serve(fake.app) as url:
        feide = FeideAPI(
            client_id=TEST_DATASOURCE_ID,
            client_secret=TEST_DATASOURCE_SECRET,
            token_url=f"{url}/oauth/token",
            groups_url=f"{url}/groups/me/groups",
            userinfo_url=f"{url}/userinfo/v1/userinfo",
        )

        async def ask() -> list[Any]:
            return [
                await feide.groups(user_identity(token=subtoken)),
                await feide.userinfo(user_identity(token=subtoken)),
                await feide.groups(jwt_user),
                await feide.userinfo(jwt_user),
            ]

        answers = asyncio.run(ask())
        fake.status = 502
        refusal = refusal_of(feide.groups(user_identity(token=fake.add_user("bob"))))

    assert answers[0] == answers[2] == ALICE_GROUPS
    assert answers[1]["name"] == answers[3]["name"] == "Alice Admin"
    assert fake.requests == {"/oauth/token": 1, "/groups/me/groups": 3, "/userinfo/v1/userinfo": 2}
    assert_refusal(refusal, "feide_unavailable")
    jwt = jwt_user.token.get_secret_value()  # type: ignore[union-attr]
    for secret in [subtoken, jwt, *jwt.split("."), TEST_DATASOURCE_SECRET]:
        assert secret not in caplog.text
    assert "127.0.0.1" in caplog.text  # httpx2 did log its requests, without their tokens
