"""A fake OpenAI-compatible server (POST /v1/chat/completions, GET /v1/models) over real
HTTP, for the provider that self-hosting schools use.

It runs uvicorn in its own thread with its own event loop. Tests script its answers one
request at a time (`enqueue(Reply(...))`, `enqueue(Fault.status(429, retry_after=3))`, …)
and read back what happened: `requests` and `disconnects`.

Tokens are ceil(chars / 4). The usage chunk comes last, before `data: [DONE]`, as with
`stream_options.include_usage`; `Reply(usage=False)` plays a server that ignores it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import pytest

from tests.fakes.threaded import ThreadedServer

DEFAULT_API_KEY = "sk-test-key"
MODELS = ("llama-3.1-8b-instruct", "mistral-7b-instruct")


@dataclass(frozen=True)
class Reply:
    """A streamed answer. `text=None` echoes a few words of the last user message."""

    text: str | None = None
    chunk_chars: int = 8
    first_chunk_delay: float = 0.0  # after the headers, before the first chunk
    delay_between_chunks: float = 0.0
    usage: bool = True  # send the usage chunk
    cached_tokens: int = 0  # of the prompt, reported in prompt_tokens_details
    finish_reason: str = "stop"
    request_id_header: bool = True  # send x-request-id (else only the chunk ids name it)


@dataclass(frozen=True)
class Fault:
    kind: Literal["status", "drop", "cut", "end", "error_chunk"]
    status_code: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    after_chunks: int = 0

    @classmethod
    def status(cls, code: int, *, retry_after: float | str | None = None) -> Fault:
        """Answer `code` with an OpenAI-style error body."""
        headers = {} if retry_after is None else {"retry-after": str(retry_after)}
        return cls("status", status_code=code, headers=headers)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without answering."""
        return cls("drop")

    @classmethod
    def cut_after(cls, n_chunks: int) -> Fault:
        """Stream `n_chunks` text chunks, then close the connection mid-response."""
        return cls("cut", after_chunks=n_chunks)

    @classmethod
    def end_after(cls, n_chunks: int) -> Fault:
        """Stream `n_chunks` text chunks, then end the response cleanly without [DONE]."""
        return cls("end", after_chunks=n_chunks)

    @classmethod
    def error_chunk(cls, *, after_chunks: int = 0) -> Fault:
        """Stream `after_chunks` text chunks, then a `data: {"error": …}` chunk, and end."""
        return cls("error_chunk", after_chunks=after_chunks)


Script = Reply | Fault


class RecordedRequest(NamedTuple):
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any]


class Disconnect(NamedTuple):
    at: float  # time.monotonic() when the server noticed the client had gone
    chunks_sent: int


