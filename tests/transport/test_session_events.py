"""`sessionEvents` over graphql-transport-ws against a real `practicum serve`: a reply as the
student (and their teacher) watch it stream, stop, end, and fifty conversations at once.

Two servers of this module's own, both on the offline client simulator: `fast` (the
default pause between words) where timing hardly matters, and `slow` (a long pause per word)
for what has to happen mid-reply. Mutations go over HTTP with httpx, subscriptions over the
websocket with the `gql` client.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportError, TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from websockets.exceptions import ConnectionClosed

from api.accounts.models import Role
from api.accounts.security import issue_token
from api.config import Settings
from api.runtime import Runtime
from tests.factories.accounts import actor, make_user
from tests.transport.conftest import Server, run_ok, serve

DEMO_PASSWORD = "practicum-demo"
STUDENT = "student@practicum.local"
STUDENT2 = "student2@practicum.local"  # in the same section as STUDENT
TEACHER = "teacher@practicum.local"  # teaches that section and wrote its clients
MAYA = "Maya Okafor"  # difficulty 1: her first reply is a few sentences long
OPENER = "Hi Maya, thanks for coming in. What brings you here today?"
GOODBYE = "Thank you, that's all we have time for today. Goodbye."  # a short reply

DELAY_ENV = "PRACTICUM_SIMULATOR_DELAY_SECONDS"
FAST_DELAY = "0.03"  # the default pause between streamed words
SLOW_DELAY = "0.1"  # Maya's first reply (~20 words) takes ~2 s: time to act mid-reply
SUBSCRIBED = 0.3  # seconds for a new subscription to reach the server before we act
WAIT = 20.0  # the most any single event may take
# One TLS context for every httpx client: by default each client builds its own, which costs
# ~70 ms of CPU (the servers here are plain http anyway).
TLS = ssl.create_default_context()

MESSAGE = "id sessionId role content tokenCount sequenceNumber status"
TOTALS = "sessionId status messageCount totalTokens inputTokens outputTokens endedAt"
SESSION_EVENTS = f"""
subscription Watch($sessionId: ID!) {{
  sessionEvents(sessionId: $sessionId) {{
    __typename
    ... on MessageDelta {{ sessionId messageId offset delta reset }}
    ... on MessageCompleted {{ message {{ {MESSAGE} }} totals {{ {TOTALS} }} }}
    ... on MessageFailed {{ message {{ {MESSAGE} }} reason retryable }}
    ... on SessionEnded {{ totals {{ {TOTALS} }} }}
  }}
}}
"""
SESSION = f"""
query Session($id: ID!) {{
  session(id: $id) {{
    id status messageCount totalTokens inputTokens outputTokens endedAt
    messages(first: 50) {{ nodes {{ {MESSAGE} }} }}
  }}
}}
"""
LOGIN = """
mutation($email: String!, $password: String!) {
  login(email: $email, password: $password) { token }
}
"""
CLIENTS = "{ clientProfiles { nodes { id name } } }"
JOIN = "mutation($code: String!) { joinSection(joinCode: $code) { section { name } } }"
START = "mutation($c: ID!) { startSession(clientId: $c, new: true) { session { id status } } }"
SEND = f"""
mutation Send($s: ID!, $content: String!, $key: String) {{
  sendMessage(sessionId: $s, content: $content, idempotencyKey: $key) {{
    userMessage {{ {MESSAGE} }}
    assistantMessage {{ {MESSAGE} }}
  }}
}}
"""
STOP = f"mutation($s: ID!) {{ stopReply(sessionId: $s) {{ message {{ {MESSAGE} }} }} }}"
END = "mutation($s: ID!) { endSession(sessionId: $s) { session { id status endedAt } } }"


# --- talking to the server ----------------------------------------------------------------


class GraphQLErrors(Exception):
    def __init__(self, errors: list[dict]) -> None:
        super().__init__(errors)
        self.errors = errors

    @property
    def code(self) -> str:
        return self.errors[0]["extensions"]["code"]


@dataclass
class User:
    """Someone logged in to a server: GraphQL over HTTP with their token."""

    url: str
    token: str

    async def run(self, query: str, **variables) -> dict:
        async with httpx.AsyncClient(timeout=WAIT, verify=TLS) as http:
            response = await http.post(
                f"{self.url}/graphql",
                json={"query": query, "variables": variables},
                headers={"authorization": f"Bearer {self.token}"},
            )
        body = response.json()
        if body.get("errors"):
            raise GraphQLErrors(body["errors"])
        return body["data"]

    async def start_session(self, client_id: str) -> str:
        return (await self.run(START, c=client_id))["startSession"]["session"]["id"]

    async def send(self, session_id: str, content: str, key: str | None = None) -> dict:
        return (await self.run(SEND, s=session_id, content=content, key=key))["sendMessage"]

    async def session(self, session_id: str) -> dict:
        return (await self.run(SESSION, id=session_id))["session"]

    def init_payload(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Deployment:
    """A running server with the demo in it."""

    server: Server
    join_code: str
    demo: dict[str, User]  # by email
    clients: dict[str, str]  # client profile id by name

    @property
    def url(self) -> str:
        return self.server.url


def ws_client(url: str, init_payload: dict | None) -> Client:
    transport = WebsocketsTransport(
        url=url.replace("http://", "ws://", 1) + "/graphql",
        init_payload=init_payload or {},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        connect_timeout=10,
        ack_timeout=10,
        close_timeout=5,
    )
    return Client(transport=transport, execute_timeout=WAIT)


def close_codes(error: BaseException | None) -> list[int]:
    """The websocket close codes found along an exception's cause chain."""
    codes = []
    while error is not None:
        if isinstance(error, ConnectionClosed) and error.rcvd is not None:
            codes.append(error.rcvd.code)
        error = error.__cause__ or error.__context__
    return codes


