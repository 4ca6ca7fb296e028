"""AnthropicProvider with the real SDK against the fake Anthropic server."""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import anthropic
import pytest

from api.llm.anthropic import AnthropicProvider
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
)
from tests.fakes.anthropic_server import FakeAnthropic, Fault, Reply

HAIKU = "claude-haiku-4-5"
SONNET = "claude-sonnet-4-6"
EPHEMERAL = {"type": "ephemeral"}


@pytest.fixture
async def provider(fake_anthropic: FakeAnthropic) -> AsyncIterator[AnthropicProvider]:
    provider = AnthropicProvider(fake_anthropic.api_key, fake_anthropic.url)
    yield provider
    await provider.aclose()


def chat(
    *turns: tuple[str, str], system: str = "You are Sam.", model: str = SONNET, **options
) -> ChatRequest:
    messages = tuple(ChatMessage(role, content) for role, content in turns)
    return ChatRequest(system=system, messages=messages, model=model, **options)


def user(content: str) -> tuple[str, str]:
    return ("user", content)


def assistant(content: str) -> tuple[str, str]:
    return ("assistant", content)


async def collect(provider: AnthropicProvider, request: ChatRequest) -> list[StreamEvent]:
    return [event async for event in provider.stream(request)]


async def failing(
    provider: AnthropicProvider, request: ChatRequest
) -> tuple[list[StreamEvent], ProviderError]:
    """The events a stream yielded before the ProviderError it raised."""
    events: list[StreamEvent] = []
    with pytest.raises(ProviderError) as caught:
        async for event in provider.stream(request):
            events.append(event)
    return events, caught.value


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def billed_usage(entry: dict) -> Usage:
    return Usage(
        input_tokens=entry["input_tokens"],
        output_tokens=entry["output_tokens"],
        cache_write_tokens=entry["cache_write_tokens"],
        cache_read_tokens=entry["cache_read_tokens"],
    )


def tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


