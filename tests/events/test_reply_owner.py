"""Only the process streaming a reply (its owner) knows what the reply's calls cost. Two
`practicum serve` replicas on PostgreSQL and Redis, the fake Anthropic upstream counting the
prompt its own way (as a real tokenizer does), so an estimate never passes for its figures:

- a stop sent to replica B while A streams is carried out by A: CANCELLED with the text
  the student saw, billed with the upstream's own counts, and nothing streams after it;
- an owner stalled past its lease (SIGSTOP) is taken over by B (INTERRUPTED, estimated);
  once it runs again, its own figures replace the estimate, counted once.
"""

from __future__ import annotations

import math
import signal
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from api.config import Settings
from api.conversations.models import Message, MessageRole, Session
from api.runtime import Runtime
from api.usage.models import UsageRecord
from tests.conftest import TEST_JWT_SECRET
from tests.events.replicas import (
    Cluster,
    cluster,
    on,
    postgres_database,
    redis_prefix,
    replica_env,
)
from tests.fakes.anthropic_server import FakeAnthropic, Reply
from tests.limits.conftest import REDIS_URL
from tests.transport.test_replicas import eventually
from tests.transport.test_session_events import OPENER, STOP, applied, watching

pytestmark = pytest.mark.postgres

LONG = " ".join(f"word{n}" for n in range(60))  # ~420 chars, 5 a chunk, 0.04 s apart: ~3.4 s
TOKENIZER_SAYS_MORE = 37  # the upstream's prompt count differs from our estimate by this
FAST_LEASES = {
    "PRACTICUM_REPLY_LEASE_SECONDS": "3",
    "PRACTICUM_REPLY_HEARTBEAT_SECONDS": "1",
    "PRACTICUM_REPLY_SWEEP_SECONDS": "1",
    "PRACTICUM_RATE_LIMIT_MESSAGES_PER_STUDENT": "",
    "PRACTICUM_RATE_LIMIT_MESSAGES_GLOBAL": "",
}


def slow_reply(text: str = LONG) -> Reply:
    return Reply(
        text=text,
        chunk_chars=5,
        delay_between_chunks=0.04,
        extra_input_tokens=TOKENIZER_SAYS_MORE,
    )


@pytest.fixture(scope="module")
async def fake() -> AsyncIterator[FakeAnthropic]:
    with FakeAnthropic(default=slow_reply()) as fake:
        yield fake


@pytest.fixture(scope="module")
async def replicas(fake: FakeAnthropic, tmp_path_factory) -> AsyncIterator[Cluster]:
    async with postgres_database() as database_url, redis_prefix() as prefix:
        env = replica_env(
            database_url,
            REDIS_URL,
            prefix,
            ANTHROPIC_API_KEY=fake.api_key,
            ANTHROPIC_BASE_URL=fake.url,
            **FAST_LEASES,
        )
        with cluster(tmp_path_factory.mktemp("owners") / "data", env) as running:
            yield running


@dataclass
class Books:
    reply: Message
    records: list[UsageRecord]
    totals: tuple[int, int, int, int, object]  # the session's, as stored

    @property
    def sums(self) -> tuple:
        return (
            sum(r.input_tokens for r in self.records),
            sum(r.output_tokens for r in self.records),
            sum(r.cache_write_tokens for r in self.records),
            sum(r.cache_read_tokens for r in self.records),
            sum(r.cost for r in self.records),
        )


async def books(replicas: Cluster, session_id: str) -> Books:
    """The session's reply, its usage records and its totals, as stored."""
    settings = Settings(
        database_url=replicas.env["DATABASE_URL"],
        data_dir=replicas.data_dir,
        jwt_secret=TEST_JWT_SECRET,
    )
    runtime = Runtime.create(settings)
    sid = uuid.UUID(session_id)
    try:
        async with runtime.sessions() as db:
            reply = await db.scalar(
                select(Message).where(
                    Message.session_id == sid, Message.role == MessageRole.ASSISTANT
                )
            )
            records = list(
                await db.scalars(select(UsageRecord).where(UsageRecord.session_id == sid))
            )
            s = await db.get(Session, sid)
            totals = (
                s.input_tokens,
                s.output_tokens,
                s.cache_write_tokens,
                s.cache_read_tokens,
                s.estimated_cost,
            )
    finally:
        await runtime.close()
    return Books(reply, records, totals)


