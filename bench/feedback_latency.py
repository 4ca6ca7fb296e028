"""Time from ending a session to its feedback being available, and what the feedback costs.

Real engine, real Anthropic SDK, SQLite. Sessions of 20 turns (student and client messages
stored directly, of realistic length) in an assignment with the counselling starter rubric
(5 criteria, levels 1-4) are ended through the conversations service, as endSession does;
the clock runs from asking to end a session (the endSession transaction included) to
the COMPLETED event on the session's feedback channel.

- offline: the offline evaluator (no key), one session, then 50 ending at once;
- model: Claude Haiku 4.5 played by the fake Anthropic server of tests/fakes, answering
  each evaluation with a valid tool call after `--model-seconds` (default 6 s, about 800
  output tokens at Haiku's pace), one session, then 50 ending at once;
- cost: the usage records of one 20-turn evaluation (prompt as actually sent: system
  prompt, tool schema, rubric and transcript), priced at Haiku 4.5's list prices.

Prints one line.

    .venv/bin/python bench/feedback_latency.py [--sessions 50] [--model-seconds 6]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import time
import uuid
from decimal import Decimal

from _common import bench_settings, databases
from pydantic import SecretStr
from sqlalchemy import select

from api.accounts.models import Role
from api.conversations import service as conversations
from api.llm.anthropic import AnthropicProvider  # noqa: F401 - load the SDK before timing
from api.runtime import Runtime
from api.teaching import service as teaching
from api.teaching.live import feedback_channel
from api.teaching.models import EvaluationStatus
from api.teaching.starters import COUNSELLING
from api.usage.models import UsageKind, UsageRecord
from tests.factories.accounts import actor, make_user
from tests.factories.classes import make_assignment, make_section
from tests.factories.clients import make_profile
from tests.factories.conversations import say
from tests.fakes.anthropic_server import FakeAnthropic, ToolUse

TURNS = 20
STUDENT = (
    "Thank you for telling me that. It sounds like this week has been really heavy for you. "
    "What has been the hardest part of it, and how have you been coping with it so far?"
)
CLIENT = (
    "I don't know, it's hard to say. Most days I just get through my lectures and then I sit "
    "in my room. My mum calls on Sundays and I tell her everything is fine, because I don't "
    "want her to worry, but honestly it isn't fine. I keep thinking I should have stayed home."
)
LINE = re.compile(r"^\[(\d+)\] STUDENT: (.+)$", re.MULTILINE)


def answer_from(body: dict) -> dict:
    """A valid, realistically long evaluation of whatever the request asks about."""
    schema = body["tools"][0]["input_schema"]["properties"]["criteria"]["items"]["properties"]
    keys, levels = schema["criterion_key"]["enum"], schema["level"]["enum"]
    said = LINE.findall(body["messages"][0]["content"][0]["text"])
    criteria = []
    for n, key in enumerate(keys):
        quotes = [said[(n * 3 + k) % len(said)] for k in range(2)]
        criteria.append(
            {
                "criterion_key": key,
                "level": levels[len(levels) // 2],
                "justification": "The student does this consistently in the first half of "
                "the session, for example when acknowledging the client's week, but it "
                "fades later, when questions come quickly one after another without a pause "
                "for the client's feelings.",
                "evidence": [
                    {"sequence_number": int(number), "quote": " ".join(text.split()[:9])}
                    for number, text in quotes
                ],
            }
        )
    return {
        "criteria": criteria,
        "strengths": [
            "A warm, steady opening that invites the client to talk.",
            "Frequent reflections of the client's feelings early on.",
        ],
        "next_steps": [
            "Slow down in the second half: reflect before each new question.",
            "Close with a short summary and agree a next step.",
        ],
    }


async def _sessions(runtime: Runtime, count: int) -> tuple[object, list[uuid.UUID]]:
    settings = runtime.settings
    async with runtime.sessions() as db:
        teacher = await make_user(db, Role.TEACHER)
        profile = await make_profile(db, settings, teacher, name="Sam Porter")
        students = [await make_user(db) for _ in range(count)]
        section = await make_section(db, settings, teacher, *students)
        assignment = await make_assignment(db, settings, teacher, section, profile)
        rubric = await teaching.create_rubric(db, actor(teacher), COUNSELLING)
        await teaching.publish_rubric(db, actor(teacher), rubric.id)
        await teaching.set_assignment_rubric(db, actor(teacher), assignment.id, rubric.id)
        await db.commit()
        ids = []
        for student in students:
            session, _ = await conversations.start_session(db, actor(student), settings, profile.id)
            await db.commit()
            for _ in range(TURNS // 2):  # 20 messages in all, not too slow to seed
                await say(db, session, STUDENT, CLIENT)
            ids.append(session.id)
    return students, ids


async def _end_and_time(runtime: Runtime, students, session_ids) -> list[float]:
    """End every session at once; seconds from asking to end each to its feedback."""
    done: dict[uuid.UUID, float] = {}
    ended: dict[uuid.UUID, float] = {}

    async def watch(session_id: uuid.UUID, ready: asyncio.Event) -> None:
        async with runtime.broker.subscribe(feedback_channel(session_id)) as events:
            ready.set()
            async for event in events:
                if event.evaluation.status is EvaluationStatus.COMPLETED:
                    done[session_id] = time.perf_counter()
                    return
                if event.evaluation.status is EvaluationStatus.FAILED:
                    raise RuntimeError(event.evaluation.error)

    async def end(student, session_id: uuid.UUID) -> None:
        ended[session_id] = time.perf_counter()  # endSession asked for
        async with runtime.sessions() as db:
            await conversations.end_session(
                db, actor(student), runtime.replies, session_id, feedback=runtime.evaluations
            )
            await db.commit()

    readies = [asyncio.Event() for _ in session_ids]
    watchers = [asyncio.create_task(watch(s, r)) for s, r in zip(session_ids, readies, strict=True)]
    await asyncio.gather(*(r.wait() for r in readies))
    await asyncio.gather(*(end(u, s) for u, s in zip(students, session_ids, strict=True)))
    async with asyncio.timeout(300):
        await asyncio.gather(*watchers)
    return [done[s] - ended[s] for s in session_ids]


async def _run(settings, count: int) -> tuple[float, list[float], list[UsageRecord]]:
    runtime = Runtime.create(settings)
    try:
        students, ids = await _sessions(runtime, count + 1)
        [single] = await _end_and_time(runtime, students[:1], ids[:1])
        burst = await _end_and_time(runtime, students[1:], ids[1:])
        async with runtime.sessions() as db:
            records = list(
                await db.scalars(
                    select(UsageRecord).where(
                        UsageRecord.session_id == ids[0], UsageRecord.kind == UsageKind.EVALUATION
                    )
                )
            )
    finally:
        await runtime.close()
    return single, burst, records


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def main(count: int, model_seconds: float) -> None:
    async with databases() as found:
        _, url = found[0]
        offline = await _run(bench_settings(url, simulator_delay_seconds=0.0), count)
        with FakeAnthropic() as fake:
            fake.default = ToolUse(answer_from, delay=model_seconds)
            settings = bench_settings(
                url,
                anthropic_api_key=SecretStr(fake.api_key),
                anthropic_base_url=fake.url,
            )
            model = await _run(settings, count)
    _, _, records = model
    [record] = records
    cost = sum((r.cost for r in records), Decimal(0))
    (o_one, o_burst, _), (m_one, m_burst, _) = offline, model
    print(
        f"feedback_latency (SQLite, {TURNS}-turn sessions, 5-criterion rubric): offline "
        f"{o_one * 1000:.0f} ms, {count} at once p50 {_p(o_burst, 50) * 1000:.0f} ms max "
        f"{max(o_burst) * 1000:.0f} ms (target <= 1 s); model answering in {model_seconds:g} s "
        f"{m_one:.1f} s, {count} at once p50 {_p(m_burst, 50):.1f} s max {max(m_burst):.1f} s "
        f"(target <= 30 s, {settings.evaluation_concurrency} at a time); cost of one "
        f"evaluation on claude-haiku-4-5: {record.input_tokens} input + {record.output_tokens} "
        f"output tokens = ${cost:.4f} (at most about ${cost * 3:.4f} when all 3 tries are needed)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--model-seconds", type=float, default=6.0)
    args = parser.parse_args()
    asyncio.run(main(args.sessions, args.model_seconds))