# --- watching a session -------------------------------------------------------------------


@dataclass
class Event:
    at: float  # time.monotonic() when it arrived
    data: dict

    @property
    def kind(self) -> str:
        return self.data["__typename"]


@dataclass
class Watch:
    """A sessionEvents subscription read in the background, its events queued as they come."""

    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    finished: bool = False  # the server completed the subscription
    error: Exception | None = None

    async def read(self, ws, session_id: str) -> None:
        request = GraphQLRequest(SESSION_EVENTS, variable_values={"sessionId": session_id})
        try:
            async for result in ws.subscribe(request):
                self.queue.put_nowait(Event(time.monotonic(), result["sessionEvents"]))
        except Exception as error:  # handed to the test by next()
            self.error = error
        finally:
            self.queue.put_nowait(None)

    async def next(self) -> Event | None:
        """The next event; None once the subscription has ended."""
        if self.finished:
            return None
        event = await asyncio.wait_for(self.queue.get(), WAIT)
        if event is None:
            self.finished = True
            if self.error is not None:
                raise self.error
            return None
        return event

    async def reply(self) -> list[Event]:
        """Events up to and including the one that ends a reply (completed or failed)."""
        events = []
        while True:
            event = await self.next()
            assert event is not None, f"the subscription ended mid-reply after {events}"
            events.append(event)
            if event.kind in ("MessageCompleted", "MessageFailed"):
                return events

    async def deltas(self, count: int) -> list[Event]:
        """The next `count` events, which must all be deltas."""
        events = [await self.next() for _ in range(count)]
        assert all(e is not None and e.kind == "MessageDelta" for e in events), events
        return events

    async def quiet_for(self, seconds: float) -> None:
        """Nothing more arrives for a while."""
        try:
            event = await asyncio.wait_for(self.queue.get(), seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected event: {event}")


@asynccontextmanager
async def watching(url: str, init_payload: dict | None, session_id: str) -> AsyncIterator[Watch]:
    """Subscribe to a session's events on a websocket of its own for the block's duration."""
    async with ws_client(url, init_payload) as ws:
        watch = Watch()
        reader = asyncio.create_task(watch.read(ws, session_id))
        await asyncio.sleep(SUBSCRIBED)
        try:
            yield watch
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)


async def subscription_error(url: str, init_payload: dict | None, session_id: str):
    """What subscribing raises (the test fails if it yields an event instead)."""
    async with watching(url, init_payload, session_id) as watch:
        with pytest.raises(TransportQueryError) as raised:
            event = await watch.next()
            pytest.fail(f"subscribed and got {event}")
    return raised.value


