"""Rate limits as students, integrators and attackers meet them: messages per student and
for everyone, logins per account and per network address, and every HTTP request per
address. Message and login limits run on both storages (memory and Redis), on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from decimal import Decimal

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from api.accounts.models import Role
from api.config import Settings
from api.conversations import service
from api.conversations.models import MessageStatus, Session
from api.errors import ErrorCode, PracticumError
from api.limits.rate import RateLimits, storage_for
from api.usage import budgets
from api.usage.models import BudgetPeriod, BudgetScope
from tests.factories.accounts import PASSWORD, actor, make_user
from tests.factories.conversations import end, say
from tests.limits.conftest import (
    QUESTION,
    REDIS_URL,
    an_address,
    graphql_from,
    student,
    students,
)

MESSAGE_LIMITS = {"rate_limit_messages_per_student": "10/minute"}
SEND = """
mutation($s: ID!, $c: String!) {
  sendMessage(sessionId: $s, content: $c) { assistantMessage { status } }
}"""
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"
SIMULATOR_PRICED = {"practicum-simulator": {"input": Decimal(1), "output": Decimal(5)}}
RATE_LIMITED = ErrorCode.RATE_LIMITED


def codes(outcomes: list[PracticumError | None]) -> Counter:
    """How many were accepted (None) and refused, by code."""
    return Counter(None if outcome is None else outcome.code for outcome in outcomes)


def assert_rate_limited(refusal: PracticumError | None, window_seconds: int = 60) -> None:
    assert refusal is not None and refusal.code is RATE_LIMITED, refusal
    retry_after = refusal.details["retryAfter"]
    assert isinstance(retry_after, int) and 0 < retry_after <= window_seconds
    assert f"Try again in {retry_after} s" in refusal.message


def assert_rate_limited_error(error: dict, window_seconds: int = 60) -> None:
    """The same, as a GraphQL error."""
    assert error["extensions"]["code"] == "RATE_LIMITED", error
    retry_after = error["extensions"]["retryAfter"]
    assert isinstance(retry_after, int) and 0 < retry_after <= window_seconds
    assert f"Try again in {retry_after} s" in error["message"]


# Messages


async def test_thirty_sends_at_once_accept_exactly_ten(limited):
    runtime = limited(**MESSAGE_LIMITS).state.runtime
    alice = await student(runtime, sessions=30)

    outcomes = await alice.send_on_each(alice.sessions)

    assert codes(outcomes) == {None: 10, RATE_LIMITED: 20}
    for refusal in filter(None, outcomes):
        assert_rate_limited(refusal)
        assert "faster than practice allows" in refusal.message


async def test_thirty_sends_at_once_over_graphql_accept_exactly_ten(limited):
    app = limited(**MESSAGE_LIMITS)
    alice = await student(app.state.runtime, sessions=30)

    async with graphql_from(app) as gql:
        bodies = await asyncio.gather(
            *(gql(SEND, {"s": str(s), "c": QUESTION}, alice.token) for s in alice.sessions)
        )

    accepted = [body for body in bodies if "errors" not in body]
    refused = [body["errors"][0] for body in bodies if "errors" in body]
    assert len(accepted) == 10 and len(refused) == 20
    for error in refused:
        assert_rate_limited_error(error)


async def test_refused_requests_do_not_use_up_the_quota(limited):
    rt = limited(**MESSAGE_LIMITS, prices=SIMULATOR_PRICED).state.runtime
    alice = await student(rt, sessions=3)
    talking, still_answering, finished = alice.sessions
    async with rt.sessions() as db:
        streaming = await db.get(Session, still_answering)
        await say(db, streaming, "Hello?", "", reply_status=MessageStatus.STREAMING)
        await end(db, await db.get(Session, finished))

    for _ in range(3):
        assert (await alice.send(talking, "   ")).code is ErrorCode.BAD_USER_INPUT
        assert (await alice.send(still_answering)).code is ErrorCode.CONFLICT
        assert (await alice.send(finished)).code is ErrorCode.CONFLICT
    async with rt.sessions() as db:
        admin = await make_user(db, Role.ADMIN)
        cap = budgets.BudgetFields(
            BudgetScope.STUDENT, BudgetPeriod.DAILY, "0.001", student_id=alice.user.id
        )
        budget = (await budgets.set_budget(db, actor(admin), rt.settings, cap)).status.budget
        await db.commit()
    for _ in range(3):
        assert (await alice.send(talking)).code is ErrorCode.BUDGET_EXCEEDED
    async with rt.sessions() as db:
        await budgets.delete_budget(db, actor(admin), budget.id)
        await db.commit()

    assert await alice.send(talking, key="first") is None
    for _ in range(3):  # the client lost the answer and sends again
        assert await alice.send(talking, key="first") is None
    for n in range(9):
        await alice.settled()
        assert await alice.send(talking, f"And then? ({n})") is None, f"message {n + 2} of 10"
    await alice.settled()
    assert_rate_limited(await alice.send(talking))
    assert await alice.send(talking, key="first") is None  # a replay is never refused


async def test_retrying_a_failed_reply_is_not_a_new_message(limited):
    rt = limited(rate_limit_messages_per_student="1/minute").state.runtime
    alice = await student(rt, sessions=2)
    async with rt.sessions() as db:
        conversation = await db.get(Session, alice.sessions[1])
        failed = (await say(db, conversation, "Hi", "", reply_status=MessageStatus.FAILED))[1]
    assert await alice.send(alice.sessions[0]) is None
    await alice.settled()
    assert_rate_limited(await alice.send(alice.sessions[0]))

    async with rt.sessions() as db:
        retried = await service.retry_reply(
            db, actor(alice.user), rt.settings, rt.replies, failed.id, limits=rt.turn_limits
        )
        await db.commit()
    assert retried.status is MessageStatus.STREAMING


async def test_the_global_limit_counts_every_students_messages(limited):
    rt = limited(**MESSAGE_LIMITS, rate_limit_messages_global="5/minute").state.runtime
    group = await students(rt, 3, sessions=3)

    outcomes = await asyncio.gather(*(s.send(session) for s in group for session in s.sessions))

    assert codes(outcomes) == {None: 5, RATE_LIMITED: 4}
    newcomer = await student(rt)
    refusal = await newcomer.send()
    assert_rate_limited(refusal)
    assert "for everyone" in refusal.message


async def test_the_limits_hold_while_replies_stream(limited):
    rt = limited(**MESSAGE_LIMITS, simulator_delay_seconds=0.1).state.runtime
    alice = await student(rt, sessions=15)
    first, then = alice.sessions[:5], alice.sessions[5:]

    assert codes(await alice.send_on_each(first)) == {None: 5}
    assert any(rt.replies.in_flight(s) for s in first), "the replies should still be streaming"
    assert codes(await alice.send_on_each(then)) == {None: 5, RATE_LIMITED: 5}

    await alice.settled()  # replies that finish give no quota back
    assert_rate_limited(await alice.send(first[0]))


async def test_the_quota_comes_back_after_the_window(limited):
    rt = limited(rate_limit_messages_per_student="3/2 second").state.runtime
    alice = await student(rt, sessions=4)
    began = time.time()

    assert codes(await alice.send_on_each(alice.sessions[:3])) == {None: 3}
    refusal = await alice.send(alice.sessions[3])
    assert_rate_limited(refusal, window_seconds=2)

    await asyncio.sleep(refusal.details["retryAfter"])  # as a client told to wait would
    assert await alice.send(alice.sessions[3]) is None
    assert time.time() - began >= 2  # not before the window has passed


async def test_processes_sharing_redis_share_the_limits(redis_prefix):
    """Two servers with the same REDIS_URL count each student's messages together."""
    shared = Settings(redis_url=REDIS_URL, **MESSAGE_LIMITS, rate_limit_messages_global="")
    one, other = (RateLimits(shared, storage_for(shared, redis_prefix)) for _ in range(2))
    alice = uuid.uuid4()
    try:
        for _ in range(5):
            await one.message(alice)
            await other.message(alice)
        with pytest.raises(PracticumError) as refused:
            await other.message(alice)
        assert_rate_limited(refused.value)
    finally:
        await one.aclose()
        await other.aclose()


