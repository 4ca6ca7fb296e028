"""What prompt caching saves over a 20-turn practice conversation.

The conversation runs through the real turn engine and the real Anthropic SDK against the
fake Anthropic server of tests/fakes, which bills cache writes and reads the way Anthropic
does. The client profile is long enough that its system prompt passes Claude Haiku 4.5's
minimum cacheable length (4,096 tokens). The same conversation runs twice, with and
without cache breakpoints. Prints one line: the share of input tokens billed as cache
reads, and the cost with caching against without.

    .venv/bin/python bench/prompt_caching.py [--turns 20]
"""

from __future__ import annotations

import argparse
import asyncio
from decimal import Decimal

from _common import bench_settings, databases
from pydantic import SecretStr
from sqlalchemy import select

from api.accounts.models import Role
from api.conversations import service as conversations
from api.runtime import Runtime
from api.usage.models import UsageRecord
from tests.factories.accounts import actor, make_user
from tests.factories.classes import make_assignment, make_section
from tests.factories.clients import make_profile
from tests.factories.conversations import settled
from tests.fakes.anthropic_server import FakeAnthropic, Reply

CASE_NOTES = (
    "Sam grew up in a small coastal town, the second of four children, and moved to the city "
    "for university, where the first year went well and the second did not. "
)
REPLY = (
    "I don't know, it's hard to say. Most days I just get through my lectures and then I sit "
    "in my room. My mum calls on Sundays and I tell her everything is fine, because I don't "
    "want her to worry, but honestly it isn't fine. I keep thinking I should have stayed home."
)


async def _conversation(settings, fake: FakeAnthropic, turns: int) -> list[UsageRecord]:
    runtime = Runtime.create(settings)
    async with runtime.sessions() as db:
        teacher = await make_user(db, Role.TEACHER)
        student = await make_user(db)
        profile = await make_profile(
            db, settings, teacher, name="Sam Porter", background=CASE_NOTES * 120
        )
        section = await make_section(db, settings, teacher, student)
        await make_assignment(db, settings, teacher, section, profile)
        session, _ = await conversations.start_session(db, actor(student), settings, profile.id)
        await db.commit()
        for n in range(turns):
            fake.enqueue(Reply(text=REPLY))
            await conversations.send_message(
                db,
                actor(student),
                settings,
                runtime.replies,
                session.id,
                f"Thank you for telling me that. What has week {n} been like for you, Sam?",
                limits=runtime.turn_limits,
            )
            await db.commit()
            await settled(runtime.replies, session.id)
        records = list(
            await db.scalars(select(UsageRecord).where(UsageRecord.session_id == session.id))
        )
    await runtime.close()
    assert len(records) == turns
    return records


async def main(turns: int) -> None:
    async with databases() as found:
        _, url = found[0]
        with FakeAnthropic() as fake:
            base = {
                "anthropic_api_key": SecretStr(fake.api_key),
                "anthropic_base_url": fake.url,
                "max_text_chars": 100_000,
                "context_budget_tokens": 100_000,
            }
            cached = await _conversation(bench_settings(url, **base), fake, turns)
            plain = await _conversation(
                bench_settings(url, **base, prompt_caching=False), fake, turns
            )
    input_tokens = sum(r.input_tokens + r.cache_write_tokens + r.cache_read_tokens for r in cached)
    read_share = sum(r.cache_read_tokens for r in cached) / input_tokens
    with_cache = sum((r.cost for r in cached), Decimal(0))
    without = sum((r.cost for r in plain), Decimal(0))
    print(
        f"prompt_caching ({turns} turns, claude-haiku-4-5, {input_tokens // turns} input "
        f"tokens/turn): {read_share:.0%} of input tokens read from cache; cost ${with_cache:.4f} "
        f"vs ${without:.4f} without caching ({1 - with_cache / without:.0%} lower)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20)
    asyncio.run(main(parser.parse_args().turns))
