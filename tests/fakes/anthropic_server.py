"""A fake Anthropic Messages API over real HTTP, so the real SDK (and a `practicum serve`
subprocess with ANTHROPIC_BASE_URL) can talk to it.

It runs uvicorn in its own thread with its own event loop. Tests script its answers one
request at a time (`enqueue(Reply(...))`, `enqueue(Fault.status(429))`, …) and read back
what happened: `requests`, `disconnects` and `billed` (the usage it reported).

Tokens are ceil(chars / 4) per block. Prompt caching is simulated the way Anthropic
bills it: a block with cache_control ends a cacheable prefix (if the prefix reaches the
model's minimum); the longest prefix written before is a cache read, the rest up to the
last breakpoint is a cache write, and only what follows is plain input.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import pytest

from tests.fakes.threaded import ThreadedServer

DEFAULT_API_KEY = "test-key"
MAX_BREAKPOINTS = 4

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
EVENT_ERROR_STATUS = {"overloaded_error": 529, "rate_limit_error": 429, "api_error": 500}


@dataclass(frozen=True)
class Reply:
    """A successful answer. `text=None` echoes a few words of the last user message."""

    text: str | None = None
    chunk_chars: int = 10
    delay_between_chunks: float = 0.0
    first_token_delay: float = 0.0  # after message_start, before the first text delta
    start_delay: float = 0.0  # before the answer starts: no headers, no message_start yet
    stop_reason: str = "end_turn"
    extra_input_tokens: int = 0  # a real tokenizer counts the prompt its own way
    text_for: Callable[[dict[str, Any]], str] | None = None
    """Answers from the request body (see `system_text` and `last_user_text`), e.g. a
    client that repeats its system prompt, or one that answers each probe its own way."""

    @classmethod
    def leaking(cls, start_word: int = 0, words: int = 40, **options: Any) -> Reply:
        """A reply that repeats `words` words of the system prompt, from `start_word` on."""
        return cls(
            text_for=lambda body: (
                "Fine, here it is: "
                + " ".join(system_text(body).split()[start_word : start_word + words])
            ),
            **options,
        )


def system_text(body: dict[str, Any]) -> str:
    """The system prompt of a Messages request, as one text."""
    system = body.get("system") or ""
    return system if isinstance(system, str) else "".join(b.get("text", "") for b in system)


def last_user_text(body: dict[str, Any]) -> str:
    users = [m for m in body.get("messages", []) if m["role"] == "user"]
    return " ".join(b.get("text", "") for b in _as_blocks(users[-1]["content"])) if users else ""


@dataclass(frozen=True)
class Fault:
    """A failure. Status faults and drops also apply to count_tokens requests."""

    kind: Literal["status", "drop", "cut", "error_event"]
    status_code: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    after_chunks: int = 0
    error_type: str = ""

    @classmethod
    def status(
        cls,
        code: int,
        *,
        retry_after: float | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Fault:
        """Answer `code` with Anthropic's error body (529: overloaded_error, …)."""
        extra = dict(headers or {})
        if retry_after is not None:
            extra["retry-after"] = str(retry_after)
        return cls("status", status_code=code, headers=extra)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without answering."""
        return cls("drop")

    @classmethod
    def cut_after(cls, n_chunks: int) -> Fault:
        """Stream message_start and `n_chunks` deltas, then close the connection."""
        return cls("cut", after_chunks=n_chunks)

    @classmethod
    def error_event(cls, error_type: str, *, after_chunks: int = 0) -> Fault:
        """Stream `after_chunks` deltas, then an `error` event, and end the stream."""
        return cls("error_event", after_chunks=after_chunks, error_type=error_type)

    @staticmethod
    def slow_first_token(seconds: float) -> Reply:
        """A reply whose first text delta comes `seconds` after message_start."""
        return Reply(first_token_delay=seconds)

    @staticmethod
    def slow_start(seconds: float) -> Reply:
        """A reply that starts (headers, message_start) only `seconds` after the request
        arrived: the request is billed when it arrives, as Anthropic's would be."""
        return Reply(start_delay=seconds)


