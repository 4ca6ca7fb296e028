"""OpenAICompatProvider against a fake OpenAI-compatible server over real HTTP."""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from api.llm.base import (
    ChatMessage,
    ChatRequest,
    ErrorKind,
    Finished,
    ProviderError,
    Started,
    StreamEvent,
    TextDelta,
    Usage,
    estimate_tokens,
)
from api.llm.openai_compat import OpenAICompatProvider
from tests.fakes.openai_server import FakeOpenAI, Fault, Reply, shared_fake_openai

MODEL = "llama-3.1-8b-instruct"
SYSTEM = "You are Maya, a first-year student."
REPLY = "I guess I just feel a bit lost here, you know?"
ECHO_OF_HELLO = 'I hear you saying "Hello". Could you tell me more?'  # the fake's default reply


@pytest.fixture
def fake(request: pytest.FixtureRequest) -> FakeOpenAI:
    return shared_fake_openai(request.config)


@pytest.fixture
async def provider(fake: FakeOpenAI) -> AsyncIterator[OpenAICompatProvider]:
    provider = OpenAICompatProvider(fake.url, fake.api_key)
    yield provider
    await provider.aclose()


def chat(*texts: str, **options) -> ChatRequest:
    """Turns alternate student, client, student…"""
    roles = ("user", "assistant")
    messages = tuple(ChatMessage(roles[i % 2], text) for i, text in enumerate(texts))
    return ChatRequest(system=SYSTEM, messages=messages, model=MODEL, **options)


async def collect(provider: OpenAICompatProvider, request: ChatRequest) -> list[StreamEvent]:
    return [event async for event in provider.stream(request)]


async def failing(
    provider: OpenAICompatProvider, request: ChatRequest
) -> tuple[list[StreamEvent], ProviderError]:
    events: list[StreamEvent] = []
    with pytest.raises(ProviderError) as caught:
        async for event in provider.stream(request):
            events.append(event)
    return events, caught.value


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def tokens(*texts: str) -> int:
    """How the fake counts: ceil(chars / 4) per message."""
    return sum(math.ceil(len(text) / 4) for text in texts)


# The reply and its usage


async def test_streams_the_reply_and_the_usage_the_server_reported(provider, fake):
    fake.enqueue(Reply(REPLY))
    events = await collect(provider, chat("Hi Maya, what brings you here?"))

    assert isinstance(events[0], Started)
    assert events[0].request_id == "req_0001"
    assert len([e for e in events if isinstance(e, TextDelta)]) > 3
    assert text_of(events) == REPLY
    assert events[-1] == Finished(
        Usage(input_tokens=tokens(SYSTEM, "Hi Maya, what brings you here?"), output_tokens=12),
        "end_turn",
    )


async def test_sends_system_conversation_and_limits(provider, fake):
    await collect(provider, chat("Hello", "Hi.", "How are you?", max_tokens=300, temperature=0.7))
    (sent,) = fake.requests

    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.headers["authorization"] == f"Bearer {fake.api_key}"
    assert sent.body == {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi."},
            {"role": "user", "content": "How are you?"},
        ],
        "max_tokens": 300,
        "temperature": 0.7,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def test_temperature_is_left_to_the_server_when_unset(provider, fake):
    await collect(provider, chat("Hello"))
    assert "temperature" not in fake.requests[0].body


async def test_without_a_request_id_header_the_chunk_id_names_the_reply(provider, fake):
    fake.enqueue(Reply(REPLY, request_id_header=False))
    events = await collect(provider, chat("Hello"))
    assert events[0].request_id == "chatcmpl-req_0001"


async def test_cached_prompt_tokens_are_cache_reads_not_input(provider, fake):
    fake.enqueue(Reply(REPLY, cached_tokens=5))
    finished = (await collect(provider, chat("Hello there, Maya")))[-1]

    prompt = tokens(SYSTEM, "Hello there, Maya")
    assert finished.usage.cache_read_tokens == 5
    assert finished.usage.input_tokens == prompt - 5
    assert not finished.usage.estimated


