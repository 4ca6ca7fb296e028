"""How much later a subscriber on replica B sees a reply streamed on replica A than a
subscriber on A itself (the in-process path), over Redis.

Two `practicum serve` replicas on PostgreSQL and Redis at 127.0.0.1, the fake Anthropic
server sending 40 chunks 5 ms apart. For each reply one student watches on A and on B
(graphql-transport-ws, each socket its own) and sends on A; each delta's arrival on B minus
its arrival on A is the lag. Prints one line.

    .venv/bin/python bench/cross_replica_lag.py [--replies 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import websockets

from tests.events.replicas import (
    cluster,
    on,
    postgres_database,
    redis_prefix,
    replica_env,
)
from tests.fakes.anthropic_server import FakeAnthropic, Reply
from tests.limits.conftest import REDIS_URL
from tests.transport.test_session_events import OPENER

TEXT = " ".join(f"word{i}" for i in range(40))  # 40 chunks of one word
WATCH = """subscription($s: ID!) { sessionEvents(sessionId: $s) {
  __typename ... on MessageDelta { offset delta } } }"""


async def watch(url: str, token: str, session_id: str, arrivals: dict, ready: asyncio.Event):
    """Arrival time of each delta (by offset) until the reply completes."""
    ws_url = url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": WATCH, "variables": {"s": session_id}},
                }
            )
        )
        await ws.send(json.dumps({"type": "ping"}))  # answered once the subscribe is in
        while json.loads(await ws.recv())["type"] != "pong":
            pass
        ready.set()
        async for raw in ws:
            now = time.perf_counter()
            message = json.loads(raw)
            if message["type"] != "next":
                continue
            event = message["payload"]["data"]["sessionEvents"]
            if event["__typename"] != "MessageDelta":
                return
            arrivals[event["offset"]] = now


async def main(replies: int, each: bool) -> None:
    reply = Reply(
        text=TEXT, chunk_chars=len("word00 "), delay_between_chunks=0.005, first_token_delay=0.1
    )
    with FakeAnthropic(default=reply) as fake, tempfile.TemporaryDirectory() as tmp:
        async with postgres_database() as database, redis_prefix() as prefix:
            env = replica_env(
                database,
                REDIS_URL,
                prefix,
                ANTHROPIC_API_KEY=fake.api_key,
                ANTHROPIC_BASE_URL=fake.url,
                PRACTICUM_RATE_LIMIT_MESSAGES_PER_STUDENT="",
                PRACTICUM_RATE_LIMIT_MESSAGES_GLOBAL="",
                PRACTICUM_LOG_LEVEL="WARNING",
            )
            with cluster(Path(tmp) / "data", env) as replicas:
                student = await replicas.new_student()
                lags: list[float] = []
                for turn in range(replies):
                    session_id = await replicas.maya_session(student)
                    seen_a: dict[int, float] = {}
                    seen_b: dict[int, float] = {}
                    ready_a, ready_b = asyncio.Event(), asyncio.Event()
                    watchers = [
                        asyncio.create_task(
                            watch(replicas.a, student.token, session_id, seen_a, ready_a)
                        ),
                        asyncio.create_task(
                            watch(replicas.b, student.token, session_id, seen_b, ready_b)
                        ),
                    ]
                    await ready_a.wait()
                    await ready_b.wait()
                    await asyncio.sleep(0.3)  # the subscriptions reach the broker
                    await on(replicas.a, student).send(session_id, f"{OPENER} ({turn})")
                    await asyncio.wait_for(asyncio.gather(*watchers), 30)
                    assert seen_a.keys() == seen_b.keys(), "B missed deltas"
                    if turn:  # the first reply warms both processes up
                        lags += [(seen_b[k] - seen_a[k]) * 1000 for k in seen_a]
                        if each:
                            lag = [round((seen_b[k] - seen_a[k]) * 1000, 1) for k in sorted(seen_a)]
                            print(f"reply {turn}: lag per delta (ms) {lag}", file=sys.stderr)
    cuts = statistics.quantiles(lags, n=100)
    within = 100 * sum(lag <= 20 for lag in lags) / len(lags)
    print(
        f"cross-replica delta lag (B minus A, over Redis): p50 {cuts[49]:.2f} ms, "
        f"p95 {cuts[94]:.2f} ms, p99 {cuts[98]:.2f} ms, max {max(lags):.2f} ms, "
        f"{within:.1f} % within 20 ms, over {len(lags)} deltas "
        f"of {replies - 1} replies (target p99 <= 20 ms)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=30)
    parser.add_argument("--each", action="store_true", help="every reply's lags, on stderr")
    args = parser.parse_args()
    asyncio.run(main(args.replies, args.each))