def applied(events: list[Event]) -> str:
    """The reply's text after applying its deltas: text[:offset] + delta, `reset` first
    throwing the text away."""
    text = ""
    for event in events:
        if event.kind != "MessageDelta":
            continue
        delta = event.data
        if delta["reset"]:
            assert delta["offset"] == 0, delta
            text = ""
        assert delta["offset"] <= len(text), f"a gap before {delta} (have {len(text)} chars)"
        text = text[: delta["offset"]] + delta["delta"]
    return text


def assert_all_of(events: list[Event], session_id: str, message_id: str) -> None:
    """Every event is about this session and (but SessionEnded) this reply."""
    for event in events:
        data = event.data
        if event.kind == "MessageDelta":
            assert (data["sessionId"], data["messageId"]) == (session_id, message_id), data
        elif event.kind in ("MessageCompleted", "MessageFailed"):
            message = data["message"]
            assert (message["sessionId"], message["id"]) == (session_id, message_id), data
        else:
            assert data["totals"]["sessionId"] == session_id, data


def totals_of(session: dict) -> dict:
    keys = ("status", "messageCount", "totalTokens", "inputTokens", "outputTokens", "endedAt")
    return {key: session[key] for key in keys}


# --- servers ------------------------------------------------------------------------------


def _login(url: str, email: str) -> User:
    response = httpx.post(
        f"{url}/graphql",
        json={"query": LOGIN, "variables": {"email": email, "password": DEMO_PASSWORD}},
        timeout=WAIT,
    )
    body = response.json()
    assert "errors" not in body, body
    return User(url, body["data"]["login"]["token"])


@contextmanager
def deploy(data_dir: Path, delay: str, **env: str) -> Iterator[Deployment]:
    """`practicum serve` with the simulator's pause set (and `env`), the demo in it, the demo
    logged in."""
    with serve(data_dir, env={DELAY_ENV: delay, **env}) as server:
        demo = run_ok(data_dir, "demo")
        join_code = re.search(r"join code: (\S+)", demo.stdout).group(1)
        users = {email: _login(server.url, email) for email in (STUDENT, STUDENT2, TEACHER)}
        response = httpx.post(
            f"{server.url}/graphql",
            json={"query": CLIENTS},
            headers={"authorization": f"Bearer {users[STUDENT].token}"},
            timeout=WAIT,
        )
        nodes = response.json()["data"]["clientProfiles"]["nodes"]
        yield Deployment(server, join_code, users, {n["name"]: n["id"] for n in nodes})


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[dict[str, Deployment]]:
    """The fast and the slow server, started side by side (each takes seconds to start)."""
    data_dirs = {name: tmp_path_factory.mktemp(name) / "data" for name in ("fast", "slow")}
    delays = {"fast": FAST_DELAY, "slow": SLOW_DELAY}
    with ExitStack() as stack, ThreadPoolExecutor(2) as pool:
        started = {
            name: pool.submit(stack.enter_context, deploy(data_dir, delays[name]))
            for name, data_dir in data_dirs.items()
        }
        wait(started.values())  # both, so that the stack stops whichever did start
        yield {name: future.result() for name, future in started.items()}


@pytest.fixture(scope="module")
def fast(servers) -> Deployment:
    return servers["fast"]


@pytest.fixture(scope="module")
def slow(servers) -> Deployment:
    return servers["slow"]


async def new_students(deployment: Deployment, count: int) -> list[User]:
    """`count` new student accounts, written straight to the server's database.

    `practicum user create` takes ~2 s a user (a process start and an argon2 hash) and a
    login ~0.4 s of the server's time (argon2 again): fifty of each would be most of a
    minute. So the accounts share one password hash and get their tokens signed with the
    server's own secret; everything else they do goes through the API.
    """
    async with server_runtime(deployment) as runtime:
        async with runtime.sessions() as db:
            users = [await make_user(db, Role.STUDENT) for _ in range(count)]
        return [User(deployment.url, signed_token(runtime, user)) for user in users]


@asynccontextmanager
async def server_runtime(deployment: Deployment) -> AsyncIterator[Runtime]:
    """The server's database and signing secret, reached from the test."""
    data_dir = deployment.server.data_dir
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite+aiosqlite:///{data_dir / 'practicum.db'}",
        jwt_secret=None,  # the secret the server made in its data dir
    )
    runtime = Runtime.create(settings)
    try:
        yield runtime
    finally:
        await runtime.close()