async def test_the_limits_count_in_redis_reached_over_tls(redis_over_tls, redis_prefix):
    """Hosted Redis services want TLS: with a rediss:// URL the limits still count there."""
    over_tls = Settings(
        redis_url=redis_over_tls.url, **MESSAGE_LIMITS, rate_limit_messages_global=""
    )
    limits = RateLimits(over_tls, storage_for(over_tls, redis_prefix))
    alice = uuid.uuid4()
    try:
        for _ in range(10):
            await limits.message(alice)
        with pytest.raises(PracticumError) as refused:  # were Redis not reached, it would let
            await limits.message(alice)  # the message through (see the next test)
        assert_rate_limited(refused.value)
    finally:
        await limits.aclose()
    assert redis_over_tls.connections >= 1
    redis = Redis.from_url(REDIS_URL)
    try:
        assert [key async for key in redis.scan_iter(f"{redis_prefix}*")]
    finally:
        await redis.aclose()


async def test_messages_go_through_when_redis_cannot_be_reached(settings, caplog):
    """The limits guard against abuse: a Redis outage must not stop students practising."""
    unreachable = settings.model_copy(
        update={"redis_url": "redis://127.0.0.1:1/0", "rate_limit_messages_per_student": "1/minute"}
    )
    limits = RateLimits(unreachable)
    student = uuid.uuid4()
    let_through = REGISTRY.get_sample_value("practicum_rate_limit_store_errors_total") or 0
    try:
        for _ in range(3):  # more than the limit: nothing can count them
            await limits.message(student)
    finally:
        await limits.aclose()
    assert REGISTRY.get_sample_value("practicum_rate_limit_store_errors_total") == let_through + 3
    warnings = [r for r in caplog.records if "rate-limit store unreachable" in r.getMessage()]
    assert len(warnings) == 1  # said once, not on every request


