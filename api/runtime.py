"""What a running Practicum holds for its lifetime: settings, the database, the event
broker, the model providers and the replies in flight."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import threading
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.api_keys.service import LastUsed
from api.clients.check import ClientCheckRunner
from api.config import Settings
from api.conversations import service as conversations
from api.conversations.outcomes import ReplyOutcomes
from api.conversations.replies import ReplyEngine
from api.db.engine import checkpoint_in_background, create_engine, create_session_factory
from api.events.account_watch import AccountWatch
from api.events.broker import Broker, InMemoryBroker, MergingBroker
from api.limits import service as limits
from api.limits.rate import RateLimits
from api.limits.turns import TurnLimits
from api.llm.providers import Providers
from api.teaching.engine import EvaluationEngine
from api.usage.alerts import AlertNotifier
from api.usage.live import LiveUsage
from api.usage.pricing import PriceTable

log = logging.getLogger("practicum.runtime")


def create_broker(settings: Settings) -> Broker:
    """Redis when REDIS_URL is set (every process and machine shares live events), else
    the in-process broker of a single process."""
    if settings.redis_url:
        from api.events.redis_broker import RedisBroker

        if settings.jwt_secret is None and settings.database_url:
            log.warning(
                "REDIS_URL is set but PRACTICUM_JWT_SECRET is not: processes that do not "
                "share the data dir %s will refuse each other's logins",
                settings.data_dir,
            )

        return RedisBroker(
            settings.redis_url,
            prefix=settings.redis_prefix,
            # Renewed with every delta; a reply is never cut for its age, only for silence.
            snapshot_ttl_seconds=600.0,
        )
    return InMemoryBroker()


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
    evaluations: EvaluationEngine
    api_key_uses: LastUsed
    account_watch: AccountWatch
    client_checks: ClientCheckRunner
    _background: list[asyncio.Task] = field(default_factory=list, repr=False)

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        url = settings.sqlalchemy_url
        engine = create_engine(url)
        read_engine = create_engine(url, read_only=True) if url.startswith("sqlite") else engine
        sessions = create_session_factory(engine)
        broker = MergingBroker(create_broker(settings), settings.live_merge_seconds)
        providers = Providers(settings)
        prices = PriceTable(settings.prices)
        rate_limits = RateLimits(settings, stored=limits.stored_specs)
        read_sessions = create_session_factory(read_engine)
        outcomes = ReplyOutcomes(
            broker, sessions, prices, lease_seconds=settings.reply_lease_seconds
        )
        replies = ReplyEngine(
            providers.streamer(),
            broker,
            outcomes,
            sessions,
            fallback_reply=settings.fallback_reply,
            lease_seconds=settings.reply_lease_seconds,
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
            evaluations=EvaluationEngine(settings, sessions, broker, providers, prices),
            api_key_uses=LastUsed(sessions),
            account_watch=AccountWatch(broker),
            client_checks=ClientCheckRunner(sessions, replies),
        )

    async def start(self) -> None:
        """Background work of a serving process: renew the leases of the replies streaming
        here, and interrupt the replies of processes that stopped renewing theirs."""
        # What is loaded by now (modules, schema, SDK) lives as long as the process:
        # keeping it out of the collector's full passes shortens their pauses mid-reply.
        await self.broker.start()  # first: Redis unreachable stops the start, clearly
        gc.collect()
        gc.freeze()
        if self.settings.sqlalchemy_url.startswith("sqlite"):
            self._background.append(checkpoint_in_background(self.engine, self.read_engine))
        self._background += [
            self.replies.listen(),  # stop requests from other processes
            asyncio.create_task(
                self._every(self.settings.reply_heartbeat_seconds, self.replies.heartbeat),
                name="renew-reply-leases",
            ),
            asyncio.create_task(
                self._every(self.settings.reply_sweep_seconds, self.interrupt_stale_replies),
                name="interrupt-lost-replies",
            ),
        ]
        self.alerts.start()
        try:
            await self.evaluations.resume()
        except Exception:
            log.exception("could not resume queued evaluations")

    async def interrupt_stale_replies(self) -> int:
        """Interrupt the replies whose process stopped renewing their lease."""
        return await conversations.interrupt_lost_replies(self.replies, self.read_sessions)

    @staticmethod
    async def _every(seconds: float, work) -> None:
        while True:
            try:
                await work()
            except Exception:
                log.exception("background work %s failed", getattr(work, "__name__", work))
            await asyncio.sleep(seconds)

    async def drain(self) -> None:
        """Take no new turns, give the replies in flight until the drain deadline to finish,
        and store the rest as INTERRUPTED (announced to their watchers)."""
        log.warning("draining: %.0f s for the replies in flight", self.settings.drain_seconds)
        await self.replies.drain(self.settings.drain_seconds)
        await self.replies.shutdown()

    def drain_on_sigterm(self) -> None:
        """Under a server (uvicorn) that stops on SIGTERM: drain first, then let it stop (it
        closes the websockets with 1012, Service Restart, which clients reconnect on). A
        second SIGTERM stops at once."""
        if threading.current_thread() is not threading.main_thread():
            return
        stop = signal.getsignal(signal.SIGTERM)
        if not callable(stop):
            return
        loop = asyncio.get_running_loop()
        draining: list[asyncio.Task] = []

        async def drain_then_stop(sig: int) -> None:
            try:
                await self.drain()
            except Exception:
                log.exception("could not drain")
            stop(sig, None)

        def begin(sig: int) -> None:
            draining.append(asyncio.create_task(drain_then_stop(sig), name="drain"))

        def on_sigterm(sig: int, frame) -> None:
            if self.replies.draining:
                stop(sig, frame)
                return
            self.replies.draining = True  # new turns are refused from now on
            loop.call_soon_threadsafe(begin, sig)

        signal.signal(signal.SIGTERM, on_sigterm)

    async def close(self) -> None:
        for task in self._background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.client_checks.shutdown()
        await self.replies.shutdown()
        await self.evaluations.shutdown()
        await self.api_key_uses.aclose()
        await self.account_watch.aclose()
        await self.live_usage.aclose()
        await self.alerts.aclose()
        await self.rate_limits.aclose()
        await self.providers.aclose()
        await self.broker.aclose()
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
