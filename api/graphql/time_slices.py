"""Large answers share the event loop with everything else the process serves.

A document under the cost limit can still resolve tens of thousands of fields, and much of
that work never waits: the embedded SQLite runs its statements on the loop, and objects
already loaded complete at once. asyncio runs every task that is ready before it looks at
its sockets again, so a hundred such tasks, each working for 50 ms, held `/healthz` for
seconds. Here every field checks the clock: once the loop has worked for a time slice,
fields queue for their turn, and once per turn of the loop (after it has served its
sockets) a pump opens a new slice and wakes the queue's head; those woken work while the
slice lasts, the rest queue again.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from graphql.pyutils import is_awaitable
from strawberry.extensions import SchemaExtension

SLICE_SECONDS = 0.02
MIN_BATCH = 16
MAX_BATCH = 1024


class _Turns:
    """The queue of fields waiting for their turn on one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.ends = 0.0  # when the current slice runs out (monotonic)
        self.waiting: deque[asyncio.Future] = deque()
        self.pumping = False
        self.batch = MIN_BATCH
        self.last_pump = 0.0

    async def wait(self) -> None:
        """Until this task may work: the first woken in a turn always may; the others only
        while the turn's slice lasts (else they queue again, at the back)."""
        while True:
            turn = self.loop.create_future()
            self.waiting.append(turn)
            if not self.pumping:
                self.pumping = True
                self.last_pump = time.monotonic()
                self.loop.call_soon(self._pump)
            first = await turn
            if first or time.monotonic() < self.ends:
                return

    def _pump(self) -> None:
        """Once per turn of the loop, after it served its sockets: a new slice, and a batch
        of waiting fields woken for it (more when turns are short, fewer when long)."""
        now = time.monotonic()
        if now - self.last_pump > 2 * SLICE_SECONDS:
            self.batch = max(MIN_BATCH, self.batch // 2)
        elif now - self.last_pump < SLICE_SECONDS / 2:
            self.batch = min(MAX_BATCH, self.batch * 2)
        self.last_pump = now
        self.ends = now + SLICE_SECONDS
        first = True
        for _ in range(min(self.batch, len(self.waiting))):
            turn = self.waiting.popleft()
            if not turn.done():  # not cancelled
                turn.set_result(first)
                first = False
        if self.waiting:
            self.loop.call_soon(self._pump)
        else:
            self.pumping = False


_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Turns] = weakref.WeakKeyDictionary()


def _turns_here() -> _Turns:
    loop = asyncio.get_running_loop()
    turns = _turns.get(loop)
    if turns is None:
        turns = _turns[loop] = _Turns(loop)
    return turns


class TimeSlices(SchemaExtension):
    def resolve(self, _next: Callable, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        turns = _turns_here()
        if time.monotonic() >= turns.ends:
            return _later(turns, lambda: _next(root, info, *args, **kwargs))
        result = _next(root, info, *args, **kwargs)
        if is_awaitable(result):
            return _finish_in_turn(turns, result)
        return result


async def _later(turns: _Turns, resolve: Callable[[], Any]) -> Any:
    await turns.wait()
    result = resolve()
    return await _finish_in_turn(turns, result) if is_awaitable(result) else result


async def _finish_in_turn(turns: _Turns, result: Awaitable) -> Any:
    """Waits for `result`, then for a turn: what follows (often thousands of fields that
    waited on one dataloader batch and all resume at once) goes on in its turn too."""
    value = await result
    if time.monotonic() >= turns.ends:
        await turns.wait()
    return value
