"""The conversation as the model sees it: the stored messages, trimmed to the context budget."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from api.clients.models import ClientProfile
from api.clients.prompt import SystemPrompt, build_system_prompt
from api.config import Settings
from api.conversations.models import Message, MessageRole, MessageStatus
from api.conversations.repository import Said
from api.llm.base import ChatMessage, ChatRequest, estimate_tokens

TRIM_STEP = 10
"""When the budget is exceeded, older messages are dropped in steps of this many, so the
prompt's prefix stays the same for several turns and keeps being read from the cache."""


def model_view(message: Said | Message) -> ChatMessage | None:
    """What the model is shown of a stored message: what the student wrote, and the replies
    the student saw (a stopped reply as far as it got). Failed replies are left out."""
    if message.role is MessageRole.USER:
        return ChatMessage("user", message.content)
    seen = message.status is MessageStatus.COMPLETE or (
        message.status is MessageStatus.CANCELLED and message.content
    )
    return ChatMessage("assistant", message.content) if seen else None


def trimmed(messages: Sequence[ChatMessage], budget_tokens: int) -> list[ChatMessage]:
    """The newest messages that fit the budget (the last one always), starting with the
    student's."""
    total, cut = 0, len(messages)
    while cut > 0 and total + estimate_tokens(messages[cut - 1].content) <= budget_tokens:
        cut -= 1
        total += estimate_tokens(messages[cut].content)
    if cut > 0:
        cut = min(len(messages) - 1, -(-cut // TRIM_STEP) * TRIM_STEP)
    kept = list(messages[cut:])
    while len(kept) > 1 and kept[0].role != "user":
        kept.pop(0)
    return kept


_prompts: dict[tuple[uuid.UUID, int, datetime], SystemPrompt] = {}
PROMPT_CACHE_SIZE = 1024


def system_prompt(profile: ClientProfile) -> SystemPrompt:
    """The profile's system prompt, built once per saved version of the profile."""
    key = (profile.id, profile.version, profile.updated_at)
    prompt = _prompts.get(key)
    if prompt is None:
        if len(_prompts) >= PROMPT_CACHE_SIZE:
            _prompts.clear()
        prompt = _prompts[key] = build_system_prompt(profile)
    return prompt


def built_system_prompt(
    profile_id: uuid.UUID, version: int, updated_at: datetime
) -> SystemPrompt | None:
    """The system prompt of that saved version of a profile, if it was built already."""
    return _prompts.get((profile_id, version, updated_at))


def build_request(
    profile: ClientProfile, history: Sequence[Said | Message], model: str, settings: Settings
) -> ChatRequest:
    return request_for(system_prompt(profile), history, model, settings)


def request_for(
    prompt: SystemPrompt, history: Sequence[Said | Message], model: str, settings: Settings
) -> ChatRequest:
    shown = [view for view in map(model_view, history) if view is not None]
    return ChatRequest(
        system=prompt.text,
        messages=tuple(trimmed(shown, settings.context_budget_tokens)),
        model=model,
        max_tokens=settings.max_reply_tokens,
        persona=prompt.persona,
        cache=settings.prompt_caching,
    )
