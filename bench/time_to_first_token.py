"""Time to first token that Practicum adds over calling the model directly.

A fake Anthropic server (tests/fakes, in a process of its own) answers both ways: the
first token 100 ms after the request, then 40 tokens 5 ms apart. 1, 10 and 50
conversations at once (`--students`), each sending its next message when the last reply
is done and the student has thought for a moment (1-5 s by default, drawn at random;
`--think 0 1` is a stress pace):
  direct:    the anthropic SDK streams from the fake; time until the first text delta.
  practicum: `practicum serve` (a subprocess, SQLite, ANTHROPIC_BASE_URL = the fake);
             a student sends `sendMessage` over HTTP; time until the first MessageDelta
             with text arrives on its `sessionEvents` subscription (graphql-transport-ws).
Phases of the two alternate, so both see the same machine. Prints one line: per number
of students the added p50 and p99 (practicum minus direct, same percentile), and the
server's CPU time per turn (its process CPU seconds over the turns it served: a figure
that other work on the machine disturbs far less than wall-clock time). `--burst`: each
round, all students send at the same instant (a class told "start now").
`--workers N` serves with `practicum serve --workers N` (when the command has it), its
events crossing the workers through Redis (REDIS_URL of the tests, a prefix of its own).
A turn that fails (an error, a failed reply, no answer within a minute) ends its
conversation's part in the run and is reported on the line instead of stopping the run.
`--profile FILE` records the server with py-spy (200 Hz) during the largest run.
`--against DIR` serves another checkout's code too (same students, a copy of the
database), its phases alternating with this code's: a before/after in one run.

    .venv/bin/python bench/time_to_first_token.py --burst [--students 1 10 50] [--turns 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp
import anthropic
import websockets
from _common import Student, bench_settings, match_schema, percentile, seed_students, serve

from api.db.migrate import upgrade
from tests.events.replicas import redis_prefix
from tests.fakes.anthropic_server import FakeAnthropic, Reply
from tests.limits.conftest import REDIS_URL

STUDENTS = (1, 10, 50)
# The upstream of the measurement: first token after 100 ms, then 40 tokens 5 ms apart.
TOKENS = 41
UPSTREAM = Reply(
    text="".join(f"w{n:03d} " for n in range(TOKENS)),
    chunk_chars=5,
    first_token_delay=0.1,
    delay_between_chunks=0.005,
)
SEND = """mutation($s: ID!, $c: String!) {
  sendMessage(sessionId: $s, content: $c) { assistantMessage { id } } }"""
EVENTS = """subscription($s: ID!) { sessionEvents(sessionId: $s) {
  __typename ... on MessageDelta { delta } } }"""


def _fake_server(found: multiprocessing.Queue) -> None:
    """The fake upstream, in its own process so it never waits for the bench's GIL."""
    fake = FakeAnthropic(default=UPSTREAM).start()
    found.put((fake.url, fake.api_key))
    threading.Event().wait()


def _start_fake() -> tuple[multiprocessing.Process, str, str]:
    found: multiprocessing.Queue = multiprocessing.Queue()
    process = multiprocessing.Process(target=_fake_server, args=(found,), daemon=True)
    process.start()
    url, key = found.get(timeout=30)
    return process, url, key


THINK = (1.0, 5.0)  # seconds a student takes to read the reply and write the next message
BURST_PAUSE = 0.5  # between rounds of a burst, so that each round starts on a quiet server


async def _direct_ttft(client: anthropic.AsyncAnthropic, n: int) -> float:
    started = time.perf_counter()
    stream = await client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=300,
        system="You are a client in a practice conversation.",
        messages=[{"role": "user", "content": f"Hello there, question number {n}?"}],
        stream=True,
    )
    first = None
    async for event in stream:
        if first is None and event.type == "content_block_delta":
            first = time.perf_counter() - started
    return first * 1000


async def _phase(turn, count: int, turns: int, burst: bool, seed: int) -> list[float]:
    """`count` conversations of `turns` turns each; `turn(i, n)` returns one TTFT. A burst
    runs in rounds: every conversation sends at the same instant."""
    if burst:
        found = []
        for n in range(turns):
            found += await asyncio.gather(*(turn(i, n) for i in range(count)))
            await asyncio.sleep(BURST_PAUSE)
        return [ttft for ttft in found if ttft is not None]
    rng = random.Random(seed)

    async def conversation(i: int) -> list[float]:
        found = []
        for n in range(turns):
            await asyncio.sleep(rng.uniform(*THINK))
            found.append(await turn(i, n))
        return found

    results = await asyncio.gather(*(conversation(i) for i in range(count)))
    return [ttft for found in results for ttft in found if ttft is not None]


def students_http(base: str, students: int) -> aiohttp.ClientSession:
    """The students' HTTP client: aiohttp, as the direct calls use (the SDK's aiohttp
    client), so that the client's own cost is not counted as what Practicum adds."""
    connector = aiohttp.TCPConnector(limit=students)
    return aiohttp.ClientSession(base, connector=connector, timeout=aiohttp.ClientTimeout(60))