def signed_token(runtime: Runtime, user, ttl: timedelta = timedelta(hours=1)) -> str:
    return issue_token(actor(user), runtime.settings.signing_secret(), ttl)[0]


# --- the tests ----------------------------------------------------------------------------


async def test_a_reply_streams_word_by_word_and_completes_with_the_session_totals(fast):
    student = fast.demo[STUDENT]
    session_id = await student.start_session(fast.clients[MAYA])
    async with watching(fast.url, student.init_payload(), session_id) as watch:
        sent_at = time.monotonic()
        turn = await student.send(session_id, OPENER)
        events = await watch.reply()
    reply_id = turn["assistantMessage"]["id"]
    assert turn["assistantMessage"]["status"] == "STREAMING"
    assert turn["assistantMessage"]["content"] == ""

    *deltas, completed = events
    assert [e.kind for e in deltas] == ["MessageDelta"] * len(deltas)
    assert completed.kind == "MessageCompleted", completed
    assert len(deltas) > 1, "the reply came in one piece, not streamed"
    assert_all_of(events, session_id, reply_id)

    message = completed.data["message"]
    assert message["status"] == "COMPLETE"
    assert message["role"] == "ASSISTANT"
    assert message["tokenCount"] > 0
    assert message["sequenceNumber"] == 2
    assert applied(deltas) == message["content"]
    assert len(message["content"].split()) > 5

    # The first words show well before the reply is done: the simulator pauses after each
    # word, so the rest of the reply takes at least that long to follow the first delta.
    words_after_first = len(message["content"].split()) - len(deltas[0].data["delta"].split())
    streaming_after_first = words_after_first * float(FAST_DELAY)
    assert completed.at - deltas[0].at > streaming_after_first / 2, (
        deltas[0].at - sent_at,
        completed.at - sent_at,
    )

    # The totals in the event are what the session says afterwards.
    session = await student.session(session_id)
    totals = completed.data["totals"]
    assert totals["sessionId"] == session_id
    assert totals["messageCount"] == session["messageCount"] == 2
    assert totals["totalTokens"] == session["totalTokens"] > message["tokenCount"]
    assert totals_of(totals) == totals_of(session)
    assert totals["status"] == "ACTIVE"
    stored = session["messages"]["nodes"]
    assert [(m["role"], m["status"], m["content"]) for m in stored] == [
        ("USER", "COMPLETE", OPENER),
        ("ASSISTANT", "COMPLETE", message["content"]),
    ]


async def test_a_late_joiner_gets_the_reply_so_far_then_the_rest(slow):
    student = slow.demo[STUDENT]
    session_id = await student.start_session(slow.clients[MAYA])
    async with watching(slow.url, student.init_payload(), session_id) as first_tab:
        turn = await student.send(session_id, OPENER)
        reply_id = turn["assistantMessage"]["id"]
        early = await first_tab.deltas(2)  # the reply has started: a second tab opens
        async with watching(slow.url, student.init_payload(), session_id) as second_tab:
            events = await second_tab.reply()
        whole = early + await first_tab.reply()

    joined = events[0]
    assert joined.kind == "MessageDelta", joined
    assert joined.data["reset"] is True
    assert joined.data["offset"] == 0
    so_far = joined.data["delta"]
    assert so_far.startswith(applied(early)), "the words already shown should come first"
    assert len(events) > 2, "more words should stream after joining"
    assert_all_of(events, session_id, reply_id)

    completed = events[-1]
    assert completed.kind == "MessageCompleted"
    content = completed.data["message"]["content"]
    assert completed.data["message"]["status"] == "COMPLETE"
    assert content.startswith(so_far) and content != so_far
    assert applied(events) == content  # nothing doubled, nothing missing
    assert applied(whole) == content  # what the first tab shows
    stored = (await student.session(session_id))["messages"]["nodes"][-1]
    assert (stored["id"], stored["content"]) == (reply_id, content)


