"""The fake Anthropic server answers tool use as Anthropic does, for the real SDK: tool_use
blocks with usage, streamed as input_json_delta too, malformed when a test asks."""

from __future__ import annotations

import anthropic

from tests.fakes.anthropic_server import FakeAnthropic, ToolUse

TOOL = {"name": "grade", "input_schema": {"type": "object", "properties": {}}}
REQUEST = {
    "model": "claude-haiku-4-5",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "Grade this."}],
    "tools": [TOOL],
    "tool_choice": {"type": "tool", "name": "grade"},
}


def client(fake: FakeAnthropic) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key=fake.api_key, base_url=fake.url, max_retries=0)


async def test_a_tool_use_answer_with_its_usage(fake_anthropic):
    fake_anthropic.enqueue(ToolUse({"level": 3}, text="Here you are."))
    message = await client(fake_anthropic).messages.create(**REQUEST)
    text, tool_use = message.content
    assert (text.type, tool_use.type, tool_use.name) == ("text", "tool_use", "grade")
    assert tool_use.input == {"level": 3}
    assert message.stop_reason == "tool_use"
    assert message.usage.output_tokens == fake_anthropic.billed[0]["output_tokens"] > 0


async def test_a_streamed_tool_use_answer_arrives_as_json_deltas(fake_anthropic):
    answer = {"criteria": [{"key": "empathy", "level": 2}] * 5}
    fake_anthropic.enqueue(ToolUse(lambda body: answer, chunk_chars=7))
    async with client(fake_anthropic).messages.stream(**REQUEST) as stream:
        final = await stream.get_final_message()
    [tool_use] = final.content
    assert tool_use.input == answer
    assert final.usage.output_tokens > 0


async def test_malformed_json_can_be_streamed(fake_anthropic):
    raw = '{"level": 3, "evidence": [{"quote": "unfinished'
    fake_anthropic.enqueue(ToolUse(raw_json=raw, chunk_chars=5))
    parts = []
    stream = await client(fake_anthropic).messages.create(**REQUEST, stream=True)
    async for event in stream:
        if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
            parts.append(event.delta.partial_json)
    assert "".join(parts) == raw
