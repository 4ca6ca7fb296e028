"""A subscription event executed once for all its subscribers.

graphql-core executes the subscription's document for every event and every subscriber:
a reply watched by 1,000 sockets ran the same selection on the same object 1,000 times.
Events whose fields do not depend on who watches (the `sessionEvents` types: no resolver
reads the context) are executed once per (event, document, variables) and the result is
shared; the broker hands every subscriber of a channel the same event object, and
`shared_payload` maps it to the same GraphQL object. The result's data is encoded to
JSON once too (`encoded_data`), for every socket's `next` message.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from graphql import ExecutionResult
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

RESULTS_KEPT = 256  # events in flight at once, each with the documents that watch it

_shareable: tuple[type, ...] = ()
_results: OrderedDict[tuple, tuple[Any, Any, Any]] = OrderedDict()
# id(result.data) -> [that data, its JSON, Strawberry's response] of the shared results
_data: OrderedDict[int, list[Any]] = OrderedDict()
_payloads: OrderedDict[int, tuple[Any, Any]] = OrderedDict()

T = TypeVar("T")


def shareable(cls: type[T]) -> type[T]:
    """Mark a subscription payload type whose result is the same for every subscriber."""
    global _shareable
    _shareable = (*_shareable, cls)
    return cls


def shared_payload(event: Any, convert: Callable[[Any], T]) -> T:
    """`convert(event)`, once per event object (its subscribers share the result)."""
    key = id(event)
    found = _payloads.get(key)
    if found is not None and found[0] is event:
        return found[1]
    payload = convert(event)
    _payloads[key] = (event, payload)  # the event is kept, so its id is not reused
    if len(_payloads) > RESULTS_KEPT:
        _payloads.popitem(last=False)
    return payload


# The socket's `next` sender of the operation running in this task (set by the websocket
# handler), and the operation's executor: what hands events straight to the socket.
_sender: ContextVar[Callable[[Any], Any]] = ContextVar("practicum_next_sender")
_executor: ContextVar[SharedEventExecutor] = ContextVar("practicum_executor")


def sending_next_with(send_data: Callable[[Any], bool | Awaitable[Any]]) -> None:
    """`send_data(data)` sends the operation running in this task a `next` message."""
    _sender.set(send_data)


def straight_to_socket(convert: Callable[[Any], Any]) -> Callable[[Any], Any] | None:
    """For the subscription running in this task over a websocket: a function that sends
    an event (`convert(event)`, shareable) as its `next` message at once, without waking
    the subscription's task (see `Subscription.hand_over`). None elsewhere."""
    send, executor = _sender.get(None), _executor.get(None)
    if send is None or executor is None:
        return None

    def forward(event: Any) -> bool | Awaitable[Any]:
        data = executor.shared_data(shared_payload(event, convert))
        return False if data is None else send(data)

    return forward


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, sharing the results of shareable subscription events."""

    _shared_key: tuple | None = None
    _variables_key: str | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _executor.set(self)

    def shared_data(self, payload: Any) -> Any | None:
        """The data of a shareable event's result when it is ready at once (as it is for
        the plain fields of events), else None."""
        if not isinstance(payload, _shareable):
            return None
        result = self.build_per_event_executor(payload).execute_operation(False)
        if inspect.iscoroutine(result):
            result.close()  # still running (shared): the subscription's task waits for it
            return None
        return None if result.errors else result.data

    def build_per_event_executor(self, payload: Any):
        if not isinstance(payload, _shareable):
            return super().build_per_event_executor(payload)
        if self._variables_key is None:
            self._variables_key = repr(sorted(self.variable_values.coerced.items()))
        key = (id(payload), id(self.operation), self._variables_key)
        found = _results.get(key)
        if found is not None and found[0] is payload and found[1] is self.operation:
            return _Executed(found[2])  # no executor copied for the sockets after the first
        executor = super().build_per_event_executor(payload)
        executor._shared_key = key
        # The extensions' field middleware (time slices, for large answers) is left out:
        # a shared event is a handful of fields run once for all its sockets, and its
        # result is then ready at once for each of them.
        executor.middleware_manager = None
        return executor

    def execute_operation(self, serially: bool | None = None):
        key = self._shared_key
        if key is None:
            return super().execute_operation(serially)
        found = _results.get(key)
        if found is not None and found[0] is self.root_value and found[1] is self.operation:
            result = found[2]
            return _await_shared(result) if isinstance(result, asyncio.Future) else result
        result = super().execute_operation(serially)
        if isinstance(result, ExecutionResult):
            if not result.errors:
                self._keep(key, result)
            return result
        shared = asyncio.ensure_future(result)
        shared.add_done_callback(_share_data)
        self._keep(key, shared)
        return _await_shared(shared)

    def _keep(self, key: tuple, result: Any) -> None:
        # The payload and the operation are kept with the result, so that their ids are
        # not reused while the key is stored.
        _results[key] = (self.root_value, self.operation, result)
        if len(_results) > RESULTS_KEPT:
            _results.popitem(last=False)
        if isinstance(result, ExecutionResult):
            _share(result)


class _Executed:
    """Stands for the per-event executor of a shared event already executed."""

    __slots__ = ("result",)

    def __init__(self, result: Any) -> None:
        self.result = result

    def execute_operation(self, serially: bool | None = None):
        result = self.result
        return _await_shared(result) if isinstance(result, asyncio.Future) else result


def _share_data(done: asyncio.Future) -> None:
    if not done.cancelled() and done.exception() is None:
        result = done.result()
        if not result.errors:
            _share(result)


def _share(result: ExecutionResult) -> None:
    # The data is kept, so that its id is not reused; then its JSON and response once made.
    _data[id(result.data)] = [result.data, None, None]
    if len(_data) > RESULTS_KEPT:
        _data.popitem(last=False)


async def shared_response(result: Any, respond: Callable[[], Awaitable[T]]) -> T:
    """`await respond()` (Strawberry's response to a result: errors processed, the
    extensions' results added), made once for a shared result and given to every socket."""
    found = _data.get(id(getattr(result, "data", None)))
    if found is None or found[0] is not result.data or result.errors:
        return await respond()
    if found[2] is None:
        found[2] = await respond()
    return found[2]


def encoded_data(data: Any, encode: Callable[[Any], str]) -> str | None:
    """`encode(data)`, once for every subscriber, when `data` is a shared result's (the
    same object for all of them); None for any other."""
    found = _data.get(id(data))
    if found is None or found[0] is not data:
        return None
    if found[1] is None:
        found[1] = encode(data)
    return found[1]


async def _await_shared(shared: asyncio.Future) -> ExecutionResult:
    return await asyncio.shield(shared)