async def test_every_tab_watching_a_reply_gets_all_of_it(fast):
    """A reply watched on many sockets (each sent the events straight away while it waits
    for them, the periodic checks shared by a login's tabs): every student's and teacher's
    tab gets the whole text in order, then the stored reply."""
    student, teacher = fast.demo[STUDENT], fast.demo[TEACHER]
    session_id = await student.start_session(fast.clients[MAYA])
    async with AsyncExitStack() as tabs:
        watches = [
            await tabs.enter_async_context(watching(fast.url, who.init_payload(), session_id))
            for who in [student, teacher] * 4
        ]
        turn = await student.send(session_id, OPENER)
        replies = await asyncio.gather(*(watch.reply() for watch in watches))
    reply_id = turn["assistantMessage"]["id"]
    content = replies[0][-1].data["message"]["content"]
    for events in replies:
        assert [e.kind for e in events[-1:]] == ["MessageCompleted"]
        assert len(events) > 2, "the reply came in one piece, not streamed"
        assert_all_of(events, session_id, reply_id)
        assert applied(events) == content


async def test_stopping_a_reply_keeps_what_was_said_so_far(fast, slow):
    # The simulator answers the same first message to the same client with the same
    # words: the fast server shows the whole reply the stopped one would have become.
    reference = fast.demo[STUDENT2]
    ref_session = await reference.start_session(fast.clients[MAYA])
    async with watching(fast.url, reference.init_payload(), ref_session) as watch:
        await reference.send(ref_session, OPENER)
        whole_reply = (await watch.reply())[-1].data["message"]["content"]

    student = slow.demo[STUDENT]
    session_id = await student.start_session(slow.clients[MAYA])
    async with watching(slow.url, student.init_payload(), session_id) as watch:
        turn = await student.send(session_id, OPENER)
        reply_id = turn["assistantMessage"]["id"]
        early = await watch.deltas(2)
        stopped = (await student.run(STOP, s=session_id))["stopReply"]["message"]
        events = early + await watch.reply()

        *deltas, completed = events
        assert completed.kind == "MessageCompleted", completed
        assert_all_of(events, session_id, reply_id)
        message = completed.data["message"]
        assert message["status"] == "CANCELLED"
        said = applied(deltas)
        assert message["content"] == said
        assert said.strip() and whole_reply.startswith(said) and said != whole_reply
        assert stopped["id"] == reply_id
        assert (stopped["status"], stopped["content"]) == ("CANCELLED", said)

        session = await student.session(session_id)
        reply = session["messages"]["nodes"][-1]
        assert (reply["id"], reply["status"], reply["content"]) == (reply_id, "CANCELLED", said)
        assert reply["tokenCount"] > 0
        assert session["outputTokens"] == reply["tokenCount"]  # billed for what was said
        assert session["totalTokens"] >= session["inputTokens"] + reply["tokenCount"]
        assert totals_of(completed.data["totals"]) == totals_of(session)

        # The conversation goes on.
        again = await student.send(session_id, GOODBYE)
        events = await watch.reply()
    assert_all_of(events, session_id, again["assistantMessage"]["id"])
    assert events[-1].data["message"]["status"] == "COMPLETE"
    assert applied(events) == events[-1].data["message"]["content"]
    session = await student.session(session_id)
    assert [(m["sequenceNumber"], m["status"]) for m in session["messages"]["nodes"]] == [
        (1, "COMPLETE"),
        (2, "CANCELLED"),
        (3, "COMPLETE"),
        (4, "COMPLETE"),
    ]


async def test_ending_the_session_mid_reply_cancels_it_and_ends_the_subscription(slow):
    student = slow.demo[STUDENT]
    session_id = await student.start_session(slow.clients[MAYA])
    async with watching(slow.url, student.init_payload(), session_id) as watch:
        turn = await student.send(session_id, OPENER)
        early = await watch.deltas(1)
        ended = (await student.run(END, s=session_id))["endSession"]["session"]
        events = early + await watch.reply()
        session_ended = await watch.next()
        after = await watch.next()  # the server completes the subscription

    assert ended["status"] == "COMPLETED" and ended["endedAt"]
    reply_id = turn["assistantMessage"]["id"]
    assert_all_of(events, session_id, reply_id)
    completed = events[-1]
    assert completed.data["message"]["status"] == "CANCELLED"
    assert completed.data["message"]["content"] == applied(events)

    assert session_ended is not None and session_ended.kind == "SessionEnded", session_ended
    totals = session_ended.data["totals"]
    assert totals["sessionId"] == session_id
    assert totals["status"] == "COMPLETED" and totals["endedAt"]
    assert after is None and watch.finished, "the subscription should end after SessionEnded"

    session = await student.session(session_id)
    assert totals_of(totals) == totals_of(session)
    assert session["messages"]["nodes"][-1]["status"] == "CANCELLED"
    with pytest.raises(GraphQLErrors) as refused:
        await student.send(session_id, GOODBYE)
    assert refused.value.code == "CONFLICT"


