"""What an API key costs per request against a person's login token, through the full app
(ASGI, no network): the same usage read as an admin's token and as a `USAGE_ANALYTICS`
key of an admin, interleaved, in one process.

Prints one line: p50 of each and their ratio, on SQLite and PostgreSQL (when it answers at
127.0.0.1:5432). A key is looked up by its SHA-256 in every operation (one indexed query)
and its last use is noted at most once a minute, off the request's path.

    .venv/bin/python bench/api_key_requests.py [--requests 400]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
from _common import bench_settings, databases, percentile

from api.accounts.models import Role
from api.accounts.security import issue_token
from api.api_keys import service as api_keys
from api.api_keys.models import ApiKeyScope
from api.app import create_app
from api.runtime import Runtime
from tests.factories.accounts import actor, make_user

READ = """query($r: DateRangeInput!) { me { id }
  usageSummary(range: $r) { sessions totals { messages cost } } }"""


async def _credentials(settings) -> tuple[str, str]:
    runtime = Runtime.create(settings)
    async with runtime.sessions() as db:
        admin = await make_user(db, Role.ADMIN)
        fields = api_keys.KeyFields("Bench", Role.ADMIN, ApiKeyScope.USAGE_ANALYTICS)
        created = await api_keys.create_key(db, actor(admin), fields)
        await db.commit()
    await runtime.close()
    token, _ = issue_token(actor(admin), settings.signing_secret(), timedelta(hours=2))
    return token, created.secret


async def _measure(url: str, requests: int) -> str:
    settings = bench_settings(url)
    token, key = await _credentials(settings)
    app = create_app(settings)
    today = datetime.now(UTC).date().isoformat()
    body = {"query": READ, "variables": {"r": {"start": today, "end": today}}}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:

        async def read(credential: str) -> float:
            started = time.perf_counter()
            response = await http.post(
                "/graphql", json=body, headers={"authorization": f"Bearer {credential}"}
            )
            assert "errors" not in response.json(), response.text
            return (time.perf_counter() - started) * 1000

        for _ in range(20):  # warm up both
            await read(token)
            await read(key)
        by_token, by_key = [], []
        for _ in range(requests):
            by_token.append(await read(token))
            by_key.append(await read(key))
    await app.state.runtime.close()
    p_token, p_key = percentile(by_token, 0.5), percentile(by_key, 0.5)
    return f"token p50 {p_token:.2f} ms, key p50 {p_key:.2f} ms, ratio {p_key / p_token:.2f}"


async def main(requests: int) -> None:
    results = []
    async with databases() as found:
        for name, url in found:
            outcome = await _measure(url, requests) if url else "not reachable"
            results.append(f"{name} {outcome}")
    print("api_key_requests (admin usage read): " + "; ".join(results))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    asyncio.run(main(parser.parse_args().requests))