async def eventually(condition: Callable[[], object], within: float = 2.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


# Streaming


async def test_streams_the_reply_text_and_the_usage_the_server_billed(provider, fake_anthropic):
    events = await collect(provider, chat(user("I keep failing my driving test")))

    billed = fake_anthropic.billed[0]
    started, finished = events[0], events[-1]
    assert isinstance(started, Started) and isinstance(finished, Finished)
    assert started.request_id == billed["request_id"]
    assert started.usage.input_tokens == billed["input_tokens"] > 0
    assert len([e for e in events if isinstance(e, TextDelta)]) > 1
    assert text_of(events) == 'I hear you saying "I keep failing my". Could you tell me more?'
    assert finished.usage == billed_usage(billed)
    assert finished.usage.output_tokens == tokens(text_of(events))
    assert finished.stop_reason == "end_turn"


async def test_turns_reuse_one_connection_instead_of_a_new_handshake_each(provider, fake_anthropic):
    """Against api.anthropic.com a new connection costs a TLS handshake on every turn's
    time to first token."""
    for question in ("First question?", "Second question?", "Third question?"):
        await collect(provider, chat(user(question)))

    connections = {request.client for request in fake_anthropic.requests}
    assert len(fake_anthropic.requests) == 3 and len(connections) == 1


async def test_streams_a_scripted_reply_and_its_stop_reason(provider, fake_anthropic):
    fake_anthropic.enqueue(
        Reply(text="Well... it is hard.", chunk_chars=3, stop_reason="max_tokens")
    )

    events = await collect(provider, chat(user("How are you?")))

    assert text_of(events) == "Well... it is hard."
    assert [e.text for e in events if isinstance(e, TextDelta)][:2] == ["Wel", "l.."]
    assert events[-1] == Finished(billed_usage(fake_anthropic.billed[0]), "max_tokens")


async def test_sends_model_limits_and_system_prompt(provider, fake_anthropic):
    await collect(provider, chat(user("Hi"), model=HAIKU, max_tokens=300, temperature=0.4))
    await collect(provider, chat(user("Hi"), system=""))

    first, second = (r.body for r in fake_anthropic.requests)
    assert (first["model"], first["max_tokens"], first["temperature"]) == (HAIKU, 300, 0.4)
    assert first["system"] == [{"type": "text", "text": "You are Sam.", "cache_control": EPHEMERAL}]
    assert first["stream"] is True
    assert "temperature" not in second and "system" not in second


async def test_merges_same_role_runs_and_starts_with_the_user(provider, fake_anthropic):
    conversation = chat(
        assistant("Hello, I'm Sam."),
        user("Hi Sam."),
        user("  "),
        user("What brings you here?"),
        assistant(""),
        assistant("My sister made me come."),
        assistant("She worries."),
        user("Tell me about her."),
        cache=False,
    )

    await collect(provider, conversation)

    sent = [
        (m["role"], [block["text"] for block in m["content"]])
        for m in fake_anthropic.requests[0].body["messages"]
    ]
    assert sent == [
        ("user", ["Hi Sam.\n\nWhat brings you here?"]),
        ("assistant", ["My sister made me come.\n\nShe worries."]),
        ("user", ["Tell me about her."]),
    ]


async def test_a_request_without_a_user_message_is_refused_before_sending(provider, fake_anthropic):
    _, error = await failing(provider, chat(assistant("Hello"), user("   ")))

    assert error.kind is ErrorKind.BAD_REQUEST
    assert fake_anthropic.requests == []


# Prompt caching


async def test_second_turn_reads_the_prefix_the_first_turn_wrote(provider, fake_anthropic):
    system = "You are Sam, a client in counselling. " * 480  # ~4600 tokens, over haiku's 4096
    first, reply, second = "I can't sleep.", "That sounds exhausting.", "It started in May."

    turn1 = await collect(provider, chat(user(first), system=system, model=HAIKU))
    turn2 = await collect(
        provider, chat(user(first), assistant(reply), user(second), system=system, model=HAIKU)
    )

    written = turn1[-1].usage
    assert written.cache_write_tokens == tokens(system) + tokens(first)
    assert written.cache_read_tokens == 0
    assert turn1[0].usage.cache_write_tokens == written.cache_write_tokens  # known up front
    read = turn2[-1].usage
    assert read.cache_read_tokens == written.cache_write_tokens
    assert read.cache_write_tokens == tokens(reply) + tokens(second)
    assert read.input_tokens == 0
    assert [billed_usage(b) for b in fake_anthropic.billed] == [written, read]


async def test_breakpoints_mark_system_previous_turn_end_and_last_message(provider, fake_anthropic):
    conversation = chat(
        user("one"), assistant("two"), user("three"), assistant("four"), user("five")
    )

    await collect(provider, conversation)

    body = fake_anthropic.requests[0].body
    marked = [m["content"][-1].get("cache_control") for m in body["messages"]]
    assert body["system"][-1]["cache_control"] == EPHEMERAL
    assert marked == [None, None, EPHEMERAL, None, EPHEMERAL]


async def test_prefix_under_the_model_minimum_is_not_cached(provider, fake_anthropic):
    system = "Background about the client. " * 300  # ~2200 tokens: enough for sonnet only

    haiku = await collect(provider, chat(user("Hi"), system=system, model=HAIKU))
    sonnet = await collect(provider, chat(user("Hi"), system=system, model=SONNET))

    assert haiku[-1].usage.cache_write_tokens == 0
    assert haiku[-1].usage.input_tokens == tokens(system) + tokens("Hi")
    assert sonnet[-1].usage.cache_write_tokens == tokens(system) + tokens("Hi")


async def test_without_cache_no_breakpoints_are_sent(provider, fake_anthropic):
    system = "Background about the client. " * 300

    await collect(
        provider, chat(user("Hi"), assistant("Hey"), user("So"), system=system, cache=False)
    )

    body = fake_anthropic.requests[0].body
    blocks = body["system"] + [block for m in body["messages"] for block in m["content"]]
    assert not any("cache_control" in block for block in blocks)
    assert fake_anthropic.billed[0]["cache_write_tokens"] == 0


# Failures


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, ErrorKind.RATE_LIMITED),
        (529, ErrorKind.OVERLOADED),
        (500, ErrorKind.SERVER),
        (503, ErrorKind.OVERLOADED),
        (400, ErrorKind.BAD_REQUEST),
        (404, ErrorKind.BAD_REQUEST),
        (413, ErrorKind.BAD_REQUEST),
        (422, ErrorKind.BAD_REQUEST),
        (403, ErrorKind.AUTH),
    ],
)
async def test_http_errors_map_to_their_kind(provider, fake_anthropic, status, kind):
    fake_anthropic.enqueue(Fault.status(status))

    events, error = await failing(provider, chat(user("Hi")))

    assert events == []
    assert (error.kind, error.status) == (kind, status)
    assert error.request_id == fake_anthropic.requests[0].request_id
    assert error.retryable == (kind not in (ErrorKind.BAD_REQUEST, ErrorKind.AUTH))


async def test_a_wrong_key_is_an_auth_error(provider, fake_anthropic):
    fake_anthropic.api_key = "another-key"

    _, error = await failing(provider, chat(user("Hi")))

    assert (error.kind, error.status, error.retryable) == (ErrorKind.AUTH, 401, False)


@pytest.mark.parametrize(
    ("fault", "seconds"),
    [
        (Fault.status(429, retry_after=7), 7.0),
        (Fault.status(529, headers={"retry-after-ms": "1500", "retry-after": "2"}), 1.5),
        (Fault.status(429, retry_after="soon"), None),
        (Fault.status(500), None),
    ],
)
async def test_retry_after_comes_from_the_headers(provider, fake_anthropic, fault, seconds):
    fake_anthropic.enqueue(fault)

    _, error = await failing(provider, chat(user("Hi")))

    assert error.retry_after == seconds