class TurnFailed(Exception):
    pass


TURN_TIMEOUT = 60.0  # seconds; a turn that takes longer counts as failed


class Conversation:
    """One student's websocket subscription and HTTP client."""

    def __init__(self, url: str, student: Student) -> None:
        self.url, self.student = url, student
        self.events: asyncio.Queue[dict] = asyncio.Queue()
        self.failed: str | None = None  # why a turn of it failed

    async def open(self, http: aiohttp.ClientSession) -> None:
        self.http = http
        ws_url = self.url.replace("http", "ws") + "/graphql"
        self.ws = await websockets.connect(ws_url, subprotocols=["graphql-transport-ws"])
        init = {"type": "connection_init", "payload": {"token": self.student.token}}
        await self.ws.send(json.dumps(init))
        assert json.loads(await self.ws.recv())["type"] == "connection_ack"
        subscribe = {"query": EVENTS, "variables": {"s": self.student.session_id}}
        await self.ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            if message["type"] == "next":
                await self.events.put(message["payload"]["data"]["sessionEvents"])

    async def turn(self, n: int) -> float | None:
        """The time to the first token of one turn; None when the turn failed (counted
        and reported, not a crash: one lost turn must not cost the run's line)."""
        if self.failed is not None:
            return None  # an earlier reply may still be arriving: this conversation is done
        try:
            async with asyncio.timeout(TURN_TIMEOUT):
                return await self._turn(n)
        except (TurnFailed, TimeoutError, aiohttp.ClientError) as failed:
            self.failed = str(failed) or type(failed).__name__
            return None

    async def _turn(self, n: int) -> float:
        started = time.perf_counter()
        async with self.http.post(
            "/graphql",
            json={"query": SEND, "variables": {"s": self.student.session_id, "c": f"Q{n}?"}},
            headers={"authorization": f"Bearer {self.student.token}"},
        ) as response:
            answer = await response.json()
        if "errors" in answer:
            raise TurnFailed(answer["errors"][0]["message"])
        first = None
        while True:
            event = await self.events.get()
            if first is None and event["__typename"] == "MessageDelta" and event["delta"]:
                first = time.perf_counter() - started
            if event["__typename"] == "MessageFailed":
                raise TurnFailed("the reply failed")
            if event["__typename"] == "MessageCompleted":
                return first * 1000

    async def close(self) -> None:
        self.reader.cancel()
        await self.ws.close()


def _serve(
    data_dir: Path,
    fake_url: str,
    fake_key: str,
    workers: int,
    code: str | None = None,
    redis_prefix: str | None = None,
) -> tuple[subprocess.Popen, str]:
    env = {"ANTHROPIC_API_KEY": fake_key, "ANTHROPIC_BASE_URL": fake_url}
    if redis_prefix is not None:  # several workers: a student's socket and sends may differ
        env |= {"REDIS_URL": REDIS_URL, "PRACTICUM_REDIS_PREFIX": redis_prefix}
    return serve(data_dir, workers, env, code)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children (workers) so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for one in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def _children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return []
    return [int(child) for child in found]


def _has_workers_option() -> bool:
    practicum = Path(sys.executable).parent / "practicum"
    shown = subprocess.run([str(practicum), "serve", "--help"], capture_output=True, text=True)
    return "--workers" in shown.stdout


class Served:
    """One `practicum serve` (this code, or the checkout given by --against) and its
    students' sockets."""

    def __init__(self, label: str, data_dir: Path, code: str | None) -> None:
        self.label, self.data_dir, self.code = label, data_dir, code
        self.cpu, self.served = 0.0, 0
        self.added: list[str] = []

    async def start(
        self,
        students: list[Student],
        fake_url: str,
        fake_key: str,
        workers: int,
        redis_prefix: str | None,
    ):
        self.process, self.base = _serve(
            self.data_dir, fake_url, fake_key, workers, self.code, redis_prefix
        )
        self.http = students_http(self.base, len(students))
        self.conversations = [Conversation(self.base, s) for s in students]
        await asyncio.gather(*(c.open(self.http) for c in self.conversations))

    async def turn(self, i: int, n: int) -> float | None:
        return await self.conversations[i].turn(n)

    def failures(self) -> str:
        failed = [c.failed for c in self.conversations if c.failed is not None]
        return f", {len(failed)} conversations failed ({failed[0]})" if failed else ""

    async def stop(self) -> None:
        await asyncio.gather(*(c.close() for c in getattr(self, "conversations", [])))
        if hasattr(self, "http"):
            await self.http.close()
        if hasattr(self, "process"):
            self.process.terminate()
            self.process.wait(timeout=30)


