"""`usageMetrics` over graphql-transport-ws against a real `practicum serve` (the offline
client simulator): what an admin's live dashboard shows, how often it is pushed, and that
only admins may watch it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise

import pytest
from gql import GraphQLRequest
from gql.transport.exceptions import TransportQueryError

from tests.transport.test_session_events import (
    FAST_DELAY,
    JOIN,
    MAYA,
    OPENER,
    STUDENT,
    TEACHER,
    Deployment,
    User,
    _login,
    deploy,
    new_students,
    ws_client,
)

ADMIN = "admin@practicum.local"
USAGE_METRICS = """
subscription {
  usageMetrics {
    activeSessions streamingReplies messagesPerMinute tokensToday costToday errorsLastHour
    timeToFirstTokenP50Ms timeToFirstTokenP95Ms at
  }
}
"""
AT_ONCE = 3.0  # seconds for the first figures to arrive after subscribing
WITHIN = 8.0  # seconds for a change to show


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Deployment]:
    data_dir = tmp_path_factory.mktemp("usage-metrics") / "data"
    # One admin account stands for fifty admins here: past the usual sockets per account.
    with deploy(data_dir, FAST_DELAY, PRACTICUM_WS_MAX_SOCKETS_PER_USER="60") as deployment:
        yield deployment


@pytest.fixture(scope="module")
def admin(live: Deployment) -> User:
    return _login(live.url, ADMIN)


@dataclass
class Push:
    received: float  # time.monotonic()
    figures: dict

    @property
    def at(self) -> datetime:
        return datetime.fromisoformat(self.figures["at"])

    def same_figures_as(self, other: Push) -> bool:
        return {**self.figures, "at": None} == {**other.figures, "at": None}


@dataclass
class Dashboard:
    """An admin's usageMetrics subscription, read in the background."""

    pushes: list[Push] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    error: Exception | None = None  # what ended the subscription

    async def read(self, ws) -> None:
        try:
            async for result in ws.subscribe(GraphQLRequest(USAGE_METRICS)):
                self.pushes.append(Push(time.monotonic(), result["usageMetrics"]))
                self.arrived.set()
        except Exception as error:  # handed to the test by until()
            self.error = error
            self.arrived.set()

    async def first(self) -> Push:
        await self.until(lambda figures: True, within=AT_ONCE)
        return self.pushes[0]

    async def until(self, wanted, within: float = WITHIN) -> Push:
        """The first push whose figures are `wanted` (waits up to `within` seconds)."""
        seen = 0
        try:
            async with asyncio.timeout(within):
                while True:
                    for push in self.pushes[seen:]:
                        if wanted(push.figures):
                            return push
                    seen = len(self.pushes)
                    if self.error is not None:
                        raise self.error
                    self.arrived.clear()
                    await self.arrived.wait()
        except TimeoutError:
            raise AssertionError(f"not within {within} s; pushed: {self.pushes}") from None


@asynccontextmanager
async def dashboard(url: str, user: User) -> AsyncIterator[Dashboard]:
    async with ws_client(url, user.init_payload()) as ws:
        board = Dashboard()
        reader = asyncio.create_task(board.read(ws))
        try:
            yield board
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)


async def a_student_practises(live: Deployment, turns: int = 1) -> None:
    """A new student joins the demo section, starts a session and takes `turns` turns."""
    [student] = await new_students(live, 1)
    await student.run(JOIN, code=live.join_code)
    session_id = await student.start_session(live.clients[MAYA])
    for turn in range(turns):
        await student.send(session_id, f"{OPENER} ({turn})")
        await until_settled(student, session_id)


async def until_settled(student: User, session_id: str) -> None:
    """Polls the session until its reply is stored."""
    async with asyncio.timeout(WITHIN):
        while await replying(student, session_id):  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def replying(student: User, session_id: str) -> bool:
    return (await student.session(session_id))["messages"]["nodes"][-1]["status"] == "STREAMING"


async def test_an_admin_sees_the_figures_at_once_and_a_students_turn_within_seconds(live, admin):
    async with dashboard(live.url, admin) as board:
        before = (await board.first()).figures
        await a_student_practises(live)
        after = (
            await board.until(
                lambda now: (
                    now["activeSessions"] == before["activeSessions"] + 1
                    and now["tokensToday"] > before["tokensToday"]
                    and now["streamingReplies"] == 0
                )
            )
        ).figures

    assert after["messagesPerMinute"] >= 2  # the student's message and the client's reply
    assert before["costToday"] == after["costToday"] == "0"  # the simulator is free
    assert after["errorsLastHour"] == before["errorsLastHour"]


@pytest.mark.parametrize("email", [STUDENT, TEACHER])
async def test_students_and_teachers_may_not_watch_live_usage(live, email):
    user = live.demo[email]
    async with dashboard(live.url, user) as board:
        with pytest.raises(TransportQueryError) as refused:
            pytest.fail(f"subscribed and got {await board.first()}")
    assert refused.value.errors[0]["extensions"]["code"] == "FORBIDDEN", refused.value.errors


async def test_figures_are_pushed_at_most_once_a_second_and_only_when_they_change(live, admin):
    async with dashboard(live.url, admin) as board:
        await board.first()
        await a_student_practises(live, turns=4)  # figures change many times a second
        await asyncio.sleep(3)  # and then hold still

    pushes = board.pushes[1:]  # the first figures come at once, whatever the last push
    assert len(pushes) >= 2, board.pushes
    for earlier, later in pairwise(pushes):
        assert (later.at - earlier.at).total_seconds() >= 0.99, (earlier, later)
        assert later.received - earlier.received >= 0.5, (earlier, later)  # delivery jitter
    for earlier, later in pairwise(board.pushes):
        assert not later.same_figures_as(earlier), f"pushed again unchanged: {later}"


async def test_fifty_admins_watching_all_see_the_update(live, admin):
    async with AsyncExitStack() as stack:
        boards = [await stack.enter_async_context(dashboard(live.url, admin)) for _ in range(50)]
        firsts = await asyncio.gather(*(board.first() for board in boards))
        active = max(first.figures["activeSessions"] for first in firsts)
        await a_student_practises(live)
        await asyncio.gather(
            *(board.until(lambda now: now["activeSessions"] > active) for board in boards)
        )
