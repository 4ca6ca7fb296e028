"""The `sessionEvents` subscription: a conversation as it happens."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from decimal import Decimal
from typing import Annotated

import strawberry

from api.accounts.security import Actor
from api.conversations import events, live, models
from api.graphql.context import Info
from api.graphql.conversations import Message, SessionStatus
from api.graphql.ids import parse_id, to_id
from api.graphql.shared_events import shareable, shared_payload, straight_to_socket
from api.graphql.subscriptions import while_allowed


@strawberry.type(description="A session's status and running totals at the time of the event.")
class SessionTotals:
    session_id: strawberry.ID
    status: SessionStatus
    message_count: int
    total_tokens: int
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    estimated_cost: Decimal = strawberry.field(description="US dollars, exact.")
    ended_at: datetime | None

    @classmethod
    def from_model(cls, conversation: models.Session) -> SessionTotals:
        return cls(
            session_id=to_id(conversation.id),
            status=conversation.status,
            message_count=conversation.message_count,
            total_tokens=conversation.total_tokens,
            input_tokens=conversation.input_tokens,
            output_tokens=conversation.output_tokens,
            cache_write_tokens=conversation.cache_write_tokens,
            cache_read_tokens=conversation.cache_read_tokens,
            estimated_cost=conversation.estimated_cost,
            ended_at=conversation.ended_at,
        )


@shareable
@strawberry.type(
    description="More of a reply's text. The reply so far is `text[0:offset] + delta`; "
    "`reset` says to throw away earlier text (offset is then 0)."
)
class MessageDelta:
    session_id: strawberry.ID
    message_id: strawberry.ID
    offset: int
    delta: str
    reset: bool


@shareable
@strawberry.type(description="A reply is stored: COMPLETE, or CANCELLED when it was stopped.")
class MessageCompleted:
    message: Message
    totals: SessionTotals


@shareable
@strawberry.type(description="A reply could not be generated. The student's message is saved.")
class MessageFailed:
    message: Message
    reason: str = strawberry.field(description="What happened and what to do, for the student.")
    retryable: bool


@shareable
@strawberry.type
class SessionEnded:
    totals: SessionTotals


SessionEvent = Annotated[
    MessageDelta | MessageCompleted | MessageFailed | SessionEnded,
    strawberry.union("SessionEvent"),
]


def _to_graphql(event: events.SessionEvent) -> SessionEvent:
    if isinstance(event, events.MessageDelta):
        return MessageDelta(
            session_id=to_id(event.session_id),
            message_id=to_id(event.message_id),
            offset=event.offset,
            delta=event.delta,
            reset=event.reset,
        )
    if isinstance(event, events.MessageCompleted):
        return MessageCompleted(
            message=Message.from_model(event.message),
            totals=SessionTotals.from_model(event.session),
        )
    if isinstance(event, events.MessageFailed):
        return MessageFailed(
            message=Message.from_model(event.message),
            reason=event.reason,
            retryable=event.retryable,
        )
    return SessionEnded(totals=SessionTotals.from_model(event.session))


@strawberry.type
class ConversationSubscriptions:
    @strawberry.subscription(
        description="A session's events as they happen, for its student, the teachers who "
        "can see it, and admins. Joining mid-reply, the first event is the reply so far. "
        "Ends after SessionEnded."
    )
    async def session_events(
        self, info: Info, session_id: strawberry.ID
    ) -> AsyncGenerator[SessionEvent, None]:
        runtime = info.context.runtime
        watched = parse_id(session_id, "sessionId")

        def events_for(actor: Actor, forward=None) -> AsyncIterator[events.SessionEvent]:
            return live.watch_session(
                runtime.read_sessions, runtime.broker, runtime.replies, actor, watched, forward
            )

        async def still_allowed(actor: Actor) -> None:
            await live.may_watch(runtime.read_sessions, actor, watched)

        async for event in while_allowed(
            info,
            events_for,
            still_allowed,
            shared_as=("sessionEvents", watched),
            forward=straight_to_socket(_to_graphql),
        ):
            yield shared_payload(event, _to_graphql)