async def main(
    turns: int,
    counts: list[int],
    burst: bool,
    workers: int,
    profile: str | None,
    against: str | None,
) -> None:
    if workers > 1 and not _has_workers_option():
        print("time_to_first_token: `practicum serve --workers` does not exist here")
        return
    most = max(counts)
    data_dir = Path(tempfile.mkdtemp(prefix="practicum-ttft-"))
    url = f"sqlite+aiosqlite:///{data_dir / 'practicum.db'}"
    await asyncio.to_thread(upgrade, url)
    os.environ["ANTHROPIC_API_KEY"] = "test-key"  # so the seeded sessions use Claude
    settings = bench_settings(url, anthropic_api_key="test-key")
    students = await seed_students(settings, most)
    servers = [Served("this code", data_dir, None)]
    if against:  # the same students and sessions, in a copy of the database
        copy = await asyncio.to_thread(_copy_database, data_dir, against)
        servers.append(Served(against, copy, against))
    fake, fake_url, fake_key = _start_fake()
    # The SDK as Practicum's provider sets it up.
    direct_client = anthropic.AsyncAnthropic(
        api_key=fake_key,
        base_url=fake_url,
        max_retries=0,
        http_client=anthropic.DefaultAioHttpClient(),
    )

    async def direct_turn(i: int, n: int) -> float:
        return await _direct_ttft(direct_client, n)

    try:
        async with AsyncExitStack() as redis:
            prefixes = None
            if workers > 1:  # each server's events cross its workers through Redis
                prefixes = [await redis.enter_async_context(redis_prefix()) for _ in servers]
            try:
                for n, server in enumerate(servers):
                    prefix = prefixes[n] if prefixes else None
                    await server.start(students, fake_url, fake_key, workers, prefix)
                direct = await _measure(servers, counts, turns, burst, profile, direct_turn)
            finally:
                for server in servers:
                    await server.stop()
    finally:
        fake.terminate()
        await direct_client.close()

    pattern = "all at once" if burst else f"{THINK[0]:g}-{THINK[1]:g} s between turns"
    serving = f"{workers} workers, Redis broker" if workers > 1 else "one process"
    figures = [
        f"{server.label}: "
        + ", ".join(server.added)
        + f", server CPU {server.cpu / max(server.served, 1) * 1000:.1f} ms per turn"
        + server.failures()
        for server in servers
    ]
    print(
        f"time_to_first_token ({pattern}, {serving}, {2 * turns} turns each; "
        f"students: added p50/p99; direct p50 {percentile(direct, 0.5):.0f} ms): "
        + "; ".join(figures)
    )


async def _measure(servers, counts, turns, burst, profile, direct_turn) -> list[float]:
    """Each number of students in turn, direct and served phases alternating; adds each
    server's figures to it; returns the direct times of the last number."""
    most = max(counts)
    for count in counts:
        direct: list[float] = []
        practicum: dict[str, list[float]] = {server.label: [] for server in servers}
        spy = None
        for phase in range(3):  # the first is a warm-up, of one turn each
            rounds = turns if phase else 1
            d = await _phase(direct_turn, count, rounds, burst, phase)
            direct += d if phase else []
            for server in servers:
                if phase and profile and count == most and server is servers[0]:
                    spy = _py_spy(server.process.pid, profile) if spy is None else spy
                cpu = cpu_seconds(server.process.pid)
                p = await _phase(server.turn, count, rounds, burst, phase)
                if phase:
                    server.cpu += cpu_seconds(server.process.pid) - cpu
                    server.served += len(p)
                    practicum[server.label] += p
        if spy is not None:
            spy.send_signal(2)  # SIGINT: py-spy writes what it recorded
            spy.wait(timeout=60)
        for server in servers:
            found = practicum[server.label]
            if not found:
                server.added.append(f"{count}: no turn completed")
                continue
            added_p50 = percentile(found, 0.5) - percentile(direct, 0.5)
            added_p99 = percentile(found, 0.99) - percentile(direct, 0.99)
            server.added.append(f"{count}: +{added_p50:.0f}/+{added_p99:.0f} ms")
    return direct


def _copy_database(data_dir: Path, code: str) -> Path:
    other = Path(tempfile.mkdtemp(prefix="practicum-ttft-against-"))
    for found in data_dir.glob("practicum.db*"):
        shutil.copy(found, other / found.name)
    match_schema(f"sqlite+aiosqlite:///{other / 'practicum.db'}", code)
    return other


def _py_spy(pid: int, output: str) -> subprocess.Popen:
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    # --nonblocking: stopping the server for each sample cost it several times its CPU.
    command = [spy, "record", "--nonblocking", "-r", "200", "-p", str(pid)]
    command += ["-o", output, "--format", "raw"]
    if output.endswith(".svg"):
        command = command[:-2]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=4, help="turns per conversation and phase")
    parser.add_argument("--students", type=int, nargs="+", default=list(STUDENTS))
    parser.add_argument("--burst", action="store_true", help="all send at the same instant")
    parser.add_argument("--think", type=float, nargs=2, default=THINK, metavar=("MIN", "MAX"))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--profile", help="py-spy output (.txt: collapsed stacks, .svg)")
    parser.add_argument(
        "--against",
        metavar="DIR",
        help="also serve another checkout's code (e.g. `git worktree add DIR main`), "
        "phases alternating with this code's, to compare in one run",
    )
    args = parser.parse_args()
    THINK = tuple(args.think)
    asyncio.run(
        main(args.turns, args.students, args.burst, args.workers, args.profile, args.against)
    )
