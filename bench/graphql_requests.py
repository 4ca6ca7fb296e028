"""Latency of a typical student read through the full app (ASGI, no network).

Prints one line: p50/p99 of `me` + `clientProfiles`, on SQLite and PostgreSQL (when it
answers at 127.0.0.1:5432). Writes are measured by bench/turns_per_second.py.

    .venv/bin/python bench/graphql_requests.py [--requests 400]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx
from _common import bench_settings, databases, percentile, seed_students

from api.app import create_app

READ = "{ me { id name } clientProfiles { nodes { id name difficulty } } }"


async def _measure(url: str, requests: int) -> str:
    settings = bench_settings(url)
    [student] = await seed_students(settings, 1)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:

        async def read() -> float:
            started = time.perf_counter()
            response = await http.post(
                "/graphql",
                json={"query": READ},
                headers={"authorization": f"Bearer {student.token}"},
            )
            assert "errors" not in response.json(), response.text
            return (time.perf_counter() - started) * 1000

        for _ in range(20):  # warm up
            await read()
        latencies = [await read() for _ in range(requests)]
    await app.state.runtime.close()
    return f"p50 {percentile(latencies, 0.5):.1f} ms p99 {percentile(latencies, 0.99):.1f} ms"


async def main(requests: int) -> None:
    results = []
    async with databases() as found:
        for name, url in found:
            outcome = await _measure(url, requests) if url else "not reachable"
            results.append(f"{name} {outcome}")
    print("graphql_requests (student read): " + "; ".join(results))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    asyncio.run(main(parser.parse_args().requests))
