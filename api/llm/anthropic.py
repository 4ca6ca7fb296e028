"""The Anthropic provider: Claude models through the official SDK's Messages API.

Streams raw SSE events (no accumulated message), marks prompt-cache breakpoints so each
turn reads the prefix the previous turn wrote, and turns every failure into a
`ProviderError` that names no key and quotes no prompt text.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, TypeVar

import anthropic
import httpx2

from api.llm.base import (
    ChatMessage,
    ChatRequest,
    ConnectionCheck,
    ErrorKind,
    Finished,
    Provider,
    ProviderError,
    Started,
    StreamEvent,
    TextDelta,
    ToolAnswer,
    ToolCall,
    Usage,
)
from api.llm.upstream import retry_after, status_kind

T = TypeVar("T")

MAX_BREAKPOINTS = 4  # Anthropic rejects requests with more cache_control blocks

# What a call can raise because of the upstream (ValueError: an event that is not JSON);
# anything else is a bug here and propagates as it is.
_UPSTREAM_FAILURES = (
    anthropic.AnthropicError,
    httpx2.HTTPError,
    httpx2.StreamError,
    TimeoutError,
    ValueError,
)

_EVENT_ERROR_KINDS = {
    "overloaded_error": ErrorKind.OVERLOADED,
    "api_error": ErrorKind.SERVER,
    "rate_limit_error": ErrorKind.RATE_LIMITED,
}


class AnthropicProvider(Provider):
    name = "anthropic"

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        *,
        request_timeout: float = 60.0,
        first_token_timeout: float = 20.0,
    ) -> None:
        self._api_key = api_key
        self._base_url = base_url
        self._request_timeout = request_timeout
        self._first_token_timeout = first_token_timeout
        self._client: anthropic.AsyncAnthropic | None = None

    def __repr__(self) -> str:
        return f"AnthropicProvider(base_url={self._base_url!r})"

    @property
    def client(self) -> anthropic.AsyncAnthropic:
        if self._client is None:
            self._client = anthropic.AsyncAnthropic(
                api_key=self._api_key,
                base_url=self._base_url,
                max_retries=0,  # api.llm.resilience decides about retries
                timeout=self._request_timeout,
                # aiohttp's C parser: the default pure-Python HTTP stack cost as much
                # CPU per turn as the rest of the turn together.
                http_client=anthropic.DefaultAioHttpClient(timeout=self._request_timeout),
            )
        return self._client

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        params = _input_params(request) | _output_params(request)
        state = _StreamState()
        events = None
        promptly = _Promptly(self._first_token_timeout)
        try:
            events = await promptly(self._raw_events(params))
            state.request_id = events.response.headers.get("request-id")
            while (event := await promptly(anext(events, None))) is not None:
                translated = state.translate(event)
                if isinstance(translated, Finished):
                    # Read the stream to its end first: a response closed half-read takes
                    # its connection with it, and the next turn would pay a new handshake.
                    while await promptly(anext(events, None)) is not None:
                        pass
                if translated is not None:
                    yield translated
                if isinstance(translated, Finished):
                    return
            raise state.cut_short()
        except _UPSTREAM_FAILURES as exc:
            raise _provider_error(exc, state) from exc
        finally:
            promptly.close()
            # Also on cancellation and aclose(): the upstream must see the disconnect now.
            if events is not None:
                await events.close()

    def _raw_events(self, params: dict[str, Any]) -> Awaitable[anthropic.AsyncStream[Any]]:
        """`messages.create(stream=True)` through the SDK's lower-level `post`, its events
        left as the JSON they came as: building the SDK's typed event for each token cost
        more CPU than everything else the reply does with it. Failures (a status, an
        `error` event, a dropped connection) are raised by the SDK just the same."""
        return self.client.post(
            "/v1/messages",
            body=params | {"stream": True},
            cast_to=object,
            stream=True,
            stream_cls=anthropic.AsyncStream[object],
        )

    async def count_tokens(self, request: ChatRequest) -> int:
        params = _input_params(request)
        try:
            counted = await self.client.messages.count_tokens(**params)
        except _UPSTREAM_FAILURES as exc:
            raise _provider_error(exc, _StreamState()) from exc
        return counted.input_tokens

    async def use_tool(self, call: ToolCall) -> ToolAnswer:
        """One non-streaming call that must answer with `call.tool` (tool_choice forces it).
        Returns the tool's input as the model gave it (not validated) and the usage."""
        params: dict[str, Any] = {
            "model": call.model,
            "max_tokens": call.max_tokens,
            "system": [{"type": "text", "text": call.system}],
            "messages": call.messages,
            "tools": [call.tool],
            "tool_choice": {"type": "tool", "name": call.tool["name"]},
        }
        state = _StreamState()
        try:
            response = await self.client.messages.with_raw_response.create(**params)
            state.request_id = response.headers.get("request-id")
            message = await response.parse()
        except _UPSTREAM_FAILURES as exc:
            raise _provider_error(exc, state) from exc
        blocks = [block.model_dump(warnings=False) for block in message.content]
        tool_input = next((b.get("input") for b in blocks if b.get("type") == "tool_use"), None)
        return ToolAnswer(
            tool_input=tool_input,
            usage=_usage(message.usage),
            request_id=state.request_id,
            stop_reason=message.stop_reason,
            content=blocks,
        )

    def unanswered_usage(self, request: ChatRequest) -> Usage:
        """With cache breakpoints the prompt may have been written to the cache, the
        dearest way to read it (what budgets assume of a turn beforehand, too)."""
        tokens = request.estimated_input_tokens()
        if request.cache:
            return Usage(cache_write_tokens=tokens, estimated=True)
        return Usage(input_tokens=tokens, estimated=True)

    async def test_connection(self, model: str) -> ConnectionCheck:
        probe = ChatRequest(
            system="", messages=(ChatMessage("user", "ping"),), model=model, cache=False
        )
        started = time.monotonic()
        try:
            tokens = await self.count_tokens(probe)
        except ProviderError as err:
            ok, detail = False, f"{err.kind.value}: {err.message}"
        else:
            ok, detail = True, f"counted {tokens} input tokens"
        return ConnectionCheck(ok, self.name, model, detail, _ms_since(started))

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


