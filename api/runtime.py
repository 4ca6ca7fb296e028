"""What a running Practicum holds for its lifetime: settings, the database, the event
broker, the model providers and the replies in flight."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.config import Settings
from api.conversations import service as conversations
from api.conversations.replies import ReplyEngine
from api.db.engine import checkpoint_in_background, create_engine, create_session_factory
from api.events.broker import Broker, InMemoryBroker, MergingBroker
from api.limits import service as limits
from api.limits.rate import RateLimits
from api.limits.turns import TurnLimits
from api.llm.providers import Providers
from api.usage.alerts import AlertNotifier
from api.usage.live import LiveUsage
from api.usage.pricing import PriceTable

log = logging.getLogger("practicum.runtime")


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    read_engine: AsyncEngine
    read_sessions: async_sessionmaker[AsyncSession]
    """Sessions for operations that only read (GraphQL queries); on SQLite they never
    wait for writers. On PostgreSQL they are the same as `sessions`."""
    broker: Broker
    providers: Providers
    replies: ReplyEngine
    rate_limits: RateLimits
    turn_limits: TurnLimits
    alerts: AlertNotifier
    live_usage: LiveUsage
    _background: list[asyncio.Task] = field(default_factory=list, repr=False)

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        url = settings.sqlalchemy_url
        engine = create_engine(url)
        read_engine = create_engine(url, read_only=True) if url.startswith("sqlite") else engine
        sessions = create_session_factory(engine)
        broker = MergingBroker(InMemoryBroker(), settings.live_merge_seconds)
        providers = Providers(settings)
        prices = PriceTable(settings.prices)
        rate_limits = RateLimits(settings, stored=limits.stored_specs)
        read_sessions = create_session_factory(read_engine)
        replies = ReplyEngine(
            providers.streamer(),
            broker,
            sessions,
            conversations.store_reply_outcomes,
            prices,
            stream_timeout=settings.stream_timeout_seconds,
            fallback_reply=settings.fallback_reply,
        )
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            read_engine=read_engine,
            read_sessions=read_sessions,
            broker=broker,
            providers=providers,
            replies=replies,
            rate_limits=rate_limits,
            turn_limits=TurnLimits(rate_limits, prices),
            alerts=AlertNotifier(broker, settings.alert_webhook_url),
            live_usage=LiveUsage(read_sessions),
        )

    async def start(self) -> None:
        """Background work of a serving process: replies lost in a restart become
        INTERRUPTED (retryable) once they are past the stream timeout."""
        # What is loaded by now (modules, schema, SDK) lives as long as the process:
        # keeping it out of the collector's full passes shortens their pauses mid-reply.
        gc.collect()
        gc.freeze()
        if self.settings.sqlalchemy_url.startswith("sqlite"):
            self._background.append(checkpoint_in_background(self.engine, self.read_engine))
        self._background.append(
            asyncio.create_task(self._sweep_forever(), name="interrupt-stale-replies")
        )
        self.alerts.start()

    async def interrupt_stale_replies(self) -> int:
        async with self.sessions() as session:
            count = await conversations.interrupt_stale_replies(session, self.settings)
            await session.commit()
        if count:
            log.warning("marked %d replies lost in a restart as INTERRUPTED", count)
        return count

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.interrupt_stale_replies()
            except Exception:
                log.exception("could not check for interrupted replies")
            await asyncio.sleep(max(1.0, self.settings.stream_timeout_seconds / 4))

    async def close(self) -> None:
        for task in self._background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.replies.shutdown()
        await self.live_usage.aclose()
        await self.alerts.aclose()
        await self.rate_limits.aclose()
        await self.providers.aclose()
        await self.broker.aclose()
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
