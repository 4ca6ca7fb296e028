"""In-memory rate-limit windows that forget old hits on the event loop, once a second.

The `limits` library's memory storages forget expired hits from a helper: the synchronous
one (slowapi's per-address limit on every HTTP request) starts a new thread, a 10 ms
Timer, on nearly every hit; the asyncio one hands each key's search to a worker thread.
Under a class's burst of messages that cost more than the limit checks themselves. Here
the same storages forget expired hits inline, at most once per EXPIRY_SECONDS: a window
still counts only the hits inside it (the check compares each hit's time), so the limits
are exactly as before.
"""

from __future__ import annotations

import time

from limits.aio.storage import MemoryStorage as AsyncMemoryStorage
from limits.storage import MemoryStorage

EXPIRY_SECONDS = 1.0
SCHEME = "practicum-memory"  # for slowapi, which takes a storage URI, not a storage


def _forget_expired(storage: MemoryStorage | AsyncMemoryStorage) -> None:
    """Drop the hits and counters whose time is up (the newest hits come first)."""
    now = time.time()
    for key, hits in list(storage.events.items()):
        kept = len(hits)
        while kept and hits[kept - 1].expiry <= now:
            kept -= 1
        if kept:
            del hits[kept:]
        else:
            storage.events.pop(key, None)
            storage.locks.pop(key, None)
    for key, expires in list(storage.expirations.items()):
        if expires <= now:
            storage.storage.pop(key, None)
            storage.expirations.pop(key, None)
            storage.locks.pop(key, None)


class LoopMemoryStorage(MemoryStorage):
    """The synchronous memory storage, without its timer threads."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._forget_at = time.monotonic() + EXPIRY_SECONDS

    def _MemoryStorage__schedule_expiry(self) -> None:  # replaces the library's timer
        if time.monotonic() >= self._forget_at:
            self._forget_at = time.monotonic() + EXPIRY_SECONDS
            _forget_expired(self)


class LoopAsyncMemoryStorage(AsyncMemoryStorage):
    """The asyncio memory storage, without its worker-thread searches."""

    STORAGE_SCHEME = ["async+" + SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._forget_at = time.monotonic() + EXPIRY_SECONDS

    async def _MemoryStorage__schedule_expiry(self) -> None:  # replaces the library's task
        if time.monotonic() >= self._forget_at:
            self._forget_at = time.monotonic() + EXPIRY_SECONDS
            _forget_expired(self)
