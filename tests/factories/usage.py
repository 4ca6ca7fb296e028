"""Usage on known days: sessions, messages, model calls, errors and ratings stored with
explicit times, the session totals and the daily rollup kept in step as a turn keeps them,
so that analytics tests can assert hand-computed figures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import User
from api.accounts.security import issue_token
from api.classes import service as classes
from api.classes.models import Assignment, Section
from api.clients.models import ClientProfile
from api.config import Settings
from api.conversations.models import (
    Message,
    MessageRole,
    Session,
    SessionFeedback,
    SessionStatus,
)
from api.ops.models import ErrorEvent
from api.usage.models import DailyUsage, UsageRecord
from tests.factories.accounts import actor

HAIKU = "claude-haiku-4-5"
SONNET = "claude-sonnet-4-6"


def token_for(settings: Settings, user: User) -> str:
    token, _ = issue_token(actor(user), settings.signing_secret(), timedelta(hours=1))
    return token


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


@dataclass(frozen=True)
class Call:
    """One model call as billed: tokens and its price, worked out by hand."""

    input: int
    output: int
    cost: str
    cache_write: int = 0
    cache_read: int = 0
    model: str = HAIKU
    ttft_ms: int | None = None  # how long its first token took


async def make_titled_assignment(
    db: AsyncSession,
    settings: Settings,
    teacher: User,
    section: Section,
    title: str,
    profile: ClientProfile,
) -> Assignment:
    fields = classes.AssignmentFields(title=title, client_profile_ids=[profile.id])
    assignment = await classes.create_assignment(db, actor(teacher), settings, section.id, fields)
    await classes.publish_assignment(db, actor(teacher), assignment.id)
    await db.commit()
    return assignment


async def make_session(
    db: AsyncSession,
    student: User,
    profile: ClientProfile,
    started: datetime,
    *,
    assignment: Assignment | None = None,
    ended: datetime | None = None,
) -> Session:
    """A session started (and, with `ended`, completed) at known times."""
    conversation = Session(
        student_id=student.id,
        client_profile_id=profile.id,
        assignment_id=assignment.id if assignment else None,
        section_id=assignment.section_id if assignment else None,
        model=HAIKU,
        status=SessionStatus.COMPLETED if ended else SessionStatus.ACTIVE,
        started_at=started,
        ended_at=ended,
    )
    db.add(conversation)
    await db.commit()
    return conversation


async def add_usage(
    db: AsyncSession,
    conversation: Session,
    when: datetime,
    *,
    messages: int = 0,
    calls: Sequence[Call] = (),
) -> None:
    """`messages` messages and `calls` at `when`, counted in the session's totals and in the
    daily rollup the way sendMessage and record_calls count them."""
    day = when.date()
    first = messages and conversation.message_count == 0
    for _ in range(messages):
        conversation.message_count += 1
        role = MessageRole.USER if conversation.message_count % 2 else MessageRole.ASSISTANT
        db.add(
            Message(
                session_id=conversation.id,
                sequence_number=conversation.message_count,
                role=role,
                content="…",
                created_at=when,
            )
        )
    if messages:
        row = await _rollup(db, day, conversation, conversation.model)
        row.messages += messages
        row.sessions += int(first)  # counted where the session's first message is
    for call in calls:
        cost = Decimal(call.cost)
        tokens = {
            "input_tokens": call.input,
            "output_tokens": call.output,
            "cache_write_tokens": call.cache_write,
            "cache_read_tokens": call.cache_read,
        }
        db.add(
            UsageRecord(
                session_id=conversation.id,
                user_id=conversation.student_id,
                provider="anthropic",
                model=call.model,
                outcome="COMPLETE",
                cost=cost,
                ttft_ms=call.ttft_ms,
                created_at=when,
                **tokens,
            )
        )
        row = await _rollup(db, day, conversation, call.model)
        row.calls += 1
        row.cost += cost
        conversation.estimated_cost += cost
        for name, value in tokens.items():
            setattr(row, name, getattr(row, name) + value)
            setattr(conversation, name, getattr(conversation, name) + value)
    await db.commit()


async def _rollup(db: AsyncSession, day: date, conversation: Session, model: str) -> DailyUsage:
    row = await db.get(DailyUsage, (day, conversation.id, model))
    if row is None:
        row = DailyUsage(
            day=day,
            session_id=conversation.id,
            model=model,
            student_id=conversation.student_id,
            client_profile_id=conversation.client_profile_id,
            assignment_id=conversation.assignment_id,
            section_id=conversation.section_id,
        )
        row.sessions = row.messages = row.calls = row.input_tokens = row.output_tokens = 0
        row.cache_write_tokens = row.cache_read_tokens = 0
        row.cost = Decimal(0)
        db.add(row)
        await db.flush()
    return row


async def make_error(
    db: AsyncSession, category: str, when: datetime, conversation: Session | None = None
) -> ErrorEvent:
    event = ErrorEvent(
        category=category,
        message=f"{category} at {when:%H:%M}",
        session_id=conversation.id if conversation else None,
        user_id=conversation.student_id if conversation else None,
        created_at=when,
    )
    db.add(event)
    await db.commit()
    return event


async def rate(db: AsyncSession, conversation: Session, rating: int, when: datetime) -> None:
    db.add(
        SessionFeedback(
            session_id=conversation.id,
            student_id=conversation.student_id,
            rating=rating,
            created_at=when,
        )
    )
    await db.commit()
