"""Error events: failures an admin should be able to look at later."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api.db.session import after_commit
from api.llm.resilience import AttemptFailed
from api.ops import metrics
from api.ops.logs import current_request_id
from api.ops.models import ErrorEvent


def provider_error_event(
    failed: AttemptFailed,
    *,
    session_id: uuid.UUID,
    user_id: uuid.UUID,
    request_id: str | None = None,
) -> ErrorEvent:
    error = failed.error
    return ErrorEvent(
        category=f"provider.{error.kind.value}",
        message=error.message[:500],
        upstream_status=error.status,
        upstream_request_id=error.request_id,
        model=failed.model,
        request_id=request_id or current_request_id(),
        session_id=session_id,
        user_id=user_id,
        details={
            "provider": failed.provider,
            "attempt": failed.attempt,
            "will_retry": failed.will_retry,
            "retry_after": error.retry_after,
        },
    )


def interrupted_reply_event(
    cause: str,
    *,
    session_id: uuid.UUID,
    user_id: uuid.UUID,
    message_id: uuid.UUID,
    chars_kept: int,
    request_id: str | None = None,
) -> ErrorEvent:
    """A reply cut off by Practicum itself (its process stopped), not by the provider."""
    return ErrorEvent(
        category="reply.interrupted",
        message=cause[:500],
        request_id=request_id or current_request_id(),
        session_id=session_id,
        user_id=user_id,
        details={"message_id": str(message_id), "chars_kept": chars_kept},
    )


PROMPT_LEAK = "prompt_leak"


def prompt_leak_event(
    *,
    model: str | None,
    session_id: uuid.UUID,
    user_id: uuid.UUID,
    message_id: uuid.UUID,
    leaked_chars: int,
    request_id: str | None = None,
) -> ErrorEvent:
    """A reply repeated a long passage of its system prompt and was replaced by a
    deflection. Neither the prompt nor the reply is kept: only how much was withheld."""
    return ErrorEvent(
        category=PROMPT_LEAK,
        message="A reply repeated its system prompt; the student saw a deflection instead.",
        model=model,
        request_id=request_id or current_request_id(),
        session_id=session_id,
        user_id=user_id,
        details={"message_id": str(message_id), "withheld_chars": leaked_chars},
    )


async def record(session: AsyncSession, events: list[ErrorEvent]) -> None:
    session.add_all(events)
    if events:
        after_commit(session, lambda: _observe(events))


def _observe(events: list[ErrorEvent]) -> None:
    for event in events:
        if not event.category.startswith("provider."):
            continue
        kind = event.category.removeprefix("provider.")
        provider = (event.details or {}).get("provider", "practicum")
        metrics.UPSTREAM_ERRORS.labels(provider, event.model or "", kind).inc()