async def test_a_server_that_sends_no_usage_gets_an_estimate(provider, fake):
    fake.enqueue(Reply(REPLY, usage=False))
    request = chat("Hello there, Maya")
    finished = (await collect(provider, request))[-1]

    assert finished.usage == Usage(
        input_tokens=estimate_tokens(SYSTEM) + estimate_tokens("Hello there, Maya"),
        output_tokens=estimate_tokens(REPLY),
        estimated=True,
    )


async def test_a_reply_cut_by_max_tokens_says_so(provider, fake):
    fake.enqueue(Reply(REPLY, finish_reason="length"))
    finished = (await collect(provider, chat("Hello")))[-1]
    assert finished.stop_reason == "max_tokens"


async def test_a_request_without_a_student_message_is_refused_before_sending(provider, fake):
    request = ChatRequest(system=SYSTEM, messages=(), model=MODEL)
    _, error = await failing(provider, request)
    assert error.kind is ErrorKind.BAD_REQUEST
    assert fake.requests == []


async def test_count_tokens_is_the_estimate(provider):
    request = chat("Hello there, Maya")
    assert await provider.count_tokens(request) == estimate_tokens(SYSTEM) + 5


# Failures


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, ErrorKind.RATE_LIMITED),
        (503, ErrorKind.OVERLOADED),
        (529, ErrorKind.OVERLOADED),
        (500, ErrorKind.SERVER),
        (502, ErrorKind.SERVER),
        (400, ErrorKind.BAD_REQUEST),
        (404, ErrorKind.BAD_REQUEST),
        (413, ErrorKind.BAD_REQUEST),
        (422, ErrorKind.BAD_REQUEST),
        (401, ErrorKind.AUTH),
        (403, ErrorKind.AUTH),
    ],
)
async def test_http_errors_map_to_their_kind(provider, fake, status, kind):
    fake.enqueue(Fault.status(status))
    events, error = await failing(provider, chat("Hello"))

    assert events == []
    assert (error.kind, error.status, error.request_id) == (kind, status, "req_0001")
    assert error.retryable is (status in (429, 500, 502, 503, 529))


async def test_retry_after_comes_from_the_header(provider, fake):
    fake.enqueue(Fault.status(429, retry_after=3))
    _, error = await failing(provider, chat("Hello"))
    assert error.retry_after == 3.0


async def test_retry_after_as_an_http_date(provider, fake):
    fake.enqueue(Fault.status(503, retry_after=format_datetime(datetime.now(UTC) + timedelta(10))))
    _, error = await failing(provider, chat("Hello"))
    assert 8 * 86400 < error.retry_after <= 10 * 86400


async def test_a_wrong_key_is_an_auth_error(fake):
    provider = OpenAICompatProvider(fake.url, "sk-wrong")
    _, error = await failing(provider, chat("Hello"))
    await provider.aclose()
    assert error.kind is ErrorKind.AUTH


async def test_a_dropped_connection_is_a_connection_error(provider, fake):
    fake.enqueue(Fault.drop())
    events, error = await failing(provider, chat("Hello"))
    assert (events, error.kind) == ([], ErrorKind.CONNECTION)


async def test_an_unreachable_server_is_a_connection_error():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = OpenAICompatProvider(f"http://127.0.0.1:{port}/v1")
    _, error = await failing(provider, chat("Hello"))
    await provider.aclose()
    assert error.kind is ErrorKind.CONNECTION


@pytest.mark.parametrize("fault", [Fault.cut_after(2), Fault.end_after(2)], ids=["drop", "end"])
async def test_a_stream_that_stops_before_done_is_cut(provider, fake, fault):
    fake.enqueue(fault)
    events, error = await failing(provider, chat("Hello"))

    assert text_of(events) == ECHO_OF_HELLO[:16]  # two chunks of 8 characters
    assert error.kind is ErrorKind.STREAM_CUT
    assert error.usage is not None and error.usage.estimated  # the input was probably billed


