"""Rate limits with the `limits` library: moving windows, in memory, or in Redis when
REDIS_URL is set (then every process shares them exactly).

They are applied by the services, so every client is bound by them, whatever the
transport. A refused request gets RATE_LIMITED with `retryAfter` in seconds.

The rules come from the environment until an admin changes them (`api.limits.service`):
then from the database, re-read by every process at most every
`rate_limit_refresh_seconds`, so that a turn costs no extra query.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string
from sqlalchemy.ext.asyncio import AsyncSession

from api.config import Settings
from api.errors import ErrorCode, PracticumError
from api.limits.memory import LoopAsyncMemoryStorage
from api.ops import metrics

log = logging.getLogger("practicum.limits")
STORE_WARNING_INTERVAL_SECONDS = 30


def seconds_until(reset_time: float) -> int:
    """Whole seconds (at least one) until a window frees a request: `retryAfter`."""
    return max(1, math.ceil(reset_time - time.time()))


class RateLimited(PracticumError):
    def __init__(self, message: str, retry_after: int, rule: str = "") -> None:
        super().__init__(ErrorCode.RATE_LIMITED, message, retryAfter=retry_after)
        self.rule = rule  # which rule refused (not shown to clients)


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
    return LoopAsyncMemoryStorage()


@dataclass(frozen=True)
class RateLimitSpecs:
    """The four rules as `limits` strings ("10/minute", "100 per hour"; "" = off)."""

    messages_per_student: str
    messages_global: str
    logins_per_address: str
    logins_per_email: str

    @classmethod
    def of(cls, settings: Settings) -> RateLimitSpecs:
        """The environment's rules."""
        return cls(
            messages_per_student=settings.rate_limit_messages_per_student,
            messages_global=settings.rate_limit_messages_global,
            logins_per_address=settings.rate_limit_logins_per_ip,
            logins_per_email=settings.rate_limit_logins_per_email,
        )


StoredSpecs = Callable[[AsyncSession], Awaitable[RateLimitSpecs | None]]
"""Reads the rules admins stored; None while the environment's apply."""


class RateLimits:
    def __init__(
        self,
        settings: Settings,
        storage: Storage | None = None,
        *,
        stored: StoredSpecs | None = None,
    ) -> None:
        self.storage = storage or storage_for(settings)
        self.window = MovingWindowRateLimiter(self.storage)
        self._last_warning = -math.inf
        self.defaults = RateLimitSpecs.of(settings)
        # Set by the environment only (admins' stored rules do not name it).
        self.signup_ip = Rule.of(
            "signups_per_ip",
            settings.rate_limit_signups_per_ip,
            "Too many sign-ups from your network",
        )
        self.stored = stored
        self.refresh_seconds = settings.rate_limit_refresh_seconds
        self._changes = 0
        self.use(self.defaults)
        self._fresh_until = -math.inf  # read the stored rules before the first request

    def use(self, specs: RateLimitSpecs) -> None:
        """Apply these rules from the next request on."""
        self.specs = specs
        self.per_student = Rule.of(
            "messages_per_student",
            specs.messages_per_student,
            "You are sending messages faster than practice allows",
        )
        self.everyone = Rule.of(
            "messages_global",
            specs.messages_global,
            "Practicum is at its limit of messages for everyone right now",
        )
        self.login_ip = Rule.of(
            "logins_per_ip",
            specs.logins_per_address,
            "Too many login attempts from your network",
        )
        self.login_email = Rule.of(
            "logins_per_email",
            specs.logins_per_email,
            "Too many login attempts for this account",
        )
        # One attempt per window of the per-email rule from an address that has not tried
        # this email: how its owner gets past a lock-out that someone else caused.
        per_email = self.login_email.limit
        self.login_email_address = Rule(
            "logins_per_email_and_address",
            type(per_email)(1, per_email.multiples) if per_email else None,
            "Too many login attempts for this account",
        )
        self._changes += 1
        self._fresh_until = time.monotonic() + self.refresh_seconds

    async def _refresh(self, session: AsyncSession | None) -> None:
        """Pick up rules another process stored: the request that finds them older than
        `refresh_seconds` re-reads them on its own session (a request holding a connection
        must never wait for a second one); the others go on with the rules in hand."""
        if self.stored is None or session is None or time.monotonic() < self._fresh_until:
            return
        self._fresh_until = time.monotonic() + self.refresh_seconds
        changes = self._changes
        try:
            specs = await self.stored(session)
        except Exception:
            log.warning(
                "could not read the stored rate limits; keeping the current ones", exc_info=True
            )
            return
        if changes == self._changes:  # else this process set newer rules meanwhile
            self.use(specs or self.defaults)

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
        raise RateLimited(f"{rule.message}. Try again in {retry_after} s.", retry_after, rule.name)

    async def message(self, user_id: uuid.UUID, session: AsyncSession | None = None) -> None:
        """A student's message to a client (per student, and for everyone). `session`:
        the request's, to re-read the stored rules on when they are due."""
        await self._refresh(session)
        await self.take((self.per_student, str(user_id)), (self.everyone, "all"))

    async def login(self, ip: str | None, email: str, session: AsyncSession | None = None) -> None:
        """An attempt to log in, before the password is checked: it counts per address and
        per email. But an address's first attempt at an email within the email rule's
        window is never refused for the email's sake (only for the address's): someone
        guessing, or typing an email to lock its owner out, cannot keep the owner out."""
        await self._refresh(session)
        address = (self.login_ip, ip or "unknown")
        first = await self._first_try(ip, email)
        try:
            await self.take(address, (self.login_email, email.lower()))
        except RateLimited as refused:
            if refused.rule != self.login_email.name or not first:
                raise
            await self.take(address)

    async def signup(self, ip: str | None) -> None:
        """An attempt to sign up, counted per network address before anything is checked."""
        await self.take((self.signup_ip, ip or "unknown"))

    async def _first_try(self, ip: str | None, email: str) -> bool:
        """Mark this address as having tried this email; True if it had not yet."""
        rule = self.login_email_address
        if rule.limit is None:
            return False
        key = f"{email.lower()} {ip or 'unknown'}"
        try:
            return await self.window.hit(rule.limit, rule.name, key)
        except StorageError:
            return True  # like every limit: unlimited while the store is unreachable

    async def reset(self) -> None:
        await self.storage.reset()

    async def aclose(self) -> None:
        close = getattr(self.storage, "aclose", None) or getattr(self.storage, "close", None)
        if close is not None:
            await close()
