"""1,000 idle `sessionEvents` subscribers on one process: memory each, and how long one
reply takes to reach all of them.

`practicum serve` (a subprocess, SQLite) with the fake Anthropic upstream in a process of
its own (first token after 100 ms, then 40 tokens 5 ms apart). 1,000 websockets
(graphql-transport-ws, loopback) subscribe to one session's events:
  memory:  the server's RSS growth over the 1,000 subscriptions, per subscriber; the same
           for a bare Strawberry + uvicorn app with a subscription that waits (the
           baseline: what any subscriber costs there), in the same run.
  fan-out: the student sends a message; for every subscriber, the time from the
           upstream sending its last token (the fake's clock: time.monotonic is one
           clock for every process of the machine) to the subscriber holding the whole
           text; p50/p99 over all subscribers and replies, and the median over replies
           of the time until the last subscriber had it; and the server's CPU time per
           reply (far less disturbed by other work on the machine than wall-clock time).
Prints one line. `--against DIR` measures another checkout's code too (after this one).

    .venv/bin/python bench/subscribers.py [--subscribers 1000] [--replies 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import websockets
from _common import (
    JWT_SECRET,
    UNREACHED_LIMITS_ENV,
    bench_settings,
    match_schema,
    percentile,
    seed_students,
)
from time_to_first_token import UPSTREAM, cpu_seconds

from api.db.migrate import upgrade
from tests.fakes.anthropic_server import FakeAnthropic
from tests.transport.conftest import free_port, practicum_env

SUBSCRIBERS = 1000
TEXT_LENGTH = len(UPSTREAM.text)
SEND = """mutation($s: ID!, $c: String!) {
  sendMessage(sessionId: $s, content: $c) { assistantMessage { id } } }"""
EVENTS = """subscription($s: ID!) { sessionEvents(sessionId: $s) {
  __typename ... on MessageDelta { offset delta } } }"""
BARE_APP = """
import asyncio
import strawberry
from strawberry.fastapi import GraphQLRouter
from fastapi import FastAPI

@strawberry.type
class Query:
    hello: str = "hello"

@strawberry.type
class Subscription:
    @strawberry.subscription
    async def events(self, session_id: strawberry.ID) -> str:
        await asyncio.Event().wait()
        yield ""