def tokens(text: str) -> int:
    return math.ceil(len(text) / 4)  # how the fake upstream counts text


async def test_a_stop_sent_to_the_other_replica_is_carried_out_by_the_owner(
    replicas: Cluster, fake: FakeAnthropic
):
    fake.default = slow_reply()
    student = await replicas.new_student()
    session_id = await replicas.maya_session(student)
    async with watching(replicas.b, student.init_payload(), session_id) as watch:
        await on(replicas.a, student).send(session_id, OPENER)  # A streams it
        seen = await watch.deltas(10)
        asked = time.monotonic()
        stopped = (await on(replicas.b, student).run(STOP, s=session_id))["stopReply"]
        took = time.monotonic() - asked
        seen += await watch.reply()
        await watch.quiet_for(1.5)  # nothing streams after the stop
    billed = fake.billed[-1]
    kept = await books(replicas, session_id)

    done = seen[-1]
    assert done.kind == "MessageCompleted", [e.kind for e in seen]
    message = stopped["message"]
    assert message["status"] == done.data["message"]["status"] == "CANCELLED"
    # The text the student saw up to the stop, all of it: the owner's, not its last heartbeat
    assert message["content"] == done.data["message"]["content"] == applied(seen)
    assert len(message["content"]) >= 50 and LONG.startswith(message["content"])
    assert took < 2.0, f"the stop took {took:.1f} s"
    # One call, billed as the upstream counted its prompt (not as we estimate it)
    [record] = kept.records
    assert record.outcome == "CANCELLED"
    assert record.input_tokens == billed["input_tokens"]
    assert record.cache_write_tokens == billed["cache_write_tokens"]
    assert record.cache_read_tokens == billed["cache_read_tokens"]
    assert record.output_tokens == tokens(message["content"])  # the text generated so far
    assert kept.totals == kept.sums


@pytest.mark.parametrize(
    ("text", "finds_its_lease_taken"),
    [
        pytest.param(LONG[:200], False, id="streamed-to-the-end-while-stalled"),
        pytest.param(LONG * 2, True, id="still-streaming-when-it-runs-again"),
    ],
)
async def test_an_owner_stalled_past_its_lease_is_taken_over_then_its_usage_is_true(
    replicas: Cluster, fake: FakeAnthropic, text: str, finds_its_lease_taken: bool
):
    # The upstream ends its stream while the owner is stopped (~1.6 s), or goes on for a
    # few seconds after it runs again (~7 s): the owner then finds its lease taken first.
    fake.default = slow_reply(text)
    owner = replicas.servers[0]
    student = await replicas.new_student()
    session_id = await replicas.maya_session(student)
    async with watching(replicas.b, student.init_payload(), session_id) as watch:
        turn = await on(replicas.a, student).send(session_id, OPENER)
        await watch.deltas(3)
        owner.process.send_signal(signal.SIGSTOP)  # stalled: no heartbeat, no stream read
        try:
            event = await watch.next()
            while event is not None and event.kind == "MessageDelta":
                event = await watch.next()
            taken_over = await books(replicas, session_id)
        finally:
            owner.process.send_signal(signal.SIGCONT)
    assert event is not None and event.kind == "MessageFailed", event
    assert taken_over.reply.status.value == "INTERRUPTED"
    [estimate] = taken_over.records
    assert estimate.estimated and estimate.outcome == "INTERRUPTED"

    async def real_figures():
        kept = await books(replicas, session_id)
        return kept if kept.records and not kept.records[0].estimated else None

    kept = await eventually(real_figures)
    billed = fake.billed[-1]
    # What was decided first stays: INTERRUPTED with the text B kept
    assert (kept.reply.status, kept.reply.content) == (
        taken_over.reply.status,
        taken_over.reply.content,
    )
    # The one call, as the upstream billed it, in place of the estimate: counted once
    [record] = kept.records
    assert record.input_tokens == billed["input_tokens"]
    assert record.output_tokens == billed["output_tokens"] == tokens(text)
    assert record.cache_write_tokens == billed["cache_write_tokens"]
    assert kept.totals == kept.sums
    reply_id = turn["assistantMessage"]["id"]
    logged = owner.output()
    assert f"replies {reply_id} were ended by another process" in logged
    if finds_its_lease_taken:  # it read its stream to the end, telling no one
        assert f"reply {reply_id} was taken over by another process" in logged
