"""Completed turns per second on one process, with a zero-latency model.

Each of 50 students sends a message (GraphQL into the full ASGI app), the reply streams
from the offline simulator with no pause between words, and the turn counts once its
reply is stored COMPLETE with its usage record. The same again calling the conversations
service directly shows what the GraphQL layer costs. Prints one line, SQLite and
PostgreSQL.

`--against DIR`: instead, runs of this bench in this checkout and in DIR (another checkout,
e.g. `git worktree add DIR main`) alternate, `--pairs` times, which goes first alternating
too; the line gives each one's median turns/s per database and their ratio. The machines
are noisy (the same code has measured 107 and 206 turns/s minutes apart): only runs taken
side by side compare.

`--workers N`: instead, `practicum serve` with one worker and with N (events through
Redis, as several workers need), the students sending over HTTP and hearing each reply end
on their `sessionEvents` websocket, from this process; the same line then gives both rates
and their ratio per database.

    .venv/bin/python bench/turns_per_second.py [--turns 20] [--workers 2] [--against DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import uvloop
from _common import AsgiClient, bench_settings, databases, seed_students, serve
from sqlalchemy import func, select
from time_to_first_token import Conversation, students_http

from api.accounts import service as accounts
from api.accounts.security import read_token
from api.app import create_app
from api.conversations import service as conversations
from api.conversations.models import Message, MessageStatus
from tests.events.replicas import redis_prefix
from tests.factories.conversations import settled
from tests.limits.conftest import REDIS_URL

SEND = """mutation($s: ID!, $c: String!) {
  sendMessage(sessionId: $s, content: $c) { assistantMessage { id } } }"""
STUDENTS = 50
ROUNDS = 3  # the machine is noisy: the median of three runs is reported


def _through_graphql(app):
    client = AsgiClient(app)

    async def send(token: str, session_id: str, content: str) -> None:
        variables = {"s": session_id, "c": content}
        answer = await client.post({"query": SEND, "variables": variables}, token)
        assert "errors" not in answer, answer

    return send


def _through_the_service(app):
    runtime = app.state.runtime
    settings = runtime.settings

    async def send(token: str, session_id: str, content: str) -> None:
        login = read_token(token, settings.signing_secret())
        async with runtime.sessions() as db:
            student = await accounts.stored_actor(db, login.user_id)  # as every operation does
            await conversations.send_message(
                db,
                student,
                settings,
                runtime.replies,
                uuid.UUID(session_id),
                content,
                limits=runtime.turn_limits,
            )
            await db.commit()

    return send


async def _measure(url: str, turns: int, sender=_through_graphql) -> tuple[float, float]:
    settings = bench_settings(url, simulator_delay_seconds=0.0)
    students = await seed_students(settings, STUDENTS)
    app = create_app(settings)
    runtime = app.state.runtime
    send = sender(app)

    async def practise(token: str, session_id: str) -> None:
        for n in range(turns):
            await send(token, session_id, f"Question {n}?")
            await settled(runtime.replies, uuid.UUID(session_id))

    await practise(students[0].token, students[0].session_id)  # warm up
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(practise(s.token, s.session_id) for s in students[1:]))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    async with runtime.sessions() as db:
        complete = await db.scalar(
            select(func.count()).where(
                Message.session_id.in_([uuid.UUID(s.session_id) for s in students]),
                Message.status == MessageStatus.COMPLETE,
                Message.role == "ASSISTANT",
            )
        )
    await runtime.close()
    expected = turns * STUDENTS
    assert complete == expected, f"{complete} of {expected} replies complete"
    done = turns * (STUDENTS - 1)
    return done / elapsed, cpu / done * 1000


async def _served(url: str, workers: int, turns: int) -> float:
    """Completed turns per second of `practicum serve --workers N` on database `url`."""
    settings = bench_settings(url, simulator_delay_seconds=0.0)
    students = await seed_students(settings, STUDENTS)
    async with redis_prefix() as prefix:
        env = {
            "DATABASE_URL": url,
            "REDIS_URL": REDIS_URL,
            "PRACTICUM_REDIS_PREFIX": prefix,
            "PRACTICUM_SIMULATOR_DELAY_SECONDS": "0",
        }
        process, base = serve(settings.data_dir, workers, env)
        http = students_http(base, STUDENTS)
        conversations = [Conversation(base, student) for student in students]
        try:
            await asyncio.gather(*(c.open(http) for c in conversations))

            async def practise(conversation: Conversation) -> int:
                return sum([await conversation.turn(n) is not None for n in range(turns)])

            await practise(conversations[0])  # warm up
            started = time.perf_counter()
            done = await asyncio.gather(*(practise(c) for c in conversations[1:]))
            elapsed = time.perf_counter() - started
        finally:
            await asyncio.gather(*(c.close() for c in conversations if hasattr(c, "ws")))
            await http.close()
            process.terminate()
            process.wait(timeout=30)
    return sum(done) / elapsed


async def _each_database(measure) -> list[str]:
    """`await measure(name, url)` on SQLite and on PostgreSQL: their figures."""
    results = []
    async with databases() as found:
        for name, url in found:
            results.append(f"{name} not reachable" if url is None else await measure(name, url))
    return results


async def main_workers(turns: int, workers: int) -> None:
    async def one_against_several(name: str, url: str) -> str:
        one = await _served(url, 1, turns)
        several = await _served(url, workers, turns)
        return (
            f"{name} {one:.0f} turns/s with one worker, {several:.0f} with {workers} "
            f"({several / one:.2f}x)"
        )

    results = await _each_database(one_against_several)
    print(
        f"turns_per_second ({STUDENTS} students, zero-latency model, practicum serve over "
        f"HTTP and websockets, Redis broker): " + ", ".join(results)
    )


async def main(turns: int) -> None:
    async def in_process(name: str, url: str) -> str:
        graphql = sorted([await _measure(url, turns) for _ in range(ROUNDS)])
        (low, _), (rate, cpu_ms), (high, _) = graphql[0], graphql[ROUNDS // 2], graphql[-1]
        service = sorted([await _measure(url, turns, _through_the_service) for _ in range(ROUNDS)])
        return (
            f"{name} {rate:.0f} turns/s (runs {low:.0f}-{high:.0f}; "
            f"{cpu_ms:.1f} ms CPU per turn; the service alone "
            f"{service[ROUNDS // 2][0]:.0f} turns/s)"
        )

    results = await _each_database(in_process)
    print(f"turns_per_second ({STUDENTS} students, zero-latency model): " + ", ".join(results))


def _one_run(checkout: Path, turns: int) -> dict[str, float]:
    """Turns/s per database of one run of this bench as found in `checkout`."""
    script = checkout / "bench" / "turns_per_second.py"
    run = [sys.executable, str(script), "--turns", str(turns)]
    line = subprocess.run(run, cwd=checkout, capture_output=True, text=True, check=True).stdout
    return {
        name: float(rate) for name, rate in re.findall(r"(sqlite|postgres) (\d+) turns/s", line)
    }


def main_against(turns: int, other: str, pairs: int) -> None:
    here, there = Path(__file__).resolve().parents[1], Path(other).resolve()
    runs: dict[Path, list[dict[str, float]]] = {here: [], there: []}
    for pair in range(pairs):
        for checkout in (here, there) if pair % 2 == 0 else (there, here):
            runs[checkout].append(_one_run(checkout, turns))
    figures = []
    for name in ("sqlite", "postgres"):
        mine = statistics.median(r[name] for r in runs[here] if name in r)
        theirs = statistics.median(r[name] for r in runs[there] if name in r)
        figures.append(f"{name} {mine:.0f} turns/s against {theirs:.0f} ({mine / theirs:.2f}x)")
    print(
        f"turns_per_second ({STUDENTS} students, zero-latency model, medians of {pairs} "
        f"alternating runs each; this code against {there}): " + ", ".join(figures)
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=10, help="turns per student")
    parser.add_argument("--workers", type=int, default=1, help="served: one worker against N")
    parser.add_argument("--against", metavar="DIR", help="another checkout, runs alternating")
    parser.add_argument("--pairs", type=int, default=4, help="with --against: runs of each")
    args = parser.parse_args()
    if args.against:
        main_against(args.turns, args.against, args.pairs)
    elif args.workers > 1:
        uvloop.run(main_workers(args.turns, args.workers))
    else:
        uvloop.run(main(args.turns))  # the loop `practicum serve` runs on