app = FastAPI()
schema = strawberry.Schema(Query, subscription=Subscription)
app.include_router(GraphQLRouter(schema), prefix="/graphql")
"""
BARE_EVENTS = "subscription($s: ID!) { events(sessionId: $s) }"


def _fake_server(found: multiprocessing.Queue, finished: multiprocessing.Queue) -> None:
    """The fake upstream in its own process; tells when each stream sent its last token."""
    fake = FakeAnthropic(default=UPSTREAM).start()
    found.put((fake.url, fake.api_key))
    told = 0
    while True:
        while told < len(fake.last_tokens):
            finished.put(fake.last_tokens[told])
            told += 1
        threading.Event().wait(0.005)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def settled_rss(pid: int) -> int:
    """RSS once it has stopped growing for a second."""
    last, steady = rss_bytes(pid), 0
    while steady < 4:
        await asyncio.sleep(0.25)
        now = rss_bytes(pid)
        steady = steady + 1 if now == last else 0
        last = now
    return last


class Subscriber:
    def __init__(self) -> None:
        self.whole_at: list[float] = []  # when it held each reply's whole text

    async def open(self, url: str, token: str | None, query: str, session_id: str) -> None:
        self.ws = await websockets.connect(
            url, subprotocols=["graphql-transport-ws"], max_queue=None, compression=None
        )
        await self.ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
        assert json.loads(await self.ws.recv())["type"] == "connection_ack"
        subscribe = {"query": query, "variables": {"s": session_id}}
        await self.ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))

    def listen(self) -> None:
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            if message["type"] != "next":
                continue
            event = message["payload"]["data"]["sessionEvents"]
            if event["__typename"] == "MessageDelta":
                if event["offset"] + len(event["delta"]) == TEXT_LENGTH:
                    self.whole_at.append(time.monotonic())

    async def close(self) -> None:
        if hasattr(self, "reader"):
            self.reader.cancel()
        await self.ws.close()


async def _open_all(count: int, url: str, token: str | None, query: str, session_id: str):
    subscribers = [Subscriber() for _ in range(count)]
    for start in range(0, count, 50):  # 50 handshakes at a time
        batch = subscribers[start : start + 50]
        await asyncio.gather(*(s.open(url, token, query, session_id) for s in batch))
    return subscribers


def _wait_ready(url: str, process: subprocess.Popen) -> None:
    for _ in range(300):
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{url} did not answer")


def _start_bare(port: int) -> subprocess.Popen:
    folder = Path(tempfile.mkdtemp(prefix="bare-strawberry-"))
    (folder / "bare_app.py").write_text(BARE_APP)
    command = [sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port)]
    return subprocess.Popen(
        [*command, "--log-level", "warning"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _start_practicum(port: int, env: dict[str, str], code: str | None) -> subprocess.Popen:
    if code is not None:  # another checkout's `api` package, ahead of this one
        env["PYTHONPATH"] = str(Path(code).resolve())
    command = [str(Path(sys.executable).parent / "practicum"), "serve", "--port", str(port)]
    return subprocess.Popen(
        [*command, "--host", "127.0.0.1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def bare_baseline(count: int) -> float:
    """Bytes per idle subscriber of a bare Strawberry + uvicorn app."""
    port = free_port()
    process = _start_bare(port)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/graphql?query=%7Bhello%7D", process)
        url = f"ws://127.0.0.1:{port}/graphql"
        warm = await _open_all(1, url, None, BARE_EVENTS, "1")
        await warm[0].close()
        before = await settled_rss(process.pid)
        subscribers = await _open_all(count, url, None, BARE_EVENTS, "1")
        after = await settled_rss(process.pid)
        await asyncio.gather(*(s.close() for s in subscribers))
        return (after - before) / count
    finally:
        process.terminate()
        process.wait(timeout=30)


async def practicum(count: int, replies: int, code: str | None) -> dict[str, float]:
    data_dir = Path(tempfile.mkdtemp(prefix="practicum-subscribers-"))
    url = f"sqlite+aiosqlite:///{data_dir / 'practicum.db'}"
    await asyncio.to_thread(upgrade, url)
    os.environ["ANTHROPIC_API_KEY"] = "test-key"  # so the seeded session uses Claude
    [student] = await seed_students(bench_settings(url, anthropic_api_key="test-key"), 1)
    if code is not None:
        await asyncio.to_thread(match_schema, url, code)
    found: multiprocessing.Queue = multiprocessing.Queue()
    finished: multiprocessing.Queue = multiprocessing.Queue()
    fake = multiprocessing.Process(target=_fake_server, args=(found, finished), daemon=True)
    fake.start()
    fake_url, fake_key = found.get(timeout=30)
    port = free_port()
    env = practicum_env(
        data_dir,
        ANTHROPIC_API_KEY=fake_key,
        ANTHROPIC_BASE_URL=fake_url,
        PRACTICUM_JWT_SECRET=JWT_SECRET,
        PRACTICUM_WS_MAX_SOCKETS_PER_USER=str(count + 10),
        PRACTICUM_WS_MAX_SOCKETS_PER_IP=str(count + 10),
        **UNREACHED_LIMITS_ENV,
    )
    process = _start_practicum(port, env, code)
    base = f"http://127.0.0.1:{port}"
    ws_url = f"ws://127.0.0.1:{port}/graphql"
    try:
        _wait_ready(f"{base}/readyz", process)
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:

            async def send(n: int) -> float:
                variables = {"s": student.session_id, "c": f"Question {n}?"}
                answer = await http.post(
                    "/graphql",
                    json={"query": SEND, "variables": variables},
                    headers={"authorization": f"Bearer {student.token}"},
                )
                assert "errors" not in answer.json(), answer.text
                return await asyncio.to_thread(finished.get, True, 30)

            [warm] = await _open_all(1, ws_url, student.token, EVENTS, student.session_id)
            warm.listen()
            await send(0)  # warm up: imports, caches, the upstream connection
            await asyncio.sleep(1)
            await warm.close()
            before = await settled_rss(process.pid)
            subscribers = await _open_all(count, ws_url, student.token, EVENTS, student.session_id)
            after = await settled_rss(process.pid)
            for s in subscribers:
                s.listen()
            lags: list[float] = []
            to_all: list[float] = []
            cpu = cpu_seconds(process.pid)
            for n in range(1, replies + 1):
                last_token = await send(n)
                deadline = time.monotonic() + 120
                while any(len(s.whole_at) < n for s in subscribers):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{code or 'this code'}: a subscriber never got it")
                    await asyncio.sleep(0.05)
                reached = [(s.whole_at[n - 1] - last_token) * 1000 for s in subscribers]
                lags += reached
                to_all.append(max(reached))
                await asyncio.sleep(1)  # the reply is stored; the next one starts quiet
            cpu = cpu_seconds(process.pid) - cpu
            await asyncio.gather(*(s.close() for s in subscribers))
    finally:
        process.terminate()
        process.wait(timeout=30)
        fake.terminate()
    return {
        "cpu_ms": cpu / replies * 1000,
        "per_subscriber": (after - before) / count,
        "p50": percentile(lags, 0.5),
        "p99": percentile(lags, 0.99),
        "to_all": statistics.median(to_all),
    }


async def main(count: int, replies: int, against: str | None) -> None:
    bare = await bare_baseline(count)
    parts = []
    for label, code in [("this code", None), *([(against, against)] if against else [])]:
        found = await practicum(count, replies, code)
        parts.append(
            f"{label}: {found['per_subscriber'] / 1024:.0f} KB each, reply to subscriber after "
            f"the last token p50 {found['p50']:.0f} ms p99 {found['p99']:.0f} ms, to all "
            f"{found['to_all']:.0f} ms (median of {replies}), server CPU "
            f"{found['cpu_ms']:.0f} ms per reply"
        )
    print(
        f"subscribers ({count} idle sessionEvents sockets, one process; bare Strawberry + "
        f"uvicorn {bare / 1024:.0f} KB each): " + "; ".join(parts)
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=SUBSCRIBERS)
    parser.add_argument("--replies", type=int, default=5)
    parser.add_argument("--against", metavar="DIR", help="another checkout's code, measured too")
    args = parser.parse_args()
    asyncio.run(main(args.subscribers, args.replies, args.against))