async def test_retry_after_as_an_http_date(provider, fake_anthropic):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    fake_anthropic.enqueue(Fault.status(429, retry_after=when))

    _, error = await failing(provider, chat(user("Hi")))

    assert 27 <= error.retry_after <= 30


async def test_a_dropped_connection_is_a_connection_error(provider, fake_anthropic):
    fake_anthropic.enqueue(Fault.drop())

    events, error = await failing(provider, chat(user("Hi")))

    assert events == []
    assert error.kind is ErrorKind.CONNECTION and error.usage is None


async def test_an_unreachable_server_is_a_connection_error():
    provider = AnthropicProvider("test-key", f"http://127.0.0.1:{closed_port()}")

    _, error = await failing(provider, chat(user("Hi")))
    await provider.aclose()

    assert error.kind is ErrorKind.CONNECTION


@pytest.mark.parametrize(
    ("error_type", "kind"),
    [
        ("overloaded_error", ErrorKind.OVERLOADED),
        ("api_error", ErrorKind.SERVER),
        ("rate_limit_error", ErrorKind.RATE_LIMITED),
        ("invalid_request_error", ErrorKind.SERVER),
    ],
)
async def test_an_error_event_mid_stream_maps_to_its_kind(
    provider, fake_anthropic, error_type, kind
):
    fake_anthropic.enqueue(Fault.error_event(error_type, after_chunks=2))

    events, error = await failing(provider, chat(user("Hi there")))

    billed = fake_anthropic.billed[0]
    assert len([e for e in events if isinstance(e, TextDelta)]) == 2
    assert error.kind is kind
    assert error.request_id == billed["request_id"]
    assert error.usage == billed_usage(billed)


async def test_a_stream_cut_mid_reply_keeps_the_usage_reported_so_far(provider, fake_anthropic):
    fake_anthropic.enqueue(Fault.cut_after(3))

    events, error = await failing(provider, chat(user("Hi there")))

    billed = fake_anthropic.billed[0]
    assert len([e for e in events if isinstance(e, TextDelta)]) == 3
    assert error.kind is ErrorKind.STREAM_CUT
    assert error.request_id == billed["request_id"]
    assert error.usage == billed_usage(billed) == events[0].usage


async def test_a_slow_first_token_times_out(fake_anthropic):
    provider = AnthropicProvider("test-key", fake_anthropic.url, first_token_timeout=0.3)
    fake_anthropic.enqueue(Fault.slow_first_token(5))

    started = time.monotonic()
    events, error = await failing(provider, chat(user("Hi")))
    await provider.aclose()

    assert error.kind is ErrorKind.TIMEOUT
    assert time.monotonic() - started < 2
    assert error.usage == events[0].usage  # message_start had arrived
    await eventually(lambda: fake_anthropic.disconnects)


async def test_a_stream_going_quiet_times_out(fake_anthropic):
    provider = AnthropicProvider("test-key", fake_anthropic.url, first_token_timeout=0.3)
    fake_anthropic.enqueue(Reply(delay_between_chunks=5))

    events, error = await failing(provider, chat(user("Hi")))
    await provider.aclose()

    assert error.kind is ErrorKind.TIMEOUT
    assert len([e for e in events if isinstance(e, TextDelta)]) == 1


async def test_a_slow_reader_is_not_a_quiet_stream(fake_anthropic):
    """Only the wait for the upstream counts: a consumer taking its time over each event
    (say, the database was busy) never times the reply out."""
    provider = AnthropicProvider("test-key", fake_anthropic.url, first_token_timeout=0.3)
    fake_anthropic.enqueue(Reply(text="one two three", chunk_chars=4))

    texts = []
    async for event in provider.stream(chat(user("Hi"))):
        await asyncio.sleep(0.4)
        texts += [event.text] if isinstance(event, TextDelta) else []
    await provider.aclose()

    assert "".join(texts) == "one two three"


async def test_the_request_timeout_applies_to_reads(fake_anthropic):
    provider = AnthropicProvider(
        "test-key", fake_anthropic.url, request_timeout=0.3, first_token_timeout=10
    )
    fake_anthropic.enqueue(Fault.slow_first_token(5))

    _, error = await failing(provider, chat(user("Hi")))
    await provider.aclose()

    assert error.kind is ErrorKind.TIMEOUT


# Cancellation