async def test_the_teacher_may_watch_but_nobody_else(fast):
    student, teacher = fast.demo[STUDENT], fast.demo[TEACHER]
    session_id = await student.start_session(fast.clients[MAYA])
    async with (
        watching(fast.url, student.init_payload(), session_id) as by_student,
        watching(fast.url, teacher.init_payload(), session_id) as by_teacher,
    ):
        turn = await student.send(session_id, OPENER)
        students_view = await by_student.reply()
        teachers_view = await by_teacher.reply()
    assert_all_of(teachers_view, session_id, turn["assistantMessage"]["id"])
    assert [e.data for e in teachers_view] == [e.data for e in students_view]
    assert teachers_view[-1].data["message"]["status"] == "COMPLETE"

    # A classmate in the same section may not.
    classmate = fast.demo[STUDENT2]
    refused = await subscription_error(fast.url, classmate.init_payload(), session_id)
    assert refused.errors[0]["extensions"]["code"] == "NOT_FOUND", refused.errors
    assert "not found" in refused.errors[0]["message"].lower()

    # Without a token, the subscription is refused with UNAUTHENTICATED.
    refused = await subscription_error(fast.url, None, session_id)
    assert refused.errors[0]["extensions"]["code"] == "UNAUTHENTICATED", refused.errors
    assert "log in" in refused.errors[0]["message"].lower()

    # With a bad token, the connection itself is refused (4403 Forbidden).
    for payload in ({"Authorization": "Bearer not-a-real-token"}, {"token": "not-a-token"}):
        with pytest.raises(TransportError) as raised:
            async with watching(fast.url, payload, session_id) as watch:
                await watch.next()
        assert not isinstance(raised.value, TransportQueryError)
        assert 4403 in close_codes(raised.value), repr(raised.value)


async def test_fifty_conversations_at_once_each_get_their_own_reply(fast):
    students = await new_students(fast, 50)
    await asyncio.gather(*(s.run(JOIN, code=fast.join_code) for s in students))
    names = sorted(fast.clients)
    session_ids = await asyncio.gather(
        *(s.start_session(fast.clients[names[i % len(names)]]) for i, s in enumerate(students))
    )
    assert len(set(session_ids)) == 50
    contents = [f"Hello, I'm student number {i}. How are you feeling today?" for i in range(50)]

    async with AsyncExitStack() as stack:
        watches = await asyncio.gather(
            *(
                stack.enter_async_context(watching(fast.url, s.init_payload(), sid))
                for s, sid in zip(students, session_ids, strict=True)
            )
        )
        await asyncio.sleep(1.0)  # fifty subscriptions reach a busy server
        turns = await asyncio.gather(
            *(
                s.send(sid, content)
                for s, sid, content in zip(students, session_ids, contents, strict=True)
            )
        )
        replies = await asyncio.wait_for(asyncio.gather(*(w.reply() for w in watches)), 60)
        await asyncio.gather(*(w.quiet_for(0.3) for w in watches))

    sessions = await asyncio.gather(
        *(s.session(sid) for s, sid in zip(students, session_ids, strict=True))
    )
    for sid, content, turn, events, session in zip(
        session_ids, contents, turns, replies, sessions, strict=True
    ):
        reply_id = turn["assistantMessage"]["id"]
        assert_all_of(events, sid, reply_id)  # nothing of anybody else's
        completed = events[-1].data["message"]
        assert completed["status"] == "COMPLETE", events[-1]
        assert applied(events) == completed["content"]
        stored = session["messages"]["nodes"]
        assert [(m["sequenceNumber"], m["role"], m["status"], m["content"]) for m in stored] == [
            (1, "USER", "COMPLETE", content),
            (2, "ASSISTANT", "COMPLETE", completed["content"]),
        ]
        assert [m["id"] for m in stored] == [turn["userMessage"]["id"], reply_id]
        assert session["messageCount"] == 2