async def test_an_error_chunk_mid_stream_is_a_server_error(provider, fake):
    fake.enqueue(Fault.error_chunk(after_chunks=1))
    events, error = await failing(provider, chat("Hello"))
    assert len([e for e in events if isinstance(e, TextDelta)]) == 1
    assert error.kind is ErrorKind.SERVER


async def test_a_slow_first_chunk_times_out(fake):
    provider = OpenAICompatProvider(fake.url, fake.api_key, first_token_timeout=0.3)
    fake.enqueue(Reply(first_chunk_delay=3))
    started = time.monotonic()
    events, error = await failing(provider, chat("Hello"))
    await provider.aclose()

    assert (events, error.kind) == ([], ErrorKind.TIMEOUT)
    assert time.monotonic() - started < 2


async def test_a_stream_going_quiet_times_out(fake):
    provider = OpenAICompatProvider(fake.url, fake.api_key, first_token_timeout=0.3)
    fake.enqueue(Reply(REPLY, delay_between_chunks=3))
    started = time.monotonic()
    events, error = await failing(provider, chat("Hello"))
    await provider.aclose()

    assert text_of(events) == REPLY[:8]
    assert error.kind is ErrorKind.TIMEOUT
    assert time.monotonic() - started < 2


async def test_cancelling_the_consumer_closes_the_upstream_at_once(provider, fake):
    fake.enqueue(Reply(REPLY, delay_between_chunks=0.5))
    first_delta = asyncio.Event()

    async def consume() -> None:
        async for event in provider.stream(chat("Hello")):
            if isinstance(event, TextDelta):
                first_delta.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first_delta.wait(), 5)
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    (disconnect,) = await _disconnects(fake)
    assert disconnect.chunks_sent < len(REPLY) / 8
    assert disconnect.at - cancelled_at < 0.4  # before the next chunk was due


async def test_closing_the_stream_early_closes_the_upstream(provider, fake):
    fake.enqueue(Reply(REPLY, delay_between_chunks=0.5))
    stream = provider.stream(chat("Hello"))
    async for event in stream:
        if isinstance(event, TextDelta):
            break
    await stream.aclose()
    assert len(await _disconnects(fake)) == 1


async def _disconnects(fake: FakeOpenAI) -> list:
    """The disconnects the fake noticed (it notices on its own thread, a moment later)."""
    for _ in range(100):
        if fake.disconnects:
            break
        await asyncio.sleep(0.01)
    return fake.disconnects


# Checking the connection, and what errors may say


async def test_connection_check_lists_the_model(provider, fake):
    check = await provider.test_connection(MODEL)
    assert (check.ok, check.provider, check.model) == (True, "openai", MODEL)
    assert check.detail == f"serves {MODEL}"
    assert fake.requests[0][:2] == ("GET", "/v1/models")


async def test_connection_check_with_a_bad_key_fails_without_raising(fake):
    provider = OpenAICompatProvider(fake.url, "sk-wrong")
    check = await provider.test_connection(MODEL)
    await provider.aclose()
    assert not check.ok
    assert "401" in check.detail


async def test_connection_check_of_an_unreachable_server_fails_without_raising():
    provider = OpenAICompatProvider("http://127.0.0.1:9/v1")
    check = await provider.test_connection(MODEL)
    await provider.aclose()
    assert not check.ok
    assert check.detail.startswith("connection")


@pytest.mark.parametrize(
    "fault", [Fault.status(400), Fault.status(500), Fault.cut_after(1), Fault.error_chunk()]
)
async def test_errors_never_show_the_key_or_the_prompt(fake, fault):
    fake.api_key = "sk-very-secret-key-123"
    provider = OpenAICompatProvider(fake.url, fake.api_key)
    fake.enqueue(fault)
    request = chat("my private diary entry about the prompt")
    _, error = await failing(provider, request)
    await provider.aclose()

    for shown in (str(error), repr(error), error.message):
        assert "sk-very-secret" not in shown
        assert "diary" not in shown
        assert "prompt" not in shown  # the fake's error message says "for prompt"
