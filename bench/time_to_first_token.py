"""Time to first token that Practicum adds over calling the model directly.

A fake Anthropic server (tests/fakes, in a process of its own) answers both ways, 50
conversations at once, each
sending its next message when the last reply is done and the student has thought for a
moment (1-5 s by default, drawn at random; `--think 0 1` is a stress pace):
  direct:    the anthropic SDK streams from the fake; time until the first text delta.
  practicum: `practicum serve` (a subprocess, SQLite, ANTHROPIC_BASE_URL = the fake);
             a student sends `sendMessage` over HTTP; time until the first MessageDelta
             with text arrives on its `sessionEvents` subscription (graphql-transport-ws).
Phases of the two alternate, so both see the same machine. Prints one line: the added
p50 and p99 (practicum minus direct) and both distributions. `--burst` sends all 50
messages at the same instant instead (the worst case).

    .venv/bin/python bench/time_to_first_token.py [--turns 6]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import anthropic
import httpx
import websockets
from _common import JWT_SECRET, Student, bench_settings, percentile, seed_students

from api.db.migrate import upgrade
from tests.fakes.anthropic_server import FakeAnthropic, Reply
from tests.transport.conftest import free_port, practicum_env

CONVERSATIONS = 50
FIRST_TOKEN_DELAY = 0.05  # the model "thinks" for 50 ms, both ways
SEND = """mutation($s: ID!, $c: String!) {
  sendMessage(sessionId: $s, content: $c) { assistantMessage { id } } }"""
EVENTS = """subscription($s: ID!) { sessionEvents(sessionId: $s) {
  __typename ... on MessageDelta { delta } } }"""


def _fake_server(found: multiprocessing.Queue) -> None:
    """The fake upstream, in its own process so it never waits for the bench's GIL."""
    fake = FakeAnthropic(default=Reply(first_token_delay=FIRST_TOKEN_DELAY)).start()
    found.put((fake.url, fake.api_key))
    threading.Event().wait()


def _start_fake() -> tuple[multiprocessing.Process, str, str]:
    found: multiprocessing.Queue = multiprocessing.Queue()
    process = multiprocessing.Process(target=_fake_server, args=(found,), daemon=True)
    process.start()
    url, key = found.get(timeout=30)
    return process, url, key


THINK = (1.0, 5.0)  # seconds a student takes to read the reply and write the next message


async def _think(burst: bool, rng: random.Random) -> None:
    await asyncio.sleep(0 if burst else rng.uniform(*THINK))


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
    """`count` conversations of `turns` turns each; `turn(i, n)` returns one TTFT."""
    rng = random.Random(seed)

    async def conversation(i: int) -> list[float]:
        found = []
        for n in range(turns):
            await _think(burst, rng)
            found.append(await turn(i, n))
        return found

    results = await asyncio.gather(*(conversation(i) for i in range(count)))
    return [ttft for conversation_ttfts in results for ttft in conversation_ttfts]


class Conversation:
    """One student's websocket subscription and HTTP client."""

    def __init__(self, url: str, student: Student) -> None:
        self.url, self.student = url, student
        self.events: asyncio.Queue[dict] = asyncio.Queue()

    async def open(self, http: httpx.AsyncClient) -> None:
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

    async def turn(self, n: int) -> float:
        started = time.perf_counter()
        response = await self.http.post(
            "/graphql",
            json={"query": SEND, "variables": {"s": self.student.session_id, "c": f"Q{n}?"}},
            headers={"authorization": f"Bearer {self.student.token}"},
        )
        assert "errors" not in response.json(), response.text
        first = None
        while True:
            event = await self.events.get()
            if first is None and event["__typename"] == "MessageDelta" and event["delta"]:
                first = time.perf_counter() - started
            if event["__typename"] in ("MessageCompleted", "MessageFailed"):
                assert event["__typename"] == "MessageCompleted", event
                return first * 1000

    async def close(self) -> None:
        self.reader.cancel()
        await self.ws.close()


def _serve(data_dir: Path, fake_url: str, fake_key: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = practicum_env(
        data_dir,
        ANTHROPIC_API_KEY=fake_key,
        ANTHROPIC_BASE_URL=fake_url,
        PRACTICUM_JWT_SECRET=JWT_SECRET,
    )
    practicum = Path(sys.executable).parent / "practicum"
    process = subprocess.Popen(
        [str(practicum), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("practicum serve did not become ready")


async def main(turns: int, conversations_count: int, burst: bool) -> None:
    global CONVERSATIONS
    CONVERSATIONS = conversations_count
    data_dir = Path(tempfile.mkdtemp(prefix="practicum-ttft-"))
    url = f"sqlite+aiosqlite:///{data_dir / 'practicum.db'}"
    await asyncio.to_thread(upgrade, url)
    os.environ["ANTHROPIC_API_KEY"] = "test-key"  # so the seeded sessions use Claude
    settings = bench_settings(url, anthropic_api_key="test-key")
    students = await seed_students(settings, CONVERSATIONS)
    fake, fake_url, fake_key = _start_fake()
    process, base = _serve(data_dir, fake_url, fake_key)
    # The SDK as Practicum's provider sets it up.
    direct_client = anthropic.AsyncAnthropic(
        api_key=fake_key,
        base_url=fake_url,
        max_retries=0,
        http_client=anthropic.DefaultAioHttpClient(),
    )
    limits = httpx.Limits(max_connections=CONVERSATIONS)
    try:
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
            conversations = [Conversation(base, s) for s in students]
            await asyncio.gather(*(c.open(http) for c in conversations))

            async def direct_turn(i: int, n: int) -> float:
                return await _direct_ttft(direct_client, n)

            async def practicum_turn(i: int, n: int) -> float:
                return await conversations[i].turn(n)

            direct, practicum = [], []
            for phase in range(3):  # the first is a warm-up
                d = await _phase(direct_turn, CONVERSATIONS, turns, burst, phase)
                p = await _phase(practicum_turn, CONVERSATIONS, turns, burst, phase)
                if phase:
                    direct, practicum = direct + d, practicum + p
            await asyncio.gather(*(c.close() for c in conversations))
    finally:
        process.terminate()
        process.wait(timeout=10)
        fake.terminate()
        await direct_client.close()

    def summary(values: list[float]) -> str:
        return f"p50 {percentile(values, 0.5):.1f} p99 {percentile(values, 0.99):.1f}"

    added_p50 = percentile(practicum, 0.5) - percentile(direct, 0.5)
    added_p99 = percentile(practicum, 0.99) - percentile(direct, 0.99)
    pattern = "all at once" if burst else f"{THINK[0]:g}-{THINK[1]:g} s between turns"
    print(
        f"time_to_first_token ({CONVERSATIONS} conversations x {2 * turns} turns, {pattern}): "
        f"added p50 {added_p50:.1f} ms, p99 {added_p99:.1f} ms "
        f"(practicum {summary(practicum)} ms; direct SDK {summary(direct)} ms)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=4, help="turns per conversation and phase")
    parser.add_argument("--conversations", type=int, default=CONVERSATIONS)
    parser.add_argument("--burst", action="store_true", help="all send at the same instant")
    parser.add_argument("--think", type=float, nargs=2, default=THINK, metavar=("MIN", "MAX"))
    args = parser.parse_args()
    THINK = tuple(args.think)
    asyncio.run(main(args.turns, args.conversations, args.burst))
