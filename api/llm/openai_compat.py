"""A self-hosted model behind an OpenAI-compatible Chat Completions API (vLLM, Ollama,
llama.cpp, LM Studio, …), spoken to with plain httpx.

The reply streams as server-sent events: `data: {chunk}` lines, then `data: [DONE]`. With
`stream_options.include_usage` the last chunk carries the token counts; servers that
ignore the option get an estimate, marked as such. Failures become `ProviderError`s that
name neither the key nor anything from the prompt.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from api.llm.base import (
    ChatRequest,
    ConnectionCheck,
    ErrorKind,
    Finished,
    Provider,
    ProviderError,
    Started,
    StreamEvent,
    TextDelta,
    Usage,
    estimate_tokens,
)
from api.llm.upstream import retry_after, status_kind

DONE = "[DONE]"
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens"}  # as Anthropic names them
SAFE_CODE = re.compile(r"^[\w.-]{1,64}$")  # an error code we may repeat; messages we may not


class OpenAICompatProvider(Provider):
    name = "openai"

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        request_timeout: float = 60.0,
        first_token_timeout: float = 20.0,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._request_timeout = request_timeout
        self._first_token_timeout = first_token_timeout
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"OpenAICompatProvider(base_url={self._base_url!r})"

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            headers = {"authorization": f"Bearer {self._api_key}"} if self._api_key else {}
            self._client = httpx.AsyncClient(
                headers=headers, timeout=httpx.Timeout(self._request_timeout)
            )
        return self._client

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        body = _body(request)
        state = _StreamState(request)
        response: httpx.Response | None = None
        chunks: AsyncGenerator[str, None] | None = None
        try:
            deadline = self._deadline()  # for the first chunk, headers included
            async with asyncio.timeout_at(deadline):
                response = await self.client.send(
                    self.client.build_request("POST", self._url("chat/completions"), json=body),
                    stream=True,
                )
                await _raise_for_status(response)
            state.request_id = response.headers.get("x-request-id")
            chunks = _data_lines(response)
            while True:
                async with asyncio.timeout_at(deadline):
                    data = await anext(chunks, None)
                if data is None:
                    raise state.cut_short()
                if data == DONE:
                    yield state.finished()
                    return
                deadline = self._deadline()  # the silence allowed restarts with every chunk
                for event in state.translate(json.loads(data)):
                    yield event
        except ProviderError:
            raise
        except Exception as exc:
            raise _provider_error(exc, state) from exc
        finally:
            # Also on cancellation and aclose(): the server must see the disconnect now.
            if chunks is not None:
                await chunks.aclose()
            if response is not None:
                await response.aclose()

    async def count_tokens(self, request: ChatRequest) -> int:
        return request.estimated_input_tokens()

    async def test_connection(self, model: str) -> ConnectionCheck:
        started = time.monotonic()
        try:
            response = await self.client.get(self._url("models"))
        except httpx.HTTPError as exc:
            error = _provider_error(exc, None)
            ok, detail = False, f"{error.kind.value}: {error.message}"
        else:
            ok, detail = response.status_code == 200, _models_detail(response, model)
        latency = round((time.monotonic() - started) * 1000)
        return ConnectionCheck(ok, self.name, model, detail, latency)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _url(self, path: str) -> str:
        return f"{self._base_url}/{path}"

    def _deadline(self) -> float:
        return asyncio.get_running_loop().time() + self._first_token_timeout


@dataclass
class _StreamState:
    """What one streamed reply has brought so far."""

    request: ChatRequest
    request_id: str | None = None
    started: bool = False
    text: list[str] = field(default_factory=list)
    usage: Usage | None = None  # from the usage chunk, when the server sends one
    stop_reason: str | None = None

    def translate(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        if "error" in chunk:
            raise self.error(ErrorKind.SERVER, f"the stream reported {_error_code(chunk)}")
        events: list[StreamEvent] = []
        if not self.started:
            self.started = True
            self.request_id = self.request_id or chunk.get("id")
            events.append(Started(self.request_id, Usage()))
        if chunk.get("usage"):
            self.usage = _usage(chunk["usage"])
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            if content := (choice.get("delta") or {}).get("content"):
                self.text.append(content)
                events.append(TextDelta(content))
            if reason := choice.get("finish_reason"):
                self.stop_reason = STOP_REASONS.get(reason, reason)
        return events

    def finished(self) -> Finished:
        return Finished(self.usage or self.estimate(), self.stop_reason)

    def estimate(self) -> Usage:
        return Usage(
            input_tokens=self.request.estimated_input_tokens(),
            output_tokens=estimate_tokens("".join(self.text)),
            estimated=True,
        )

    def cut_short(self) -> ProviderError:
        if not self.started:
            return self.error(ErrorKind.CONNECTION, "the server closed the stream before any chunk")
        return self.error(ErrorKind.STREAM_CUT, "the server's stream ended before [DONE]")

    def error(self, kind: ErrorKind, message: str) -> ProviderError:
        # Once streaming began the input was probably billed: say so, as an estimate.
        usage = (self.usage or self.estimate()) if self.started else None
        return ProviderError(kind, message, request_id=self.request_id, usage=usage)


def _body(request: ChatRequest) -> dict[str, Any]:
    if not any(m.role == "user" for m in request.messages):
        raise ProviderError(ErrorKind.BAD_REQUEST, "the request has no user message")
    system = [{"role": "system", "content": request.system}] if request.system else []
    conversation = [{"role": m.role, "content": m.content} for m in request.messages]
    body: dict[str, Any] = {
        "model": request.model,
        "messages": system + conversation,
        "max_tokens": request.max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.temperature is not None:
        body["temperature"] = request.temperature
    return body


async def _data_lines(response: httpx.Response) -> AsyncGenerator[str, None]:
    """The payloads of the stream's `data:` lines (comments, event names and blanks skipped)."""
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            yield line[len("data:") :].strip()