class FakeOpenAI:
    """The fake server: `with FakeOpenAI() as fake:` or start()/stop(). `url` ends in /v1."""

    def __init__(self, api_key: str | None = DEFAULT_API_KEY) -> None:
        self.api_key = api_key  # None: any key, or none, is accepted
        self.url = ""
        self.requests: list[RecordedRequest] = []
        self.disconnects: list[Disconnect] = []
        self._scripts: deque[Script] = deque()
        self._ids = itertools.count(1)
        self._in_flight = 0  # requests being answered
        self._served = ThreadedServer(self._app, "fake-openai")

    def enqueue(self, *scripts: Script) -> None:
        """Answer the next chat completions with these scripts, in order."""
        self._scripts.extend(scripts)

    def reset(self) -> None:
        """Forget scripts and records, once the last test's requests are over (a stream it
        abandoned ends when the fake notices, a moment later)."""
        deadline = time.monotonic() + 5
        while self._in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        self.api_key = DEFAULT_API_KEY
        self._scripts.clear()
        self._ids = itertools.count(1)
        self.requests.clear()
        self.disconnects.clear()

    def start(self) -> FakeOpenAI:
        port = self._served.start()
        self.url = f"http://127.0.0.1:{port}/v1"
        return self

    def stop(self) -> None:
        self._served.stop()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # The ASGI app, on the server's own thread and loop.

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self._in_flight += 1
        try:
            await self._answer(scope, receive, send)
        finally:
            self._in_flight -= 1

    async def _answer(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = await _read_json(receive)
        headers = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
        self.requests.append(RecordedRequest(scope["method"], scope["path"], headers, body))
        request_id = f"req_{next(self._ids):04d}"
        if self.api_key and headers.get("authorization") != f"Bearer {self.api_key}":
            return await _send_error(send, 401, request_id)
        if scope["path"] == "/v1/models":
            models = {"object": "list", "data": [{"id": m, "object": "model"} for m in MODELS]}
            return await _send_json(send, 200, models, request_id)
        if scope["path"] == "/v1/chat/completions" and scope["method"] == "POST":
            return await self._chat(body, receive, send, request_id)
        await _send_error(send, 404, request_id)

    async def _chat(self, body: dict, receive: Any, send: Any, request_id: str) -> None:
        script = self._scripts.popleft() if self._scripts else Reply()
        if isinstance(script, Fault) and script.kind == "drop":
            return _hang_up(receive)
        if isinstance(script, Fault) and script.kind == "status":
            return await _send_error(send, script.status_code, request_id, script.headers)
        sent = [0]
        writer = asyncio.create_task(self._write_stream(body, script, request_id, sent, send))
        watcher = asyncio.create_task(_until_disconnect(receive))
        done, _ = await asyncio.wait({writer, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if writer in done:
            if writer.result():  # it hung up: let uvicorn see its closed connection
                await watcher
        else:
            self.disconnects.append(Disconnect(time.monotonic(), sent[0]))
        writer.cancel()
        watcher.cancel()

    async def _write_stream(
        self, body: dict, script: Script, request_id: str, sent: list[int], send: Any
    ) -> bool:
        """Write the SSE stream; True when it ends by hanging up the connection."""
        reply = script if isinstance(script, Reply) else Reply()
        fault = script if isinstance(script, Fault) else None
        text = _reply_text(body, reply)
        chunk_id = f"chatcmpl-{request_id}"
        extra = {"x-request-id": request_id} if reply.request_id_header else {}
        await send(_start(200, "text/event-stream", extra))
        await asyncio.sleep(reply.first_chunk_delay)
        await _data(send, _chunk(chunk_id, body, {"role": "assistant", "content": ""}))
        pieces = [text[i : i + reply.chunk_chars] for i in range(0, len(text), reply.chunk_chars)]
        for i, piece in enumerate(pieces[: fault.after_chunks if fault else None]):
            await asyncio.sleep(reply.delay_between_chunks if i else 0)
            await _data(send, _chunk(chunk_id, body, {"content": piece}))
            sent[0] += 1
        if fault is not None and fault.kind == "cut":
            _hang_up_transport(send)
            return True
        if fault is not None and fault.kind == "error_chunk":
            await _data(send, {"error": {"type": "server_error", "message": "Simulated"}})
        if fault is None:
            await _data(send, _chunk(chunk_id, body, {}, finish_reason=reply.finish_reason))
            if reply.usage:
                await _data(send, _usage_chunk(chunk_id, body, text, reply.cached_tokens))
            await _send_body(send, b"data: [DONE]\n\n", more=True)
        await _send_body(send, b"", more=False)
        return False


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _reply_text(body: dict[str, Any], reply: Reply) -> str:
    if reply.text is not None:
        return reply.text
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    said = users[-1]["content"] if users else ""
    return f'I hear you saying "{" ".join(said.split()[:4])}". Could you tell me more?'


def _chunk(chunk_id: str, body: dict, delta: dict, finish_reason: str | None = None) -> dict:
    return {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "model": body.get("model", ""),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def _usage_chunk(chunk_id: str, body: dict, text: str, cached: int) -> dict:
    prompt = sum(_tokens(m.get("content") or "") for m in body.get("messages", []))
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": _tokens(text),
        "total_tokens": prompt + _tokens(text),
        "prompt_tokens_details": {"cached_tokens": cached},
    }
    return {"id": chunk_id, "object": "chat.completion.chunk", "choices": [], "usage": usage}


async def _read_json(receive: Any) -> dict[str, Any]:
    raw = b""
    while True:
        message = await receive()
        raw += message.get("body", b"")
        if not message.get("more_body"):
            break
    return json.loads(raw) if raw else {}


async def _until_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _hang_up(receive: Any) -> None:
    """Close the TCP connection without an answer. ASGI cannot say this, but uvicorn's
    `receive` and `send` are methods of its request cycle, which holds the transport."""
    receive.__self__.transport.close()


def _hang_up_transport(send: Any) -> None:
    send.__self__.transport.close()


def _start(status: int, content_type: str, extra: dict[str, str] | None = None) -> dict:
    headers = {"content-type": content_type, **(extra or {})}
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }


async def _send_body(send: Any, body: bytes, *, more: bool) -> None:
    await send({"type": "http.response.body", "body": body, "more_body": more})


async def _data(send: Any, payload: dict) -> None:
    await _send_body(send, f"data: {json.dumps(payload)}\n\n".encode(), more=True)


async def _send_json(send: Any, status: int, data: dict, request_id: str, headers=None) -> None:
    await send(_start(status, "application/json", {"x-request-id": request_id, **(headers or {})}))
    await _send_body(send, json.dumps(data).encode(), more=False)


async def _send_error(send: Any, status: int, request_id: str, headers=None) -> None:
    error_type = "server_error" if status >= 500 else "invalid_request_error"
    # The message quotes "the prompt", as real servers' messages sometimes do.
    error = {"message": f"Simulated {status} for prompt", "type": error_type, "code": None}
    await _send_json(send, status, {"error": error}, request_id, headers)


_shared: list[FakeOpenAI] = []  # one server for the whole test session


def shared_fake_openai(config: pytest.Config) -> FakeOpenAI:
    """The session's fake server, started on first use (stopped with the session) and reset
    for each caller."""
    if not _shared:
        _shared.append(FakeOpenAI().start())
        config.add_cleanup(_shared[0].stop)
    _shared[0].reset()
    return _shared[0]
