"""Rate limits with the `limits` library: moving windows, in memory, or in Redis when
REDIS_URL is set (then every process shares them exactly).

They are applied by the services, so every client is bound by them, whatever the
transport. A refused request gets RATE_LIMITED with `retryAfter` in seconds.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from api.config import Settings
from api.errors import ErrorCode, PracticumError
from api.ops import metrics

log = logging.getLogger("practicum.limits")
STORE_WARNING_INTERVAL_SECONDS = 30


def seconds_until(reset_time: float) -> int:
    """Whole seconds (at least one) until a window frees a request: `retryAfter`."""
    return max(1, math.ceil(reset_time - time.time()))


class RateLimited(PracticumError):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(ErrorCode.RATE_LIMITED, message, retryAfter=retry_after)


@dataclass(frozen=True)
class Rule:
    name: str
    limit: RateLimitItem | None  # None: no limit
    message: str

    @classmethod
    def of(cls, name: str, spec: str, message: str) -> Rule:
        return cls(name, parse(spec) if spec.strip() else None, message)


def storage_for(settings: Settings, key_prefix: str = "practicum") -> Storage:
    if settings.redis_url:
        # The async twin of any Redis URL: redis://, rediss:// (TLS), redis+unix://, ...
        uri = settings.redis_url.removeprefix("async+")
        return storage_from_string(
            f"async+{uri}", implementation="redispy", key_prefix=key_prefix, wrap_exceptions=True
        )
    return MemoryStorage()


class RateLimits:
    def __init__(self, settings: Settings, storage: Storage | None = None) -> None:
        self.storage = storage or storage_for(settings)
        self.window = MovingWindowRateLimiter(self.storage)
        self._last_warning = -math.inf
        self.per_user = Rule.of(
            "messages_per_user",
            settings.rate_limit_messages_per_user,
            "You are sending messages faster than practice allows",
        )
        self.everyone = Rule.of(
            "messages_global",
            settings.rate_limit_messages_global,
            "Practicum is at its limit of messages for everyone right now",
        )
        self.login_ip = Rule.of(
            "logins_per_ip",
            settings.rate_limit_logins_per_ip,
            "Too many login attempts from your network",
        )
        self.login_email = Rule.of(
            "logins_per_email",
            settings.rate_limit_logins_per_email,
            "Too many login attempts for this account",
        )

    async def take(self, *checks: tuple[Rule, str]) -> None:
        """Use one request of each rule's quota, or none when any rule refuses.

        The moving-window hit is atomic per rule (a Lua script on Redis), so concurrent
        requests never overshoot a limit. Rules are tested before any is hit, so that a
        refusal by one rarely costs the quota of another.

        When the limits' store (Redis) cannot be reached, the request goes through: the
        limits guard against abuse, and a student's message must not fail for their sake.
        """
        try:
            await self._take(checks)
        except StorageError:
            metrics.RATE_LIMIT_STORE_ERRORS.inc()
            if time.monotonic() - self._last_warning > STORE_WARNING_INTERVAL_SECONDS:
                self._last_warning = time.monotonic()
                log.warning("rate-limit store unreachable: requests go through unlimited")

    async def _take(self, checks: tuple[tuple[Rule, str], ...]) -> None:
        active = [(rule, key) for rule, key in checks if rule.limit is not None]
        for rule, key in active:
            if not await self.window.test(rule.limit, rule.name, key):
                await self._refuse(rule, key)
        for rule, key in active:
            if not await self.window.hit(rule.limit, rule.name, key):
                await self._refuse(rule, key)

    async def _refuse(self, rule: Rule, key: str) -> None:
        stats = await self.window.get_window_stats(rule.limit, rule.name, key)
        retry_after = seconds_until(stats.reset_time)
        metrics.RATE_LIMITED.labels(rule=rule.name).inc()
        raise RateLimited(f"{rule.message}. Try again in {retry_after} s.", retry_after)

    async def message(self, user_id: uuid.UUID) -> None:
        """A student's message to a client (per student, and for everyone)."""
        await self.take((self.per_user, str(user_id)), (self.everyone, "all"))

    async def login(self, ip: str | None, email: str) -> None:
        await self.take((self.login_ip, ip or "unknown"), (self.login_email, email.lower()))

    async def reset(self) -> None:
        await self.storage.reset()

    async def aclose(self) -> None:
        close = getattr(self.storage, "aclose", None) or getattr(self.storage, "close", None)
        if close is not None:
            await close()