class _Promptly:
    """Awaits the steps of one reply, giving up (TimeoutError) on a step that takes longer
    than `seconds`: the upstream went quiet. Pings do not count: the SDK swallows them.

    One timer for the whole reply, moved on only when it goes off: a timeout of its own
    for each of a reply's tokens cost more than the rest of the token's way to the student."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.loop = asyncio.get_running_loop()
        self.since: float | None = None  # when the step being awaited began
        self.timer: asyncio.TimerHandle | None = None
        self.task: asyncio.Task | None = None
        self.expired = False

    async def __call__(self, step: Awaitable[T]) -> T:
        self.since = self.loop.time()
        self.task = asyncio.current_task()  # a consumer may take each step in a task of its own
        if self.timer is None:
            self.timer = self.loop.call_at(self.since + self.seconds, self._check)
        try:
            return await step
        except asyncio.CancelledError:
            if self.expired and self.task is not None and self.task.uncancel() == 0:
                raise TimeoutError from None
            raise
        finally:
            self.since = None

    def _check(self) -> None:
        """The timer went off: time out the step under way if it began `seconds` ago, else
        look again when it will have (or at the next step)."""
        self.timer = None
        if self.since is None or self.task is None:
            return
        due = self.since + self.seconds
        if self.loop.time() >= due:
            self.expired = True
            self.task.cancel()  # the task waits in the step, where __call__ sees it
        else:
            self.timer = self.loop.call_at(due, self._check)

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


@dataclass
class _StreamState:
    """What one streamed reply has reported so far."""

    request_id: str | None = None
    usage: Usage | None = None  # None until message_start arrived
    stop_reason: str | None = None

    def translate(self, event: dict[str, Any]) -> StreamEvent | None:
        """One raw event of the Messages stream (its JSON as a dict)."""
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            text = delta.get("text") if delta.get("type") == "text_delta" else None
            return TextDelta(text) if text else None
        if kind == "message_start":
            self.usage = _usage(event["message"].get("usage") or {})
            return Started(self.request_id, self.usage)
        if kind == "message_delta":
            self.usage = _updated_usage(self.usage or Usage(), event.get("usage") or {})
            self.stop_reason = (event.get("delta") or {}).get("stop_reason")
        if kind == "message_stop":
            return Finished(self.usage or Usage(), self.stop_reason)
        return None

    def cut_short(self) -> ProviderError:
        if self.usage is None:
            return self.error(ErrorKind.CONNECTION, "Anthropic closed the stream before any event")
        return self.error(ErrorKind.STREAM_CUT, "Anthropic's stream ended before message_stop")

    def error(self, kind: ErrorKind, message: str) -> ProviderError:
        return ProviderError(kind, message, request_id=self.request_id, usage=self.usage)


def _input_params(request: ChatRequest) -> dict[str, Any]:
    """The part of a Messages API request that is prompt: model, system and messages."""
    system = [{"type": "text", "text": request.system}] if request.system else []
    messages = _messages(request.messages)
    if not messages:
        raise ProviderError(ErrorKind.BAD_REQUEST, "the request has no user message")
    if request.cache:
        _mark_breakpoints(system, messages)
    params: dict[str, Any] = {"model": request.model, "messages": messages}
    if system:
        params["system"] = system
    return params


def _output_params(request: ChatRequest) -> dict[str, Any]:
    params: dict[str, Any] = {"max_tokens": request.max_tokens}
    if request.temperature is not None:
        params["temperature"] = request.temperature  # the body as sent (see `_raw_events`)
    return params


def _messages(messages: tuple[ChatMessage, ...]) -> list[dict[str, Any]]:
    """Anthropic's alternating turns: merged same-role runs, starting with the user."""
    turns: list[tuple[str, list[str]]] = []
    for message in messages:
        if not message.content.strip() or (not turns and message.role != "user"):
            continue
        if turns and turns[-1][0] == message.role:
            turns[-1][1].append(message.content)
        else:
            turns.append((message.role, [message.content]))
    return [
        {"role": role, "content": [{"type": "text", "text": "\n\n".join(texts)}]}
        for role, texts in turns
    ]