def _usage(reported: dict[str, Any]) -> Usage:
    prompt = reported.get("prompt_tokens") or 0
    cached = (reported.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return Usage(
        input_tokens=max(prompt - cached, 0),
        output_tokens=reported.get("completion_tokens") or 0,
        cache_read_tokens=cached,
    )


async def _raise_for_status(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    await response.aread()
    try:
        code = _error_code(response.json())
    except ValueError:
        code = "no error body"
    raise ProviderError(
        status_kind(response.status_code),
        f"the server answered {response.status_code} ({code})",
        status=response.status_code,
        request_id=response.headers.get("x-request-id"),
        retry_after=retry_after(response.headers),
    )


def _error_code(body: Any) -> str:
    """The error's type or code, never its message (which may quote the prompt)."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        for key in ("type", "code"):
            if isinstance(error.get(key), str) and SAFE_CODE.match(error[key]):
                return error[key]
    return "an error"


def _provider_error(exc: Exception, state: _StreamState | None) -> ProviderError:
    def error(kind: ErrorKind, message: str) -> ProviderError:
        return state.error(kind, message) if state else ProviderError(kind, message)

    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return error(ErrorKind.TIMEOUT, "the server did not answer in time")
    if isinstance(exc, httpx.TransportError):
        if state is not None and state.started:
            return error(ErrorKind.STREAM_CUT, "the connection dropped mid-reply")
        return error(ErrorKind.CONNECTION, f"could not reach the server ({type(exc).__name__})")
    if isinstance(exc, ValueError):  # a chunk that is not JSON
        return error(ErrorKind.SERVER, "the server sent a chunk that is not JSON")
    return error(ErrorKind.SERVER, f"unexpected {type(exc).__name__} from the server")


def _models_detail(response: httpx.Response, model: str) -> str:
    if response.status_code != 200:
        return f"GET /models answered {response.status_code}"
    try:
        listed = {m.get("id") for m in response.json().get("data", []) if isinstance(m, dict)}
    except (ValueError, AttributeError):
        return "the server answers"
    return f"serves {model}" if model in listed else f"answers, but does not list {model}"
