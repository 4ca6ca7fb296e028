"""Which provider serves which model, and which fallback a reply may use: one rule, in
`api.llm.providers`, against the fake OpenAI-compatible server over real HTTP."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from api.config import Settings
from api.llm.base import ChatMessage, ChatRequest, TextDelta
from api.llm.providers import Providers
from api.llm.resilience import AttemptFinished, ReplyFailed
from tests.fakes.openai_server import FakeOpenAI, Fault, shared_fake_openai

SELF_HOSTED = "llama-3.1-8b-instruct"
SIMULATOR = "practicum-simulator"


@pytest.fixture
def fake(request: pytest.FixtureRequest) -> FakeOpenAI:
    return shared_fake_openai(request.config)


def settings_for(fake: FakeOpenAI, **overrides) -> Settings:
    return Settings(
        openai_base_url=fake.url,
        openai_api_key=SecretStr(fake.api_key or ""),
        openai_model=SELF_HOSTED,
        simulator_model=SIMULATOR,
        retry_max_attempts=2,
        retry_base_delay_seconds=0.01,
        retry_max_delay_seconds=0.02,
        **overrides,
    )


def hello(model: str) -> ChatRequest:
    return ChatRequest(
        system="You are Maya.", messages=(ChatMessage("user", "Hello"),), model=model
    )


async def reply_of(providers: Providers, model: str) -> tuple[str, list[str]]:
    """The reply's text and the models that were asked, in order."""
    text, models = [], []
    async for event in providers.streamer().stream(hello(model)):
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, AttemptFinished):
            models.append(event.model)
    return "".join(text), models


def test_each_model_is_served_by_the_provider_the_settings_name(fake):
    providers = Providers(settings_for(fake, anthropic_api_key=SecretStr("key")))
    assert providers.served_by(SELF_HOSTED) == "openai"
    assert providers.served_by(SIMULATOR) == "simulator"
    assert providers.served_by("claude-haiku-4-5") == "anthropic"
    assert providers.served_by("mistral-7b") is None


async def test_a_self_hosted_model_that_keeps_failing_is_never_answered_by_the_simulator(fake):
    """The simulator plays the client without a model: its reply would pass for the real
    model's. Both names lack the "claude" prefix, yet different providers serve them."""
    providers = Providers(settings_for(fake, fallback_model=SIMULATOR))
    fake.enqueue(Fault.status(500), Fault.status(500))
    try:
        with pytest.raises(ReplyFailed):
            await reply_of(providers, SELF_HOSTED)
    finally:
        await providers.aclose()
    assert len(fake.requests) == 2