async def test_sending_while_the_client_answers_is_a_conflict_but_a_resend_is_the_same_turn(
    slow,
):
    student = slow.demo[STUDENT]
    session_id = await student.start_session(slow.clients[MAYA])
    key = f"turn-{uuid.uuid4()}"
    async with watching(slow.url, student.init_payload(), session_id) as watch:
        turn = await student.send(session_id, OPENER, key)
        with pytest.raises(GraphQLErrors) as refused:
            await student.send(session_id, "Are you still there?")
        resent = await student.send(session_id, OPENER, key)
        events = await watch.reply()
        again = await student.send(session_id, OPENER, key)  # after the reply, too
        await watch.quiet_for(1.0)  # and no second reply streams

    assert refused.value.code == "CONFLICT"
    assert re.search(r"\bwait\b.*\bstop\b", refused.value.errors[0]["message"], re.I), (
        refused.value.errors
    )
    ids = (turn["userMessage"]["id"], turn["assistantMessage"]["id"])
    assert (resent["userMessage"]["id"], resent["assistantMessage"]["id"]) == ids
    assert (again["userMessage"]["id"], again["assistantMessage"]["id"]) == ids
    assert again["assistantMessage"]["status"] == "COMPLETE"

    assert_all_of(events, session_id, turn["assistantMessage"]["id"])
    assert [e.kind for e in events].count("MessageCompleted") == 1
    assert applied(events) == events[-1].data["message"]["content"]
    session = await student.session(session_id)
    assert session["messageCount"] == 2
    assert [m["id"] for m in session["messages"]["nodes"]] == list(ids)


FEEDBACK_EVENTS = """
subscription Feedback($sessionId: ID!) {
  feedbackEvents(sessionId: $sessionId) {
    sessionId status evaluator error
    evaluation { status evaluator advisory rubricName scores { criterionKey level } }
  }
}
"""


async def _feedback_until_done(url: str, payload: dict, session_id: str, into: list) -> None:
    async with ws_client(url, payload) as ws:
        request = GraphQLRequest(FEEDBACK_EVENTS, variable_values={"sessionId": session_id})
        async for result in ws.subscribe(request):
            event = result["feedbackEvents"]
            into.append(event)
            if event["status"] in ("COMPLETED", "FAILED"):
                return


async def test_feedback_arrives_on_its_own_subscription_after_the_session_ends(fast):
    """The demo assignment has the counselling rubric: ending a session brings (offline)
    feedback, which its teacher sees whole and its student only as a status until released."""
    student, teacher = fast.demo[STUDENT], fast.demo[TEACHER]
    session_id = await student.start_session(fast.clients[MAYA])
    async with watching(fast.url, student.init_payload(), session_id) as watch:
        await student.send(session_id, OPENER)
        await watch.reply()
    heard: dict[str, list] = {"student": [], "teacher": []}
    followers = [
        asyncio.create_task(
            _feedback_until_done(fast.url, user.init_payload(), session_id, heard[name])
        )
        for name, user in (("student", student), ("teacher", teacher))
    ]
    await asyncio.sleep(SUBSCRIBED)

    started = time.monotonic()
    await student.run(END, s=session_id)
    async with asyncio.timeout(WAIT):
        await asyncio.gather(*followers)
    took = time.monotonic() - started

    for events in heard.values():
        # Offline, it is evaluated and stored in one step: no RUNNING in between.
        assert [e["status"] for e in events] == ["QUEUED", "COMPLETED"]
        assert {e["sessionId"] for e in events} == {session_id}
        assert {e["evaluator"] for e in events} == {"OFFLINE"}
    done = heard["teacher"][-1]["evaluation"]
    assert (done["status"], done["advisory"]) == ("COMPLETED", True)
    assert done["rubricName"] == "Counselling skills: first session"
    assert [s["criterionKey"] for s in done["scores"]] == [
        "active_listening",
        "open_questions",
        "reflections",
        "empathy",
        "structure_and_summarising",
    ]
    assert all(e["evaluation"] is None for e in heard["student"])  # not released to them
    assert took < 5