def _mark_breakpoints(system: list[dict[str, Any]], messages: list[dict[str, Any]]) -> None:
    """Cache the system prompt and the conversation so far. The breakpoint on the previous
    user message is where last turn's request ended, so this turn reads what it wrote."""
    blocks = [*system[-1:], messages[-1]["content"][-1]]
    earlier_user = [m for m in messages[:-1] if m["role"] == "user"]
    if earlier_user:
        blocks.append(earlier_user[-1]["content"][-1])
    for block in blocks[:MAX_BREAKPOINTS]:
        block["cache_control"] = {"type": "ephemeral"}


def _usage(reported: Any) -> Usage:
    """From the SDK's typed usage (non-streaming calls) or a stream's raw usage dict."""
    field = reported.get if isinstance(reported, dict) else partial(getattr, reported)
    return Usage(
        input_tokens=field("input_tokens", None) or 0,
        output_tokens=field("output_tokens", None) or 0,
        cache_write_tokens=field("cache_creation_input_tokens", None) or 0,
        cache_read_tokens=field("cache_read_input_tokens", None) or 0,
    )


def _updated_usage(usage: Usage, delta: dict[str, Any]) -> Usage:
    """message_delta's counts are cumulative; its input and cache fields may be absent."""
    return replace(
        usage,
        output_tokens=_given(delta.get("output_tokens"), usage.output_tokens),
        input_tokens=_given(delta.get("input_tokens"), usage.input_tokens),
        cache_write_tokens=_given(
            delta.get("cache_creation_input_tokens"), usage.cache_write_tokens
        ),
        cache_read_tokens=_given(delta.get("cache_read_input_tokens"), usage.cache_read_tokens),
    )


def _given(value: int | None, default: int) -> int:
    return default if value is None else value


def _provider_error(exc: Exception, state: _StreamState) -> ProviderError:
    if isinstance(exc, anthropic.APIStatusError):
        return _status_error(exc, state.usage)
    if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException | TimeoutError):
        return state.error(ErrorKind.TIMEOUT, "Anthropic did not answer in time")
    if isinstance(exc, anthropic.APIConnectionError | httpx2.TransportError):
        if state.usage is None:
            return state.error(ErrorKind.CONNECTION, "could not reach Anthropic")
        return state.error(ErrorKind.STREAM_CUT, "the connection to Anthropic dropped mid-reply")
    return state.error(
        ErrorKind.SERVER, f"Anthropic sent something unexpected ({type(exc).__name__})"
    )


def _status_error(exc: anthropic.APIStatusError, usage: Usage | None) -> ProviderError:
    # Only the error's type and code: Anthropic's message may quote the request.
    error_type = exc.type or "unknown_error"
    code = f", {exc.error_code}" if exc.error_code else ""
    if exc.status_code < 400:  # an `error` event inside a stream that began with 200
        kind = _EVENT_ERROR_KINDS.get(error_type, ErrorKind.SERVER)
        message, status = f"Anthropic's stream reported {error_type}{code}", None
    else:
        kind = status_kind(exc.status_code)
        message = f"Anthropic answered {exc.status_code} ({error_type}{code})"
        status = exc.status_code
    return ProviderError(
        kind,
        message,
        status=status,
        request_id=exc.request_id,
        retry_after=retry_after(exc.response.headers),
        usage=usage,
    )


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