@pytest.mark.parametrize("while_", ["awaiting the next event", "handling an event"])
async def test_cancelling_the_consumer_closes_the_upstream_at_once(
    provider, fake_anthropic, while_
):
    fake_anthropic.enqueue(Reply(chunk_chars=2, delay_between_chunks=0.5))
    first_delta = asyncio.Event()

    async def consume() -> None:
        async for event in provider.stream(chat(user("Tell me everything"))):
            if isinstance(event, TextDelta):
                first_delta.set()
                if while_ == "handling an event":
                    await asyncio.sleep(10)

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first_delta.wait(), 5)
    await asyncio.sleep(0.05)
    cancelled_at = time.monotonic()
    task.cancel()

    await eventually(lambda: fake_anthropic.disconnects)
    disconnect = fake_anthropic.disconnects[0]
    assert disconnect.at - cancelled_at < 0.2
    assert disconnect.chunks_sent == 1


async def test_closing_the_stream_closes_the_upstream_at_once(provider, fake_anthropic):
    fake_anthropic.enqueue(Reply(chunk_chars=2, delay_between_chunks=0.5))
    stream = provider.stream(chat(user("Tell me everything")))
    assert isinstance(await anext(stream), Started)
    assert isinstance(await anext(stream), TextDelta)

    closed_at = time.monotonic()
    await stream.aclose()

    await eventually(lambda: fake_anthropic.disconnects)
    assert fake_anthropic.disconnects[0].at - closed_at < 0.2


async def test_the_fake_also_answers_without_streaming(fake_anthropic):
    client = anthropic.AsyncAnthropic(api_key=fake_anthropic.api_key, base_url=fake_anthropic.url)

    message = await client.messages.create(
        model=HAIKU, max_tokens=50, messages=[{"role": "user", "content": "Good morning to you"}]
    )
    await client.close()

    [block] = message.content
    assert block.text == 'I hear you saying "Good morning to you". Could you tell me more?'
    assert message.usage.output_tokens == fake_anthropic.billed[0]["output_tokens"] > 1


# Token counting and connection checks


async def test_count_tokens_returns_the_servers_count(provider, fake_anthropic):
    request = chat(user("I feel"), user("stuck"), assistant("Stuck how?"), user("At work."))

    counted = await provider.count_tokens(request)

    expected = tokens("You are Sam.") + tokens("I feel\n\nstuck")
    expected += tokens("Stuck how?") + tokens("At work.")
    assert counted == expected
    assert fake_anthropic.requests[0].path == "/v1/messages/count_tokens"
    assert fake_anthropic.billed == []


async def test_count_tokens_maps_errors(provider, fake_anthropic):
    fake_anthropic.enqueue(Fault.status(529))

    with pytest.raises(ProviderError) as caught:
        await provider.count_tokens(chat(user("Hi")))

    assert (caught.value.kind, caught.value.status) == (ErrorKind.OVERLOADED, 529)


async def test_connection_check_succeeds(provider):
    check = await provider.test_connection(HAIKU)

    assert (check.ok, check.provider, check.model) == (True, "anthropic", HAIKU)
    assert isinstance(check.latency_ms, int) and check.latency_ms >= 0


async def test_connection_check_reports_a_bad_key_without_raising(fake_anthropic):
    provider = AnthropicProvider("sk-ant-wrong-key", fake_anthropic.url)

    check = await provider.test_connection(HAIKU)
    await provider.aclose()

    assert check.ok is False
    assert check.detail.startswith("auth:")
    assert "sk-ant-wrong-key" not in check.detail


async def test_connection_check_reports_an_unreachable_server():
    provider = AnthropicProvider("test-key", f"http://127.0.0.1:{closed_port()}")

    check = await provider.test_connection(HAIKU)
    await provider.aclose()

    assert check.ok is False and check.detail.startswith("connection:")


# Secrets


async def test_errors_never_show_the_key_or_the_prompt(fake_anthropic):
    secret_key = "sk-ant-api03-TOPSECRETKEY"
    fake_anthropic.api_key = secret_key
    private = "my landlord Bartholomew threatened me"
    request = chat(user(f"Honestly, {private}"), system="Confidential persona notes")
    fake_anthropic.enqueue(
        Fault.status(400),
        Fault.status(500),
        Fault.drop(),
        Fault.cut_after(1),
        Fault.error_event("overloaded_error"),
        Fault.slow_first_token(5),
    )

    errors = []
    for key in [secret_key] * 6 + ["sk-ant-api03-WRONGKEY"]:
        provider = AnthropicProvider(key, fake_anthropic.url, first_token_timeout=0.3)
        errors.append((await failing(provider, request))[1])
        await provider.aclose()

    assert len({e.kind for e in errors}) == 7
    for error in errors:
        for shown in (str(error), repr(error)):
            assert "SECRETKEY" not in shown and "WRONGKEY" not in shown
            assert "Bartholomew" not in shown and "Confidential" not in shown
    assert "SECRETKEY" not in repr(AnthropicProvider(secret_key, fake_anthropic.url))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