# Logins


async def login(gql, email: str, password: str) -> dict:
    body = await gql(LOGIN, {"e": email, "p": password})
    return body["errors"][0] if "errors" in body else body["data"]["login"]


def login_refused(answer: dict) -> str:
    return answer["extensions"]["code"]


async def test_logins_are_limited_per_account(limited):
    app = limited(rate_limit_logins_per_email="3/minute")
    async with app.state.runtime.sessions() as db:
        alice, bob = await make_user(db), await make_user(db)
    guesses = [alice.email.upper(), f"  {alice.email} ", alice.email]
    guessing = an_address()

    async with graphql_from(app, guessing) as gql:
        for email in guesses:  # however the email is written
            error = await login(gql, email, "a wrong guess")
            assert error["extensions"]["code"] == "UNAUTHENTICATED"
        # The right password gets the answer a wrong one gets: it is never checked.
        assert_rate_limited_error(await login(gql, alice.email, "another guess"))
        assert_rate_limited_error(await login(gql, alice.email, PASSWORD))
        assert "token" in await login(gql, bob.email, PASSWORD)
    async with graphql_from(app, an_address()) as gql:
        # Another address gets one attempt past the limit, no more.
        assert login_refused(await login(gql, alice.email, "a wrong guess")) == "UNAUTHENTICATED"
        assert_rate_limited_error(await login(gql, alice.email, PASSWORD))


async def test_guessing_cannot_lock_the_owner_out(limited):
    """Anyone can type a student's email: five wrong passwords from one place must not keep
    the student, at another address, from logging in with the right one."""
    app = limited(rate_limit_logins_per_email="5/minute")
    async with app.state.runtime.sessions() as db:
        alice = await make_user(db)

    async with graphql_from(app, an_address()) as gql:
        answers = [login_refused(await login(gql, alice.email, f"guess {n}")) for n in range(8)]
        assert_rate_limited_error(await login(gql, alice.email, PASSWORD))
    assert answers == ["UNAUTHENTICATED"] * 5 + ["RATE_LIMITED"] * 3

    async with graphql_from(app, an_address()) as gql:
        assert "token" in await login(gql, alice.email, PASSWORD)


async def test_guessing_a_password_all_at_once_gets_five_tries_and_one_per_address(limited):
    app = limited(rate_limit_logins_per_email="5/minute")
    async with app.state.runtime.sessions() as db:
        alice = await make_user(db)
    guessing = an_address()

    async def guess(n: int, address: str) -> str:
        async with graphql_from(app, address) as gql:
            return login_refused(await login(gql, alice.email, f"guess {n}"))

    answers = Counter(await asyncio.gather(*(guess(n, guessing) for n in range(30))))
    # Five, and the address's first attempt if the five took the quota before it came.
    assert answers["UNAUTHENTICATED"] in {5, 6} and answers.total() == 30, answers
    assert set(answers) == {"UNAUTHENTICATED", "RATE_LIMITED"}

    elsewhere = Counter(await asyncio.gather(*(guess(n, an_address()) for n in range(10))))
    assert elsewhere == {"UNAUTHENTICATED": 10}  # one each; the address limit bounds them