@dataclass(frozen=True)
class ToolUse:
    """A tool-use answer (`stop_reason: tool_use`): a `tool_use` content block calling the
    tool the request forces with `tool_choice` (else its first tool) with `input`. `input`
    is any JSON value (a model may send something that is not the object the schema asks
    for) or a function of the request body that returns one, to answer from the prompt.
    `text`: a text block before it. Streamed, the input arrives as `input_json_delta`s of
    `chunk_chars`; `raw_json` sends that text instead (it may be malformed JSON).
    Output tokens: ceil(chars / 4) of the input's JSON (and the text)."""

    input: Any = None
    text: str | None = None
    delay: float = 0.0  # before the answer starts (headers, message_start)
    chunk_chars: int = 40
    delay_between_chunks: float = 0.0
    raw_json: str | None = None


Script = Reply | Fault | ToolUse


class RecordedRequest(NamedTuple):
    path: str
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any]
    at: float  # time.monotonic()
    request_id: str  # the request-id header of the fake's answer
    client: tuple[str, int] | None = None  # the connection's address: same one = reused


class Disconnect(NamedTuple):
    at: float  # time.monotonic() when the server noticed the client had gone
    chunks_sent: int  # text deltas sent before that
    request_id: str


class FakeAnthropic:
    """The fake server. Use as `with FakeAnthropic() as fake:` or start()/stop()."""

    def __init__(self, api_key: str = DEFAULT_API_KEY, default: Reply | None = None) -> None:
        self.api_key = api_key  # the only key it accepts (x-api-key or bearer token)
        self.default = default or Reply()  # the answer when nothing is enqueued
        self.url = ""  # set by start(), e.g. "http://127.0.0.1:54321"
        self.requests: list[RecordedRequest] = []
        self.disconnects: list[Disconnect] = []  # clients that left mid-stream
        # Per answered /v1/messages request: request_id, input_tokens, output_tokens,
        # cache_write_tokens, cache_read_tokens as reported so far (a cut stream keeps
        # its message_start counts).
        self.billed: list[dict[str, Any]] = []
        # time.monotonic() when each stream sent its last text delta (benches measure how
        # long the reply takes to reach its subscribers after that).
        self.last_tokens: list[float] = []
        self._scripts: deque[Script] = deque()
        self._cache = _PromptCache()
        self._ids = itertools.count(1)
        self._served = ThreadedServer(self._app, "fake-anthropic")

    def enqueue(self, *scripts: Script) -> None:
        """Answer the next requests (either endpoint, in order) with these scripts.
        A request refused for its key uses none."""
        self._scripts.extend(scripts)

    def reset(self) -> None:
        """Forget scripts, records and the prompt cache; accept the default key again."""
        self.api_key = DEFAULT_API_KEY
        self._scripts.clear()
        self._cache = _PromptCache()
        # New lists, so a stream of an earlier test that ends late records into the old ones.
        self.requests, self.disconnects, self.billed = [], [], []
        self.last_tokens = []

    def start(self) -> FakeAnthropic:
        port = self._served.start()
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        self._served.stop()

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # The ASGI app, running on the server's own thread and loop.

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await _read_json(receive)
        headers = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
        request_id = f"req_fake_{next(self._ids):04d}"
        recorded = RecordedRequest(
            scope["path"], headers, body, time.monotonic(), request_id, scope.get("client")
        )
        self.requests.append(recorded)
        if self.api_key not in _presented_keys(headers):
            return await _send_error(send, 401, request_id)
        if scope["path"] == "/v1/messages/count_tokens":
            return await self._count_tokens(body, receive, send, request_id)
        if scope["path"] == "/v1/messages":
            return await self._messages(body, receive, send, request_id)
        await _send_error(send, 404, request_id)

    def _next_script(self) -> Script:
        return self._scripts.popleft() if self._scripts else self.default

    async def _count_tokens(self, body: dict, receive: Any, send: Any, request_id: str) -> None:
        script = self._next_script()
        if isinstance(script, Fault) and script.kind in ("status", "drop"):
            return await _fail(script, receive, send, request_id)
        total = sum(_tokens(block) for block in _prompt_blocks(body))
        await _send_json(send, 200, {"input_tokens": total}, request_id)

    async def _messages(self, body: dict, receive: Any, send: Any, request_id: str) -> None:
        script = self._next_script()
        if isinstance(script, Fault) and script.kind in ("status", "drop"):
            return await _fail(script, receive, send, request_id)
        breakpoints = sum("cache_control" in block for block in _prompt_blocks(body))
        if breakpoints > MAX_BREAKPOINTS:
            return await _send_error(send, 400, request_id)
        billed = {"request_id": request_id, **self._cache.charge(body), "output_tokens": 1}
        if isinstance(script, Reply):
            billed["input_tokens"] += script.extra_input_tokens
        self.billed.append(billed)
        if isinstance(script, ToolUse):
            if body.get("stream"):
                return await self._stream_tool_use(body, script, billed, send)
            return await self._answer_tool_use(body, script, billed, send)
        if body.get("stream"):
            return await self._stream(body, script, billed, receive, send)
        await self._answer(body, script, billed, receive, send)

    async def _answer_tool_use(self, body: dict, script: ToolUse, billed: dict, send: Any) -> None:
        await asyncio.sleep(script.delay)
        content, raw = _tool_use_content(body, script, next(self._ids))
        billed["output_tokens"] = _count(raw) + _count(script.text or "")
        message = _message(body, billed, content, "tool_use")
        await _send_json(send, 200, message, billed["request_id"])

    async def _stream_tool_use(self, body: dict, script: ToolUse, billed: dict, send: Any) -> None:
        content, raw = _tool_use_content(body, script, next(self._ids))
        await asyncio.sleep(script.delay)
        await send(_start(200, "text/event-stream", billed["request_id"]))
        await _sse(send, "message_start", message=_message(body, billed))
        for index, block in enumerate(content):
            if block["type"] == "text":
                await _sse(send, "content_block_start", index=index, content_block=block)
                await _sse(send, "content_block_stop", index=index)
                continue
            await _sse(
                send, "content_block_start", index=index, content_block={**block, "input": {}}
            )
            step = script.chunk_chars
            for i in range(0, len(raw), step):
                await asyncio.sleep(script.delay_between_chunks if i else 0)
                delta = {"type": "input_json_delta", "partial_json": raw[i : i + step]}
                await _sse(send, "content_block_delta", index=index, delta=delta)
            await _sse(send, "content_block_stop", index=index)
        billed["output_tokens"] = _count(raw) + _count(script.text or "")
        stop = {"stop_reason": "tool_use", "stop_sequence": None}
        await _sse(send, "message_delta", delta=stop, usage=_anthropic_usage(billed))
        await _sse(send, "message_stop")
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _answer(
        self, body: dict, script: Script, billed: dict, receive: Any, send: Any
    ) -> None:
        """A non-streaming reply: stream faults become a dropped connection or a status."""
        reply = script if isinstance(script, Reply) else Reply()
        await asyncio.sleep(reply.start_delay + reply.first_token_delay)
        if isinstance(script, Fault) and script.kind == "cut":
            return _hang_up(receive)
        if isinstance(script, Fault):
            status = EVENT_ERROR_STATUS.get(script.error_type, 500)
            return await _send_error(send, status, billed["request_id"])
        text = _reply_text(body, reply)
        billed["output_tokens"] = _count(text)
        message = _message(body, billed, [{"type": "text", "text": text}], reply.stop_reason)
        await _send_json(send, 200, message, billed["request_id"])

    async def _stream(
        self, body: dict, script: Script, billed: dict, receive: Any, send: Any
    ) -> None:
        progress, disconnects = _Progress(), self.disconnects
        writing = self._write_stream(body, script, billed, progress, receive, send)
        writer = asyncio.create_task(writing)
        watcher = asyncio.create_task(_until_disconnect(receive))
        done, _ = await asyncio.wait({writer, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if writer in done:
            await writer  # raises what went wrong in the fake itself
            if progress.hung_up:  # let uvicorn see its closed connection, or it logs an error
                await watcher
        else:
            now = time.monotonic()
            disconnects.append(Disconnect(now, progress.chunks, billed["request_id"]))
        writer.cancel()
        watcher.cancel()

    async def _write_stream(
        self, body: dict, script: Script, billed: dict, progress: _Progress, receive: Any, send: Any
    ) -> None:
        reply = script if isinstance(script, Reply) else Reply()
        fault = script if isinstance(script, Fault) else None
        text = _reply_text(body, reply)
        chunks = [text[i : i + reply.chunk_chars] for i in range(0, len(text), reply.chunk_chars)]
        await asyncio.sleep(reply.start_delay)
        await send(_start(200, "text/event-stream", billed["request_id"]))
        await _sse(send, "message_start", message=_message(body, billed))
        await _sse(send, "content_block_start", index=0, content_block={"type": "text", "text": ""})
        await _sse(send, "ping")
        await asyncio.sleep(reply.first_token_delay)
        for i, chunk in enumerate(chunks[: fault.after_chunks if fault else None]):
            await asyncio.sleep(reply.delay_between_chunks if i else 0)
            await _sse(
                send, "content_block_delta", index=0, delta={"type": "text_delta", "text": chunk}
            )
            progress.chunks += 1
        if chunks and fault is None:
            self.last_tokens.append(time.monotonic())
        if fault is not None and fault.kind == "cut":
            progress.hung_up = True
            return _hang_up(receive)
        if fault is not None:
            await _sse(send, "error", error={"type": fault.error_type, "message": "Simulated"})
        else:
            billed["output_tokens"] = _count(text)
            stop = {"stop_reason": reply.stop_reason, "stop_sequence": None}
            await _sse(send, "content_block_stop", index=0)
            await _sse(send, "message_delta", delta=stop, usage=_anthropic_usage(billed))
            await _sse(send, "message_stop")
        await send({"type": "http.response.body", "body": b"", "more_body": False})


@dataclass
class _Progress:
    chunks: int = 0  # text deltas sent
    hung_up: bool = False  # the server closed the connection itself


class _PromptCache:
    """The prefixes written so far, keyed by a hash of the model and the prefix's blocks."""

    def __init__(self) -> None:
        self._written: set[str] = set()

    def charge(self, body: dict[str, Any]) -> dict[str, int]:
        model = body.get("model", "")
        minimum = 4096 if "haiku" in model else 1024
        digest = hashlib.sha256(model.encode())
        total = 0
        cacheable: list[tuple[int, str]] = []  # (prefix tokens, prefix key) per breakpoint
        for block in _prompt_blocks(body):
            unmarked = {k: v for k, v in block.items() if k != "cache_control"}
            digest.update(json.dumps(unmarked, sort_keys=True).encode())
            total += _tokens(block)
            if "cache_control" in block and total >= minimum:
                cacheable.append((total, digest.hexdigest()))
        read = max((tokens for tokens, key in cacheable if key in self._written), default=0)
        write = max(cacheable[-1][0] - read, 0) if cacheable else 0
        self._written.update(key for _, key in cacheable)
        return {
            "input_tokens": total - read - write,
            "cache_write_tokens": write,
            "cache_read_tokens": read,
        }


def _presented_keys(headers: dict[str, str]) -> set[str | None]:
    """The key in x-api-key, or as a bearer token (how SDK 2.x sends `api_key`)."""
    bearer = headers.get("authorization", "").removeprefix("Bearer ")
    return {headers.get("x-api-key"), bearer or None}


def _prompt_blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's blocks in Anthropic's cache order: tools, system, then messages."""
    blocks = list(body.get("tools") or [])
    blocks += _as_blocks(body.get("system") or [])
    for message in body.get("messages", []):
        blocks += [{**block, "role": message["role"]} for block in _as_blocks(message["content"])]
    return blocks


def _as_blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def _tokens(block: dict[str, Any]) -> int:
    return _count(block["text"] if block.get("type") == "text" else json.dumps(block))


def _count(text: str) -> int:
    return math.ceil(len(text) / 4)


def _reply_text(body: dict[str, Any], reply: Reply) -> str:
    if reply.text_for is not None:
        return reply.text_for(body)
    if reply.text is not None:
        return reply.text
    users = [m for m in body.get("messages", []) if m["role"] == "user"]
    said = " ".join(b.get("text", "") for b in _as_blocks(users[-1]["content"])) if users else ""
    return f'I hear you saying "{" ".join(said.split()[:4])}". Could you tell me more?'


def _tool_use_content(body: dict, script: ToolUse, n: int) -> tuple[list[dict], str]:
    """The answer's content blocks and the tool input's JSON text."""
    tools = body.get("tools") or [{"name": "tool"}]
    choice = body.get("tool_choice") or {}
    name = choice.get("name") or tools[0]["name"]
    value = script.input(body) if callable(script.input) else script.input
    raw = script.raw_json if script.raw_json is not None else json.dumps(value)
    block = {"type": "tool_use", "id": f"toolu_fake_{n:04d}", "name": name, "input": value}
    text = [{"type": "text", "text": script.text}] if script.text else []
    return [*text, block], raw


def _anthropic_usage(billed: dict[str, Any]) -> dict[str, int]:
    return {
        "input_tokens": billed["input_tokens"],
        "cache_creation_input_tokens": billed["cache_write_tokens"],
        "cache_read_input_tokens": billed["cache_read_tokens"],
        "output_tokens": billed["output_tokens"],
    }


def _message(
    body: dict, billed: dict, content: list | None = None, stop_reason: str | None = None
) -> dict[str, Any]:
    return {
        "id": "msg_" + billed["request_id"],
        "type": "message",
        "role": "assistant",
        "model": body.get("model", ""),
        "content": content or [],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": _anthropic_usage(billed),
    }


async def _read_json(receive: Any) -> dict[str, Any]:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    raw = b"".join(chunks)
    return json.loads(raw) if raw else {}


async def _sse(send: Any, name: str, **fields: Any) -> None:
    data = json.dumps({"type": name, **fields})
    await send(
        {
            "type": "http.response.body",
            "body": f"event: {name}\ndata: {data}\n\n".encode(),
            "more_body": True,
        }
    )


async def _until_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _hang_up(receive: Any) -> None:
    """Close the TCP connection without finishing the response. ASGI cannot say this, but
    uvicorn's `receive` is a method of its request cycle, which holds the transport."""
    receive.__self__.transport.close()


async def _fail(fault: Fault, receive: Any, send: Any, request_id: str) -> None:
    if fault.kind == "drop":
        return _hang_up(receive)
    await _send_error(send, fault.status_code, request_id, fault.headers)


def _start(status: int, content_type: str, request_id: str, extra: dict | None = None) -> dict:
    headers = {"content-type": content_type, "request-id": request_id, **(extra or {})}
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }


async def _send_json(
    send: Any, status: int, data: dict, request_id: str, headers: dict | None = None
) -> None:
    await send(_start(status, "application/json", request_id, headers))
    await send({"type": "http.response.body", "body": json.dumps(data).encode()})


async def _send_error(send: Any, status: int, request_id: str, headers: dict | None = None) -> None:
    error_type = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    error = {"type": error_type, "message": f"Simulated {status}"}
    body = {"type": "error", "error": error, "request_id": request_id}
    await _send_json(send, status, body, request_id, headers)


_shared: list[FakeAnthropic] = []  # one server for the whole test session


@pytest.fixture
def fake_anthropic(request: pytest.FixtureRequest) -> Iterator[FakeAnthropic]:
    """The session's fake Anthropic server, reset for this test."""
    if not _shared:
        _shared.append(FakeAnthropic().start())
        request.config.add_cleanup(_shared[0].stop)
    fake = _shared[0]
    fake.reset()
    yield fake
    fake.reset()
