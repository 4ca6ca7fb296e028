"""What subscribers of a session hear while its conversation goes on."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from api.conversations.models import Message, Session
from api.usage.alerts import COST_ALERTS_CHANNEL
from api.usage.models import CostAlert


def session_channel(session_id: uuid.UUID) -> str:
    return f"session:{session_id}"


@dataclass(frozen=True)
class MessageDelta:
    """Reply text: the reply so far is `text[:offset] + delta`. `reset` (offset 0) says
    to throw away what came before, when a failed attempt is tried again cleanly."""

    session_id: uuid.UUID
    message_id: uuid.UUID
    offset: int
    delta: str
    reset: bool = False

    def merged_with(self, later: object) -> MessageDelta | None:
        """This delta and the next one of the same reply as one (see MergingBroker)."""
        if (
            isinstance(later, MessageDelta)
            and not later.reset
            and later.message_id == self.message_id
            and later.offset == self.offset + len(self.delta)
        ):
            return MessageDelta(
                self.session_id, self.message_id, self.offset, self.delta + later.delta, self.reset
            )
        return None


@dataclass(frozen=True)
class MessageCompleted:
    """The reply is stored: COMPLETE, or CANCELLED with the text generated before the stop."""

    message: Message
    session: Session


@dataclass(frozen=True)
class MessageFailed:
    message: Message
    reason: str  # for the student: what happened and what to do
    retryable: bool


@dataclass(frozen=True)
class SessionEnded:
    session: Session


SessionEvent = MessageDelta | MessageCompleted | MessageFailed | SessionEnded


def owner_channel(owner: str) -> str:
    """Where the process that streams replies as `owner` hears requests about them."""
    return f"reply-owner:{owner}"


@dataclass(frozen=True)
class StopRequested:
    """Stop this reply (sent to its owner by a process that cannot stop it itself)."""

    session_id: uuid.UUID
    message_id: uuid.UUID


def channel_of(event: SessionEvent | CostAlert) -> str:
    if isinstance(event, CostAlert):
        return COST_ALERTS_CHANNEL
    if isinstance(event, MessageDelta):
        return session_channel(event.session_id)
    if isinstance(event, SessionEnded):
        return session_channel(event.session.id)
    return session_channel(event.message.session_id)