async def test_logins_are_limited_per_address(limited):
    app = limited(rate_limit_logins_per_ip="3/minute")
    async with app.state.runtime.sessions() as db:
        alice = await make_user(db)

    async with graphql_from(app, an_address()) as gql:
        for n in range(3):
            error = await login(gql, f"guess-{n}@school.test", "a wrong guess")
            assert error["extensions"]["code"] == "UNAUTHENTICATED"
        assert_rate_limited_error(await login(gql, alice.email, PASSWORD))
    async with graphql_from(app, an_address()) as gql:
        assert "token" in await login(gql, alice.email, PASSWORD)


async def test_behind_a_trusted_proxy_logins_are_limited_per_forwarded_address(limited):
    """The web UI's server calls the API over loopback for every browser: the per-address
    limit must count each browser's address (X-Forwarded-For), not the proxy's."""
    app = limited(rate_limit_logins_per_ip="2/minute")

    async def login_from(peer: str, forwarded_for: str) -> str:
        async with graphql_from(app, peer) as gql:
            response = await gql.http.post(
                "/graphql",
                json={"query": LOGIN, "variables": {"e": "nobody@school.test", "p": "guess"}},
                headers={"x-forwarded-for": forwarded_for},
            )
            return response.json()["errors"][0]["extensions"]["code"]

    browser_a, browser_b = an_address(), an_address()
    assert [await login_from("127.0.0.1", browser_a) for _ in range(3)] == [
        "UNAUTHENTICATED",
        "UNAUTHENTICATED",
        "RATE_LIMITED",
    ]
    assert await login_from("127.0.0.1", browser_b) == "UNAUTHENTICATED"

    # An untrusted peer cannot pick its address: the header is ignored.
    stranger = an_address()
    assert [await login_from(stranger, an_address()) for _ in range(3)][-1] == "RATE_LIMITED"


# Every HTTP request, per address (slowapi)


async def test_http_requests_past_the_limit_get_429_with_retry_after(open_app):
    app = open_app(http_rate_limit_per_ip="3/minute")
    async with graphql_from(app, an_address()) as gql:
        for _ in range(3):
            assert (await gql.post("{ __typename }")).status_code == 200
        response = await gql.post("{ __typename }")

        assert response.status_code == 429
        retry_after = int(response.headers["Retry-After"])
        assert 0 < retry_after <= 60
        error = response.json()["errors"][0]
        assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": retry_after}
        assert_rate_limited_error(error)
    async with graphql_from(app, an_address()) as gql:  # other addresses are not held back
        assert (await gql.post("{ __typename }")).status_code == 200


async def test_health_checks_and_metrics_are_never_limited(open_app):
    app = open_app(http_rate_limit_per_ip="2/minute")
    async with graphql_from(app, an_address()) as gql:
        for _ in range(3):
            await gql.post("{ __typename }")
        assert (await gql.post("{ __typename }")).status_code == 429
        for _ in range(5):
            assert (await gql.http.get("/healthz")).status_code == 200
            assert (await gql.http.get("/metrics")).status_code == 200


async def test_requests_start_no_threads_and_old_hits_are_forgotten(open_app, monkeypatch):
    """The in-memory windows forget old hits on the loop: no timer thread per request (a
    class's burst paid for one each), and an address's hits go once their window passed."""
    app = open_app(http_rate_limit_per_ip="3/second")
    started = []
    real_start = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start", lambda t: started.append(t) or real_start(t))
    address = an_address()
    async with graphql_from(app, address) as gql:
        statuses = [(await gql.post("{ __typename }")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        await asyncio.sleep(1.1)
        assert (await gql.post("{ __typename }")).status_code == 200

    windows = app.state.limiter._storage.events
    assert [len(hits) for key, hits in windows.items() if address in key] == [1]
    assert [t for t in started if isinstance(t, threading.Timer)] == []
